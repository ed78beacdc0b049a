"""The categorical (multinomial logit) family: checks, probabilities, likelihood, recovery, save/load."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesglmm as bg
from bayesglmm.errors import DataError, FamilyError, FormulaError, SettingsError
from bayesglmm.families import get_family
from bayesglmm.model import build_model
from bayesglmm.predict import predict_draws

CAT = get_family("categorical")
TRUE_INTERCEPT = np.array([0.3, -0.4])  # categories b, c against the reference a
TRUE_SLOPE = np.array([0.8, -0.6])


def simulate(n=600, groups=8, seed=3, sd=0.5):
    """y in a/b/c from a multinomial logit with per-category intercept, slope and group intercepts."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    eta = TRUE_INTERCEPT + x[:, None] * TRUE_SLOPE + rng.normal(0, sd, (groups, 2))[g]
    y = CAT.simulate(eta[None], rng=rng)[0].astype(int)
    return pd.DataFrame({"y": np.array(["a", "b", "c"])[y], "x": x, "g": [f"g{i}" for i in g]})


def _softmax_rows(eta):
    full = np.concatenate([np.zeros(eta.shape[:-1] + (1,)), eta], axis=-1)
    return np.exp(full) / np.exp(full).sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- no sampling
def test_probabilities_are_the_softmax_with_the_reference_at_zero():
    rng = np.random.default_rng(1)
    eta = rng.normal(size=(5, 7, 3))
    p = CAT.category_probabilities(eta)
    np.testing.assert_allclose(p, _softmax_rows(eta), rtol=1e-12)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(CAT.link_function()(p), eta, rtol=1e-10, atol=1e-12)


def test_population_averaged_probabilities_match_monte_carlo():
    eta = np.array([[[0.5, -0.3]]])
    var = np.array([[[1.5, 0.6]]])
    p = CAT.category_probabilities(eta, var=var)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    z = np.random.default_rng(2).standard_normal((400_000, 2))
    mc = _softmax_rows(eta[0, 0] + np.sqrt(var[0, 0]) * z).mean(0)
    np.testing.assert_allclose(p[0, 0], mc, atol=2e-3)


def test_simulation_matches_the_probabilities():
    eta = np.broadcast_to(np.array([0.4, -0.7]), (1, 200_000, 2))
    y = CAT.simulate(eta, rng=np.random.default_rng(3))[0]
    share = np.bincount(y.astype(int), minlength=3) / y.size
    np.testing.assert_allclose(share, CAT.category_probabilities(eta[:, :1])[0, 0], atol=0.005)


def test_prefit_checks_name_column_value_and_rows():
    df = simulate(n=60)
    with pytest.raises(DataError, match=r"Categorical response 'y' has 2 categories \('a', 'b'\).*bernoulli"):
        build_model("y ~ x + (1|g)", df.assign(y=df["y"].replace("c", "b")), "categorical")
    with pytest.raises(DataError, match=r"Column 'y' .* not whole category codes \(value .* at rows? 0.*gaussian"):
        build_model("y ~ x", df.assign(y=df["x"]), "categorical")
    with pytest.raises(DataError, match="categories with no rows: d"):
        build_model("y ~ x", df.assign(y=pd.Categorical(df["y"], categories=list("abcd"))), "categorical")
    mixed = df.assign(y=df["y"].astype(object))
    mixed.loc[2, "y"] = 2.5
    with pytest.raises(DataError, match=r"Column 'y' .* mixes text with other values \(value 2.5 at row 2\)"):
        build_model("y ~ x", mixed, "categorical")
    with pytest.raises(DataError, match="True/False"):
        build_model("y ~ x", df.assign(y=df["x"] > 0), "categorical")
    with pytest.raises(FormulaError, match=r"\(1 \+ x \|\| g\)"):
        build_model("y ~ x + (1 + x|g)", df, "categorical")
    with pytest.raises(SettingsError, match="one linear predictor per non-reference category"):
        build_model("y ~ x + (1|g)", df, "categorical", fixed_design="qr")


def test_reference_is_the_first_category_and_priors_are_per_category():
    df = simulate(n=90)
    spec = build_model("y ~ x + (1|g)", df.assign(y=pd.Categorical(df["y"], categories=["c", "a", "b"])),
                       "categorical")
    assert list(spec.pymc_model.coords["y_reduced_dim"]) == ["a", "b"]
    assert spec.fixed_design == "plain" and "one linear predictor per" in spec.fixed_design_reason
    table = spec.prior_table().set_index("term")["prior"]
    assert table["x"].endswith("per category (a, b; reference c)")
    shares = df["y"].value_counts()
    expected = np.round(np.log((shares[["a", "b"]].to_numpy() + 0.5) / (shares["c"] + 0.5)), 3)
    np.testing.assert_allclose(spec.priors["Intercept"].args["mu"], expected)


def test_the_model_likelihood_is_the_softmax():
    df = simulate(n=80)
    spec = build_model("y ~ x + (1|g)", df, "categorical")
    model = spec.pymc_model
    outs = model.replace_rvs_by_values([model["Intercept"], model["x"], model["1|g"]])
    fn = model.compile_fn([*outs, model.logp(vars=model.observed_RVs)])
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    a, b, u, loglik = fn(point)
    codes = spec.data.frame["g"].cat.codes.to_numpy()
    x = df["x"].to_numpy()
    # Bambi samples the intercept of the centred predictor
    eta = a + (x - x.mean())[:, None] * b + u[codes]
    y = pd.Categorical(df["y"]).codes
    np.testing.assert_allclose(loglik, np.log(_softmax_rows(eta)[np.arange(80), y]).sum(), rtol=1e-8)


def test_prior_simulation_for_sbc_gives_category_codes():
    from bayesglmm.sbc import prior_draws

    spec = build_model("y ~ x + (1|g)", simulate(n=50), "categorical")
    truths, ys = prior_draws(spec, 6, 1)
    assert ys.shape == (6, 50) and set(np.unique(ys)) <= {0, 1, 2}
    assert {"x[0]", "x[1]", "Intercept[0]", "1|g_sigma[1]"} <= set(truths)


# ----------------------------------------------------------------------------- one small fit
@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bg.fit("y ~ x + (1|g)", simulate(), "categorical", chains=2, draws=300, tune=300, seed=1,
                      progressbar=False, retry=False)


def _flat(da):
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values


def test_fit_recovers_the_category_specific_effects(fit):
    post = fit.draws
    for name, truth in (("Intercept", TRUE_INTERCEPT), ("x", TRUE_SLOPE)):
        draws = _flat(post[name])
        z = np.abs(draws.mean(0) - truth) / draws.std(0)
        assert np.all(z < 3), (name, draws.mean(0), truth)
    assert list(post["x"].coords["y_reduced_dim"].values) == ["b", "c"]
    assert fit.diagnostics.max_rhat < 1.05


def test_probabilities_sum_to_one_and_match_the_draws(fit):
    new = pd.DataFrame({"x": [0.0, 1.5], "g": ["g0", "g3"]})
    table = fit.predict(new, kind="conditional", scale="probability")
    cols = ["P(a)", "P(b)", "P(c)"]
    np.testing.assert_allclose(table[cols].sum(axis=1), 1.0, rtol=1e-10)
    post = fit.draws
    u = _flat(post["1|g"].sel(g__factor_dim="g3").transpose(..., "y_reduced_dim"))
    by_hand = _softmax_rows(_flat(post["Intercept"]) + 1.5 * _flat(post["x"]) + u)
    np.testing.assert_allclose(table.loc[1, cols].to_numpy(float), by_hand.mean(0), rtol=1e-10)
    draws = predict_draws(fit, new, kind="conditional", scale="probability")["probability"].values[:, 1, :]
    np.testing.assert_allclose(draws, by_hand, rtol=1e-10)
    link = fit.predict(new, kind="typical", scale="link")
    np.testing.assert_allclose(link["log-odds(c vs a)"], [
        _flat(post["Intercept"])[:, 1].mean(), (_flat(post["Intercept"]) + 1.5 * _flat(post["x"]))[:, 1].mean()])
    marginal = fit.predict(new, kind="marginal", scale="probability")
    np.testing.assert_allclose(marginal[cols].sum(axis=1), 1.0, rtol=1e-10)
    with pytest.raises(FamilyError, match="scale='probability'"):
        fit.predict(new)


def test_log_likelihood_is_the_softmax_of_the_draws(fit):
    ll = fit.idata["log_likelihood"].to_dataset()
    ll = ll[list(ll.data_vars)[0]]
    frame = fit.spec.data.frame
    y, x = frame["y"].cat.codes.to_numpy(), frame["x"].to_numpy()
    for chain, draw in ((0, 0), (1, 123)):
        d = fit.draws.isel(chain=chain, draw=draw)
        u = d["1|g"].sel(g__factor_dim=frame["g"].astype(str).to_numpy()).transpose("g__factor_dim", ...).values
        eta = d["Intercept"].values + x[:, None] * d["x"].values + u
        expected = np.log(_softmax_rows(eta)[np.arange(len(y)), y])
        np.testing.assert_allclose(ll.isel(chain=chain, draw=draw).values, expected, rtol=1e-8)


def test_ratios_ppc_and_refusals(fit):
    ratios = fit.ratios()
    assert list(ratios.index) == ["x[b]", "x[c]"]
    assert set(ratios["kind"]) == {"odds ratio vs the reference category"}
    np.testing.assert_allclose(ratios["ratio"], np.median(np.exp(_flat(fit.draws["x"])), axis=0))
    from bayesglmm.ppc import ppc_pvalues

    table = ppc_pvalues(fit, seed=1, draws=200)
    assert list(table["statistic"]) == ["share a", "share b", "share c"]
    np.testing.assert_allclose(table["observed"], fit.spec.data.frame["y"].value_counts(normalize=True)[list("abc")])
    with pytest.raises(FamilyError, match="own group SD"):
        fit.icc()
    with pytest.raises(FamilyError, match="R² is not defined"):
        fit.r2()


def test_save_and_load_round_trip(fit, tmp_path):
    path = tmp_path / "cat.bgfit"
    fit.save(path)
    back = bg.load(path)
    assert back.spec.family.name == "categorical"
    new = pd.DataFrame({"x": [0.2], "g": ["g1"]})
    pd.testing.assert_frame_equal(back.predict(new, scale="probability"), fit.predict(new, scale="probability"))
    pd.testing.assert_frame_equal(back.fixef(), fit.fixef())
