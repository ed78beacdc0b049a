"""Ordinal cut-points sampled at the means of the fixed-effect columns, reported at zero.

The default cut-point prior is centred on the marginal cumulative logits, which describe the
cut-points where the predictors sit at their means. The model samples them there
(``threshold_centred``) and stores ``threshold = threshold_centred + mean(x) @ beta``, the
cut-points at zero predictors that predictions, simulation and the summary use.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesglmm as bg
from bayesglmm.model import build_model


def _ordinal_data(n=400, mean=10.0, beta=1.5, seed=3):
    """``y`` in 4 categories with cut-points [-1.5, 0, 1.5] at the mean of ``x`` (x far from 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, 1.0, n)
    g = np.repeat(np.arange(20), n // 20)
    latent = beta * (x - mean) + rng.logistic(size=n)
    y = np.searchsorted(np.array([-1.5, 0.0, 1.5]), latent)
    frame = pd.DataFrame({"y": pd.Categorical(y, ordered=True), "x": x, "g": pd.Categorical(g)})
    return frame, np.array([-1.5, 0.0, 1.5]) + beta * mean


def _ordered_logistic_logp(y, eta, cut):
    f = special.expit(cut[None, :] - eta[:, None])
    f = np.column_stack([np.zeros(len(eta)), f, np.ones(len(eta))])
    return np.log(f[np.arange(len(y)), y + 1] - f[np.arange(len(y)), y]).sum()


@pytest.mark.parametrize("design", ["qr", "plain"])
def test_likelihood_reads_the_cut_points_at_zero_minus_x_beta(design):
    frame, _ = _ordinal_data(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x", frame, "cumulative", fixed_design=design)
    model = spec.pymc_model
    assert "threshold_centred" in [v.name for v in model.free_RVs]
    assert spec.centred_parameters == ["threshold"]
    outs = model.replace_rvs_by_values([model["threshold"], model["threshold_centred"], model["x"]])
    fn = model.compile_fn([*outs, model.logp(vars=model.observed_RVs)])
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    at_zero, centred, beta, loglik = fn(point)
    np.testing.assert_allclose(at_zero, centred + frame["x"].mean() * beta, rtol=1e-10)
    y = frame["y"].cat.codes.to_numpy()
    np.testing.assert_allclose(loglik, _ordered_logistic_logp(y, frame["x"].to_numpy() * beta, at_zero), rtol=1e-8)


def test_prior_summary_and_summary_say_where_the_cut_point_prior_applies():
    frame, _ = _ordinal_data(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x", frame, "cumulative")
    row = spec.prior_table().set_index("term").loc["threshold"]
    assert row["prior"].endswith("at the means of the fixed-effect columns")


def test_without_fixed_effects_the_cut_points_are_sampled_as_they_are():
    frame, _ = _ordinal_data(n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ (1|g)", frame, "cumulative")
    assert "threshold" in [v.name for v in spec.pymc_model.free_RVs]
    assert spec.centred_parameters == []


def test_a_predictor_far_from_zero_does_not_pull_the_effect():
    """x has mean 10: the cut-points at zero (about 13.5-16.5) lie 6 prior SDs from the marginal logits.

    Sampled at zero, the default prior pulled them (and through them the slope) toward the
    marginal logits; sampled at the mean they sit where the prior is centred. The simulation's
    truths are recovered within 3 posterior SDs.
    """
    frame, cut_at_zero = _ordinal_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit("y ~ x + (1|g)", frame, "cumulative", seed=2, chains=2, draws=400, tune=400, progressbar=False)
    post = fit.idata["posterior"]
    beta = post["x"].values.ravel()
    assert abs(beta.mean() - 1.5) < 3 * beta.std()
    cut = post["threshold"].values.reshape(-1, 3)
    assert np.all(np.abs(cut.mean(0) - cut_at_zero) < 3 * cut.std(0))
    assert "Cut-points: threshold sampled at the means" in str(fit.summary())
