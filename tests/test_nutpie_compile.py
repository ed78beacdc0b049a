"""bayesglmm.nutpie_compile: nutpie's draws and error codes, callbacks served by the disk cache."""

import numpy as np
import nutpie
import pymc as pm
import pytensor
import pytest

from bayesglmm.engine import compile_flags
from bayesglmm.nutpie_compile import compile_numba


def _model(n=30):
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(6), n // 6)
    y = rng.normal(size=len(g)) + rng.normal(size=6)[g]
    with pm.Model() as model:
        obs = pytensor.shared(y, shape=(None,), name="y_data")
        mu = pm.Normal("mu", 0, 5)
        sd = pm.HalfNormal("sd", 2)
        z = pm.Normal("z", 0, 1, shape=6)
        u = pm.Deterministic("u", z * sd)  # goes through the expand callback
        pm.Normal("y", mu + u[g], 1.0, observed=obs)
    return model


def _compile(model, ours: bool, **kwargs):
    with compile_flags():
        return compile_numba(model, **kwargs) if ours else nutpie.compile_pymc_model(model, **kwargs)


def _sample(compiled, **data):
    if data:
        compiled = compiled.with_data(**data)
    return nutpie.sample(compiled, draws=60, tune=60, chains=2, seed=11, progress_bar=False)


def test_same_draws_and_stats_as_nutpie_own_compile():
    ours, theirs = _sample(_compile(_model(), True)), _sample(_compile(_model(), False))
    for name in ("mu", "sd", "z", "u"):
        np.testing.assert_array_equal(ours.posterior[name].values, theirs.posterior[name].values)
    for name in ("diverging", "n_steps", "logp"):
        np.testing.assert_array_equal(ours.sample_stats[name].values, theirs.sample_stats[name].values)


def test_callbacks_come_from_the_disk_cache_and_take_new_data():
    first = _compile(_model(), True)
    again = _compile(_model(), True)  # a new compile of the same structure: both callbacks load from disk
    assert again.compiled_logp_func._cache_hits == 1 and again.compiled_expand_func._cache_hits == 1
    other = np.random.default_rng(4).normal(size=30) + 5.0  # other data: the same compiled code
    shifted = _sample(first, y_data=other).posterior["mu"].values
    np.testing.assert_array_equal(shifted, _sample(again, y_data=other).posterior["mu"].values)
    assert shifted.mean() > 3 + _sample(first).posterior["mu"].values.mean()


@pytest.mark.parametrize("potential, code", [("log", 4), ("sqrt", 3)])
def test_non_finite_values_get_nutpie_error_codes(potential, code):
    # Started at x = -1: log(x) has a finite gradient (-1) but no finite log density (code 4);
    # sqrt(x) has neither, and nutpie reports the gradient first (code 3).
    def run(ours):
        with pm.Model() as model:
            x = pm.Normal("x", 0, 1)
            pm.Potential("p", getattr(pm.math, potential)(x))
        compiled = _compile(model, ours, initial_points={"x": -1.0}, jitter_rvs=set())
        with pytest.raises(RuntimeError) as info:
            nutpie.sample(compiled, draws=5, tune=5, chains=1, seed=1, progress_bar=False)
        return str(info.value).split("Stack backtrace")[0]

    ours = run(True)
    theirs = run(False)
    assert f"ErrorCode({code})" in ours
    assert ours == theirs
