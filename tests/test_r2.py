"""R² against the closed form of the true parameters, a by-hand computation from the draws, and the ICC.

A gaussian mixed model is simulated (30 groups x 8 rows, y = 1 + 0.8 x + u_g + e with
sd(u) = 1, sd(e) = 0.7): its marginal and conditional R² (Nakagawa & Schielzeth) computed
from the true parameters must lie in the posterior intervals, and every R² is recomputed
from the draws by hand. The conditional R² of an intercept-only GLMM is its ICC, draw by draw.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import quick_fit
from scipy.special import logsumexp

import bayesglmm as bg
from bayesglmm.r2 import _bayes_r2, _loo_r2

B0, B1, SD_U, SD_E = 1.0, 0.8, 1.0, 0.7


def _simulated():
    rng = np.random.default_rng(2019)
    g = np.repeat(np.arange(30), 8)
    u = rng.normal(0, SD_U, 30)
    x = rng.normal(0, 1, len(g))
    mu = B0 + B1 * x + u[g]
    y = mu + rng.normal(0, SD_E, len(g))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g]}), mu


@pytest.fixture(scope="module")
def sim():
    data, mu = _simulated()
    fit = quick_fit("y ~ x + (1|g)", data, "gaussian")
    return fit, data, mu


def _flat(fit, name):
    return fit.draws[name].transpose("chain", "draw", ...).values.reshape(fit.draws.sizes["chain"] * fit.draws.sizes["draw"], -1)


def test_nakagawa_r2_contains_the_truth_and_matches_the_draws(sim):
    fit, data, _ = sim
    res = bg.r2(fit)
    var_f = B1**2 * np.var(data["x"])
    true_marginal = var_f / (var_f + SD_U**2 + SD_E**2)
    true_conditional = (var_f + SD_U**2) / (var_f + SD_U**2 + SD_E**2)
    t = res.table
    assert t.loc["marginal", "lower"] < true_marginal < t.loc["marginal", "upper"]
    assert t.loc["conditional", "lower"] < true_conditional < t.loc["conditional", "upper"]
    # by hand from the draws
    b1 = _flat(fit, "x")[:, 0]
    s_u2 = _flat(fit, "1|g_sigma")[:, 0] ** 2
    s_e2 = _flat(fit, "sigma")[:, 0] ** 2
    f2 = b1**2 * np.var(data["x"])
    np.testing.assert_allclose(res.draws["marginal"], f2 / (f2 + s_u2 + s_e2), rtol=1e-10)
    np.testing.assert_allclose(res.draws["conditional"], (f2 + s_u2) / (f2 + s_u2 + s_e2), rtol=1e-10)
    assert t.loc["marginal", "mean"] == pytest.approx(res.draws["marginal"].mean())
    assert [t.loc["conditional", "lower"], t.loc["conditional", "upper"]] == pytest.approx(
        list(np.quantile(res.draws["conditional"], [0.025, 0.975])))


def test_bayes_r2_matches_the_draws_and_the_truth(sim):
    fit, data, mu_true = sim
    res = fit.r2()
    levels = sorted(data["g"].unique())
    u = _flat(fit, "1|g")
    u = u[:, [list(fit.draws["g__factor_dim"].values).index(lv) for lv in levels]]
    codes = pd.Categorical(data["g"], categories=levels).codes
    mu = _flat(fit, "Intercept") + _flat(fit, "x") * data["x"].to_numpy()[None, :] + u[:, codes]
    y = data["y"].to_numpy()
    by_hand = mu.var(axis=1) / (mu.var(axis=1) + (y - mu).var(axis=1))
    np.testing.assert_allclose(res.draws["bayes_R2"], by_hand, rtol=1e-8)
    truth = np.var(mu_true) / (np.var(mu_true) + np.var(y - mu_true))
    assert res.table.loc["bayes_R2", "lower"] < truth < res.table.loc["bayes_R2", "upper"]


def test_loo_r2_is_close_to_raw_importance_sampling_and_below_bayes_r2(sim):
    fit, data, _ = sim
    res = bg.r2(fit)
    ll_ds = fit.idata["log_likelihood"].to_dataset()
    ll = _flat_da(ll_ds[list(ll_ds.data_vars)[0]])
    from bayesglmm.predict import predict_draws

    mu = predict_draws(fit)["mean"].values
    y = data["y"].to_numpy()
    # plain (unsmoothed) importance sampling LOO means; R² without the bootstrap
    w = np.exp(-ll - logsumexp(-ll, axis=0))
    err = (w * mu).sum(axis=0) - y
    plain = 1 - np.var(err) / np.var(y)
    assert res.table.loc["loo_R2", "median"] == pytest.approx(plain, abs=0.02)
    assert res.table.loc["loo_R2", "mean"] < res.table.loc["bayes_R2", "mean"]
    assert bg.r2(fit).draws["loo_R2"] == pytest.approx(res.draws["loo_R2"])  # seeded bootstrap


def _flat_da(da):
    da = da.transpose("chain", "draw", ...)
    return da.values.reshape(da.sizes["chain"] * da.sizes["draw"], -1)


def test_conditional_r2_of_an_intercept_only_glmm_is_its_icc(mc_null):
    res = bg.r2(mc_null, loo=False)
    icc = mc_null.icc()
    np.testing.assert_allclose(res.draws["conditional"], icc.draws["centre"].values.reshape(-1), rtol=1e-10)
    np.testing.assert_allclose(res.draws["marginal"], 0.0, atol=1e-12)
    assert res.table.loc["conditional", "mean"] == pytest.approx(icc.loc["centre", "mean"])
    assert "loo_R2" not in res.table.index


def test_helpers_against_hand_computation():
    mu = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    y = np.array([1.0, 2.0, 4.0])
    assert _bayes_r2(mu, y) == pytest.approx([1.0 / (1.0 + 1.0 / 3.0), (1 / 3) / (1 / 3 + np.var(y - mu[1], ddof=1))])
    # (nearly) equal log-likelihoods: the LOO means are the posterior means; bootstrap with huge n -> plain R²
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.normal(size=n)
    mu = np.tile(0.5 * y, (200, 1)) + rng.normal(0, 0.01, (200, n))
    out = _loo_r2(mu, y, rng.normal(0, 1e-3, (200, n)), 1.0, np.random.default_rng(1))
    plain = 1 - np.var(mu.mean(axis=0) - y) / np.var(y)
    assert out.mean() == pytest.approx(plain, abs=0.01)


def test_prior_only_and_bad_prob_are_refused(sim):
    fit, _, _ = sim
    with pytest.raises(bg.SettingsError):
        bg.r2(fit, prob=1.5)


def test_prior_draws_are_refused():
    from types import SimpleNamespace

    with pytest.raises(bg.NoPosteriorError):
        bg.r2(SimpleNamespace(prior_only=True))
    with pytest.raises(bg.NoPosteriorError):
        bg.hypothesis(SimpleNamespace(prior_only=True), "x > 0")


def test_random_slopes_enter_as_the_mean_of_z_sigma_z():
    """Johnson (2014): s_l^2 = mean_i z_i' Sigma z_i, with the block's SDs and correlation, by hand."""
    from conftest import tiny_data

    data = tiny_data()
    fit = quick_fit("y ~ x + (x|g)", data, "gaussian", draws=200, tune=300)
    res = bg.r2(fit, loo=False)
    sd0 = _flat(fit, "1|g_sigma")[:, 0]
    sd1 = _flat(fit, "x|g_sigma")[:, 0]
    corr = fit.draws["g_corr"].transpose("chain", "draw", ...).values.reshape(len(sd0), 2, 2)[:, 0, 1]
    x = data["x"].to_numpy()
    s_l2 = sd0**2 + 2 * corr * sd0 * sd1 * x.mean() + sd1**2 * np.mean(x**2)
    f2 = _flat(fit, "x")[:, 0] ** 2 * np.var(x)
    s_e2 = _flat(fit, "sigma")[:, 0] ** 2
    np.testing.assert_allclose(res.draws["conditional"], (f2 + s_l2) / (f2 + s_l2 + s_e2), rtol=1e-8)
    np.testing.assert_allclose(res.draws["marginal"], f2 / (f2 + s_l2 + s_e2), rtol=1e-8)
