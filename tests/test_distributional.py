"""Distributional parameters with their own formula: ``dpars={"sigma": "~ x"}``, ``{"psi": "~ x"}``.

Two small seeded fits (2 chains x 300 after 300 warm-up, 400 rows, 8 groups), shared by the
module: a heteroscedastic gaussian (log sigma = 0.2 + 0.8 x) and a zero-inflated Poisson
whose count-process probability varies (logit psi = 0.5 - x). The tests check recovery, that
every answer reading the parameter uses each row's own value (log-likelihood, predictions for
new data, replicated data), that answers needing one value refuse, the save/load round trip
and the errors for bad auxiliary formulas.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import bayesglmm as bg
from bayesglmm import dpars as dpar_tools
from bayesglmm.errors import FamilyError, FormulaError, PriorError
from bayesglmm.predict import predict_draws

SIZE = {"draws": 300, "tune": 300, "chains": 2, "seed": 1, "retry": False, "progressbar": False}


def _fit(formula, data, family, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        return bg.fit(formula, data, family, **SIZE, **kwargs)


def hetero_data(seed=3, n=400):
    """y = 1 + 0.5 x + u_g + exp(0.2 + 0.8 x) e: the residual SD grows with x."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 8, n)
    x = rng.normal(size=n)
    u = rng.normal(0, 0.7, 8)
    y = 1 + 0.5 * x + u[g] + np.exp(0.2 + 0.8 * x) * rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def zip_data(seed=5, n=400):
    """Zero-inflated Poisson counts: log mu = 1 + 0.3 x + u_g, logit psi = 0.5 - x."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 8, n)
    x = rng.normal(size=n)
    u = rng.normal(0, 0.4, 8)
    mu = np.exp(1.0 + 0.3 * x + u[g])
    psi = special.expit(0.5 - 1.0 * x)
    y = rng.poisson(mu) * (rng.random(n) < psi)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


@pytest.fixture(scope="module")
def hetero():
    df = hetero_data()
    return df, _fit("y ~ x + (1|g)", df, "gaussian", dpars={"sigma": "~ x"})


@pytest.fixture(scope="module")
def zipfit():
    df = zip_data()
    return df, _fit("y ~ x + (1|g)", df, "zero_inflated_poisson", dpars={"psi": "~ x"})


def _draws(fit, name):
    return fit.draws[name].transpose("chain", "draw", ...).values.reshape(-1)


def _within(fit, name, truth, k=3.0):
    d = _draws(fit, name)
    assert abs(d.mean() - truth) < k * d.std(), f"{name}: {d.mean():.3f} +- {d.std():.3f}, truth {truth}"


# ----------------------------------------------------------------------------- gaussian sigma ~ x
def test_heteroscedastic_gaussian_recovered(hetero):
    _, fit = hetero
    _within(fit, "sigma_Intercept", 0.2)
    _within(fit, "sigma_x", 0.8)
    _within(fit, "x", 0.5)
    assert "sigma" not in fit.draws  # no per-row copy stored: computed from the coefficients where needed


def test_summary_and_prior_summary_show_the_aux_coefficients(hetero):
    _, fit = hetero
    text = str(fit.summary())
    assert "sigma ~ x (log link)" in text and "sigma_x" in text and "sigma_Intercept" in text
    assert "Residual" not in fit.varcorr()["group"].tolist()  # no single residual SD to report
    priors = fit.prior_summary().set_index("term")
    assert "on the log scale of sigma" in priors.loc["sigma_x", "prior"]
    assert priors.loc["sigma_Intercept", "prior"].startswith("Normal(mu=")
    assert "sigma_x" in fit.sensitivity().index


def test_log_likelihood_uses_each_rows_sigma(hetero):
    df, fit = hetero
    mu = predict_draws(fit, scale="response")["mean"].values  # (samples, rows), conditional
    sigma = np.exp(_draws(fit, "sigma_Intercept")[:, None] + _draws(fit, "sigma_x")[:, None] * df["x"].to_numpy())
    hand = stats.norm.logpdf(df["y"].to_numpy(), mu, sigma)
    stored = fit.idata["log_likelihood"]["y"].transpose("chain", "draw", "__obs__").values.reshape(hand.shape)
    np.testing.assert_allclose(stored, hand, rtol=1e-8, atol=1e-8)


def test_row_parameters_for_new_data_match_a_hand_computation(hetero):
    _, fit = hetero
    new = pd.DataFrame({"x": [-1.5, 0.0, 2.0]})
    frame = new.astype(float)
    got = dpar_tools.row_parameters(fit.spec, fit.draws, frame)["sigma"]
    hand = np.exp(_draws(fit, "sigma_Intercept")[:, None] + _draws(fit, "sigma_x")[:, None] * new["x"].to_numpy())
    np.testing.assert_allclose(got, hand, rtol=1e-12)


def test_predictive_spread_for_new_data_follows_sigma(hetero):
    _, fit = hetero
    new = pd.DataFrame({"x": [-1.5, 0.0, 2.0]})
    d = predict_draws(fit, new, kind="typical", seed=2)
    mean, pred = d["mean"].values, d["predictive"].values
    sigma = np.exp(_draws(fit, "sigma_Intercept")[:, None] + _draws(fit, "sigma_x")[:, None] * new["x"].to_numpy())
    expected_sd = np.sqrt((sigma**2).mean(axis=0) + mean.var(axis=0))  # total variance of a new observation
    np.testing.assert_allclose(pred.std(axis=0), expected_sd, rtol=0.15)
    table = fit.predict(new, kind="typical")
    width = (table["pred_upper"] - table["pred_lower"]).to_numpy()
    assert width[0] < width[1] < width[2] and width[2] > 10 * width[0]


def test_replicated_data_use_each_rows_sigma(hetero):
    from bayesglmm.predict import simulate_response

    df, fit = hetero
    eta, y = simulate_response(fit.spec, fit.draws, rng=1)
    resid = (y - eta).std(axis=0)
    x = df["x"].to_numpy()
    assert resid[x > 1].mean() > 4 * resid[x < -1].mean()
    from bayesglmm.ppc import ppc_pvalues

    assert set(ppc_pvalues(fit)["statistic"]) >= {"mean", "sd"}


def test_hypothesis_reads_the_aux_coefficients(hetero):
    _, fit = hetero
    table = fit.hypothesis("sigma_x > 0.5")
    assert table.table["post_prob"].iloc[0] == pytest.approx((_draws(fit, "sigma_x") > 0.5).mean())


def test_icc_and_nakagawa_r2_refuse_a_varying_sigma(hetero):
    _, fit = hetero
    with pytest.raises(FamilyError, match=r"residual SD varies by row \(sigma ~ x\)"):
        fit.icc()
    with pytest.raises(FamilyError, match="Nakagawa's R²"):
        from bayesglmm.r2 import nakagawa_draws

        nakagawa_draws(fit)
    assert "residual SD varies by row" in str(fit.r2(loo=False))  # Bayes R² still given, with the note


def test_save_load_keeps_the_aux_formula(hetero, tmp_path):
    df, fit = hetero
    path = tmp_path / "hetero.bglmm"
    fit.save(path)
    loaded = bg.load(path)
    assert loaded.spec.dpars == {"sigma": "x"} and loaded.spec.request.dpars == {"sigma": "x"}
    new = pd.DataFrame({"x": [-1.0, 1.0]})
    pd.testing.assert_frame_equal(loaded.predict(new, kind="typical"), fit.predict(new, kind="typical"))
    assert "sigma_x" in loaded.family_params().index


# ----------------------------------------------------------------------------- zero-inflated psi ~ x
def test_zero_inflated_psi_recovered(zipfit):
    _, fit = zipfit
    _within(fit, "psi_Intercept", 0.5)
    _within(fit, "psi_x", -1.0)
    _within(fit, "x", 0.3)


def test_zero_inflated_predictions_match_hand_computation(zipfit):
    _, fit = zipfit
    new = pd.DataFrame({"x": [-1.0, 0.5, 2.0]})
    got = fit.predict(new, kind="typical")["mean"].to_numpy()
    x = new["x"].to_numpy()
    psi = special.expit(_draws(fit, "psi_Intercept")[:, None] + _draws(fit, "psi_x")[:, None] * x)
    mu = np.exp(_draws(fit, "Intercept")[:, None] + _draws(fit, "x")[:, None] * x)
    np.testing.assert_allclose(got, (psi * mu).mean(axis=0), rtol=1e-10)


def test_zero_inflated_replicated_zeros_follow_psi(zipfit):
    from bayesglmm.predict import simulate_response

    df, fit = zipfit
    _, y = simulate_response(fit.spec, fit.draws, rng=1)
    x = df["x"].to_numpy()
    assert (y[:, x > 1] == 0).mean() > (y[:, x < -1] == 0).mean() + 0.3  # psi falls with x: more zeros


# ----------------------------------------------------------------------------- the request and errors
def test_request_and_rebuild_keep_the_aux_formula():
    df = hetero_data(n=60)
    spec = bg.build_model("y ~ x + (1|g)", df, dpars={"sigma": "sigma ~ x"})
    assert spec.request.dpars == {"sigma": "x"}
    rebuilt = spec.request.replace(parameterization="centred").build(df)
    assert rebuilt.dpars == {"sigma": "x"} and "sigma_x" in rebuilt.pymc_model.named_vars
    user = bg.build_model("y ~ x + (1|g)", df, dpars={"sigma": "~ x"},
                          priors={"sigma_x": bg.Prior("Normal", mu=0, sigma=0.5)})
    row = user.prior_table().set_index("term").loc["sigma_x"]
    assert row["source"] == "user" and row["prior"].startswith("Normal(mu=0, sigma=0.5)")
    every = spec.request.replace(priors=dict(spec.priors)).build(df)  # refit(priors="all") passes them all back
    assert every.prior_sources["sigma_x"] == "user"


@pytest.mark.parametrize("family, dpars, match", [
    ("poisson", {"sigma": "~ x"}, "the poisson family has no parameter 'sigma' that can take a formula"),
    ("gaussian", {"psi": "~ x"}, "the gaussian family has no parameter 'psi'.*its parameters that can: sigma"),
    ("zip", {"zi": "~ x"}, "brms's zi is the probability of a structural zero"),
    ("gaussian", {"sigma": "~ os.system(x)"}, "calls 'os.system', which is not an allowed transform"),
    ("gaussian", {"sigma": "~ __import__(x)"}, r"dpars\['sigma'\] = '~ __import__\(x\)': .*does not parse"),
    ("gaussian", {"sigma": "~ x + (1|g)"}, "has a group term: auxiliary formulas take fixed effects only"),
    ("gaussian", {"sigma": "~ z"}, "names columns that are not in the data: 'z'"),
    ("gaussian", {"sigma": "~"}, "has nothing right of '~'"),
    ("gaussian", {"sigma": "~ 0"}, "has no terms"),
    ("gaussian", {"zi": "~ x"}, "the gaussian family has no parameter 'zi'"),
    ("gaussian", {"sigma": "mu ~ x"}, "the left of '~' must be empty or 'sigma'"),
    ("gaussian", ["sigma ~ x"], "dpars must be a dict"),
])
def test_bad_aux_formulas_are_named(family, dpars, match):
    df = zip_data(n=40)
    with pytest.raises(FormulaError, match=match):
        bg.build_model("y ~ x", df, family, dpars=dpars)


def test_prior_on_sigma_itself_is_refused_when_it_has_a_formula():
    df = hetero_data(n=40)
    with pytest.raises(PriorError, match="No term 'sigma'.*sigma_Intercept, sigma_x"):
        bg.build_model("y ~ x", df, dpars={"sigma": "~ x"}, priors={"sigma": bg.Prior("HalfNormal", sigma=1)})


def test_cli_reads_dpar_options():
    from bayesglmm.cli import _parser

    args = _parser().parse_args(["fit", "y ~ x", "--data", "d.csv", "--family", "gaussian", "--dpar", "sigma ~ x"])
    assert dict(args.dpar) == {"sigma": "x"}


def test_sbc_ranks_the_aux_coefficients():
    df = hetero_data(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = bg.sbc("y ~ x + (1|g)", df, "gaussian", dpars={"sigma": "~ x"}, draws=2, chains=2, sample_draws=20,
                     tune=40, thin=2, seed=3, executor="serial")
    assert {"sigma_Intercept", "sigma_x"} <= set(cal.ranks.columns)
    assert cal.ranks.to_numpy().min() >= 0 and cal.ranks.to_numpy().max() <= 20
