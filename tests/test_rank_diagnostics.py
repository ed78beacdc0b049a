"""The vectorised R-hat and ESS equal ArviZ's, scalar for scalar."""

import numpy as np
import pandas as pd
import pytest
from arviz_base import from_dict, rcParams
from arviz_stats.base import array_stats

import arviz as az
from bayesglmm import rank_diagnostics as rd
from bayesglmm.diagnostics import _element_table


def _hard_draws(chains=4, n=300, k=30, seed=1):
    """AR(1) chains from white noise to phi = 0.97, a stuck chain, a constant, discrete and binary scalars."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(chains, n, k))
    for j in range(k):
        phi = 0.97 * j / k
        for i in range(1, n):
            x[:, i, j] += phi * x[:, i - 1, j]
    x[1, :, 5] += 3
    x[:, :, 7] = 2.0
    x[:, :, 8] = np.round(x[:, :, 8])
    x[:, :, 9] = x[:, :, 9] > 0.5
    return x


def _arviz(x):
    kw = dict(chain_axis=0, draw_axis=1)
    with np.errstate(all="ignore"):
        return {"r_hat": array_stats.rhat(x, **kw), "ess_bulk": array_stats.ess(x, method="bulk", **kw),
                "ess_tail": array_stats.ess(x, method="tail", prob=rcParams["stats.ci_prob"], **kw)}


@pytest.mark.parametrize("shape", [(4, 300, 30), (3, 101, 30), (2, 40, 30)])
def test_equal_to_arviz(shape):
    x = _hard_draws(*shape)
    ours, theirs = rd.rank_diagnostics(x), _arviz(x)
    for key in ours:
        np.testing.assert_array_equal(np.isnan(ours[key]), np.isnan(theirs[key]))
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, equal_nan=True)
    if shape[1] == 300:
        assert ours["r_hat"][5] > 1.3 and ours["ess_bulk"][29] < ours["ess_bulk"][0] / 5  # the checks can fail


def test_blocks_give_the_same_numbers(monkeypatch):
    x = _hard_draws(k=30)
    whole = rd.rank_diagnostics(x)
    monkeypatch.setattr(rd, "BLOCK", 7)
    parts = rd.rank_diagnostics(x)
    for key in whole:  # equal up to the FFT's rounding, which depends on the batch
        np.testing.assert_allclose(whole[key], parts[key], rtol=1e-12)


def test_non_finite_scalars_are_nan():
    x = _hard_draws(k=12)
    x[0, 3, 2] = np.nan
    x[2, 0, 4] = np.inf
    out = rd.rank_diagnostics(x)
    assert np.isnan(out["r_hat"][[2, 4]]).all() and np.isnan(out["ess_bulk"][[2, 4]]).all()
    assert np.isfinite(out["ess_bulk"][[0, 1, 3]]).all()


def test_element_table_matches_arviz_summary_labels_and_values():
    rng = np.random.default_rng(0)
    idata = from_dict({"posterior": {"a": rng.normal(size=(4, 200)), "b": rng.normal(size=(4, 200, 3, 2)),
                                     "c": np.cumsum(rng.normal(size=(4, 200, 5)), axis=1)},
                       "sample_stats": {"diverging": np.zeros((4, 200), bool)}},
                      dims={"b": ["level", "effect"], "c": ["row"]},
                      coords={"level": ["x", "y", "z"], "effect": ["1", "t"]})
    ours = _element_table(idata)
    theirs = pd.DataFrame(az.summary(idata, kind="diagnostics", round_to="none"))[list(ours.columns)].astype(float)
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-10)
    assert ours.loc["c[0]", "r_hat"] > 1.01  # random walks are flagged
