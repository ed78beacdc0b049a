"""The ``bayesglmm`` command: fit a model to a CSV file, or run a course analysis.

::

    bayesglmm fit "p(y, n) ~ treat + (1|centre)" --data multicentre.csv --family binomial --out results
    bayesglmm course list
    bayesglmm course NAME --out results [--executor local|serial|tcp://scheduler:8786]
    bayesglmm sbc "p(y, n) ~ treat + (1|centre)" --data multicentre.csv --family binomial --sims 200 --out sbc

Errors print one line on standard error and exit with status 2; Ctrl-C exits with 130 and
SIGTERM with 143, both through the same clean-up. ``--out`` is checked before any data is read
(a folder that exists or can be created, writable, with room for the outputs, no earlier fit
there unless ``--force``, no other run writing to it); the outputs are written only at the
end, atomically: an interrupted or failed run writes nothing and leaves no temporary file.
"""

from __future__ import annotations

import argparse
import difflib
import contextlib
import importlib
import os
import shutil
import signal
import sys
import tempfile
import warnings
from pathlib import Path

from bayesglmm.errors import BayesGLMMError, MissingFileError

FIT_FILE = "fit.bglmm"
SUMMARY_FILE = "summary.txt"
SBC_FILES = ("sbc_ranks.csv", "sbc_tests.csv", "sbc_ecdf.png")
EXECUTOR_HELP = ("where the batch's fits run: 'local' (this machine's cores, the default), 'serial' "
                 "(one after the other), or a Dask scheduler address such as tcp://scheduler:8786")
NO_ANALYSES = "no analyses are installed yet"
LOCK_FILE = ".bayesglmm.lock"  # in --out while a run uses it (an flock, released if the run dies)
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
TRACEBACK_ENV = "BAYESGLMM_TRACEBACK"  # set to 1: an internal error shows its traceback
SAMPLER_STATS = 16  # values per draw in the fit file's sample_stats (nutpie: 15)


class CLIError(BayesGLMMError):
    """A command-line request that cannot be carried out (e.g. an unknown analysis)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that it goes through the same clean-up (exit status 143)."""


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _dpar(text: str) -> tuple[str, str]:
    """``'sigma ~ x'`` -> ``("sigma", "x")`` for ``--dpar`` (the formula itself is checked by bg.fit)."""
    name, sep, rhs = text.partition("~")
    if not sep or not name.strip() or not rhs.strip():
        raise argparse.ArgumentTypeError(f"must read 'PARAMETER ~ predictors', e.g. 'sigma ~ x'; got {text!r}")
    return name.strip(), rhs.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesglmm", description="Bayesian generalized linear mixed models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fit,course,sbc}")

    fit = sub.add_parser("fit", help="fit a model to a CSV file and print its summary")
    fit.add_argument("formula", help="lme4-style formula, e.g. 'p(y, n) ~ treat + (1|centre)'")
    fit.add_argument("--data", required=True, metavar="FILE.csv", help="the data, a CSV file with a header row")
    fit.add_argument("--family", required=True,
                     help="a family name (bayesglmm.families.FAMILIES: gaussian, bernoulli, binomial, poisson, cumulative, ...)")
    fit.add_argument("--link", default=None, help="link function (default: the family's)")
    fit.add_argument("--dpar", action="append", default=[], type=_dpar, metavar="'PARAM ~ RHS'",
                     help="a family parameter with its own formula, e.g. 'sigma ~ x' (gaussian, student_t, "
                          "lognormal) or 'psi ~ x' (zero-inflated, hurdle); repeat for several")
    fit.add_argument("--draws", type=_whole(1), default=1000, help="draws kept per chain (1000)")
    fit.add_argument("--tune", type=_whole(0), default=1000, help="warm-up iterations per chain (1000)")
    fit.add_argument("--chains", type=_whole(1), default=4, help="number of chains (4)")
    fit.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same draws")
    fit.add_argument("--retry", choices=["auto", "always", "never"], default="auto",
                     help="retry ladder when the fit fails: on divergences or high R-hat (auto), on any failure, or never")
    fit.add_argument("--dropna", action="store_true",
                     help="drop rows with a missing value in the model's columns (the fit records how many); "
                          "without it such rows are an error")
    fit.add_argument("--out", metavar="DIR", default=None,
                     help=f"write {SUMMARY_FILE} and {FIT_FILE} to DIR (checked before any work starts)")
    fit.add_argument("--force", action="store_true",
                     help="replace a fit already in DIR (only once the new one is completely written)")
    fit.set_defaults(run=_run_fit)

    course = sub.add_parser("course", help="list or run the course analyses")
    course.add_argument("name", metavar="NAME", help="'list', or the analysis to run")
    course.add_argument("--out", metavar="DIR", default=None, help="folder for the analysis' outputs")
    course.add_argument("--data-dir", metavar="DIR", default=None, help="folder holding the course data files")
    course.add_argument("--seed", type=int, default=None, help="random seed (default: the analysis' own)")
    course.add_argument("--quick", action="store_true", help="small fits (4 chains x 300 draws) for a fast look")
    course.add_argument("--executor", default=None, metavar="WHERE",
                        help=EXECUTOR_HELP + "; used by the analysis' model comparisons (cross-validation refits)")
    course.set_defaults(run=_run_course)

    sbc = sub.add_parser("sbc", help="simulation-based calibration of a model on template data")
    sbc.add_argument("formula", help="lme4-style formula, e.g. 'p(y, n) ~ treat + (1|centre)'")
    sbc.add_argument("--data", required=True, metavar="FILE.csv",
                     help="template data (CSV): every simulated data set keeps its predictors and groups")
    sbc.add_argument("--family", required=True,
                     help="a family name (bayesglmm.families.FAMILIES: gaussian, bernoulli, binomial, poisson, cumulative, ...)")
    sbc.add_argument("--link", default=None, help="link function (default: the family's)")
    sbc.add_argument("--sims", type=_whole(2), default=200, help="simulated data sets, one fit each (200)")
    sbc.add_argument("--draws", type=_whole(10), default=200, help="draws kept per chain of each fit (200)")
    sbc.add_argument("--tune", type=_whole(0), default=200, help="warm-up iterations per chain (200)")
    sbc.add_argument("--chains", type=_whole(1), default=2, help="chains per fit (2)")
    sbc.add_argument("--thin", type=_whole(1), default=2, help="rank among every THIN-th draw (2)")
    sbc.add_argument("--seed", type=int, default=None, help="batch seed: the same seed gives the same ranks")
    sbc.add_argument("--executor", default="local", metavar="WHERE", help=EXECUTOR_HELP)
    sbc.add_argument("--out", metavar="DIR", default=None, help=f"write {', '.join(SBC_FILES)} to DIR")
    sbc.add_argument("--force", action="store_true",
                     help="replace the SBC outputs already in DIR (only once the new ones are completely written)")
    sbc.set_defaults(run=_run_sbc)
    return parser


def _check_data_path(path: str) -> None:
    """The --data file exists (checked first; nothing is read)."""
    if Path(path).is_dir():
        raise CLIError(f"--data names the folder {path!r}; give the CSV file inside it")
    if not Path(path).is_file():
        raise MissingFileError(f"data file {path!r} not found")


def _read_csv(path: str):
    """The --data file, read by :func:`bayesglmm.datasets.read_csv` (refuses a header naming a column twice)."""
    from bayesglmm.datasets import read_csv

    _check_data_path(path)
    return read_csv(path)


def _show_warnings(caught) -> None:
    import pandas as pd

    for w in caught:
        if issubclass(w.category, (UserWarning, pd.errors.DtypeWarning, pd.errors.ParserWarning)):
            print(f"warning: {_one_line(w.message)}", file=sys.stderr)


def _run_fit(args) -> int:
    import bayesglmm as bg
    from bayesglmm.io import dump

    _check_data_path(args.data)
    need = 0 if args.out is None else _fit_bytes(args.data, draws=args.draws, chains=args.chains, retry=args.retry)
    with _OutDir.open(args.out, (FIT_FILE, SUMMARY_FILE), need, force=args.force, what="fit",
                      interrupts=args.interrupts) as out:
        with warnings.catch_warnings(record=True) as caught:  # shown one line each, and only on success
            warnings.simplefilter("always")
            data = _read_csv(args.data)
            args.interrupts.check()
            fit = bg.fit(args.formula, data, args.family, link=args.link, draws=args.draws, tune=args.tune,
                         chains=args.chains, seed=args.seed, dropna=args.dropna,
                         retry={"auto": "auto", "always": True, "never": False}[args.retry],
                         dpars=dict(args.dpar) or None)
        args.interrupts.check()  # nutpie catches Ctrl-C and returns the draws so far: do not use them
        _show_warnings(caught)
        text = str(fit.summary())
        args.interrupts.check()
        print(text)
        if out is not None:
            out.write({FIT_FILE: lambda handle: dump(fit, handle), SUMMARY_FILE: text + "\n"})
    return 0


def _csv_shape(path: str, head_bytes: int = 1 << 16) -> tuple[int, int, int]:
    """About how many rows and columns the CSV has, and its size in bytes, from its first 64 KiB."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(head_bytes)
    columns = head.split(b"\n", 1)[0].count(b",") + 1
    lines = max(head.count(b"\n"), 1)
    rows = max(round(lines * size / max(len(head), 1)) - 1, 1)
    return rows, columns, size


def _fit_bytes(data: str, *, draws: int, chains: int, retry: str) -> int:
    """About how many bytes fit.bglmm and summary.txt take: an estimate made before the data are read.

    8 bytes per value: draws x chains x (parameters + sampler statistics + one log-likelihood value
    per row), where the parameters are guessed as one per column of the CSV (a random effect adds one
    per group level; the log-likelihood usually dominates), doubled when the retry ladder may double
    the draws; plus the saved data (about 3 x the CSV) and 1 MB for the rest.
    """
    rows, columns, size = _csv_shape(data)
    kept = draws * chains * (1 if retry == "never" else 2)
    return 8 * kept * (columns + SAMPLER_STATS + rows) + 3 * size + 1_000_000


def _sbc_bytes(data: str, *, sims: int) -> int:
    """About how many bytes the SBC outputs take: a rank table of sims x parameters, and a plot."""
    _, columns, _ = _csv_shape(data)
    return 24 * sims * (columns + SAMPLER_STATS) + 2_000_000


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _reason(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


class _OutDir:
    """The --out folder, checked before any data is read, and written to only at the end.

    On entry: the folder exists or is created, a temporary file can be created and removed there,
    it has room for about ``need`` bytes, holds none of ``files`` (unless ``force``), and no other
    bayesglmm run holds its lock. On exit the lock is released and the folders created here are
    removed again if they are still empty (a failed or interrupted run leaves nothing behind).
    """

    def __init__(self, path: Path, files: tuple, need: int, *, force: bool, what: str, interrupts=None):
        self.path, self.files, self.need, self.force, self.what = path, tuple(files), need, force, what
        self.interrupts = interrupts
        self._created: list[Path] = []
        self._lock_fd = None

    @classmethod
    def open(cls, path, files=(), need=0, *, force=False, what="outputs", interrupts=None):
        """An _OutDir context for ``path``, or one giving None when there is no --out."""
        if path is None:
            return contextlib.nullcontext(None)
        return cls(Path(path), files, need, force=force, what=what, interrupts=interrupts)

    def __enter__(self):
        try:
            self._check()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc):
        self._release()

    def _check(self) -> None:
        out, name = self.path, repr(str(self.path))
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {name} is a file, not a folder; give a folder (it is created if missing)")
        missing = [p for p in (out.absolute(), *out.absolute().parents) if not p.exists()]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CLIError(f"--out {name}: cannot create the folder ({_reason(err)}); choose another folder") from err
        self._created = missing
        try:
            fd, probe = tempfile.mkstemp(dir=out, prefix=".bayesglmm-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise CLIError(f"--out {name} is not writable ({_reason(err)}); choose another folder") from err
        self._lock()
        self._refuse_existing()
        free = shutil.disk_usage(out).free
        if free < self.need:
            raise CLIError(f"--out {name} has {_size(free)} free but the {self.what} needs about "
                           f"{_size(self.need)}; free some space or choose another folder")

    def _refuse_existing(self, later: bool = False) -> None:
        if self.force:
            return
        found = [self.path / f for f in self.files if (self.path / f).exists()]
        if found:
            when = "appeared while this run was working" if later else "already exists"
            raise CLIError(f"{found[0]} {when}; pass --force to replace it (only once the new {self.what} is "
                           "completely written), or choose another --out")

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        path = self.path / LOCK_FILE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 20).decode(errors="replace").strip()
                os.close(fd)
                who = f" (process {holder})" if holder.isdigit() else ""
                raise CLIError(f"another bayesglmm run{who} is writing to --out {str(self.path)!r}; wait for it to "
                               "finish or choose another folder") from None
            except OSError:  # the file system has no locks (some network file systems)
                os.close(fd)
                return
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # a run that finished removed the file we locked: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK_FILE)  # while still holding the lock
            os.close(self._lock_fd)
            self._lock_fd = None
        for folder in self._created:  # innermost first
            try:
                folder.rmdir()
            except OSError:  # not empty (outputs written), or gone
                break
        self._created = []

    def write(self, files: dict) -> None:
        """Write ``files`` (name -> content) into the folder: all or none, never over a fit that appeared."""
        from bayesglmm.io import write_atomically

        def before_commit():
            if self.interrupts is not None:
                self.interrupts.check()
            self._refuse_existing(later=True)
            if self.interrupts is not None:
                self.interrupts.written = self.path  # a signal from here on comes after the renames

        write_atomically({self.path / name: content for name, content in files.items()},
                         before_commit=before_commit)


def _analyses() -> dict | None:
    """The registry ``bayesglmm.course.ANALYSES``, or None when no course module is installed."""
    try:
        course = importlib.import_module("bayesglmm.course")
    except ModuleNotFoundError as err:
        if err.name == "bayesglmm.course":
            return None
        raise  # the course module is there but broken: show the real error
    return dict(course.ANALYSES)


def _executor(where):
    """The executor named on the command line (None: the default), checked before any work."""
    from bayesglmm.executor import get_executor

    if where is None:
        return None
    try:
        return get_executor(where)
    except ImportError as err:
        raise CLIError(str(err)) from err


def _run_sbc(args) -> int:
    _check_data_path(args.data)
    need = 0 if args.out is None else _sbc_bytes(args.data, sims=args.sims)
    with _OutDir.open(args.out, SBC_FILES, need, force=args.force, what="SBC", interrupts=args.interrupts) as out:
        return _sbc_into(args, out)


def _sbc_into(args, out) -> int:
    import bayesglmm as bg

    executor = _executor(args.executor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = _read_csv(args.data)
        args.interrupts.check()
        cal = bg.sbc(args.formula, data, args.family, link=args.link, draws=args.sims, chains=args.chains,
                     sample_draws=args.draws, tune=args.tune, thin=args.thin, seed=args.seed, executor=executor)
    args.interrupts.check()
    _show_warnings(caught)
    tests = cal.tests
    rejected = list(tests.index[tests["rejected"]])
    print(f"SBC of {args.formula} ({args.family}): {len(cal.ranks)} simulations, ranks among {cal.n_draws} "
          f"draws, seed {cal.seed}, {cal.seconds['wall']:.0f} s")
    print(tests[["p_value", "points_outside", "rejected"]].to_string(float_format=lambda v: f"{v:.3f}"))
    alpha = 1 - float(tests["band_level"].iloc[0])
    if rejected:
        print(f"Verdict: NOT calibrated: uniformity rejected for {', '.join(rejected)} "
              f"(p < {alpha:.4f}: 1% level, Bonferroni over {len(tests)} parameters).")
    else:
        print(f"Verdict: no evidence of miscalibration: no parameter rejected at the 1% level "
              f"(p >= {alpha:.4f}, Bonferroni over {len(tests)} parameters).")
    if out is not None:
        fig = cal.plot()
        ranks, table, png = SBC_FILES
        out.write({ranks: cal.ranks.to_csv(), table: tests.to_csv(),
                   png: lambda handle: fig.savefig(handle, format="png", dpi=100)})
    return 0


def _run_course(args) -> int:
    from bayesglmm.executor import use_executor

    analyses = _analyses()
    if args.name == "list":
        if analyses is None:
            print(NO_ANALYSES)
        for name, module in (analyses or {}).items():
            print(f"{name:<20} {getattr(module, 'DESCRIPTION', '').strip()}")
        return 0
    if analyses is None:
        raise CLIError(f"unknown analysis {args.name!r}: {NO_ANALYSES}")
    if args.name not in analyses:
        close = difflib.get_close_matches(args.name, list(analyses), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"unknown analysis {args.name!r}.{hint} Available: {', '.join(analyses) or 'none'} "
                       "(see 'bayesglmm course list').")
    kwargs = {"data_dir": args.data_dir, "out": None if args.out is None else Path(args.out)}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.quick:
        kwargs["quick"] = True
    executor = _executor(args.executor)
    # the analysis writes its own files: --out is checked (folder, writable, 2 MB free, no other run), not emptied
    with _OutDir.open(args.out, (), 2_000_000, what="analysis", interrupts=args.interrupts), use_executor(executor):
        result = analyses[args.name].run(**kwargs)
    args.interrupts.check()
    if result is not None:
        print(result)
    return 0


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM, remembered even when a library catches them.

    The handler records the signal and raises KeyboardInterrupt (:class:`Terminated` for
    SIGTERM), so both leave through the same clean-up. nutpie catches Ctrl-C and returns the
    draws so far, and some libraries catch every exception (Bambi, formulae) or swallow one
    raised in a finaliser; :meth:`check` raises again for a signal recorded earlier, and the
    command calls it before reading data, before and after sampling and just before writing.
    It is installed first thing in :func:`main`, before the arguments are parsed; a SIGINT
    that the parent process set to be ignored is honoured too.
    """

    def __init__(self, received: list[int] | None = None):
        self._received = received if received is not None else []  # recorded before main() (the console script)
        self._signum = None
        self.written = None  # the --out folder, once the outputs are renamed into place
        self._previous = {}

    @property
    def signum(self) -> int | None:
        """The signal that stops the command: SIGTERM over SIGINT; one recorded before main() counts."""
        if self._signum is None and self._received:
            return self._received[0]
        return self._signum

    @property
    def hit(self) -> bool:
        return self.signum is not None

    def _handler(self, signum, frame):
        if self.signum is None or signum == signal.SIGTERM:
            self._signum = signum
        self.check()

    def check(self) -> None:
        """Raise KeyboardInterrupt (Terminated for SIGTERM) if a signal came, even one caught since."""
        if self.signum == signal.SIGTERM:
            raise Terminated
        if self.signum is not None:
            raise KeyboardInterrupt

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread: signals cannot be watched
                break
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _in_cli_words(text: str, command: str | None) -> str:
    """A library message as the command line says it: ``dropna=True`` is ``--dropna`` for ``fit``."""
    if command == "fit":
        text = text.replace("pass dropna=True", "pass --dropna").replace("dropna=True", "--dropna")
    return text


def _interrupted(err: KeyboardInterrupt, interrupts: _Interrupts) -> int:
    term = isinstance(err, Terminated) or interrupts.signum == signal.SIGTERM
    what = "terminated" if term else "interrupted"
    if interrupts.written is not None:
        print(f"{what}: after the outputs were written to {str(interrupts.written)!r} (they are complete)",
              file=sys.stderr)
    else:
        print(f"{what}: no files were written", file=sys.stderr)
    return EXIT_STATUS[signal.SIGTERM] if term else EXIT_STATUS[signal.SIGINT]


def main(argv: list[str] | None = None, *, received: list[int] | None = None) -> int:
    """Run the ``bayesglmm`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).
    received : list of int, optional
        Signals recorded before this call (the console script's ``bayesglmm_command.RECEIVED``,
        a list it may still append to until this function installs its handlers). Any signal
        in it stops the command before anything is read, even one whose KeyboardInterrupt was
        swallowed during the import.

    Returns
    -------
    int
        0 on success; 2 for an error in the input or in ``--out`` (one line on standard
        error, no traceback); 130 when interrupted with Ctrl-C and 143 on SIGTERM (nothing
        written, no temporary file left); 1 for an internal error (a bug: one line, or the
        traceback with ``BAYESGLMM_TRACEBACK=1``).

    Examples
    --------
    >>> main(["course", "list"])  # doctest: +SKIP
    no analyses are installed yet
    0
    >>> main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", "multicentre.csv",
    ...       "--family", "binomial", "--out", "results"])  # doctest: +SKIP
    """
    interrupts = _Interrupts(received)
    command = None
    try:
        with interrupts:  # first: a Ctrl-C from here on is never lost
            try:
                args = _parser().parse_args(argv)
            except SystemExit as done:  # --help, or a usage error argparse has already printed
                return done.code if isinstance(done.code, int) else 2
            command, args.interrupts = args.command, interrupts
            interrupts.check()
            return args.run(args)
    except KeyboardInterrupt as err:
        return _interrupted(err, interrupts)
    except (BayesGLMMError, OSError) as err:
        if interrupts.hit:  # e.g. a compiler killed by the same Ctrl-C: report the Ctrl-C
            return _interrupted(KeyboardInterrupt(), interrupts)
        print(f"error: {_in_cli_words(_one_line(err), command)}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug: one line, not a traceback (unless asked for)
        if interrupts.hit:  # a library that turned the Ctrl-C into another error
            return _interrupted(KeyboardInterrupt(), interrupts)
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"error: internal error ({type(err).__name__}: {_one_line(err)}); this is a bug in bayesglmm, "
              f"please report it (set {TRACEBACK_ENV}=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
