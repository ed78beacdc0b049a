"""SBC: ranks from a few tiny fits, identical on every executor; the uniformity test can fail.

The calibration benchmark itself (200+ fits per family) is in benchmarks/sbc.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.executor import LocalExecutor
from bayesglmm.sbc import SBCResult


@pytest.fixture(scope="module")
def template():
    rng = np.random.default_rng(1)
    return pd.DataFrame({"y": rng.normal(size=20), "x": rng.normal(size=20), "g": np.repeat(list("abcd"), 5)})


def test_sbc_ranks_are_the_same_serially_and_in_parallel(template):
    kwargs = dict(draws=4, chains=2, sample_draws=40, tune=60, thin=2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = bg.sbc("y ~ x + (1|g)", template, executor="serial", **kwargs)
        local = bg.sbc("y ~ x + (1|g)", template, executor=LocalExecutor(workers=2), **kwargs)
    pd.testing.assert_frame_equal(serial.ranks, local.ranks)
    assert list(serial.ranks.columns) == ["sigma", "Intercept", "x", "1|g_sigma"]  # the named coefficient, not its QR basis
    assert serial.n_draws == 40
    assert serial.ranks.to_numpy().min() >= 0 and serial.ranks.to_numpy().max() <= 40
    assert serial.seconds["compile"] > 0 and serial.seconds["fit"] > 0


def test_uniformity_test_rejects_bad_ranks_and_keeps_uniform_ones():
    rng = np.random.default_rng(0)
    uniform = pd.DataFrame({"a": rng.integers(0, 101, 300), "b": rng.integers(0, 101, 300)})
    # Over-confident posteriors: true values pile up in the tails.
    tails = pd.DataFrame({"a": np.r_[np.zeros(100), np.full(100, 100), rng.integers(0, 101, 100)].astype(int),
                          "b": rng.integers(0, 101, 300)})
    good = SBCResult(uniform, 100, "gaussian", "y ~ 1", seed=1)
    bad = SBCResult(tails, 100, "gaussian", "y ~ 1", seed=1)
    assert not good.tests["rejected"].any()
    assert bad.tests.loc["a", "rejected"] and not bad.tests.loc["b", "rejected"]
    assert bad.tests.loc["a", "p_value"] < 0.001 and good.tests["p_value"].min() > 0.005
    assert bad.tests.loc["a", "points_outside"] > 0 and (good.tests["points_outside"] == 0).all()
    fig = bad.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


def test_prior_draws_of_ordered_thresholds_are_sorted(template):
    """PyMC's forward sampling leaves ordered thresholds unsorted ~2/3 of the time; SBC must reject those."""
    from bayesglmm.model import build_model
    from bayesglmm.sbc import prior_draws

    data = template.assign(y=pd.Categorical(np.tile([1, 2, 3, 4], 5), ordered=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x + (1|g)", data, "cumulative")
        truths, ys = prior_draws(spec, 150, seed=4)
    thresholds = np.column_stack([truths[f"threshold[{j}]"] for j in range(3)])
    assert thresholds.shape == (150, 3) and ys.shape == (150, 20)
    assert (np.diff(thresholds, axis=1) > 0).all()
    assert len(np.unique(thresholds[:, 0])) == 150  # distinct draws, not one repeated
    assert set(truths) == {"threshold[0]", "threshold[1]", "threshold[2]", "x", "1|g_sigma"}


def test_prior_draws_leave_out_what_the_prior_fixes(template):
    """A correlated block's Cholesky factor has a unit entry and a zero: ranking constants would fake a rejection."""
    from bayesglmm.model import build_model
    from bayesglmm.sbc import prior_draws

    data = template.assign(f=np.where(np.arange(len(template)) % 2 == 0, "a", "b"),
                           y=np.linspace(-1, 1, len(template)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x + f + (f|g)", data, "gaussian")
        truths, _ = prior_draws(spec, 60, seed=2)
    chol = sorted(k for k in truths if k.startswith("g_corr_chol"))
    assert chol == ["g_corr_chol[2]", "g_corr_chol[3]"]  # r and sqrt(1 - r^2) of [[1, 0], [r, sqrt(1 - r^2)]]
    r, rest = truths["g_corr_chol[2]"], truths["g_corr_chol[3]"]
    np.testing.assert_allclose(r ** 2 + rest ** 2, 1.0)
    assert {"g_sds[0]", "g_sds[1]", "sigma", "x", "f"} <= set(truths)
    assert all(np.ptp(v) > 0 for v in truths.values())


def test_uniformity_test_sees_an_excess_of_low_ranks_with_no_rank_zero():
    """Too many low ranks but none at 0 (no PIT below 1/n): the upper tail of the ECDF must count.
    scipy's bdtr is nan at -1, and min(x, nan) is x: the excess went unseen (p = 1.0)."""
    rng = np.random.default_rng(3)
    low = pd.DataFrame({"a": np.r_[rng.integers(1, 10, 60), rng.integers(1, 101, 240)]})
    result = SBCResult(low, 100, "gaussian", "y ~ 1", seed=1)
    assert result.tests.loc["a", "rejected"] and result.tests.loc["a", "p_value"] < 0.001
