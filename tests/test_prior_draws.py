"""Prior-only fits: the draws follow the model's prior, ordered cut-points included."""

import numpy as np
import pandas as pd

import bayesglmm as bg
from bayesglmm.fit import sorted_mask


def ordinal_data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"y": pd.Categorical(rng.integers(0, 5, 60), ordered=True), "a": rng.normal(size=60),
                         "r": np.repeat(list("abcdef"), 10)})


def test_prior_only_cut_points_are_sorted_in_every_draw():
    fit = bg.fit("y ~ a + (1|r)", ordinal_data(), "cumulative", prior_only=True, draws=300, seed=3)
    cuts = fit.idata["prior"]["threshold"].values.reshape(300, -1)
    assert (np.diff(cuts, axis=1) > 0).all()
    # The prior predictive belongs to the kept draws: one response draw per kept prior draw.
    assert fit.idata["prior_predictive"].sizes["draw"] == 300
    assert list(fit.idata["prior"]["draw"].values) == list(range(300))
    # Rejection keeps the prior's location: each cut-point's median stays near its prior mean's order.
    assert np.all(np.diff(np.median(cuts, axis=0)) > 0)


def test_same_seed_same_prior_draws():
    a = bg.fit("y ~ a + (1|r)", ordinal_data(), "cumulative", prior_only=True, draws=100, seed=5)
    b = bg.fit("y ~ a + (1|r)", ordinal_data(), "cumulative", prior_only=True, draws=100, seed=5)
    np.testing.assert_array_equal(a.idata["prior"]["threshold"].values, b.idata["prior"]["threshold"].values)


def test_sorted_mask_reads_every_variable():
    import xarray as xr

    ds = xr.Dataset({"c": (("chain", "draw", "k"), np.array([[[0.0, 1.0], [1.0, 0.0], [0.0, 2.0]]])),
                     "d": (("chain", "draw", "k"), np.array([[[0.0, 1.0], [0.0, 1.0], [3.0, 2.0]]]))})
    assert sorted_mask(ds, ["c", "d"], 3).tolist() == [True, False, False]


def test_prior_checks_of_a_posterior_fit_use_sorted_cut_points_too():
    """sample_prior (prior predictive checks, prior-vs-posterior) draws as a prior-only fit does."""
    from bayesglmm.predictive import sample_prior
    from bayesglmm.result import Fit

    prior_fit = bg.fit("y ~ a + (1|r)", ordinal_data(), "cumulative", prior_only=True, draws=20, seed=3)
    tree = prior_fit.idata.copy()
    tree["posterior"] = prior_fit.idata["prior"]  # stands in for a posterior: sample_prior reads only the model
    fit = Fit(prior_fit.spec, tree, None, {"sampler": "nutpie", "seed": 3})
    assert not fit.prior_only
    tree = sample_prior(fit, draws=300, seed=3)
    cuts = tree["prior"]["threshold"].values.reshape(300, -1)
    assert (np.diff(cuts, axis=1) > 0).all()
    assert tree["prior_predictive"].sizes["draw"] == 300
