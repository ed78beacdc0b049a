"""The stored pointwise log-likelihood (bayesglmm.loglik) equals Bambi's, value for value."""

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesglmm as bg
from bayesglmm.loglik import log_likelihood_function, pointwise_log_likelihood, sampled_intercepts

fit_module = importlib.import_module("bayesglmm.fit")

RNG = np.random.default_rng(1)
N = 60
G = np.repeat(np.arange(6), 10)
X = RNG.normal(size=N)
BASE = pd.DataFrame({"x": X, "g": pd.Categorical(G)})
CASES = {
    "gaussian": ("y ~ x + (1|g)", BASE.assign(y=X + RNG.normal(size=N))),
    "binomial": ("p(s, t) ~ x + (1|g)", BASE.assign(t=5, s=RNG.binomial(5, 0.4, N))),
    "bernoulli": ("y ~ x + (1|g)", BASE.assign(y=RNG.binomial(1, 0.4, N))),
    "cumulative": ("y ~ x + (1|g)", BASE.assign(y=pd.Categorical(RNG.integers(0, 4, N), ordered=True))),
    "hurdle_poisson": ("y ~ x + (1|g)", BASE.assign(y=RNG.poisson(1, N) * (RNG.random(N) < 0.6))),
    "negativebinomial": ("y ~ x + (1 + x|g)", BASE.assign(y=RNG.poisson(3, N))),
    # a factor slope: Bambi stores its effects in another dimension order than the graph's
    "gaussian-factor-slope": ("y ~ f + (f|g)", BASE.assign(y=RNG.normal(size=N), f=pd.Categorical(np.tile(list("abc"), 20)))),
}


def _bambi_values(fit):
    bm = fit.spec.bambi_model
    part = xr.DataTree.from_dict({"posterior": fit.idata["posterior"].to_dataset()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm.compute_log_likelihood(part)
    return part["log_likelihood"].to_dataset()


@pytest.mark.parametrize("family", list(CASES))
def test_stored_log_likelihood_is_bambis(family):
    formula, data = CASES[family]
    family = family.split("-")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit(formula, data, family, seed=1, chains=2, draws=50, tune=100, retry=False, progressbar=False)
    ours = fit.idata["log_likelihood"].to_dataset()
    theirs = _bambi_values(fit)
    (name,) = theirs.data_vars
    assert ours[name].dims == theirs[name].dims
    np.testing.assert_allclose(ours[name].values, theirs[name].values, rtol=1e-9, atol=1e-9)


def test_the_intercept_is_shifted_back_to_the_centred_design():
    formula, data = CASES["binomial"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit(formula, data, "binomial", seed=1, chains=1, draws=20, tune=50, retry=False, progressbar=False)
    post = fit.idata["posterior"].to_dataset()
    shifted = sampled_intercepts(fit.spec.bambi_model, post)
    expected = post["Intercept"] + post["x"] * data["x"].mean()
    np.testing.assert_allclose(shifted["Intercept"].values, expected.values, rtol=1e-12)
    assert not np.allclose(post["Intercept"].values, shifted["Intercept"].values)


def test_a_model_whose_stored_draws_miss_a_parameter_gets_none():
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=np.array([0.0, 1.0]))
    assert log_likelihood_function(model, []) is None  # mu is not stored: the graph still draws it
    post = xr.Dataset({"other": (("chain", "draw"), np.zeros((1, 2)))})
    assert pointwise_log_likelihood(model, post, "y") is None


def test_auto_leaves_a_large_log_likelihood_out_and_sensitivity_needs_only_totals(monkeypatch):
    """log_likelihood="auto" above the limit stores nothing; each draw's total equals the rows' sum, weighted too."""
    formula, data = CASES["gaussian"]
    data = data.assign(w=np.tile([1.0, 2.0, 3.0], N // 3))
    settings = dict(seed=3, chains=2, draws=60, tune=100, retry=False, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = bg.fit(formula, data, "gaussian", weights="w", **settings)
        monkeypatch.setattr(fit_module, "LOGLIK_STORE_MAX_CELLS", N * 2 * 60 - 1)  # one value too many
        lean = bg.fit(formula, data, "gaussian", weights="w", **settings)
    assert "log_likelihood" in stored.idata.children and "log_likelihood" not in lean.idata.children
    assert "not stored" in str(lean.summary()) and "Log-likelihood" not in str(stored.summary())
    pointwise = stored.idata["log_likelihood"]["y"]
    totals = fit_module.log_likelihood_totals(lean.idata, lean.spec.bambi_model)["y"]
    assert totals.dims == ("chain", "draw")
    np.testing.assert_allclose(totals.values, pointwise.sum("__obs__").values, rtol=1e-10)
    unweighted = pointwise.values / data["w"].to_numpy()
    assert not np.allclose(totals.values, unweighted.sum(-1))  # the weights are in the totals
    np.testing.assert_allclose(lean.sensitivity()[["prior", "likelihood"]].to_numpy(),
                               stored.sensitivity()[["prior", "likelihood"]].to_numpy(), rtol=1e-8)
    assert "log_likelihood" not in lean.idata.children  # the fit is left as it was


@pytest.mark.parametrize("family", ["binomial", "bernoulli", "cumulative", "gaussian-factor-slope"])
def test_numpy_and_numba_evaluate_the_same_log_likelihood(family, monkeypatch):
    """Small log-likelihoods are evaluated by NumPy (no compilation), large ones by numba: same values."""
    import bayesglmm.loglik as loglik

    formula, data = CASES[family]
    family = family.split("-")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit(formula, data, family, seed=2, chains=2, draws=30, tune=60, retry=False, progressbar=False)
    bm = fit.spec.bambi_model
    model, post = bm.backend.model, sampled_intercepts(bm, fit.idata["posterior"].to_dataset())
    names = [str(v) for v in post.data_vars]
    assert type(log_likelihood_function(model, names, draws=60)[0].maker.linker).__name__ == "PerformLinker"
    by_numpy = pointwise_log_likelihood(model, post, "y")
    assert np.isfinite(by_numpy["y"].values).all()
    monkeypatch.setattr(loglik, "NUMPY_MAX_CELLS", N * 60 - 1)  # 60 draws x N rows: one value too many
    assert type(log_likelihood_function(model, names, draws=60)[0].maker.linker).__name__ == "NumbaLinker"
    by_numba = pointwise_log_likelihood(model, post, "y")
    np.testing.assert_allclose(by_numpy["y"].values, by_numba["y"].values, rtol=1e-12, atol=1e-12)


def test_numpy_mode_evaluates_a_summed_broadcast_product_as_one_matrix_product():
    """The design product's (draws, rows, columns) array is not built: a Matmul, the same values."""
    import pytensor
    import pytensor.tensor as pt

    from bayesglmm.loglik import _product_sum_as_matmul, compile_mode

    q = RNG.normal(size=(50, 3))
    theta = pt.matrix("theta")
    summed = (pt.constant(q[None]) * theta[:, None, :]).sum(axis=2)  # elementwise_dot, batched over draws
    full = pt.tensor3("full")
    other = (pt.constant(q[None]) * full).sum(axis=2)  # no axis of length 1 before the summed one: kept
    along = (pt.constant(q[None, :, :1]) * theta[:, None, :]).sum(axis=2)  # q broadcast along the summed axis
    fn = pytensor.function([theta, full], [summed, other, along], mode=compile_mode(1_000))
    alone = pytensor.function([theta], summed, mode=compile_mode(1_000))
    ops = [type(getattr(node.op, "core_op", node.op)).__name__ for node in alone.maker.fgraph.apply_nodes]
    assert "Dot" in ops and "Sum" not in ops
    draws, values = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 50, 3))
    summed_values, other_values, along_values = fn(draws, values)
    np.testing.assert_allclose(summed_values, draws @ q.T, rtol=1e-12)
    np.testing.assert_allclose(other_values, (q * values).sum(2), rtol=1e-12)
    np.testing.assert_allclose(along_values, draws.sum(1)[:, None] * q[:, 0], rtol=1e-12)
    assert _product_sum_as_matmul(None, along.owner) is None  # PyTensor may also simplify it first: the guard itself
    assert _product_sum_as_matmul(None, summed.owner) is not None
