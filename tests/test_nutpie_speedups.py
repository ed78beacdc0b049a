"""bayesglmm.nutpie_speedups: nutpie's callbacks with loop copies give nutpie's draws and codes."""

import contextlib

import numpy as np
import nutpie
import pymc as pm
import pytest

from bayesglmm import nutpie_speedups


@contextlib.contextmanager
def nutpie_own_callbacks():
    nutpie_speedups.uninstall()
    try:
        yield
    finally:
        nutpie_speedups.install()


def _model():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(6), 5)
    y = rng.normal(size=30) + rng.normal(size=6)[g]
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5)
        sd = pm.HalfNormal("sd", 2)
        z = pm.Normal("z", 0, 1, shape=6)
        u = pm.Deterministic("u", z * sd)  # goes through the expand callback
        pm.Normal("y", mu + u[g], 1.0, observed=y)
    return model


def _sample(model):
    compiled = nutpie.compile_pymc_model(model)
    return nutpie.sample(compiled, draws=60, tune=60, chains=2, seed=11, progress_bar=False)


def test_installed_on_import_of_fit():
    import nutpie.compile_pymc as cp

    import bayesglmm.fit  # noqa: F401

    assert cp._make_c_logp_func is nutpie_speedups.make_c_logp_func
    assert cp._make_c_expand_func is nutpie_speedups.make_c_expand_func


def test_same_draws_and_stats_as_nutpie_own_callbacks():
    ours = _sample(_model())
    with nutpie_own_callbacks():
        theirs = _sample(_model())
    for name in ("mu", "sd", "z", "u"):
        np.testing.assert_array_equal(ours.posterior[name].values, theirs.posterior[name].values)
    for name in ("diverging", "n_steps", "logp"):
        np.testing.assert_array_equal(ours.sample_stats[name].values, theirs.sample_stats[name].values)


@pytest.mark.parametrize("potential, code", [("log", 4), ("sqrt", 3)])
def test_non_finite_values_get_nutpie_error_codes(potential, code):
    # Started at x = -1: log(x) has a finite gradient (-1) but no finite log density (code 4);
    # sqrt(x) has neither, and nutpie reports the gradient first (code 3).
    def run():
        with pm.Model() as model:
            x = pm.Normal("x", 0, 1)
            pm.Potential("p", getattr(pm.math, potential)(x))
        compiled = nutpie.compile_pymc_model(model, initial_points={"x": -1.0}, jitter_rvs=set())
        with pytest.raises(RuntimeError) as info:
            nutpie.sample(compiled, draws=5, tune=5, chains=1, seed=1, progress_bar=False)
        return str(info.value).split("Stack backtrace")[0]

    ours = run()
    with nutpie_own_callbacks():
        theirs = run()
    assert f"ErrorCode({code})" in ours
    assert ours == theirs
