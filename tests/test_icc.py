"""ICC: numbers against the course, against hand computations from the draws, and against known truths.

Reference: the course's lme4 fit of p(y, n) ~ 1 + (1|centre) on the multicentre data gives
centre SD 1.1692 and ICC = 1.169^2 / (1.169^2 + pi^2/3) = 0.293 (ch2-glmm-exercises.txt,
exercise 1.8; ../shared/STACK.md). Simulated data use fixed seeds; their true ICCs follow
from the simulation's variances.
"""

import math

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.icc import ICC, icc
from conftest import quick_fit

LOGIT_VAR = math.pi**2 / 3
COURSE_ICC = 0.293


def flat(da):
    return da.transpose("chain", "draw", ...).values.reshape(da.sizes["chain"] * da.sizes["draw"], -1).squeeze()


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sim_bernoulli():
    """Random-intercept logistic data, 40 groups x 20 rows, group SD 1.5: true latent ICC 0.406."""
    rng = np.random.default_rng(2024)
    groups, per, sd = 40, 20, 1.5
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    u = rng.normal(0, sd, groups)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 0.5 * x + u[g]))))
    df = pd.DataFrame({"y": y, "x": x, "g": g})
    return quick_fit("y ~ x + (1|g)", df, "bernoulli"), sd**2 / (sd**2 + LOGIT_VAR)


@pytest.fixture(scope="module")
def nested():
    """3-level gaussian data with the course's column names: 12 hospitals x 5 doctors x 8 patients.

    Variances: hospital 1.0, doctor 0.5, residual 1.0, so the true ICCs are 0.4 (hospital),
    0.2 (doctor) and 0.6 (two patients of the same doctor).
    """
    rng = np.random.default_rng(11)
    h = np.repeat(np.arange(12), 40)
    d = np.repeat(np.arange(60), 8)  # doctor ids unique across hospitals, as in the course data
    y = 1.0 + rng.normal(0, 1.0, 12)[h] + rng.normal(0, math.sqrt(0.5), 60)[d] + rng.normal(0, 1.0, 480)
    df = pd.DataFrame({"y": y, "ID.hospital": h + 1, "ID.doctor": d + 1})
    return quick_fit("y ~ 1 + (1|ID.hospital/ID.doctor)", df, "gaussian")


@pytest.fixture(scope="module")
def counts():
    """Poisson-like counts with exposures, 8 groups x 6 rows (prior draws: exact formulas only)."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(8), 6)
    df = pd.DataFrame({"g": g, "x": rng.normal(size=48), "expo": rng.uniform(50, 150, 48)})
    df["y"] = rng.poisson(0.05 * df["expo"])
    return df


# ----------------------------------------------------------------------------- course numbers
def test_null_icc_matches_course(mc_null):
    r = mc_null.icc()
    row = r.loc["centre"]
    assert 0.25 < row["median"] < 0.45
    assert row["lower"] < COURSE_ICC < row["upper"]
    # Each draw is sigma^2 / (sigma^2 + pi^2/3), computed here by hand.
    s2 = flat(mc_null.draws["1|centre_sigma"]) ** 2
    np.testing.assert_allclose(flat(r.draws["centre"]), s2 / (s2 + LOGIT_VAR), rtol=1e-12)
    assert row["median"] == pytest.approx(np.median(s2 / (s2 + LOGIT_VAR)))
    lo, hi = np.quantile(s2 / (s2 + LOGIT_VAR), [0.025, 0.975])
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi))


def test_icc_object_is_a_dataframe_with_definition(mc_null):
    r = mc_null.icc()
    assert isinstance(r, ICC) and isinstance(r, pd.DataFrame)
    assert list(r.columns) == ["median", "mean", "lower", "upper"]
    assert list(r.index) == ["centre"]
    assert type(r.table) is pd.DataFrame and r.table.equals(pd.DataFrame(r))
    text = str(r)
    assert text.startswith(r.definition)
    assert "pi^2/3" in text and "adjusted" in text and "95% equal-tailed" in text
    assert "centre" in text.splitlines()[-1]
    assert repr(r) == text and "<pre>" in r._repr_html_()
    # Same as the module function; narrower at 50%; HDI available.
    pd.testing.assert_frame_equal(r.table, icc(mc_null).table)
    half = mc_null.icc(prob=0.5)
    width = r.loc["centre", "upper"] - r.loc["centre", "lower"]
    assert half.loc["centre", "upper"] - half.loc["centre", "lower"] < width
    hdi = mc_null.icc(interval="hdi")
    assert "highest-density" in hdi.definition
    assert hdi.loc["centre", "upper"] - hdi.loc["centre", "lower"] <= width + 1e-9


def test_unadjusted_adds_fixed_effect_variance(mc_glmm):
    adj, unadj = mc_glmm.icc(), mc_glmm.icc(adjusted=False)
    assert "unadjusted" in unadj.definition and "sigma_F^2" in unadj.definition
    s2 = flat(mc_glmm.draws["1|centre_sigma"]) ** 2
    b = flat(mc_glmm.draws["treat"])
    # Linear predictor over the 22 rows: Intercept + b * drug, half the rows on drug,
    # so its variance (over rows) is b^2 / 4.
    assert (mc_glmm.spec.data.frame["treat"] == "drug").mean() == 0.5
    np.testing.assert_allclose(flat(unadj.draws["centre"]), s2 / (s2 + b**2 / 4 + LOGIT_VAR), rtol=1e-10)
    np.testing.assert_allclose(flat(adj.draws["centre"]), s2 / (s2 + LOGIT_VAR), rtol=1e-12)
    assert np.all(flat(unadj.draws["centre"]) <= flat(adj.draws["centre"]))


# ----------------------------------------------------------------------------- known truths
def test_simulated_bernoulli_icc_covers_truth(sim_bernoulli):
    fit, truth = sim_bernoulli
    row = fit.icc().loc["g"]
    assert row["lower"] < truth < row["upper"]
    assert abs(row["median"] - truth) < 0.15


def test_nested_icc_rows_and_truth(nested):
    r = nested.icc()
    same = "same ID.hospital:ID.doctor (incl. ID.hospital)"
    assert list(r.index) == ["ID.hospital", "ID.hospital:ID.doctor", same]
    assert "two observations in the same ID.hospital:ID.doctor" in r.definition
    assert "sigma^2, the residual variance" in r.definition
    d = nested.draws
    vh, vd, ve = (flat(d[v]) ** 2 for v in ("1|ID.hospital_sigma", "1|ID.hospital:ID.doctor_sigma", "sigma"))
    np.testing.assert_allclose(flat(r.draws["ID.hospital"]), vh / (vh + vd + ve), rtol=1e-12)
    np.testing.assert_allclose(flat(r.draws[same]), (vh + vd) / (vh + vd + ve), rtol=1e-12)
    np.testing.assert_allclose(flat(r.draws[same]),
                               flat(r.draws["ID.hospital"]) + flat(r.draws["ID.hospital:ID.doctor"]), rtol=1e-12)
    # The variance parameters the ICC uses converged (checked on them: an intercept and 12
    # centred hospital effects can mix more slowly, and the ICC does not depend on those).
    diag = nested.diagnostics.table
    for v in ("sigma", "1|ID.hospital_sigma", "1|ID.hospital:ID.doctor_sigma"):
        assert diag.loc[v, "r_hat"] < 1.01 and diag.loc[v, "ess_bulk"] > 300, v
    for label, truth in (("ID.hospital", 0.4), ("ID.hospital:ID.doctor", 0.2), (same, 0.6)):
        assert r.loc[label, "lower"] < truth < r.loc[label, "upper"], label


# ----------------------------------------------------------------------------- other families (prior draws)
def _prior_fit(formula, df, family):
    return bg.fit(formula, df, family, prior_only=True, draws=400, seed=3, progressbar=False)


def test_poisson_lognormal_approximation(counts):
    fit = _prior_fit("y ~ x + offset(log(expo)) + (1|g)", counts, "poisson")
    r = fit.icc()
    d = fit.draws
    s2 = flat(d["1|g_sigma"]) ** 2
    x, log_expo = counts["x"].to_numpy(), np.log(counts["expo"].to_numpy())
    eta = flat(d["Intercept"])[:, None] + flat(d["x"])[:, None] * x + log_expo
    lam = np.exp(eta.mean(axis=1) + s2 / 2)
    np.testing.assert_allclose(flat(r.draws["g"]), s2 / (s2 + np.log1p(1 / lam)), rtol=1e-10)
    assert "ln(1 + 1/lambda)" in r.definition and "Nakagawa" in r.definition
    # Unadjusted: variance over rows of the fixed part, offsets excluded.
    fixed_var = (flat(d["x"])[:, None] * counts["x"].to_numpy()).var(axis=1)
    np.testing.assert_allclose(flat(fit.icc(adjusted=False).draws["g"]),
                               s2 / (s2 + fixed_var + np.log1p(1 / lam)), rtol=1e-10)


def test_negative_binomial_uses_alpha(counts):
    fit = _prior_fit("y ~ 1 + (1|g)", counts, "negativebinomial")
    r = fit.icc()
    d = fit.draws
    s2, alpha = flat(d["1|g_sigma"]) ** 2, flat(d["alpha"])
    lam = np.exp(flat(d["Intercept"]) + s2 / 2)
    np.testing.assert_allclose(flat(r.draws["g"]), s2 / (s2 + np.log1p(1 / lam + 1 / alpha)), rtol=1e-10)
    assert "1/theta" in r.definition and "alpha" in r.definition


def test_probit_and_random_slopes(counts):
    df = counts.assign(z=(counts["y"] > counts["y"].median()).astype(int))
    fit = bg.fit("z ~ x + (1 + x|g)", df, "bernoulli", link="probit", prior_only=True, draws=200, seed=4,
                 progressbar=False)
    r = fit.icc()
    s2 = flat(fit.draws["1|g_sigma"]) ** 2
    np.testing.assert_allclose(flat(r.draws["g"]), s2 / (s2 + 1.0), rtol=1e-12)
    assert "Random slopes (x|g) are left out" in r.definition and "intercept variances only" in r.definition


def test_crossed_factors_give_shares(counts):
    df = counts.assign(h=np.tile(np.arange(6), 8), v=counts["y"] + 0.5 * counts["x"])
    fit = _prior_fit("v ~ 1 + (1|g) + (1|h)", df, "gaussian")
    r = fit.icc()
    assert list(r.index) == ["g", "h"]
    assert "share of the total variance" in r.definition
    total = flat(r.draws["g"]) + flat(r.draws["h"])
    s2 = flat(fit.draws["sigma"]) ** 2
    vg, vh = flat(fit.draws["1|g_sigma"]) ** 2, flat(fit.draws["1|h_sigma"]) ** 2
    np.testing.assert_allclose(total, (vg + vh) / (vg + vh + s2), rtol=1e-12)


def test_errors(mc_glm):
    with pytest.raises(bg.FitError, match="no grouping factor"):
        mc_glm.icc()


# ----------------------------------------------------------------------------- course data (slow)
@pytest.mark.slow
def test_patients_nested_icc_and_doctor_predictions():
    """Course exercise 2: 8525 patients, 407 doctors in 35 hospitals (minutes on 2 cores)."""
    p = bg.datasets.load("patients")
    for col in ("Age", "LengthofStay", "IL6", "CRP"):
        p[col + "_s"] = (p[col] - p[col].mean()) / p[col].std()
    fit = quick_fit("remission ~ Age_s + LengthofStay_s + IL6_s + CRP_s + CancerStage + (1|ID.hospital/ID.doctor)",
                    p, "bernoulli")
    r = fit.icc()
    same = "same ID.hospital:ID.doctor (incl. ID.hospital)"
    assert list(r.index) == ["ID.hospital", "ID.hospital:ID.doctor", same]
    assert np.all(flat(r.draws[same]) > flat(r.draws["ID.hospital:ID.doctor"]))
    assert 0 < r.loc[same, "lower"] < r.loc[same, "upper"] < 1
    # Exercise 2.8: patients of doctor 2 in hospital 1, conditional on both group effects.
    from bayesglmm.predict import predict_draws

    rows = p[(p["ID.hospital"].astype(str) == "1") & (p["ID.doctor"].astype(str) == "2")].head(3)
    link = predict_draws(fit, rows, kind="conditional", scale="link")["mean"].values
    d = fit.draws
    expected = flat(d["1|ID.hospital"].sel({"ID.hospital__factor_dim": "1"})) + \
        flat(d["1|ID.hospital:ID.doctor"].sel({"ID.hospital:ID.doctor__factor_dim": "1:2"}))
    typical = predict_draws(fit, rows, kind="typical", scale="link")["mean"].values
    np.testing.assert_allclose(link - typical, np.repeat(expected[:, None], len(rows), axis=1), rtol=1e-10,
                               atol=1e-12)
