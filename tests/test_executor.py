"""Batches through the executor seam: same draws serially, on local cores and on Dask; dead workers.

A Dask LocalCluster with two worker processes runs inside the test (loopback only). The
models are tiny (24 rows, 2 chains x 100 draws) so the whole file takes about a minute,
most of it starting worker processes and compiling the model once in each.
"""

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import bayesglmm as bg
from bayesglmm.errors import SettingsError
from bayesglmm.executor import LocalExecutor, SerialExecutor, get_executor, task_seed
from conftest import tiny_data

SIZE = {"draws": 100, "tune": 100, "chains": 2}


def _die_once(marker_dir, key, log):
    """Kill this worker process the first time task ``key`` 1 runs; later runs succeed."""
    marker = Path(marker_dir) / f"ran-{key}"
    if key == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    with open(log, "a") as handle:
        handle.write(f"{key}\n")
    return key * 10


@pytest.fixture(scope="module")
def tiny():
    return tiny_data()


@pytest.fixture(scope="module")
def tiny_fits(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: bg.fit(formula, tiny, seed=4, progressbar=False, **SIZE)
                for name, formula in (("x", "y ~ x + (1|g)"), ("null", "y ~ 1 + (1|g)"))}


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _logo(fits, executor):
    from bayesglmm.refit import _fit_cache

    for fit in fits.values():  # compare caches results per fit: run the refits again
        _fit_cache(fit).pop("cv", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        res = bg.compare(fits, cv="logo", group="g", allow_unconverged=True, seed=9, executor=executor)
    assert not any("rebuilt the model" in note for note in res.notes), res.notes
    return res


def test_logo_gives_the_same_numbers_serially_locally_and_on_dask(tiny_fits, dask_client):
    serial = _logo(tiny_fits, "serial")
    local = _logo(tiny_fits, LocalExecutor(workers=2))
    on_dask = _logo(tiny_fits, dask_client)
    assert (serial.executor, local.executor, on_dask.executor) == ("serial", "local", "dask")
    for name in tiny_fits:
        ref = np.asarray(serial.elpd[name].elpd_i)
        assert np.isfinite(ref).all() and ref.size == 24
        # Same seeds, same draws; the log-likelihood's BLAS sums may differ in the last bit between
        # processes with different BLAS thread counts (Dask's nanny sets OMP_NUM_THREADS=1).
        np.testing.assert_allclose(np.asarray(local.elpd[name].elpd_i), ref, rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.asarray(on_dask.elpd[name].elpd_i), ref, rtol=1e-13, atol=0)
    # 4 groups x 2 models; each worker compiled each model's masked copy once, at most.
    assert serial.refits == local.refits == on_dask.refits == 8
    assert local.fit_seconds > 0 and local.compile_seconds > 0
    # The x effect is real (0.8 with SD 0.5 noise): the model with x predicts held-out groups better.
    assert serial.best == "x"


def test_serial_batch_matches_the_in_process_refitter(tiny_fits):
    """A serial batch draws the seeds the sequential refitter draws: same refit, same draws."""
    from bayesglmm.refit import _Refitter

    fit = tiny_fits["x"]
    rows = np.flatnonzero(fit.spec.data.frame["g"].astype(str).to_numpy() == "b")
    one = _Refitter(fit, {}, True, seed=5)
    idata = one.run(rows)
    ll = one.heldout_loglik(rows, idata)
    batch = _Refitter(fit, {}, True, seed=5).run_batch([rows], SerialExecutor(), "test")
    np.testing.assert_array_equal(batch[tuple(rows)]["loglik"].values, ll.values)


def test_fit_many_gives_the_same_draws_on_every_executor(tiny, dask_client):
    models = {"x": "y ~ x + (1|g)", "null": "y ~ 1 + (1|g)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = bg.fit_many(models, tiny, seed=2, executor="serial", **SIZE)
        on_dask = bg.fit_many(models, tiny, seed=2, executor=dask_client, **SIZE)
    assert list(serial) == ["x", "null"]
    for name in models:
        assert serial[name].settings["seed"] == task_seed(2, name)
        a = serial[name].idata["posterior"]["Intercept"].values
        np.testing.assert_array_equal(a, on_dask[name].idata["posterior"]["Intercept"].values)
    assert serial["x"].spec.formula.original == "y ~ x + (1|g)"
    # Each fit is a full Fit: summaries work on it.
    assert 0.3 < serial["x"].fixef().loc["x", "mean"] < 1.3
    with pytest.raises(TypeError, match="cores"):
        bg.fit_many(models, tiny, cores=2)


def test_local_pool_reruns_the_tasks_of_a_worker_that_died(tmp_path):
    log = tmp_path / "log.txt"
    tasks = {k: (str(tmp_path), k, str(log)) for k in range(4)}
    out = LocalExecutor(workers=2).run(_die_once, tasks, label="kill test")
    assert out == {0: 0, 1: 10, 2: 20, 3: 30}
    assert (tmp_path / "ran-1").exists()  # it did die once
    # Each task's result counted once; a task that finished before the crash may have run
    # again (tasks are idempotent), but its result is stored once.
    assert set(log.read_text().split()) == {"0", "1", "2", "3"}


def test_dask_reruns_the_tasks_of_a_worker_that_died(tmp_path, dask_client):
    log = tmp_path / "log.txt"
    tasks = {k: (str(tmp_path), k, str(log)) for k in range(4)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = get_executor(dask_client).run(_die_once, tasks, label="kill test")
    assert out == {0: 0, 1: 10, 2: 20, 3: 30}
    assert (tmp_path / "ran-1").exists()


def test_without_dask_asking_for_it_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'bayesglmm\[dask\]'"):
        get_executor("tcp://127.0.0.1:8786")
    assert get_executor(None).name == "local"  # the default needs nothing


def test_executor_argument_checks():
    with pytest.raises(SettingsError, match="executor must be"):
        get_executor("cluster")
    with pytest.raises(SettingsError, match="executor must be"):
        get_executor(3)
    with pytest.raises(SettingsError, match="workers"):
        LocalExecutor(workers=0)
    assert SerialExecutor().run(divmod, {"a": (7, 2)}) == {"a": (3, 1)}
    assert task_seed(1, ("fold", 2)) == task_seed(1, ("fold", 2)) != task_seed(2, ("fold", 2))


def test_use_executor_sets_the_default_for_calls_without_one(tiny_fits):
    from bayesglmm.executor import use_executor

    local = LocalExecutor(workers=2)
    with use_executor("serial") as outer:
        assert outer.name == "serial" and get_executor(None) is outer
        with use_executor(local):
            assert get_executor(None) is local
            assert get_executor("serial").name == "serial"  # an explicit executor still wins
        assert get_executor(None) is outer
        with pytest.raises(RuntimeError):
            with use_executor(local):
                raise RuntimeError("an error inside the block")
        assert get_executor(None) is outer  # restored after an error too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bg.compare(tiny_fits, seed=1, allow_unconverged=True)  # as a course analysis: no executor
        assert res.executor == "serial"
    assert get_executor(None).name == "local"
    with pytest.raises(SettingsError, match="executor must be"):
        with use_executor("cluster"):
            pass
