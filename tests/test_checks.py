"""Model checks (bayesglmm.checks): predictive p-values, dispersion, random-effect normality.

Real fits: the session fixtures of conftest (multicentre GLM / GLMM / null GLMM) and, in
this module, a Poisson and a negative binomial GLMM of simulated overdispersed counts.
Where only shapes and bookkeeping are under test, a "fit" whose posterior is a set of
prior draws stands in (no sampling; the trick of Bambi's own tests).
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesglmm as bg
from bayesglmm import checks, ppc, predictive
from bayesglmm.errors import FamilyError
from conftest import quick_fit


def simulate_overdispersed(seed=3, n=300, groups=10, alpha=2.0):
    """Negative binomial counts (variance mu + mu^2/alpha, about 3x the mean) with a group effect."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    u = rng.normal(0, 0.5, groups)
    x = rng.normal(size=n)
    mu = np.exp(1.0 + 0.3 * x + u[g])
    y = rng.negative_binomial(alpha, alpha / (alpha + mu))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{k}" for k in g])})


def prior_as_posterior(formula, data, family, draws=100, seed=1):
    """A Fit whose 'posterior' is prior draws: exercises the plumbing without sampling."""
    f = bg.fit(formula, data, family, prior_only=True, draws=draws, seed=seed)
    tree = xr.DataTree.from_dict({"posterior": f.idata["prior"].to_dataset(),
                                  "observed_data": f.idata["observed_data"].to_dataset()})
    return bg.Fit(f.spec, tree, None, dict(f.settings))


@pytest.fixture(scope="module")
def counts():
    return simulate_overdispersed()


@pytest.fixture(scope="module")
def pois_fit(counts):
    return quick_fit("y ~ x + (1|g)", counts, "poisson")


@pytest.fixture(scope="module")
def nb_fit(counts):
    return quick_fit("y ~ x + (1|g)", counts, "negativebinomial")


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(5)
    n = 40
    return pd.DataFrame({
        "g": pd.Categorical(rng.integers(0, 5, n).astype(str)),
        "x": rng.normal(size=n),
        "yb": rng.integers(0, 2, n),
        "yg": rng.normal(size=n),
        "yo": pd.Categorical(rng.integers(1, 5, n), categories=[1, 2, 3, 4], ordered=True),
    })


# ---------------------------------------------------------------------------
# Replicated data
# ---------------------------------------------------------------------------


def test_posterior_predictive_draws_shape_seed_and_range(mc_glmm, mc):
    a = checks.posterior_predictive(mc_glmm, draws=200, seed=3)
    b = checks.posterior_predictive(mc_glmm, draws=200, seed=3)
    assert a.dims == ("chain", "draw", "__obs__")
    assert a.sizes["chain"] * a.sizes["draw"] == 200 and a.sizes["__obs__"] == 22
    np.testing.assert_array_equal(a.values, b.values)  # same seed, same replicated data
    # binomial replicates are successes between 0 and the row's trials
    assert (a.values >= 0).all() and (a.values <= mc["n"].to_numpy()).all()
    full = checks.posterior_predictive(mc_glmm, seed=1)
    assert full.sizes["draw"] == mc_glmm.draws.sizes["draw"]


def test_prior_only_fit_has_no_posterior_predictive(mc):
    f = bg.fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", prior_only=True, draws=50, seed=1)
    with pytest.raises(ValueError, match="prior_predictive"):
        checks.posterior_predictive(f)
    yprior = checks.prior_predictive(f)
    assert yprior.sizes["draw"] == 50 and yprior.sizes["__obs__"] == 22


# ---------------------------------------------------------------------------
# Bayesian p-values
# ---------------------------------------------------------------------------


def test_ppc_pvalues_glmm_centre_proportions_not_flagged(mc_glmm, mc):
    tab = checks.ppc_pvalues(mc_glmm, by_group="centre", seed=1)
    assert list(tab.columns) == ["statistic", "group", "level", "observed", "median", "lower", "upper",
                                 "p_value", "flag"]
    overall = tab[tab["group"] == ""].set_index("statistic")
    assert list(overall.index) == ["mean", "sd", "zeros", "max"]
    # observed statistics on the proportion scale, computed by hand
    prop = mc["y"] / mc["n"]
    assert overall.loc["mean", "observed"] == pytest.approx(mc["y"].sum() / mc["n"].sum())
    assert overall.loc["sd", "observed"] == pytest.approx(prop.std(ddof=1))
    assert overall.loc["zeros", "observed"] == pytest.approx((mc["y"] == 0).mean())
    assert overall.loc["max", "observed"] == pytest.approx(prop.max())
    centres = tab[tab["group"] == "centre"].set_index("level")
    assert len(centres) == 11 and set(centres["statistic"]) == {"proportion"}
    by_hand = mc.groupby("centre", observed=True)[["y", "n"]].sum()
    np.testing.assert_allclose(centres.loc[by_hand.index.astype(str), "observed"], by_hand["y"] / by_hand["n"])
    assert not centres["flag"].any()  # centre effects capture the centres' differences
    assert not overall["flag"].any()
    assert ((tab["lower"] <= tab["median"]) & (tab["median"] <= tab["upper"])).all()
    assert tab["p_value"].between(0, 1).all()


def test_ppc_pvalues_glm_flags_centres(mc_glm, mc):
    # the GLM has no centre term: pass the column's values, aligned by row
    tab = checks.ppc_pvalues(mc_glm, by_group=mc["centre"], seed=1)
    centres = tab[tab["group"] == "centre"]
    assert len(centres) == 11
    assert centres["flag"].sum() >= 4  # the course's point: centres differ
    # between-row spread of the proportions is far beyond what the GLM replicates
    sd = tab[(tab["group"] == "") & (tab["statistic"] == "sd")].iloc[0]
    assert sd["flag"] and sd["observed"] > sd["upper"]
    with pytest.raises(ValueError, match="not a column"):
        checks.ppc_pvalues(mc_glm, by_group="centre")


def test_ppc_pvalues_statistics_validation(mc_glmm, small):
    with pytest.raises(ValueError, match="Unknown statistic"):
        checks.ppc_pvalues(mc_glmm, stats=("mean", "median_abs"))

    def q90(values):
        return np.quantile(values, 0.9)

    yrep = checks.posterior_predictive(mc_glmm, draws=100, seed=2)
    tab = checks.ppc_pvalues(mc_glmm, stats=("mean", q90), yrep=yrep)
    assert tab["statistic"].tolist() == ["mean", "q90"]
    # yrep is reused: the same replicated data give the same p-values
    again = checks.ppc_pvalues(mc_glmm, stats=("mean", q90), yrep=yrep)
    np.testing.assert_array_equal(tab["p_value"], again["p_value"])
    gauss = prior_as_posterior("yg ~ x + (1|g)", small, "gaussian", draws=50)
    gtab = checks.ppc_pvalues(gauss, seed=1)
    assert "zeros" not in gtab["statistic"].tolist() and gtab.attrs["skipped"] == ["zeros"]


def test_mid_p_counts_ties_half():
    assert ppc._mid_p(np.zeros(10), 0.0) == 0.5  # reproduced exactly: not flagged
    assert ppc._mid_p(np.arange(10.0), 4.5) == 0.5
    assert ppc._mid_p(np.arange(10.0), 100.0) == 0.0


# ---------------------------------------------------------------------------
# Dispersion
# ---------------------------------------------------------------------------


def test_dispersion_poisson_fails_negbin_passes(pois_fit, nb_fit, counts):
    assert counts["y"].var() / counts["y"].mean() > 2.5  # the simulated counts are overdispersed
    dp = checks.dispersion_check(pois_fit, seed=1)
    dn = checks.dispersion_check(nb_fit, seed=1)
    assert dp.verdict == "overdispersed" and not dp.ok
    assert dp.p_value < 0.025
    assert dp.observed > 2 and 0.8 < dp.replicated < 1.2  # Pearson chi2/n: data ~3, Poisson replicates ~1
    assert dp.ratio > 2
    assert "negativebinomial" in dp.message
    assert dn.verdict == "consistent" and dn.ok
    assert 0.025 <= dn.p_value <= 0.975
    assert 0.5 < dn.ratio < 1.5
    table = dp.table()
    assert list(table.index) == ["observed", "replicated"] and list(table.columns) == ["median", "lower", "upper"]
    assert "overdispersed" in str(dp)


def test_dispersion_binomial_glm_without_centres_is_overdispersed(mc_glm):
    dc = checks.dispersion_check(mc_glm, seed=1)
    assert dc.verdict == "overdispersed"
    assert dc.observed > 4  # the centres' differences show as extra-binomial variation
    assert len(dc.observed_draws) == len(dc.replicated_draws) == mc_glm.draws.sizes["chain"] * mc_glm.draws.sizes["draw"]


def test_dispersion_observed_statistic_by_hand(pois_fit, counts):
    """The observed statistic of each draw is sum((y - mu)^2 / mu) / n, with mu from that draw."""
    dc = checks.dispersion_check(pois_fit, draws=40, seed=2)
    post = predictive._thin(pois_fit.idata["posterior"].to_dataset(), 40)
    tree = xr.DataTree.from_dict({"posterior": post})
    mu = pois_fit.spec.bambi_model.predict(tree, kind="response_params", inplace=False)["posterior"]["mu"]
    mu = mu.transpose("chain", "draw", "__obs__").values.reshape(-1, len(counts))
    by_hand = (((counts["y"].to_numpy() - mu) ** 2) / mu).mean(axis=1)
    np.testing.assert_allclose(dc.observed_draws, by_hand, rtol=1e-10)


def test_dispersion_not_for_binary_or_gaussian(small):
    fb = prior_as_posterior("yb ~ x + (1|g)", small, "bernoulli", draws=20)
    with pytest.raises(FamilyError, match="binary"):
        checks.dispersion_check(fb)


@pytest.mark.slow
def test_motorins_poisson_overdispersion_visible():
    """The course's MotorIns Poisson GLMM: its overdispersion must show (about 1-2 min)."""
    m = bg.datasets.load("motorins")
    m["log_insured"] = np.log(m["Insured"])
    f = quick_fit("Claims ~ Km + Bonus + offset(log_insured) + (1|Zone)", m, "poisson", draws=300, tune=300)
    dc = checks.dispersion_check(f, draws=400, seed=1)
    assert dc.verdict == "overdispersed" and dc.ratio > 1.5


# ---------------------------------------------------------------------------
# Tables behind the PPC plots
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # Bambi/PyMC on ordinal prior draws used as a posterior
def test_category_counts_binary_and_ordinal(small):
    fb = prior_as_posterior("yb ~ x + (1|g)", small, "bernoulli", draws=60)
    tb = checks.category_counts(fb, seed=1)
    assert tb["category"].tolist() == ["0", "1"]
    assert tb["observed"].tolist() == np.bincount(small["yb"], minlength=2).tolist()
    assert (tb["lower"] <= tb["upper"]).all()
    fo = prior_as_posterior("yo ~ x + (1|g)", small, "cumulative", draws=60)
    to = checks.category_counts(fo, seed=1)
    assert to["category"].tolist() == ["1", "2", "3", "4"]
    assert to["observed"].tolist() == small["yo"].value_counts().sort_index().tolist()


def test_category_counts_counts_and_bins(pois_fit, counts):
    yrep = checks.posterior_predictive(pois_fit, draws=200, seed=1)
    tab = checks.category_counts(pois_fit, yrep=yrep, max_bars=30)
    top = counts["y"].max()
    assert tab["category"].tolist() == [str(k) for k in range(top + 1)] + [f">{top}"]
    assert tab["observed"].tolist()[:-1] == np.bincount(counts["y"], minlength=top + 1).tolist()
    assert tab["observed"].iloc[-1] == 0
    # replicated counts per draw add up to the number of rows, hence the medians about it
    assert tab["median"].sum() == pytest.approx(len(counts), rel=0.1)
    binned = checks.category_counts(pois_fit, yrep=yrep, max_bars=8)
    assert len(binned) <= 8 and binned["observed"].sum() == len(counts)


def test_group_intervals_rows_and_groups(mc_glmm, mc):
    gi = checks.group_intervals(mc_glmm, seed=1)
    assert gi.attrs["group"] == "centre" and gi.attrs["per_row"]
    assert len(gi) == 22 and gi["level"].nunique() == 11
    np.testing.assert_allclose(gi["observed"], mc["y"] / mc["n"])
    assert gi["outside"].sum() <= 2
    per_group = checks.group_intervals(mc_glmm, "centre", per_row=False, seed=1)
    assert len(per_group) == 11 and per_group["row"].isna().all()


def test_ecdf_band_is_monotone(mc_glmm):
    band = checks.ecdf_band(mc_glmm, draws=200, seed=1)
    assert list(band.columns) == ["x", "observed", "median", "lower", "upper"]
    assert (np.diff(band["observed"]) >= 0).all() and band["observed"].iloc[-1] == 1.0
    assert (band["lower"] <= band["upper"]).all()


# ---------------------------------------------------------------------------
# Random effects
# ---------------------------------------------------------------------------


def test_ranef_normality_course_shapiro(mc_null):
    res = checks.ranef_normality(mc_null)
    row = res.table.set_index("term").loc["1|centre"]
    assert 0 < row["W"] <= 1 and 0 < row["p_value"] <= 1
    assert row["n_levels"] == 11
    # the course (lme4's conditional modes of glmer(obs ~ 1 + (1|centre))): W = 0.93053, p = 0.4162
    assert row["W"] == pytest.approx(0.9305, abs=0.03)
    assert row["p_value"] > 0.1
    assert "shrink" in res.note.lower() and "power" in res.note and "11" in res.note
    assert "0.93" in str(res) or "0.94" in str(res)


def test_ranef_normality_group_selection(mc_glmm, mc_glm):
    by_factor = checks.ranef_normality(mc_glmm, group="centre").table
    by_term = checks.ranef_normality(mc_glmm, group="1|centre").table
    pd.testing.assert_frame_equal(by_factor, by_term)
    with pytest.raises(ValueError, match="centre"):
        checks.ranef_normality(mc_glmm, group="hospital")
    with pytest.raises(ValueError, match="no group-level terms"):
        checks.ranef_normality(mc_glm)


def test_normal_quantiles_match_r_ppoints():
    # R: qnorm(ppoints(11)) uses a = 1/2; qnorm(ppoints(5)) uses a = 3/8
    np.testing.assert_allclose(checks.normal_quantiles(11)[:3], [-1.6906216, -1.0968036, -0.7478586], atol=1e-6)
    np.testing.assert_allclose(checks.normal_quantiles(5), [-1.1797611, -0.4972006, 0.0, 0.4972006, 1.1797611],
                               atol=1e-6)


def test_ranef_qq_band(mc_null):
    qq = checks.ranef_qq(mc_null)
    assert list(qq) == ["1|centre"]
    t = qq["1|centre"]
    assert len(t) == 11 and sorted(t["level"]) == sorted(str(k) for k in range(1, 12))
    assert (np.diff(t["mean"]) >= 0).all() and (np.diff(t["theoretical"]) > 0).all()
    assert (np.diff(t["lower"]) >= 0).all() and (t["lower"] < t["upper"]).all()
    inside = (t["mean"] >= t["lower"]) & (t["mean"] <= t["upper"])
    assert inside.sum() >= 9
    assert t.attrs["sigma"] == pytest.approx(float(mc_null.draws["1|centre_sigma"].median()))


# ---------------------------------------------------------------------------
# Prior vs posterior
# ---------------------------------------------------------------------------


def test_prior_posterior_draws_variance_components(mc_glmm):
    assert checks.variance_components(mc_glmm) == ["1|centre_sigma"]
    pairs = checks.prior_posterior_draws(mc_glmm, draws=400, seed=1)
    prior, post = pairs["1|centre_sigma"]
    assert prior.shape == (400,) and (prior > 0).all()
    assert post.shape == (mc_glmm.draws.sizes["chain"] * mc_glmm.draws.sizes["draw"],)
    assert post.std() < prior.std()  # 11 centres inform the SD
    treat = checks.prior_posterior_draws(mc_glmm, ["treat"], draws=100, seed=1)
    assert list(treat) == ["treat[drug]"]
    with pytest.raises(ValueError, match="Unknown variables"):
        checks.prior_posterior_draws(mc_glmm, ["nope"], draws=10)
