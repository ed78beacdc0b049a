"""Category probabilities of ordinal (cumulative) models: ``predict(..., scale="probability")``.

The family computes P(y = k) from the linear predictor and the cut-points; checked against
the closed form for fixed values, a numerical integral for the population average, the
draws themselves, and the observed category shares of a simulated data set.
"""

import types
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import bayesglmm as bg
from bayesglmm.errors import FamilyError
from bayesglmm.families import get_family
from bayesglmm.predict import _check_args, predict_draws

CUM = get_family("cumulative")


@pytest.mark.parametrize("link, cdf", [("logit", special.expit), ("probit", stats.norm.cdf)])
def test_category_probabilities_closed_form(link, cdf):
    cut = np.array([[-1.2, 0.3, 1.5]])
    eta = np.array([[-0.7, 0.0, 2.0]])
    p = CUM.category_probabilities(eta, {"threshold": cut}, link=link)
    assert p.shape == (1, 3, 4)
    for i, e in enumerate(eta[0]):
        f = cdf(cut[0] - e)
        expected = [f[0], f[1] - f[0], f[2] - f[1], 1 - f[2]]
        np.testing.assert_allclose(p[0, i], expected, rtol=1e-12)


def test_category_probabilities_sum_to_one_per_draw():
    rng = np.random.default_rng(1)
    cut = np.sort(rng.normal(size=(50, 4)), axis=1)
    eta = rng.normal(0, 2, size=(50, 7))
    for var in (None, rng.uniform(0, 4, size=(50, 7))):
        p = CUM.category_probabilities(eta, {"threshold": cut}, link="logit", var=var)
        assert p.shape == (50, 7, 5)
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
        assert p.min() >= 0


def test_population_averaged_probabilities_match_the_integral():
    """E_b P(y = k | eta + b), b ~ N(0, s^2), against scipy's quad."""
    cut, eta, s = np.array([-1.0, 0.5, 2.0]), 0.4, 1.7
    p = CUM.category_probabilities(np.array([[eta]]), {"threshold": cut[None]}, link="logit",
                                   var=np.array([[s**2]]))[0, 0]
    for k in range(4):
        def integrand(b, k=k):
            f = np.r_[0, special.expit(cut - eta - b), 1]
            return (f[k + 1] - f[k]) * stats.norm.pdf(b, 0, s)
        assert p[k] == pytest.approx(integrate.quad(integrand, -12 * s, 12 * s)[0], abs=1e-6)


def test_probability_scale_refused_for_other_families_and_response_scale_for_ordinal():
    fake = types.SimpleNamespace(spec=types.SimpleNamespace(family=get_family("gaussian")))
    with pytest.raises(FamilyError, match="ordinal responses"):
        _check_args(fake, "conditional", "probability", 0.95)
    fake = types.SimpleNamespace(spec=types.SimpleNamespace(family=CUM))
    with pytest.raises(FamilyError, match="scale='probability'"):
        _check_args(fake, "conditional", "response", 0.95)
    _check_args(fake, "marginal", "probability", 0.95)


@pytest.fixture(scope="module")
def ordinal_fit():
    """y in {none, mild, moderate, severe}: latent 0.9 x + u_g + logistic, cut-points -1, 0.5, 2, SD(u) = 1."""
    rng = np.random.default_rng(4)
    n_groups, per = 25, 16
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    u = rng.normal(0, 1.0, n_groups)
    latent = 0.9 * x + u[g] + rng.logistic(size=g.size)
    codes = np.searchsorted([-1.0, 0.5, 2.0], latent)
    labels = ["none", "mild", "moderate", "severe"]
    df = pd.DataFrame({"y": pd.Categorical(np.array(labels)[codes], categories=labels, ordered=True),
                       "x": x, "g": [f"g{i}" for i in g]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        fit = bg.fit("y ~ x + (1|g)", df, "cumulative", draws=300, tune=300, chains=2, seed=3,
                     progressbar=False, retry=False)
    return fit, df


def test_conditional_probabilities_equal_the_closed_form_of_each_draw(ordinal_fit):
    fit, df = ordinal_fit
    d = predict_draws(fit, df.iloc[[0, 100]], kind="conditional", scale="probability")
    p = d["probability"].values
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
    assert list(d["category"].values) == ["none", "mild", "moderate", "severe"]
    ds = fit.draws
    flat = lambda da: da.stack(s=("chain", "draw")).transpose("s", ...).values
    cut = flat(ds["threshold"])
    for j, row in enumerate([0, 100]):
        eta = flat(ds["x"]).reshape(-1) * df["x"].iloc[row] + flat(ds["1|g"].sel(g__factor_dim=df["g"].iloc[row]))
        f = special.expit(cut - eta[:, None])
        expected = np.diff(np.c_[np.zeros(len(eta)), f, np.ones(len(eta))], axis=1)
        np.testing.assert_allclose(p[:, j, :], expected, rtol=1e-9, atol=1e-12)
    table = fit.predict(df.iloc[[0, 100]], kind="conditional", scale="probability")
    np.testing.assert_allclose(table["P(mild)"], p[:, :, 1].mean(axis=0))
    assert np.all(table["P(mild) lower"] < table["P(mild)"]) and np.all(table["P(mild)"] < table["P(mild) upper"])


def test_fitted_and_population_averaged_shares_match_the_observed(ordinal_fit):
    """Averaged over the fitted rows, P(y = k) is close to the observed share of category k."""
    fit, df = ordinal_fit
    observed = df["y"].value_counts(normalize=True, sort=False).to_numpy()
    cats = [f"P({c})" for c in ["none", "mild", "moderate", "severe"]]
    conditional = fit.predict(kind="conditional", scale="probability")[cats].mean().to_numpy()
    np.testing.assert_allclose(conditional, observed, atol=0.02)
    marginal = fit.predict(kind="marginal", scale="probability")[cats].mean().to_numpy()
    np.testing.assert_allclose(marginal, observed, atol=0.05)
    typical = fit.predict(df.head(3), kind="typical", scale="probability")
    new = fit.predict(df.head(3), kind="new_group", scale="probability", seed=2)
    np.testing.assert_allclose(typical[cats].sum(axis=1), 1.0)
    np.testing.assert_allclose(new[cats].sum(axis=1), 1.0)
    # A new group spreads the probabilities: the extreme categories gain, as in the marginal average.
    assert new["P(severe)"].iloc[0] > typical["P(severe)"].iloc[0]
