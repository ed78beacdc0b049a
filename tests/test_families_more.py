"""Issue 18's families: gamma, lognormal, beta, zero-inflated and hurdle counts, beta-binomial.

For each family: a data set simulated (with NumPy, not the family's own ``simulate``) from
known parameters with a group effect, whose fit must cover the fixed effects, the group SD
and the family parameter in its 95% intervals; a bad response that must be refused before
sampling, naming column, value and row; the default priors in ``prior_summary()``; response-
scale predictions against the truth's mean formula; the ICC's definition or refusal; and a
save/load round trip. The sampler-free checks run first and fast; the fits (2 chains x 400
draws, 300 rows in 15 groups) are made once per module, one per family (5 to 50 s each on
2 cores with warm caches). A small simulation-based calibration per family is marked slow.
"""

import warnings

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr
from scipy import special

import bayesglmm as bg
from bayesglmm.errors import DataError, FamilyError
from bayesglmm.families import get_family

N, GROUPS, GROUP_SD, SEED = 300, 15, 0.6, 2026
NEW = ["gamma", "lognormal", "beta", "zero_inflated_poisson", "zero_inflated_negativebinomial", "hurdle_poisson",
       "hurdle_negativebinomial", "beta_binomial", "weibull", "exponential"]

#: family -> (intercept, slope of x, {family parameter: true value}).
TRUTH = {
    "gamma": (1.0, 0.5, {"alpha": 5.0}),
    "lognormal": (1.0, 0.5, {"sigma": 0.5}),
    "beta": (-0.5, 0.8, {"kappa": 20.0}),
    "zero_inflated_poisson": (0.8, 0.5, {"psi": 0.7}),
    "zero_inflated_negativebinomial": (1.0, 0.5, {"psi": 0.7, "alpha": 4.0}),
    "hurdle_poisson": (1.0, 0.5, {"psi": 0.6}),
    "hurdle_negativebinomial": (1.0, 0.5, {"psi": 0.6, "alpha": 4.0}),
    "beta_binomial": (-0.3, 0.7, {"kappa": 15.0}),
    "weibull": (1.0, 0.5, {"alpha": 2.0}),
    "exponential": (1.0, 0.5, {}),
}


def _truncated(rng, draw, size):
    """Rejection sampling of positive values from ``draw(size)`` (zero-truncation)."""
    out = draw(size)
    while (out == 0).any():
        zero = out == 0
        out[zero] = draw(size)[zero]
    return out


def simulate(family: str, seed: int = SEED) -> pd.DataFrame:
    """300 rows in 15 groups from TRUTH[family], drawn with NumPy (independent of the families' code)."""
    rng = np.random.default_rng(seed)
    b0, b1, aux = TRUTH[family]
    g = np.repeat(np.arange(GROUPS), N // GROUPS)
    x = rng.normal(size=N)
    eta = b0 + b1 * x + rng.normal(0, GROUP_SD, GROUPS)[g]
    df = pd.DataFrame({"x": x, "g": [f"g{k}" for k in g]})
    if family == "gamma":
        mu = np.exp(eta)
        df["y"] = rng.gamma(aux["alpha"], mu / aux["alpha"])
    elif family == "lognormal":
        df["y"] = np.exp(rng.normal(eta, aux["sigma"]))
    elif family == "weibull":  # mean exp(eta): scale exp(eta) / Gamma(1 + 1/alpha)
        df["y"] = np.exp(eta) / special.gamma(1 + 1 / aux["alpha"]) * rng.weibull(aux["alpha"], N)
    elif family == "exponential":
        df["y"] = rng.exponential(np.exp(eta))
    elif family == "beta":
        mu = special.expit(eta)
        df["y"] = rng.beta(mu * aux["kappa"], (1 - mu) * aux["kappa"])
    elif family == "beta_binomial":
        mu = special.expit(eta)
        df["n"] = rng.integers(10, 31, N)
        df["y"] = rng.binomial(df["n"], rng.beta(mu * aux["kappa"], (1 - mu) * aux["kappa"]))
    else:
        mu = np.exp(eta)
        if "alpha" in aux:
            a = aux["alpha"]
            draw = lambda size: rng.negative_binomial(a, a / (a + mu)).astype(float)  # noqa: E731
        else:
            draw = lambda size: rng.poisson(mu).astype(float)  # noqa: E731
        counts = draw(N) if family.startswith("zero") else _truncated(rng, draw, N)
        df["y"] = counts * (rng.random(N) < aux["psi"])
    return df


def formula(family: str) -> str:
    return ("p(y, n)" if family == "beta_binomial" else "y") + " ~ x + (1|g)"


FAST = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")


# ----------------------------------------------------------------------------- registry
def test_registry_has_the_new_families_under_bambis_likelihoods():
    from bambi.defaults.families import BUILTIN_FAMILIES

    for name in NEW:
        fam = get_family(name)
        assert fam.name == name and fam.bambi_name in BUILTIN_FAMILIES
        assert set(fam.aux_parameters) == set(BUILTIN_FAMILIES[fam.bambi_name]["likelihood"]["params"][1:])
    for alias, name in [("zip", "zero_inflated_poisson"), ("ZINB", "zero_inflated_negativebinomial"),
                        ("betabinomial", "beta_binomial"), ("log-normal", "lognormal"),
                        ("HurdlePoisson", "hurdle_poisson")]:
        assert get_family(alias).name == name


def test_ratio_names_say_what_exp_coefficient_is():
    assert get_family("gamma").ratio_name("log") == "ratio of means"
    assert get_family("lognormal").ratio_name("identity") == "ratio of means"
    assert get_family("beta").ratio_name("logit") == "odds ratio of the mean proportion"
    assert get_family("beta").ratio_name("probit") is None
    assert get_family("zip").ratio_name("log") == "rate ratio"
    assert get_family("hurdle_poisson").ratio_name("log") == "rate ratio of the untruncated count process"
    assert get_family("beta_binomial").ratio_name("logit") == "odds ratio of the mean probability"
    assert get_family("weibull").ratio_name("log") == get_family("exponential").ratio_name("log") == "ratio of means"


# ----------------------------------------------------------------------------- bad responses, before sampling
def _bad(family):
    """(data frame with one bad value, formula, error class, message pattern) per family."""
    df = simulate(family).iloc[:30].reset_index(drop=True)
    y = df["y"].astype(float).copy()
    if family == "gamma":
        y[3] = 0.0
        return df.assign(y=y), formula(family), DataError, r"'y'.*gamma.*strictly positive.*value 0\.0 at row 3"
    if family == "weibull":
        y[8] = -0.2
        return df.assign(y=y), formula(family), DataError, r"'y'.*weibull.*strictly positive.*value -0\.2 at row 8"
    if family == "exponential":
        y = df["y"].astype(object)
        y[1] = "3.2 days"
        return df.assign(y=y), formula(family), DataError, r"'y'.*numeric.*'3\.2 days' at row 1"
    if family == "lognormal":
        y[5] = -1.5
        return df.assign(y=y), formula(family), DataError, r"'y'.*strictly positive.*value -1\.5 at row 5"
    if family == "beta":
        y[2] = 1.0
        return (df.assign(y=y), formula(family), DataError,
                r"'y'.*beta.*strictly between 0 and 1.*value 1\.0 at row 2.*Exact 0s and 1s")
    if family == "zero_inflated_poisson":
        y[4] = 2.5
        return df.assign(y=y), formula(family), DataError, r"'y'.*non-negative whole numbers.*value 2\.5 at row 4"
    if family == "zero_inflated_negativebinomial":
        return df.assign(y=y + 1), formula(family), DataError, r"'y'.*has no zeros.*nothing to inflate"
    if family == "hurdle_poisson":
        y[7] = -1.0
        return df.assign(y=y), formula(family), DataError, r"'y'.*non-negative whole numbers.*value -1\.0 at row 7"
    if family == "hurdle_negativebinomial":
        return df.assign(y=0), formula(family), DataError, r"'y'.*every value is 0"
    n = df["n"].copy()
    n[6] = int(df["y"][6]) - 1
    return df.assign(n=n), formula(family), DataError, r"Successes exceed trials.*'y'.*'n'.*row 6"


@pytest.mark.parametrize("family", NEW)
def test_bad_response_is_refused_before_sampling(family):
    data, f, error, pattern = _bad(family)
    with pytest.raises(error, match=pattern):
        bg.build_model(f, data, family=family)


def test_beta_binomial_needs_its_trials():
    with pytest.raises(bg.FormulaError, match=r"p\(successes, trials\)"):
        bg.build_model("y ~ x + (1|g)", simulate("beta_binomial"), family="beta_binomial")


# ----------------------------------------------------------------------------- default priors
def _prior_args(spec, name):
    return spec.priors[name].name, {k: float(v) for k, v in spec.priors[name].args.items()}


@pytest.mark.parametrize("family", NEW)
def test_default_priors_are_autoscaled_and_shown(family):
    df = simulate(family)
    spec = bg.build_model(formula(family), df, family=family)
    table = spec.prior_table().set_index("term")
    aux = set(TRUTH[family][2])
    assert aux <= set(table.index) and (table["source"] == "default").all()
    y = df["y"].to_numpy(float)
    log_y = np.log(y) if family in ("gamma", "lognormal") else None
    s_y = log_y.std() if family == "lognormal" else 1.0
    assert _prior_args(spec, "x")[1]["sigma"] == pytest.approx(2.5 * s_y / df["x"].std(ddof=0))
    assert spec.priors["1|g"].args["sigma"].args["sigma"] == pytest.approx(2.5 * s_y)
    intercept = {
        "gamma": np.log(y.mean()), "lognormal": log_y.mean() if log_y is not None else None,
        "beta": special.logit(y.mean()),
        "beta_binomial": special.logit(y.sum() / df["n"].sum()) if "n" in df else None,
    }
    if family in intercept:
        assert _prior_args(spec, "Intercept")[1]["mu"] == pytest.approx(intercept[family], abs=1e-3)
    if family == "lognormal":
        assert _prior_args(spec, "sigma") == ("HalfStudentT", {"nu": 4.0, "sigma": pytest.approx(s_y, abs=1e-4)})
    if family == "beta":
        m, v = y.mean(), y.var()
        assert _prior_args(spec, "kappa") == ("HalfCauchy", {"beta": pytest.approx(m * (1 - m) / v - 1, rel=1e-2)})
    if family == "weibull":
        assert _prior_args(spec, "alpha") == ("HalfCauchy", {"beta": pytest.approx(
            max(1.0, np.pi / np.sqrt(6 * np.log(y).var())), rel=1e-2)})
    if family in ("weibull", "exponential"):
        assert _prior_args(spec, "Intercept")[1]["mu"] == pytest.approx(np.log(y.mean()), abs=1e-3)
    if family == "gamma":  # the marginal moment estimate is below 1 here: the floor
        assert y.mean() ** 2 / y.var() < 1 and _prior_args(spec, "alpha") == ("HalfCauchy", {"beta": 1.0})
    if family.startswith("hurdle"):
        q = (y > 0).mean()
        assert _prior_args(spec, "psi") == ("Beta", {"alpha": pytest.approx(1 + 2 * q, abs=1e-3),
                                                     "beta": pytest.approx(3 - 2 * q, abs=1e-3)})
    if family.startswith("zero"):
        name, args = _prior_args(spec, "psi")
        assert name == "Beta" and args["alpha"] + args["beta"] == pytest.approx(4.0)
        assert 0.5 < (args["alpha"] - 1) / 2 < 0.95  # the count share estimate, truth 0.7
    assert np.isfinite(spec.pymc_model.compile_logp(mode=FAST)(spec.pymc_model.initial_point()))


# ----------------------------------------------------------------------------- simulate, moments and means agree
CASES = {  # family -> (eta, params, trials)
    "gamma": (np.log(3.0), {"alpha": 4.0}, None),
    "lognormal": (0.5, {"sigma": 0.6}, None),
    "beta": (special.logit(0.3), {"kappa": 8.0}, None),
    "zero_inflated_poisson": (np.log(4.0), {"psi": 0.6}, None),
    "zero_inflated_negativebinomial": (np.log(4.0), {"alpha": 2.0, "psi": 0.6}, None),
    "hurdle_poisson": (np.log(1.5), {"psi": 0.6}, None),
    "hurdle_negativebinomial": (np.log(1.5), {"alpha": 2.0, "psi": 0.6}, None),
    "beta_binomial": (special.logit(0.3), {"kappa": 8.0}, 12),
    "weibull": (np.log(2.0), {"alpha": 0.8}, None),
    "exponential": (np.log(2.0), {}, None),
}


@pytest.mark.parametrize("family", NEW)
def test_simulate_matches_the_mean_and_variance_formulas(family):
    fam = get_family(family)
    eta, params, n = CASES[family]
    size = 400_000
    p = {k: np.array([[v]]) for k, v in params.items()}
    trials = None if n is None else np.full(size, n)
    y = fam.simulate(np.full((1, size), eta), p, trials=trials, rng=np.random.default_rng(5))
    mean, var = fam.response_moments(fam.inverse_link()(np.array([[eta]])), p, None if n is None else np.array([n]))
    assert y.mean() == pytest.approx(float(mean[0, 0]), rel=0.01)
    assert y.var() == pytest.approx(float(var[0, 0]), rel=0.03)
    expected = float(fam.response_mean(np.array([[eta]]), p)[0, 0]) * (1 if n is None else n)
    assert y.mean() == pytest.approx(expected, rel=0.01)
    if fam.discrete:
        assert np.array_equal(y, np.round(y)) and y.min() >= 0
    if family.startswith("hurdle"):
        assert (y == 0).mean() == pytest.approx(1 - params["psi"], abs=0.005)
    if family in ("gamma", "lognormal", "beta", "weibull", "exponential"):
        assert y.min() > 0 and (family != "beta" or y.max() < 1)


def test_population_averaged_mean_of_a_hurdle_model_is_averaged_over_the_group_effect():
    fam = get_family("hurdle_poisson")
    rng = np.random.default_rng(2)
    b = rng.normal(0, 0.8, 1_000_000)
    mu = np.exp(0.3 + b)
    direct = np.mean(0.6 * mu / (1 - np.exp(-mu)))
    quad = fam.response_mean(np.array([[0.3]]), {"psi": np.array([[0.6]])}, var=np.array([[0.64]]))
    assert float(quad[0, 0]) == pytest.approx(direct, rel=2e-3)


# ----------------------------------------------------------------------------- ICC
def test_icc_variance_is_defined_where_standard_and_refused_with_a_reason_elsewhere():
    ds = xr.Dataset({"alpha": (("chain", "draw"), [[5.0, 2.0]]), "sigma": (("chain", "draw"), [[0.5, 1.0]])})
    v, text = get_family("gamma").icc_residual_variance("log", ds, lambda: None, np.ones(2))
    np.testing.assert_allclose(v, special.polygamma(1, [5.0, 2.0]))
    assert "trigamma(alpha)" in text
    # trigamma(alpha) is the variance of log(y) for a gamma variable: checked by simulation.
    assert np.log(np.random.default_rng(1).gamma(5.0, 1.0, 400_000)).var() == pytest.approx(v[0], rel=0.01)
    v, text = get_family("weibull").icc_residual_variance("log", ds, lambda: None, np.ones(2))
    np.testing.assert_allclose(v, np.pi**2 / (6 * np.array([5.0, 2.0]) ** 2))
    y = np.random.default_rng(1).weibull(2.0, 400_000)
    assert np.log(y).var() == pytest.approx(v[1], rel=0.01) and "pi^2 / (6 alpha^2)" in text
    v, text = get_family("exponential").icc_residual_variance("log", ds, lambda: None, np.ones(2))
    assert v == pytest.approx(np.pi**2 / 6)
    v, text = get_family("lognormal").icc_residual_variance("identity", ds, lambda: None, np.ones(2))
    np.testing.assert_allclose(v, [0.25, 1.0])
    assert "log(y)" in text
    for family in ["beta", "beta_binomial", "zero_inflated_poisson", "zero_inflated_negativebinomial",
                   "hurdle_poisson", "hurdle_negativebinomial"]:
        with pytest.raises(FamilyError, match=f"ICC is not defined for the {family} family: .*group SDs"):
            get_family(family).icc_residual_variance(get_family(family).default_link, ds, lambda: None, np.ones(2))


# ----------------------------------------------------------------------------- fits: recovery, predictions, ICC, save
def true_typical_mean(family: str, x: np.ndarray) -> np.ndarray:
    """Expected response at group effect 0, from the true parameters (written out per family)."""
    b0, b1, aux = TRUTH[family]
    eta = b0 + b1 * x
    if family in ("beta", "beta_binomial"):
        return special.expit(eta)
    mu = np.exp(eta)
    if family == "lognormal":
        return np.exp(eta + aux["sigma"] ** 2 / 2)
    if family.startswith("zero"):
        return aux["psi"] * mu
    if family.startswith("hurdle"):
        p0 = np.exp(-mu) if "alpha" not in aux else (aux["alpha"] / (aux["alpha"] + mu)) ** aux["alpha"]
        return aux["psi"] * mu / (1 - p0)
    return mu


_FITS: dict = {}


def family_fit(family: str):
    """One seeded fit per family (2 chains x 400 draws after 400 warm-up), made once per module."""
    if family not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[family] = bg.fit(formula(family), simulate(family), family=family, draws=400, tune=400, chains=2,
                                   seed=1, retry=False, progressbar=False)
    return _FITS[family]


@pytest.mark.parametrize("family", NEW)
def test_fit_recovers_the_simulated_parameters(family):
    fit = family_fit(family)
    b0, b1, aux = TRUTH[family]
    fixef = fit.fixef()
    for name, truth in (("Intercept", b0), ("x", b1)):
        assert fixef.loc[name, "lower"] < truth < fixef.loc[name, "upper"], (name, fixef.loc[name])
    sd = fit.varcorr().set_index("label").loc["1|g_sigma"]
    assert sd["lower"] < GROUP_SD < sd["upper"], sd
    params = fit.family_params()
    for name, truth in aux.items():
        assert params.loc[name, "lower"] < truth < params.loc[name, "upper"], (name, params.loc[name])
    assert fit.diagnostics.table["r_hat"].max() < 1.05


@pytest.mark.parametrize("family", NEW)
def test_fit_predicts_the_true_mean_and_shows_its_priors(family):
    fit = family_fit(family)
    new = pd.DataFrame({"x": [-1.0, 0.0, 1.0], "g": ["g0"] * 3, "n": [20] * 3})
    pred = fit.predict(new, kind="typical")
    truth = true_typical_mean(family, new["x"].to_numpy())
    assert np.all(pred["lower"] < truth) and np.all(truth < pred["upper"]), (pred, truth)
    lo, hi = ("pred_prop_lower", "pred_prop_upper") if family == "beta_binomial" else ("pred_lower", "pred_upper")
    assert np.all(pred[lo] <= pred["lower"]) and np.all(pred["upper"] <= pred[hi])
    # The expected response is the family's mean formula applied to the draws.
    from bayesglmm.predict import predict_draws

    d = predict_draws(fit, new, kind="typical")["mean"].values
    fam = fit.spec.family
    eta = fit.draws["Intercept"].values.reshape(-1, 1) + fit.draws["x"].values.reshape(-1, 1) * new["x"].to_numpy()
    np.testing.assert_allclose(d, fam.response_mean(eta, fam.parameter_draws(fit.draws)), rtol=1e-10)
    priors = fit.prior_summary().set_index("term")
    assert set(TRUTH[family][2]) <= set(priors.index) and {"Intercept", "x", "1|g"} <= set(priors.index)
    ratios = fit.ratios()
    assert ratios.loc["x", "kind"] == fam.ratio_name(fit.spec.link)


@pytest.mark.parametrize("family", NEW)
def test_fit_icc_or_its_refusal(family):
    fit = family_fit(family)
    if family in ("gamma", "lognormal", "weibull", "exponential"):
        residual = {"gamma": special.polygamma(1, 5.0), "lognormal": 0.25, "weibull": np.pi**2 / 24,
                    "exponential": np.pi**2 / 6}[family]
        truth = GROUP_SD**2 / (GROUP_SD**2 + residual)
        icc = fit.icc()
        assert icc.loc["g", "lower"] < truth < icc.loc["g", "upper"], (icc, truth)
    else:
        with pytest.raises(FamilyError, match="ICC is not defined"):
            fit.icc()


@pytest.mark.parametrize("family", ["lognormal", "zero_inflated_poisson", "hurdle_negativebinomial", "beta_binomial"])
def test_fit_save_load_round_trip(family, tmp_path):
    fit = family_fit(family)
    path = tmp_path / f"{family}.bglmm"
    fit.save(path)
    loaded = bg.io.load(path)
    assert loaded.spec.family is fit.spec.family
    pd.testing.assert_frame_equal(fit.fixef(), loaded.fixef(), check_exact=True)
    pd.testing.assert_frame_equal(fit.family_params(), loaded.family_params(), check_exact=True)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["g1", "g2"], "n": [10, 10]})
    pd.testing.assert_frame_equal(fit.predict(new), loaded.predict(new), check_exact=True)


# ----------------------------------------------------------------------------- simulation-based calibration
#: Beta's SBC uses tighter priors: the defaults (logit-scale SDs 2.5, group SD HalfNormal(2.5),
#: kappa HalfCauchy) simulate proportions below 1e-10 in up to 70% of a data set's rows, which
#: float64 draws round to 0 or 1 and ``simulate`` must clip: the simulated data then no longer
#: follow the model, and SBC rejected the group SD (p < 0.001 with 20 simulations).
BETA_SBC_PRIORS = {"Intercept": bg.Prior("Normal", mu=0, sigma=1), "x": bg.Prior("Normal", mu=0, sigma=1),
                   "1|g": bg.Prior("Normal", mu=0, sigma=bg.Prior("HalfNormal", sigma=1)),
                   "kappa": bg.Prior("Gamma", alpha=4, beta=0.2)}


@pytest.mark.slow
@pytest.mark.parametrize("family", NEW)
def test_sbc_finds_no_miscalibration(family):
    """20 simulations on 60 rows in 15 groups, 2 chains x 200 after 500 warm-up: a smoke-level SBC.

    The warm-up is 500, not 100: with 100, the log-link count families' wide default priors
    (counts above 10^4 in many simulated data sets) left the chains unadapted and SBC rejected
    the zero-inflated and hurdle Poisson intercepts and the Weibull slope (100 simulations),
    as benchmarks/SBC.md found for the Poisson family; with 500 none was rejected.
    """
    data = simulate(family).iloc[::5].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = bg.sbc(formula(family), data, family, priors=BETA_SBC_PRIORS if family == "beta" else None, draws=20,
                     sample_draws=200, tune=500, thin=2, seed=3, executor="serial", progress=False)
    assert set(TRUTH[family][2]) | {"Intercept", "x", "1|g_sigma"} == set(cal.ranks.columns)
    assert not cal.tests["rejected"].any(), cal.tests
