"""The sequential (stopping-ratio) ordinal family: probabilities, simulation, likelihood, recovery."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesglmm as bg
from bayesglmm.errors import FamilyError
from bayesglmm.families import get_family
from bayesglmm.model import build_model

SR = get_family("sratio")


def test_probabilities_closed_form_and_sum_to_one():
    cut = np.array([[-0.5, 0.7, 1.9]])
    eta = np.array([[-1.0, 0.0, 2.5]])
    p = SR.category_probabilities(eta, {"threshold": cut})
    for i, e in enumerate(eta[0]):
        f = special.expit(cut[0] - e)
        expected = [f[0], (1 - f[0]) * f[1], (1 - f[0]) * (1 - f[1]) * f[2], np.prod(1 - f)]
        np.testing.assert_allclose(p[0, i], expected, rtol=1e-12)
    rng = np.random.default_rng(2)
    p = SR.category_probabilities(rng.normal(size=(20, 5)), {"threshold": rng.normal(size=(20, 4))},
                                  var=rng.uniform(0, 3, size=(20, 5)))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_simulation_matches_the_probabilities():
    rng = np.random.default_rng(3)
    cut = {"threshold": np.array([[-0.3, 0.4, 1.2]])}
    eta = np.full((1, 200_000), 0.5)
    y = SR.simulate(eta, cut, rng=rng)[0]
    share = np.bincount(y.astype(int), minlength=4) / y.size
    np.testing.assert_allclose(share, SR.category_probabilities(eta[:, :1], cut)[0, 0], atol=0.005)


def test_the_model_likelihood_is_the_family_probabilities():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"y": pd.Categorical(rng.integers(0, 4, 80), ordered=True), "x": rng.normal(3, 1, 80)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x", frame, "sratio")
    model = spec.pymc_model
    outs = model.replace_rvs_by_values([model["threshold"], model["x"]])
    fn = model.compile_fn([*outs, model.logp(vars=model.observed_RVs)])
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    cut, beta, loglik = fn(point)
    p = SR.category_probabilities((frame["x"].to_numpy() * beta)[None, :], {"threshold": cut[None, :]})[0]
    y = frame["y"].cat.codes.to_numpy()
    np.testing.assert_allclose(loglik, np.log(p[np.arange(80), y]).sum(), rtol=1e-8)


def test_default_cut_point_prior_is_the_conditional_stopping_share():
    y = pd.Series(pd.Categorical([0] * 50 + [1] * 25 + [2] * 25, ordered=True))
    prior = SR.extra_priors(y, "logit")["threshold"]
    np.testing.assert_allclose(prior.args["mu"], [0.0, 0.0], atol=1e-3)  # 50/100 stop at 0, 25/50 at 1
    assert "transform" not in prior.args  # the stopping-ratio cut-points need not be ordered


def test_response_scale_is_refused_with_the_scales_that_exist():
    with pytest.raises(FamilyError, match="probability"):
        SR.check_prediction_scale("response")


def test_fit_recovers_the_simulated_effect_and_cut_points():
    rng = np.random.default_rng(5)
    n, groups = 600, 30
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(2, 1, n)
    truth = np.array([1.0, 2.5, 3.5])
    y = SR.simulate((x + rng.normal(0, 0.5, groups)[g])[None, :], {"threshold": truth[None, :]}, rng=rng)[0]
    frame = pd.DataFrame({"y": pd.Categorical(y.astype(int), ordered=True), "x": x, "g": pd.Categorical(g)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit("y ~ x + (1|g)", frame, "sratio", seed=1, chains=2, draws=400, tune=400, progressbar=False)
    post = fit.idata["posterior"]
    beta = post["x"].values.ravel()
    assert abs(beta.mean() - 1.0) < 3 * beta.std()
    cut = post["threshold"].values.reshape(-1, 3)
    assert np.all(np.abs(cut.mean(0) - truth) < 3 * cut.std(0))
    assert fit.ratios().loc["x", "kind"] == "continuation odds ratio"
