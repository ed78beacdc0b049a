"""Predictions: course numbers, hand computations from the draws, exact offset scaling, errors.

Reference: the course's lme4 fit of p(y, n) ~ treat + (1|centre) (ch2-glmm-exercises.txt,
exercise 1.6) gives the probability of a positive response on the drug at u_i = 0 as
0.376 [0.220, 0.564] and the odds ratio of drug vs control 1.08 [0.77, 1.51].
"""

import importlib
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import bayesglmm as bg
bp = importlib.import_module("bayesglmm.predict")  # the package attribute `predict` is the function
from bayesglmm.predict import population_averaged_ratio, predict, predict_draws
from conftest import quick_fit

COURSE_P_DRUG = 0.376


def flat(da):
    return da.transpose("chain", "draw", ...).values.reshape(da.sizes["chain"] * da.sizes["draw"], -1).squeeze()


def by_hand_eta(fit, frame, with_groups=True):
    """Intercept + treat[drug] + u[centre] per draw and row, written out for the multicentre model."""
    d = fit.draws
    eta = flat(d["Intercept"])[:, None] + flat(d["treat"])[:, None] * (frame["treat"].astype(str) == "drug").to_numpy()
    if with_groups:
        u = d["1|centre"]
        eta = eta + np.stack([flat(u.sel(centre__factor_dim=str(c))) for c in frame["centre"]], axis=1)
    return eta


TWO_ARMS = pd.DataFrame({"treat": ["drug", "control"], "n": [1, 1]})


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def claims():
    """Poisson counts with exposure, like the course's MotorIns: rate by Km (fixed) and Zone (random)."""
    rng = np.random.default_rng(7)
    zone = np.repeat([f"Z{i}" for i in range(1, 9)], 15)
    km = np.tile(np.repeat(["1", "2", "3"], 5), 8)
    insured = rng.uniform(20, 500, 120)
    u = dict(zip([f"Z{i}" for i in range(1, 9)], rng.normal(0, 0.4, 8)))
    rate = np.exp(-2.0 + np.select([km == "2", km == "3"], [0.3, 0.6], 0.0) + np.array([u[z] for z in zone]))
    df = pd.DataFrame({"Claims": rng.poisson(rate * insured), "Insured": insured, "Km": km, "Zone": zone})
    return quick_fit("Claims ~ Km + offset(log(Insured)) + (1|Zone)", df, "poisson", draws=300, tune=300)


@pytest.fixture(scope="module")
def corr_prior():
    """Prior draws of a correlated intercept-slope block (LKJ): 2000 draws of sds and correlation."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": np.repeat(np.arange(6), 5), "x": rng.normal(size=30)})
    df["y"] = rng.normal(size=30)
    return bg.fit("y ~ x + (1 + x|g)", df, "gaussian", prior_only=True, draws=2000, seed=5, progressbar=False)


@pytest.fixture(scope="module")
def nested_prior():
    """Prior draws of a nested gaussian model: doctors d within hospitals h (observed pairs 1:1, 1:2, 2:3, 2:4)."""
    df = pd.DataFrame({"y": np.arange(12.0) % 5, "h": np.repeat([1, 2], 6), "d": np.repeat([1, 2, 3, 4], 3)})
    return bg.fit("y ~ 1 + (1|h/d)", df, "gaussian", prior_only=True, draws=500, seed=1, progressbar=False)


# ----------------------------------------------------------------------------- course numbers
def test_typical_drug_probability_matches_course(mc_glmm):
    r = mc_glmm.predict(TWO_ARMS, kind="typical")
    drug = r.iloc[0]
    assert abs(drug["median"] - COURSE_P_DRUG) < 0.05
    assert drug["lower"] < COURSE_P_DRUG < drug["upper"]
    assert 0.15 < drug["lower"] < 0.30 and 0.45 < drug["upper"] < 0.70  # course: [0.220, 0.564]
    # u = 0: plogis(Intercept + treat) per draw, by hand.
    p = special.expit(by_hand_eta(mc_glmm, TWO_ARMS, with_groups=False))
    assert drug["median"] == pytest.approx(np.median(p[:, 0]), rel=1e-12)
    assert r.iloc[1]["mean"] == pytest.approx(p[:, 1].mean(), rel=1e-12)
    assert list(r.columns[:2]) == ["treat", "n"] and list(r.index) == [0, 1]


def test_conditional_equals_plogis_of_fixef_plus_ranef(mc_glmm, mc):
    d = predict_draws(mc_glmm, mc, kind="conditional")
    p = special.expit(by_hand_eta(mc_glmm, mc))
    np.testing.assert_allclose(d["mean"].values, p, rtol=1e-12, atol=1e-15)
    # The same as Bambi's own prediction.
    bambi = mc_glmm.spec.bambi_model.predict(mc_glmm.idata, data=mc, kind="response_params", inplace=False)
    np.testing.assert_allclose(d["mean"].values, flat(bambi["posterior"]["p"]), rtol=1e-10)
    r = predict(mc_glmm, mc)
    np.testing.assert_allclose(r["mean"], p.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(r["lower"], np.quantile(p, 0.025, axis=0), rtol=1e-12)
    np.testing.assert_allclose(r["upper"], np.quantile(p, 0.975, axis=0), rtol=1e-12)
    pd.testing.assert_frame_equal(r[list(mc.columns)], mc)
    # Link scale: the linear predictor itself; data=None: the fit's rows.
    link = predict_draws(mc_glmm, mc, kind="conditional", scale="link")
    np.testing.assert_allclose(link["mean"].values, by_hand_eta(mc_glmm, mc), rtol=1e-12)
    np.testing.assert_allclose(mc_glmm.predict()["mean"], r["mean"], rtol=1e-12)


def test_marginal_is_closer_to_half_than_typical(mc_glmm):
    typ = predict_draws(mc_glmm, TWO_ARMS, kind="typical")["mean"].values
    marg = predict_draws(mc_glmm, TWO_ARMS, kind="marginal")["mean"].values
    assert np.all(np.abs(marg.mean(0) - 0.5) < np.abs(typ.mean(0) - 0.5))
    assert np.all(np.sign(marg - 0.5) == np.sign(typ - 0.5))
    assert np.all(np.abs(marg - 0.5) <= np.abs(typ - 0.5) + 1e-12)
    # The population average, checked against adaptive quadrature for a few draws.
    eta = by_hand_eta(mc_glmm, TWO_ARMS, with_groups=False)
    sd = flat(mc_glmm.draws["1|centre_sigma"])
    for s in (0, 777, 2500, 3999):
        exact = integrate.quad(lambda z: special.expit(eta[s, 0] + sd[s] * z) * stats.norm.pdf(z), -np.inf, np.inf,
                               epsabs=1e-12)[0]
        assert marg[s, 0] == pytest.approx(exact, abs=1e-6)
    # On the link scale, the marginal kind gives logit of the population-averaged probability.
    link = predict_draws(mc_glmm, TWO_ARMS, kind="marginal", scale="link")["mean"].values
    np.testing.assert_allclose(link, special.logit(marg), rtol=1e-12)


def test_new_group_draws_from_the_fitted_distribution(mc_glmm):
    new = pd.DataFrame({"treat": ["drug", "control", "drug"], "centre": ["new", "new", "other"], "n": [1, 1, 1]})
    link = predict_draws(mc_glmm, new, kind="new_group", scale="link")["mean"].values
    typical = by_hand_eta(mc_glmm, new, with_groups=False)
    b = link - typical  # the new groups' effects
    # Rows of the same new centre share its effect; another centre gets its own.
    np.testing.assert_allclose(b[:, 0], b[:, 1], rtol=1e-12)
    assert np.corrcoef(b[:, 0], b[:, 2])[0, 1] < 0.1
    # b ~ Normal(0, sigma^2) per draw: standardised, it is standard normal.
    z = b[:, 0] / flat(mc_glmm.draws["1|centre_sigma"])
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05
    assert stats.kstest(z, "norm").pvalue > 0.001
    # Without the grouping column every row is its own new group.
    alone = predict_draws(mc_glmm, new.drop(columns="centre"), kind="new_group", scale="link")["mean"].values
    assert not np.allclose(alone[:, 0] - typical[:, 0], alone[:, 1] - typical[:, 1])
    # Wider than a typical centre, centred on it.
    r_new = mc_glmm.predict(new, kind="new_group")
    r_typ = mc_glmm.predict(new, kind="typical")
    assert np.all(r_new["upper"] - r_new["lower"] > r_typ["upper"] - r_typ["lower"])
    assert np.all(np.abs(r_new["median"] - r_typ["median"]) < 0.05)


def test_new_group_respects_correlated_block(corr_prior):
    fit = corr_prior
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["new", "new"]})
    link = predict_draws(fit, new, kind="new_group", scale="link")["mean"].values
    typical = predict_draws(fit, new, kind="typical", scale="link")["mean"].values
    b0 = link[:, 0] - typical[:, 0]              # new intercept effect
    b1 = link[:, 1] - typical[:, 1] - b0          # new slope effect
    s0, s1 = flat(fit.draws["1|g_sigma"]), flat(fit.draws["x|g_sigma"])
    r = flat(fit.draws["g_corr"])[:, 1]
    # Whitened with each draw's Cholesky factor the effects are independent N(0, 1).
    z0 = b0 / s0
    z1 = (b1 / s1 - r * z0) / np.sqrt(1 - r**2)
    for z in (z0, z1):
        assert abs(z.mean()) < 0.1 and abs(z.var() - 1) < 0.12
    assert abs(np.corrcoef(z0, z1)[0, 1]) < 0.08
    # E[b0 b1 / (s0 s1) | r] = r: independent draws would give ~0 here instead of mean(r^2).
    assert abs(np.mean(b0 * b1 / (s0 * s1) * r) - np.mean(r**2)) < 0.08
    assert np.mean(r**2) > 0.2


def test_marginal_variance_uses_the_correlation(corr_prior):
    """log link: marginal mean = exp(eta + x' Sigma x / 2), Sigma from the sds and correlation."""
    fit = corr_prior
    new = pd.DataFrame({"x": [-1.0, 0.5, 2.0]})
    plan = bp._plan(fit, bp._prepare(fit, new, "marginal", False), "marginal", None, np.random.default_rng(0))
    _, var = bp._linear_chunk(plan, slice(None))
    s0, s1 = flat(fit.draws["1|g_sigma"])[:, None], flat(fit.draws["x|g_sigma"])[:, None]
    r = flat(fit.draws["g_corr"])[:, 1][:, None]
    x = new["x"].to_numpy()[None, :]
    np.testing.assert_allclose(var, s0**2 + 2 * r * s0 * s1 * x + s1**2 * x**2, rtol=1e-8)
    # identity link: marginal = typical
    np.testing.assert_allclose(predict_draws(fit, new, kind="marginal")["mean"].values,
                               predict_draws(fit, new, kind="typical")["mean"].values, rtol=1e-12)


def test_nested_conditional_and_new_group(nested_prior):
    fit, d = nested_prior, nested_prior.draws
    new = pd.DataFrame({"h": [1, 2, 2], "d": [2, 3, 4]})  # ints, as the user may type them
    cond = predict_draws(fit, new, kind="conditional")["mean"].values
    by_hand = np.stack([flat(d["Intercept"]) + flat(d["1|h"].sel({"h__factor_dim": str(h)}))
                        + flat(d["1|h:d"].sel({"h:d__factor_dim": f"{h}:{dd}"})) for h, dd in zip(new.h, new.d)], 1)
    np.testing.assert_allclose(cond, by_hand, rtol=1e-12)
    # New groups: doctors 3 and 4 of one new hospital share the hospital's effect only.
    other = pd.DataFrame({"h": ["H", "H", "K"], "d": ["a", "b", "a"]})
    b = predict_draws(fit, other, kind="new_group")["mean"].values - flat(d["Intercept"])[:, None]
    v_h, v_d = flat(d["1|h_sigma"]) ** 2, flat(d["1|h:d_sigma"]) ** 2
    z = b / np.sqrt(v_h + v_d)[:, None]  # each N(0, 1) per draw
    assert np.all(np.abs((z**2).mean(axis=0) - 1) < 0.15)
    # Same new hospital: correlation v_h / (v_h + v_d) per draw; different hospitals: 0.
    assert abs(np.mean(z[:, 0] * z[:, 1] - v_h / (v_h + v_d))) < 0.1
    assert abs(np.mean(z[:, 0] * z[:, 2])) < 0.1


def test_chunks_give_the_same_numbers(mc_glmm, mc, monkeypatch):
    new = pd.DataFrame({"treat": ["drug", "control"] * 3, "centre": ["1", "1", "7", "7", "2", "2"], "n": [9] * 6})
    whole = {k: predict_draws(mc_glmm, new, kind=k, scale="link")["mean"].values for k in ("conditional", "marginal")}
    shared = predict_draws(mc_glmm, new.assign(centre="x"), kind="new_group", scale="link")["mean"].values
    monkeypatch.setattr(bp, "_CHUNK_ELEMENTS", 1)  # one row per chunk
    for kind, values in whole.items():
        np.testing.assert_allclose(predict_draws(mc_glmm, new, kind=kind, scale="link")["mean"].values, values,
                                   rtol=1e-12)
    chunked = predict_draws(mc_glmm, new.assign(centre="x"), kind="new_group", scale="link")["mean"].values
    np.testing.assert_allclose(chunked, shared, rtol=1e-12)  # one new centre across chunks


# ----------------------------------------------------------------------------- offsets, trials
def test_offset_exposure_scales_the_mean_exactly(claims):
    new = pd.DataFrame({"Km": ["1", "1", "3", "3"], "Insured": [1000.0, 2000.0, 1000.0, 2000.0],
                        "Zone": ["Z1", "Z1", "Z2", "Z2"]})
    for kind in ("conditional", "typical", "marginal", "new_group"):
        m = predict_draws(claims, new, kind=kind)["mean"].values
        np.testing.assert_allclose(m[:, 1] / m[:, 0], 2.0, rtol=1e-12, err_msg=kind)
        np.testing.assert_allclose(m[:, 3] / m[:, 2], 2.0, rtol=1e-12, err_msg=kind)
    d = claims.draws
    by_hand = np.exp(flat(d["Intercept"]) + flat(d["Km"])[:, 1] + np.log(1000.0))  # Km 3, 1,000 policy-years
    typical = predict_draws(claims, new, kind="typical")["mean"].values
    np.testing.assert_allclose(typical[:, 2], by_hand, rtol=1e-12)
    cond = predict_draws(claims, new, kind="conditional")["mean"].values
    np.testing.assert_allclose(cond[:, 2], by_hand * np.exp(flat(d["1|Zone"].sel({"Zone__factor_dim": "Z2"}))),
                               rtol=1e-12)
    marg = predict_draws(claims, new, kind="marginal")["mean"].values
    np.testing.assert_allclose(marg[:, 2], by_hand * np.exp(flat(d["1|Zone_sigma"]) ** 2 / 2), rtol=1e-12)
    r = claims.predict(new, kind="typical")
    assert np.all(r["pred_lower"] == np.round(r["pred_lower"])) and np.all(r["pred_upper"] == np.round(r["pred_upper"]))
    assert r.loc[1, "pred_upper"] > r.loc[0, "pred_upper"]
    assert r.loc[0, "pred_lower"] < r.loc[0, "median"] < r.loc[0, "pred_upper"]


def test_binomial_predictive_interval_is_in_counts(mc_glmm, mc):
    r = mc_glmm.predict(mc)
    assert np.all(r["pred_lower"] == np.round(r["pred_lower"]))
    assert np.all((0 <= r["pred_lower"]) & (r["pred_lower"] <= r["pred_upper"]) & (r["pred_upper"] <= mc["n"]))
    np.testing.assert_allclose(r["pred_prop_lower"], r["pred_lower"] / mc["n"])
    np.testing.assert_allclose(r["pred_prop_upper"], r["pred_upper"] / mc["n"])
    covered = ((r["pred_lower"] <= mc["y"]) & (mc["y"] <= r["pred_upper"])).sum()
    assert covered >= 20  # the observed counts lie in their 95% predictive intervals
    # The predictive draws are Binomial(n, p): their mean is n * E[p].
    d = predict_draws(mc_glmm, mc)
    se = np.sqrt(d["predictive"].var("sample").values / d.sizes["sample"])
    assert np.all(np.abs(d["predictive"].mean("sample").values - mc["n"] * d["mean"].mean("sample").values) < 4 * se)


def test_draws_and_seed(mc_glmm):
    new = pd.DataFrame({"treat": ["drug"], "centre": ["x"], "n": [30]})
    assert predict_draws(mc_glmm, new, kind="new_group", draws=100).sizes["sample"] == 100
    a = mc_glmm.predict(new, kind="new_group", seed=3)
    pd.testing.assert_frame_equal(a, mc_glmm.predict(new, kind="new_group", seed=3))
    pd.testing.assert_frame_equal(mc_glmm.predict(new, kind="new_group"), mc_glmm.predict(new, kind="new_group"))
    assert a["mean"].iloc[0] != mc_glmm.predict(new, kind="new_group", seed=4)["mean"].iloc[0]


# ----------------------------------------------------------------------------- population-averaged ratio
def test_population_averaged_odds_ratio_is_closer_to_one(mc_glmm):
    r = population_averaged_ratio(mc_glmm, "treat")
    assert list(r.index) == ["conditional", "population-averaged"]
    cond, pa = r.attrs["draws"]["conditional"], r.attrs["draws"]["population-averaged"]
    np.testing.assert_allclose(cond, np.exp(flat(mc_glmm.draws["treat"])), rtol=1e-12)
    assert abs(r.loc["conditional", "ratio"] - 1.08) < 0.1
    assert r.loc["conditional", "lower"] < 1.08 < r.loc["conditional", "upper"]
    assert 0.6 < r.loc["conditional", "lower"] < 0.9 and 1.3 < r.loc["conditional", "upper"] < 1.8
    # Per draw, the population-averaged log odds ratio is the conditional one shrunk toward 0 ...
    assert np.all(np.abs(np.log(pa)) <= np.abs(np.log(cond)) + 1e-12)
    assert np.all(np.sign(np.log(pa)) == np.sign(np.log(cond)))
    # ... by about 1/sqrt(1 + 0.346 sigma^2) (Zeger, Liang & Albert 1988).
    sd = flat(mc_glmm.draws["1|centre_sigma"])
    shrink = np.log(pa) / np.log(cond)
    assert np.median(shrink) == pytest.approx(np.median(1 / np.sqrt(1 + 0.346 * sd**2)), abs=0.05)
    assert r.loc["population-averaged", "upper"] - r.loc["population-averaged", "lower"] < \
        r.loc["conditional", "upper"] - r.loc["conditional", "lower"]
    assert r.loc["conditional", "kind"] == "odds ratio" and r.loc["conditional", "contrast"] == "treat: drug vs control"
    pd.testing.assert_frame_equal(r, population_averaged_ratio(mc_glmm, "treat[drug]"))


def test_population_averaged_ratio_errors(mc_glmm):
    with pytest.raises(bg.DataError, match="not a fixed effect"):
        population_averaged_ratio(mc_glmm, "dose")
    with pytest.raises(bg.DataError, match="not coded"):
        population_averaged_ratio(mc_glmm, "treat[placebo]")


# ----------------------------------------------------------------------------- errors
@pytest.fixture
def no_compute(monkeypatch):
    """Fail if anything is computed: errors must come from the data checks first."""
    def boom(*args, **kwargs):
        raise AssertionError("computed before the data were checked")
    monkeypatch.setattr(bp, "_compute", boom)


def test_missing_column(mc_glmm, no_compute):
    with pytest.raises(bg.DataError, match=r"'treat' \(a predictor\)"):
        predict(mc_glmm, pd.DataFrame({"n": [1]}), kind="typical")
    with pytest.raises(bg.DataError, match=r"'n' \(the number of trials"):
        predict(mc_glmm, pd.DataFrame({"treat": ["drug"]}), kind="typical")
    with pytest.raises(bg.DataError, match=r"'centre' \(a grouping factor.*kind='typical'"):
        predict(mc_glmm, TWO_ARMS)


def test_new_level_under_conditional(mc_glmm, no_compute):
    new = pd.DataFrame({"treat": ["drug", "control"], "centre": ["1", "99"], "n": [10, 10]}, index=["a", "b"])
    with pytest.raises(bg.DataError, match=r"Column 'centre' has level '99' at row 'b'.*kind='new_group'"):
        predict(mc_glmm, new)


def test_new_level_of_nested_factor(nested_prior, no_compute):
    # Hospital 2 and doctor 1 are both known, but no row of the fit has the pair: a new group.
    with pytest.raises(bg.DataError, match=r"Columns 'h', 'd' have the combination '2:1' \(h:d\) at row 0"):
        predict(nested_prior, pd.DataFrame({"h": [2], "d": [1]}))


def test_unseen_fixed_effect_level(mc_glmm, no_compute):
    new = pd.DataFrame({"treat": ["drug", "placebo"], "n": [5, 5]})
    with pytest.raises(bg.DataError, match=r"Column 'treat' has level 'placebo' at row 1.*Known levels: control, drug"):
        predict(mc_glmm, new, kind="typical")


def test_missing_values(mc_glmm, no_compute):
    new = pd.DataFrame({"treat": ["drug", None], "centre": ["1", "2"], "n": [5, 5]})
    with pytest.raises(bg.DataError, match=r"Missing values in the new data: column 'treat': 1 missing \(row 1\)"):
        predict(mc_glmm, new)
    with pytest.raises(bg.DataError, match=r"column 'centre'"):
        predict(mc_glmm, new.assign(treat="drug", centre=["1", None]), kind="new_group")


def test_bad_arguments(mc_glmm):
    with pytest.raises(ValueError, match="kind must be one of"):
        predict(mc_glmm, kind="population")
    with pytest.raises(ValueError, match="scale must be"):
        predict(mc_glmm, scale="probit")
    with pytest.raises(bg.FamilyError, match="ordinal responses"):  # category probabilities: ordinal only
        predict(mc_glmm, scale="probability")
    with pytest.raises(bg.DataError, match="DataFrame"):
        predict(mc_glmm, {"treat": ["drug"]})
