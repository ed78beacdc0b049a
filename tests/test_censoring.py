"""Issue 18: right-censored responses, ``censored(time, status) ~ ...``, and response-specific PPCs.

Known truths: Weibull times simulated with NumPy from known parameters, a group effect and
random right-censoring (about 30%), whose fit must cover them; a fit that ignores the
censoring must be biased low. The stored log-likelihood of an intercept-only exponential
model is checked against its closed form (``-log mu - t/mu`` for events, the log survival
``-t/mu`` for censored rows), the Kaplan-Meier curve against one computed by hand, and the
share-of-zeros check against a by-hand count. Fits: 2 chains x 400 draws.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesglmm as bg
from bayesglmm.censoring import check_status, kaplan_meier, right_censored, survival_check
from bayesglmm.errors import DataError, FamilyError, FormulaError, SettingsError
from bayesglmm.families import get_family
from bayesglmm.formula import check_calls, parse_formula

N, GROUPS, GROUP_SD = 300, 15, 0.6
B0, B1, ALPHA = 1.0, 0.5, 1.5


def simulate_weibull(seed: int = 3) -> pd.DataFrame:
    """Weibull event times (mean exp(eta), shape ALPHA) with a group effect, right-censored at random times."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(GROUPS), N // GROUPS)
    x = rng.normal(size=N)
    eta = B0 + B1 * x + rng.normal(0, GROUP_SD, GROUPS)[g]
    t = np.exp(eta) / special.gamma(1 + 1 / ALPHA) * rng.weibull(ALPHA, N)
    c = rng.exponential(2.5 * np.median(t), N)
    return pd.DataFrame({"time": np.minimum(t, c), "status": (c < t).astype(int), "x": x,
                         "g": [f"g{k}" for k in g]})


def _fit(formula, data, family, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bg.fit(formula, data, family=family, draws=400, tune=400, chains=2, seed=1, retry=False,
                      progressbar=False, **kw)


# ----------------------------------------------------------------------------- formula
def test_censored_is_read_as_the_response_with_its_status_column():
    pf = parse_formula("censored(time, status) ~ x + (1|g)", ["time", "status", "x", "g"])
    assert (pf.response, pf.censoring, pf.censored, pf.trials) == ("time", "status", True, None)
    assert not parse_formula("time ~ x", ["time", "x"]).censored


@pytest.mark.parametrize("formula", ["y ~ censored(x, s)", "censored(y, s) ~ x + censored(x, s)",
                                     "y ~ np.log(censored(x, s))"])
def test_censored_cannot_be_called_right_of_the_tilde(formula):
    with pytest.raises(FormulaError, match="'censored' right of '~'.*response only"):
        check_calls(formula, ["y", "x", "s"])


def test_censored_cannot_smuggle_a_call_or_take_interval_bounds():
    with pytest.raises(FormulaError, match="'os.system'"):
        check_calls("censored(os.system(y), s) ~ x", ["y", "x", "s"])
    with pytest.raises(FormulaError, match="censored\\(time, status\\) with two columns"):
        parse_formula("censored(lo, hi, s) ~ x", ["lo", "hi", "s", "x"])
    with pytest.raises(FormulaError, match="not in the data: 'nope'"):
        parse_formula("censored(y, nope) ~ x", ["y", "x"])
    with pytest.raises(FormulaError, match="names '1', which is not a column"):
        parse_formula("censored(y, 1) ~ x", ["y", "x"])


# ----------------------------------------------------------------------------- status
def _pf(df):
    return parse_formula("censored(t, s) ~ 1", df.columns)


@pytest.mark.parametrize("values", [[0, 1, 0], [False, True, False], [0.0, 1.0, 0.0], ["none", "right", "none"],
                                    ["0", "1", "0"]])
def test_status_codes_become_bambis_labels(values):
    df = pd.DataFrame({"t": [1.0, 2.0, 3.0], "s": values})
    assert check_status(df, _pf(df), get_family("weibull"))["s"].tolist() == ["none", "right", "none"]


@pytest.mark.parametrize("bad, shown", [(2, "2"), (-1, "-1"), ("left", "'left'"), ("interval", "'interval'")])
def test_a_status_other_than_0_or_1_is_a_data_error_naming_column_value_and_row(bad, shown):
    df = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0], "s": pd.Series([0, 1, 0, bad], dtype=object)})
    if isinstance(bad, int):
        df["s"] = df["s"].astype(int)
    with pytest.raises(DataError, match=rf"Column 's' is the censoring status.*value {shown} at row 3"):
        check_status(df, _pf(df), get_family("exponential"))


def test_all_rows_censored_is_refused_as_a_likely_coding_error():
    df = pd.DataFrame({"t": [1.0, 2.0, 3.0], "s": [1, 1, 1]})
    with pytest.raises(DataError, match="every one of the 3 rows as right-censored.*Surv codes 1 = event"):
        check_status(df, _pf(df), get_family("weibull"))


def test_status_is_checked_by_build_model_and_only_censorable_families_take_it():
    df = simulate_weibull().head(40)
    bad = df.assign(status=df["status"].where(df.index != 7, 3))
    with pytest.raises(DataError, match="'status'.*value 3 at row 7"):
        bg.build_model("censored(time, status) ~ x", bad, family="weibull")
    with pytest.raises(FamilyError, match="gaussian family does not take a censored response.*weibull"):
        bg.build_model("censored(time, status) ~ x", df, family="gaussian")
    assert {n for n, f in bg.families.FAMILIES.items() if f.censorable} == {"weibull", "exponential", "gamma",
                                                                           "lognormal"}


def test_default_priors_come_from_the_recorded_times():
    df = simulate_weibull()
    spec = bg.build_model("censored(time, status) ~ x + (1|g)", df, family="weibull")
    plain = bg.build_model("time ~ x + (1|g)", df, family="weibull")
    assert spec.priors["Intercept"].args["mu"] == pytest.approx(np.log(df["time"].mean()), rel=1e-6)
    assert spec.priors["alpha"].args == plain.priors["alpha"].args
    assert right_censored(spec).tolist() == (df["status"] == 1).tolist()


# ----------------------------------------------------------------------------- Kaplan-Meier
def test_kaplan_meier_matches_a_by_hand_computation():
    # times 1 2 2+ 3 4+ (+ = censored): at t=1 5 at risk, 1 event: 4/5; t=2: 4 at risk (the censored 2
    # is still at risk), 1 event: 0.8*3/4; t=3: 2 at risk, 1 event: 0.6*1/2.
    km = kaplan_meier([2, 1, 3, 2, 4], [False, False, False, True, True])
    assert km["time"].tolist() == [1.0, 2.0, 3.0]
    assert km["at_risk"].tolist() == [5, 4, 2] and km["events"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(km["survival"], [0.8, 0.6, 0.3])
    # Without censoring it is one minus the empirical CDF.
    np.testing.assert_allclose(kaplan_meier([3, 1, 2, 2])["survival"], [0.75, 0.25, 0.0])


# ----------------------------------------------------------------------------- fits
_FITS: dict = {}


def weibull_fits():
    if not _FITS:
        df = simulate_weibull()
        _FITS["censored"] = _fit("censored(time, status) ~ x + (1|g)", df, "weibull")
        _FITS["naive"] = _fit("time ~ x + (1|g)", df, "weibull")
    return _FITS["censored"], _FITS["naive"]


def test_simulation_is_about_30_percent_censored():
    assert 0.25 < simulate_weibull()["status"].mean() < 0.4


def test_censored_weibull_fit_recovers_the_truth_and_ignoring_censoring_is_biased_low():
    fit, naive = weibull_fits()
    fixef, bad = fit.fixef(), naive.fixef()
    for name, truth in (("Intercept", B0), ("x", B1)):
        assert fixef.loc[name, "lower"] < truth < fixef.loc[name, "upper"], fixef.loc[name]
    sd = fit.varcorr().set_index("label").loc["1|g_sigma"]
    assert sd["lower"] < GROUP_SD < sd["upper"], sd
    alpha = fit.family_params().loc["alpha"]
    assert alpha["lower"] < ALPHA < alpha["upper"], alpha
    assert fit.diagnostics.table["r_hat"].max() < 1.05
    # Treating censored times as event times shortens them: the mean time (intercept) is too low.
    assert bad.loc["Intercept", "upper"] < B0 < fixef.loc["Intercept", "upper"]
    assert bad.loc["Intercept", "estimate" if "estimate" in bad else "mean"] < \
        fixef.loc["Intercept", "estimate" if "estimate" in fixef else "mean"]


def test_comparing_a_censored_with_an_uncensored_fit_is_refused():
    fit, naive = weibull_fits()
    with pytest.raises(bg.FitError, match="censor different rows.*log survival"):
        bg.compare({"censored": fit, "naive": naive}, allow_unconverged=True)


def test_censored_fit_predicts_the_mean_time_and_its_icc():
    fit, _ = weibull_fits()
    new = pd.DataFrame({"x": [-1.0, 0.0, 1.0], "g": ["g0"] * 3})
    pred = fit.predict(new, kind="typical")
    truth = np.exp(B0 + B1 * new["x"].to_numpy())
    assert np.all(pred["lower"] < truth) and np.all(truth < pred["upper"]), pred
    icc = fit.icc()
    true_icc = GROUP_SD**2 / (GROUP_SD**2 + np.pi**2 / (6 * ALPHA**2))
    assert icc.loc["g", "lower"] < true_icc < icc.loc["g", "upper"], icc


def test_censored_fit_survival_check_covers_the_kaplan_meier_curve():
    fit, _ = weibull_fits()
    df = simulate_weibull()
    grid = np.quantile(df["time"], [0.1, 0.3, 0.5, 0.7])
    tab = survival_check(fit, grid, seed=1, draws=200)
    km = kaplan_meier(df["time"], df["status"] == 1)
    by_hand = [km["survival"][km["time"] <= t].min() if (km["time"] <= t).any() else 1.0 for t in grid]
    np.testing.assert_allclose(tab["observed"], by_hand)
    assert not tab["outside"].any(), tab
    with pytest.raises(SettingsError, match="censored.*survival_check"):
        bg.checks.ppc_pvalues(fit)
    import matplotlib

    matplotlib.use("Agg")
    fig = bg.plots.plot_survival_check(fit, seed=1, draws=100)
    assert fig.axes[0].get_ylabel() == "Share still without the event"
    assert bg.plots.plot_ppc(fit, seed=1, draws=100).axes[0].get_ylabel() == "Share still without the event"
    for refused in (lambda: bg.plots.plot_ppc(fit, "density", draws=50), lambda: bg.checks.ecdf_band(fit, draws=50)):
        with pytest.raises(SettingsError, match="censored.*survival_check"):
            refused()


def test_censored_log_likelihood_is_log_density_or_log_survival_and_loo_runs(tmp_path):
    rng = np.random.default_rng(5)
    t, c = rng.exponential(2.0, 80), rng.exponential(4.0, 80)
    df = pd.DataFrame({"t": np.minimum(t, c), "s": (c < t).astype(int)})
    fit = _fit("censored(t, s) ~ 1", df, "exponential")
    ll = fit.idata["log_likelihood"]
    values = ll[next(iter(ll.data_vars))].transpose("chain", "draw", ...).values
    mu = np.exp(fit.idata["posterior"]["Intercept"].transpose("chain", "draw").values)[..., None]
    y, cens = df["t"].to_numpy(), df["s"].to_numpy() == 1
    expected = np.where(cens, -y / mu, -np.log(mu) - y / mu)
    np.testing.assert_allclose(values, expected, rtol=1e-8)
    # Closed-form posterior check: the censored exponential MLE is sum(t) / events.
    est = float(np.exp(fit.idata["posterior"]["Intercept"]).median())
    assert est == pytest.approx(y.sum() / (~cens).sum(), rel=0.15)
    import arviz as az

    assert np.isfinite(az.loo(fit.idata).elpd)
    path = tmp_path / "cens.bglmm"
    fit.save(path)
    loaded = bg.io.load(path)
    assert loaded.spec.formula.censoring == "s"
    pd.testing.assert_frame_equal(fit.fixef(), loaded.fixef(), check_exact=True)
    assert right_censored(loaded.spec).tolist() == cens.tolist()


# ----------------------------------------------------------------------------- share of zeros
def test_zero_inflated_and_hurdle_families_check_the_share_of_zeros_first():
    for name in ("zero_inflated_poisson", "zero_inflated_negativebinomial", "hurdle_poisson",
                 "hurdle_negativebinomial"):
        assert get_family(name).ppc_statistics()[0] == "zeros"
    assert get_family("poisson").ppc_statistics() == ("mean", "sd", "zeros", "max")


def test_share_of_zeros_check_matches_a_by_hand_count():
    rng = np.random.default_rng(11)
    y = rng.poisson(2.0, 120) * (rng.random(120) < 0.6)
    df = pd.DataFrame({"y": y})
    fit = _fit("y ~ 1", df, "zero_inflated_poisson")
    yrep = bg.checks.posterior_predictive(fit, draws=200, seed=3)
    tab = bg.checks.ppc_pvalues(fit, yrep=yrep)
    assert tab["statistic"].iloc[0] == "zeros"
    row = tab.set_index("statistic").loc["zeros"]
    assert row["observed"] == pytest.approx((y == 0).sum() / len(y))
    shares = (yrep.values.reshape(-1, len(y)) == 0).sum(axis=1) / len(y)
    lo, hi = np.quantile(shares, [0.025, 0.975])
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi))
    p = np.mean(shares > row["observed"]) + 0.5 * np.mean(shares == row["observed"])
    assert row["p_value"] == pytest.approx(p)
    # The model has a zero-inflation component: the observed share sits inside the replicated interval.
    assert lo <= row["observed"] <= hi


@pytest.mark.parametrize("family, draw, intercept, param", [
    ("gamma", lambda rng, n: rng.gamma(3.0, 2.0 / 3.0, n), np.log(2.0), ("alpha", 3.0)),
    ("lognormal", lambda rng, n: np.exp(rng.normal(0.5, 0.6, n)), 0.5, ("sigma", 0.6)),
])
def test_censored_gamma_and_lognormal_fits_recover_the_truth(family, draw, intercept, param):
    rng = np.random.default_rng(2)
    t = draw(rng, 150)
    c = rng.exponential(3 * np.median(t), 150)
    df = pd.DataFrame({"t": np.minimum(t, c), "s": (c < t).astype(int)})
    fit, naive = _fit("censored(t, s) ~ 1", df, family), _fit("t ~ 1", df, family)
    est = fit.fixef().loc["Intercept"]
    assert est["lower"] < intercept < est["upper"], est
    assert naive.fixef().loc["Intercept", "upper"] < intercept
    aux = fit.family_params().loc[param[0]]
    assert aux["lower"] < param[1] < aux["upper"], aux


# ----------------------------------------------------------------------------- log link of binary responses
@pytest.mark.parametrize("family", ["bernoulli", "binomial"])
def test_log_link_of_binary_responses_is_refused_with_the_reason_and_the_risk_ratio_route(family):
    with pytest.raises(FamilyError, match=r"Link 'log' is not available.*exceed 1.*contrast='ratio'"):
        get_family(family).check_link("log")
    with pytest.raises(FamilyError, match=r"choose one of logit, probit, cloglog\.$"):
        get_family(family).check_link("cauchit")
