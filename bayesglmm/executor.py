"""Where batches of fits run: this process, this machine's cores, or a Dask cluster.

Every batch of bayesglmm (the refits of :func:`bayesglmm.compare`, :func:`bayesglmm.sbc`,
:func:`bayesglmm.fit_many`) is a dict of independent tasks ``key -> arguments`` handed
to one :class:`Executor`, which returns ``key -> result``:

* :class:`SerialExecutor` (``"serial"``): one task after the other in this process.
* :class:`LocalExecutor` (``"local"``, the default): a pool of worker processes on this
  machine, nothing to set up. The pool is kept between batches, so that each worker keeps
  the models it compiled.
* :class:`DaskExecutor` (a ``dask.distributed.Client`` or a scheduler address such as
  ``"tcp://scheduler:8786"``): the tasks run on an existing Dask cluster
  (``pip install bayesglmm[dask]``; every worker needs bayesglmm installed).

Results do not depend on where or in which order tasks run: each task carries its own
seed (:func:`task_seed`, from the batch seed and the task's key), tasks share no state,
and a result is stored once per key. A task whose worker dies is run again (the local
pool is restarted and the unfinished tasks resubmitted; Dask reschedules the tasks of a
lost worker itself, up to its ``distributed.scheduler.allowed-failures``).
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from abc import ABC, abstractmethod
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np

from bayesglmm.errors import ComputationError, MissingDependencyError, SettingsError

DASK_INSTALL = "pip install 'bayesglmm[dask]'  (or: pip install 'dask[distributed]>=2026.8,<2026.9')"


def task_seed(batch_seed: int | None, key) -> int:
    """Seed of one task, from the batch seed and the task's key (never from run order).

    Examples
    --------
    >>> task_seed(1, "fold 3") == task_seed(1, "fold 3")
    True
    >>> task_seed(1, "fold 3") != task_seed(1, "fold 4")
    True
    """
    entropy = [0 if batch_seed is None else int(batch_seed), zlib.crc32(repr(key).encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] & 0x7FFFFFFF)


class Progress:
    """Tasks done / total, elapsed and estimated time left, on standard error.

    Dependency-free. Off by default unless standard error is a terminal, so that scripts,
    logs and tests stay quiet; ``enabled=True`` forces it on. On a terminal one line is
    rewritten in place (``\\r``); elsewhere (a log file, a notebook) each step gets its own
    line. When enabled, a ``0/total`` line is written at once (a refit can take a while),
    then one per finished task.

    Examples
    --------
    >>> p = Progress(2, "refits", enabled=False)
    >>> p.update(); p.update(); p.done
    2
    """

    def __init__(self, total: int, label: str, enabled: bool | None = None):
        self.total, self.label, self.done = total, label, 0
        self.enabled = _stderr_is_terminal() if enabled is None else bool(enabled)
        self.inplace = self.enabled and _stderr_is_terminal()
        self.start = time.perf_counter()
        if self.enabled and total > 0:
            self._write(f"{label}: 0/{total} done")

    def _write(self, text: str) -> None:
        last = self.done >= self.total
        if self.inplace:
            sys.stderr.write(f"\r{text}   " + ("\n" if last else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        self._write(f"{self.label}: {self.done}/{self.total} done, {elapsed:.0f} s elapsed, about {left:.0f} s left")


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed standard error
        return False


class Executor(ABC):
    """Runs a batch of independent tasks; subclasses say where.

    Attributes
    ----------
    name : str
        ``"serial"``, ``"local"`` or ``"dask"``.
    cores_per_task : int or None
        Cores one task may use for its chains (None: one per chain, up to the machine's).
    """

    name = "executor"
    cores_per_task: int | None = None

    @abstractmethod
    def run(self, fn, tasks: dict, *, label: str = "batch", progress: bool | None = None) -> dict:
        """Run ``fn(*args)`` for every ``key -> args`` of ``tasks``; return ``key -> result``.

        The result dict has the keys in the order of ``tasks``, whatever order the tasks
        finished in. The first task that raises stops the batch and its error is raised.

        Examples
        --------
        >>> SerialExecutor().run(pow, {"a": (2, 3), "b": (3, 2)})
        {'a': 8, 'b': 9}
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SerialExecutor(Executor):
    """Every task in this process, one after the other (chains still run in parallel).

    Examples
    --------
    >>> SerialExecutor().run(abs, {1: (-1,), 2: (-2,)})
    {1: 1, 2: 2}
    """

    name = "serial"

    def run(self, fn, tasks, *, label="batch", progress=None):
        bar = Progress(len(tasks), label, progress)
        out = {}
        for key, args in tasks.items():
            out[key] = fn(*args)
            bar.update()
        return out


_POOLS: dict = {}

#: Chains of one fit, which run in parallel: the default local pool has a worker per this many cores.
CHAINS_PER_FIT = 4


# Workers are forked from a fork server: a fresh process that imports bayesglmm once (so a
# worker starts in well under a second) and never the user's script (so a script without an
# ``if __name__ == "__main__":`` guard does not run again in every worker, as it would with
# "spawn"). Forking from it is safe: it runs no threads, unlike the user's process.
PRELOAD = ["bayesglmm.fit", "bayesglmm.compare", "bayesglmm.batch"]


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None:
        context = get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        _POOLS[workers] = pool
    return pool


def _discard_pool(workers: int) -> None:
    pool = _POOLS.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


class LocalExecutor(Executor):
    """A pool of worker processes on this machine (the default executor).

    Parameters
    ----------
    workers : int, optional
        Worker processes. Default: one per ``CHAINS_PER_FIT`` (4) cores, because each fit
        already runs its 4 chains in parallel; with a single worker (machines of up to 7
        cores) the tasks run in this process, which uses every core and compiles nothing
        twice. Each task's chains share ``cores // workers`` cores (at least one).
    max_restarts : int
        How many times a batch restarts the pool after a worker died (then it gives up).

    Examples
    --------
    >>> ex = LocalExecutor(workers=2)
    >>> ex.workers
    2
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, max_restarts: int = 3):
        cores = os.cpu_count() or 1
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise SettingsError(f"workers must be a positive whole number; got {workers!r}.")
        self.workers = workers or max(1, cores // CHAINS_PER_FIT)
        self.cores_per_task = max(1, cores // self.workers)
        self.max_restarts = max_restarts

    def run(self, fn, tasks, *, label="batch", progress=None):
        if self.workers == 1:
            # A pool of one would only add a process start and a second compilation.
            return SerialExecutor().run(fn, tasks, label=label, progress=progress)
        bar = Progress(len(tasks), label, progress)
        results: dict = {}
        restarts = 0
        while len(results) < len(tasks):
            pool = _pool(self.workers)
            todo = [key for key in tasks if key not in results]
            futures = {pool.submit(fn, *tasks[key]): key for key in todo}
            broken = False
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        value = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    except BaseException:
                        for other in pending:
                            other.cancel()
                        raise
                    key = futures[future]
                    if key not in results:  # a result is stored once, whatever happens
                        results[key] = value
                        bar.update()
            if broken:
                _discard_pool(self.workers)
                restarts += 1
                if restarts > self.max_restarts and len(results) < len(tasks):
                    raise ComputationError(
                        f"{label}: worker processes died {restarts} times (out of memory?); "
                        f"{len(tasks) - len(results)} of {len(tasks)} tasks unfinished.")
        return {key: results[key] for key in tasks}

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


class DaskExecutor(Executor):
    """Tasks on a Dask cluster, through ``dask.distributed``.

    Parameters
    ----------
    client : distributed.Client or str
        A connected client, or the scheduler's address (``"tcp://host:8786"``), to which
        a client is connected for each batch and closed after it.

    Notes
    -----
    Each task runs its chains one after the other (one core), since a Dask worker runs as
    many tasks at a time as it has threads. Every worker needs bayesglmm and the same
    versions of its dependencies. Tasks of a worker that dies are rerun elsewhere by the
    scheduler (at most ``distributed.scheduler.allowed-failures`` times, default 3).

    Examples
    --------
    >>> ex = DaskExecutor("tcp://scheduler:8786")  # doctest: +SKIP
    """

    name = "dask"
    cores_per_task = 1

    def __init__(self, client):
        _require_dask()
        self.client = client

    def run(self, fn, tasks, *, label="batch", progress=None):
        from distributed import Client, as_completed

        own = isinstance(self.client, str)
        client = Client(self.client) if own else self.client
        try:
            bar = Progress(len(tasks), label, progress)
            batch = f"bayesglmm-{label.replace(' ', '-')}-{os.getpid()}-{time.time_ns()}"
            futures = {client.submit(fn, *args, key=f"{batch}-{i}", pure=False): key
                       for i, (key, args) in enumerate(tasks.items())}
            results = {}
            try:
                for future in as_completed(list(futures)):
                    results[futures[future]] = future.result()
                    bar.update()
            finally:
                for future in futures:
                    future.release()
            return {key: results[key] for key in tasks}
        finally:
            if own:
                client.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError(f"Running batches on Dask needs dask.distributed, which is not installed: "
                                     f"{DASK_INSTALL}.") from err


_DEFAULT: list = []


@contextmanager
def use_executor(executor):
    """Within the block, batches given no executor run on ``executor``.

    For code that calls :func:`bayesglmm.compare` (or :func:`bayesglmm.sbc`,
    :func:`bayesglmm.fit_many`) without an ``executor`` argument, such as the course
    analyses (``bayesglmm course NAME --executor ADDRESS``). An explicit ``executor``
    argument still wins. Blocks nest; the previous default is restored on leaving.

    Parameters
    ----------
    executor : None, str, Executor or distributed.Client
        As for :func:`get_executor` (None: this machine's cores).

    Examples
    --------
    >>> with use_executor("serial"):
    ...     get_executor(None).name
    'serial'
    >>> get_executor(None).name
    'local'
    """
    _DEFAULT.append(get_executor(executor))
    try:
        yield _DEFAULT[-1]
    finally:
        _DEFAULT.pop()


def get_executor(executor=None) -> Executor:
    """The executor named by ``executor``.

    Parameters
    ----------
    executor : None, str, Executor or distributed.Client
        None: the executor of the enclosing :func:`use_executor` block, else this
        machine's cores; ``"local"``: this machine's cores (:class:`LocalExecutor`);
        ``"serial"``: this process; a ``distributed.Client`` or a scheduler address
        (``"tcp://..."``, ``"host:port"``): that Dask cluster; an :class:`Executor`: itself.

    Returns
    -------
    Executor

    Examples
    --------
    >>> get_executor("serial").name
    'serial'
    >>> get_executor(None).name
    'local'
    """
    if executor is None and _DEFAULT:
        return _DEFAULT[-1]
    if executor is None or executor == "local":
        return LocalExecutor()
    if isinstance(executor, Executor):
        return executor
    if executor == "serial":
        return SerialExecutor()
    if isinstance(executor, str):
        if "://" in executor or ":" in executor:
            return DaskExecutor(executor)
        raise SettingsError(f"executor must be 'local', 'serial', a Dask scheduler address such as "
                            f"'tcp://scheduler:8786', or a dask.distributed Client; got {executor!r}.")
    if type(executor).__module__.startswith("distributed"):
        return DaskExecutor(executor)
    raise SettingsError(f"executor must be 'local', 'serial', a Dask scheduler address or a "
                        f"dask.distributed Client; got a {type(executor).__name__}.")


__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "Progress", "SerialExecutor", "get_executor",
           "task_seed", "use_executor"]
