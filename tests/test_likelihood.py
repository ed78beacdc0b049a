"""Likelihoods on the linear predictor (bernoulli and binomial, logit link): Bambi's density, cheaper.

The model bayesglmm builds must have the same log density as the one Bambi's likelihood gives
(``pm.Bernoulli(p=clip(inverse_logit(eta)))``) wherever the clip does not act, its gradient must
stay right where the clip would flatten it, and its draws must follow the distribution.
"""

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from bayesglmm.families import get_family
from bayesglmm.families.bernoulli import LogitBernoulli
from bayesglmm.families.binomial import LogitBinomial
from bayesglmm.model import build_model

RNG = np.random.default_rng(3)
N = 80
G = np.repeat(np.arange(8), 10)
X = RNG.normal(size=N)
BASE = pd.DataFrame({"x": X, "g": pd.Categorical(G), "h": pd.Categorical(np.tile(np.arange(5), 16))})
CASES = {
    "bernoulli": ("y ~ x + (1|g) + (1|h)", BASE.assign(y=RNG.binomial(1, special.expit(0.5 * X)))),
    "binomial": ("p(s, t) ~ x + (1|g)", BASE.assign(t=RNG.integers(1, 9, N), s=0)),
}
CASES["binomial"][1]["s"] = RNG.binomial(CASES["binomial"][1]["t"], special.expit(X))


def _model(formula, data, family, link="logit"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model(formula, data, family, link=link).pymc_model


def _log_densities(model, points):
    logp = model.compile_logp()
    return np.array([logp(point) for point in points])


def _points(model, k=6):
    start = model.initial_point(0)
    rng = np.random.default_rng(7)
    return [{name: value + rng.normal(scale=0.7, size=np.shape(value)) for name, value in start.items()}
            for _ in range(k)]


@pytest.mark.parametrize("family", list(CASES))
def test_the_model_has_bambis_log_density(family, monkeypatch):
    formula, data = CASES[family]
    ours = _model(formula, data, family)
    assert type(ours.observed_RVs[0].owner.op).__name__.startswith("Logit")
    monkeypatch.setattr(type(get_family(family)), "linear_predictor_likelihood", lambda self, link: None)
    bambis = _model(formula, data, family)
    assert type(bambis.observed_RVs[0].owner.op).__name__ in ("BernoulliRV", "BinomialRV")
    points = _points(ours)
    np.testing.assert_allclose(_log_densities(ours, points), _log_densities(bambis, points), rtol=1e-10)


def test_other_links_keep_bambis_likelihood():
    formula, data = CASES["bernoulli"]
    model = _model(formula, data, "bernoulli", link="probit")
    assert type(model.observed_RVs[0].owner.op).__name__ == "BernoulliRV"


def test_the_gradient_stays_right_where_bambis_clip_flattens_it():
    eta = pt.vector("eta")
    y = np.array([1, 0, 1])
    at = np.array([-40.0, 40.0, 0.3])
    logp = pm.logp(LogitBernoulli.dist(eta=eta), y).sum()
    grad = pytensor.function([eta], pt.grad(logp, eta))(at)
    np.testing.assert_allclose(grad, y - special.expit(at), rtol=1e-12)  # d/d eta = y - inverse_logit(eta)
    clipped = pt.clip(pt.sigmoid(eta), np.finfo(float).eps, 1 - np.finfo(float).eps)
    flat = pytensor.function([eta], pt.grad(pm.logp(pm.Bernoulli.dist(p=clipped), y).sum(), eta))(at)
    assert flat[0] == 0.0 and flat[1] == 0.0  # what the likelihood on the linear predictor avoids


def test_the_binomial_density_is_scipys():
    eta = np.array([-2.0, 0.0, 1.5, 30.0])
    n = np.array([3, 10, 7, 5])
    y = np.array([0, 4, 7, 5])
    ours = pm.logp(LogitBinomial.dist(eta=eta, n=n), y).eval()
    np.testing.assert_allclose(ours, stats.binom.logpmf(y, n, special.expit(eta)), rtol=1e-10, atol=1e-12)


def test_draws_follow_the_distribution():
    bern = pm.draw(LogitBernoulli.dist(eta=np.full(40_000, 0.4)), random_seed=1)
    assert set(np.unique(bern)) == {0, 1}
    assert abs(bern.mean() - special.expit(0.4)) < 0.01  # SD of the mean 0.0025
    binom = pm.draw(LogitBinomial.dist(eta=np.full(40_000, -1.0), n=np.full(40_000, 6)), random_seed=1)
    assert abs(binom.mean() - 6 * special.expit(-1.0)) < 0.03  # SD of the mean 0.0055


def test_prior_draws_of_the_response_are_01_and_quiet():
    import bayesglmm as bg

    formula, data = CASES["bernoulli"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bg.fit(formula, data, "bernoulli", prior_only=True, seed=1, draws=200, progressbar=False)
    assert not [w for w in caught if "object mode" in str(w.message)]
    assert set(np.unique(fit.idata["prior_predictive"]["y"].values)) == {0, 1}
