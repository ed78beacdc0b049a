"""Factor slopes in group terms: ``(f|g)``, ``(0 + f|g)``, three levels, several blocks on one factor.

Bambi gives a factor slope an effect dimension even with one column (a two-level factor
beside the intercept); the correlated block used to label it as a numeric slope and the
build failed (``f|g has 1 dims but 2 dim labels were provided``). Checked here against
simulated truths: the SDs of the simulated effects, and predictions recomputed by hand
from the draws.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.request import ModelRequest


def _two_level(seed=11, n_groups=40, per_group=20, sd0=1.0, sd1=0.7, rho=-0.3):
    """y = 0.5 + 0.8 [f = hi] + 0.3 x + u0_g + u1_g [f = hi] + N(0, 0.5)."""
    rng = np.random.default_rng(seed)
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    u = rng.multivariate_normal([0, 0], cov, size=n_groups)
    g = np.repeat(np.arange(n_groups), per_group)
    f = rng.choice(["lo", "hi"], g.size)
    x = rng.normal(size=g.size)
    hi = (f == "hi").astype(float)
    y = 0.5 + 0.8 * hi + 0.3 * x + u[g, 0] + u[g, 1] * hi + rng.normal(0, 0.5, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g],
                         "f": pd.Categorical(f, categories=["lo", "hi"])}), u


def _fit(formula, df, **kwargs):
    kwargs = {"draws": 300, "tune": 300, "chains": 2, "seed": 1, "progressbar": False, "retry": False, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        return bg.fit(formula, df, "gaussian", **kwargs)


def test_two_level_factor_slope_builds_as_a_correlated_block():
    df, _ = _two_level(n_groups=8, per_group=5)
    spec = ModelRequest(formula="y ~ f + x + (f|g)").build(df)
    model = spec.pymc_model
    assert tuple(model.named_vars_to_dims["f|g"]) == ("g__factor_dim", "f__expr_dim")
    assert list(model.coords["g__effect"]) == ["1", "f[hi]"]
    assert [b.correlated for b in spec.formula.blocks] == [True]


def test_single_factor_term_is_correlated_unless_double_bar():
    df, _ = _two_level(n_groups=8, per_group=5)
    df["h"] = pd.Categorical(np.resize(["a", "b", "c"], len(df)))
    spec = ModelRequest(formula="y ~ (0 + h|g)").build(df)
    assert [b.correlated for b in spec.formula.blocks] == [True]
    assert list(spec.pymc_model.coords["g__effect"]) == ["h[a]", "h[b]", "h[c]"]
    spec = ModelRequest(formula="y ~ (0 + h||g)").build(df)
    assert [b.correlated for b in spec.formula.blocks] == [False]
    assert "g_corr" not in spec.pymc_model.named_vars
    # (f||g): an intercept and the factor slope, independent, each with its own SD.
    spec = ModelRequest(formula="y ~ f + (f||g)").build(df)
    assert "g_corr" not in spec.pymc_model.named_vars
    assert tuple(spec.pymc_model.named_vars_to_dims["f|g_sigma"]) == ("f__expr_dim",)
    assert list(spec.pymc_model.coords["f__expr_dim"]) == ["hi"]


@pytest.fixture(scope="module")
def two_level_fit():
    df, u = _two_level()
    return _fit("y ~ f + x + (f|g)", df, draws=500, tune=500, chains=2), df, u


def test_factor_slope_sds_recovered(two_level_fit):
    """The 95% intervals of both SDs hold the simulated ones (1.0 and 0.7) and the realised ones."""
    fit, _, u = two_level_fit
    vc = fit.varcorr().set_index("label")
    for label, truth, realised in (("1|g_sigma", 1.0, u[:, 0].std(ddof=1)),
                                   ("f|g_sigma[hi]", 0.7, u[:, 1].std(ddof=1))):
        lo, hi = vc.loc[label, ["lower", "upper"]]
        assert lo < truth < hi, (label, lo, hi)
        assert lo < realised < hi, (label, lo, hi)
    cor = vc.loc["g_corr[1, f[hi]]"]
    assert cor["lower"] < -0.3 < cor["upper"]


def test_factor_slope_predictions_match_the_draws(two_level_fit):
    """conditional and typical predictions equal the linear predictor computed by hand from the draws."""
    fit, df, _ = two_level_fit
    ds = fit.draws
    flat = lambda v: ds[v].stack(s=("chain", "draw")).transpose("s", ...).values
    new = df.iloc[[0, 1, 25, 399]]
    hi = (new["f"] == "hi").to_numpy(float)
    fixed = flat("Intercept")[:, None] + flat("f")[:, [0]] * hi + flat("x")[:, None] * new["x"].to_numpy()
    u0 = ds["1|g"].sel({"g__factor_dim": new["g"].to_numpy()}).stack(s=("chain", "draw")).transpose("s", ...).values
    u1 = ds["f|g"].sel({"g__factor_dim": new["g"].to_numpy(), "f__expr_dim": "hi"})
    u1 = u1.stack(s=("chain", "draw")).transpose("s", ...).values
    cond = fit.predict(new, kind="conditional")
    np.testing.assert_allclose(cond["mean"], (fixed + u0 + u1 * hi).mean(0), rtol=1e-8)
    typ = fit.predict(new, kind="typical")
    np.testing.assert_allclose(typ["mean"], fixed.mean(0), rtol=1e-8)
    # A new group: same mean as typical (effects average to 0), wider by the group SDs.
    ng = fit.predict(new, kind="new_group", seed=2)
    assert np.all(ng["upper"] - ng["lower"] > typ["upper"] - typ["lower"] + 1.5)


def test_factor_slope_icc_uses_the_intercept_variance(two_level_fit):
    fit, _, _ = two_level_fit
    ds = fit.draws
    var0 = ds["1|g_sigma"].values.ravel() ** 2
    icc = var0 / (var0 + ds["sigma"].values.ravel() ** 2)
    assert fit.icc().loc["g", "median"] == pytest.approx(np.median(icc), rel=1e-9)


def test_three_levels_two_blocks_on_one_factor_and_save_load(tmp_path):
    """(1 + x|g) + (0 + h|g): two correlated blocks on g, the second with three factor columns."""
    rng = np.random.default_rng(5)
    n_groups, per = 10, 12
    g = np.repeat(np.arange(n_groups), per)
    h = np.resize(["a", "b", "c"], g.size)
    x = rng.normal(size=g.size)
    uh = rng.normal(0, 0.8, (n_groups, 3))
    y = 1 + 0.5 * x + rng.normal(0, 0.6, n_groups)[g] + uh[g, np.searchsorted(["a", "b", "c"], h)] \
        + rng.normal(0, 0.5, g.size)
    df = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": h})
    fit = _fit("y ~ x + (1 + x|g) + (0 + h|g)", df, draws=150, tune=150, chains=1)
    vc = fit.varcorr()
    assert set(vc["group"]) == {"g", "Residual"}  # the second block's rows belong to g too
    assert {"g_corr[1, x]", "g_1_corr[h[b], h[c]]"} <= set(vc["label"])
    # formulae codes h in the second block against the first block's intercept: columns b and c.
    assert {"h[b]", "h[c]", "cor(h[b], h[c])", "cor(1, x)"} <= set(vc["effect"])
    assert fit.draws["g_1_corr"].shape[-2:] == (2, 2)
    # new_group draws the second block from its own correlation matrix: its mean is typical's.
    typ = fit.predict(df.head(6), kind="typical")
    ng = fit.predict(df.head(6), kind="new_group", seed=1)
    assert np.all(np.abs(ng["mean"] - typ["mean"]) < 0.25 * (ng["upper"] - ng["lower"]))
    path = tmp_path / "slopes.bgfit"
    fit.save(path)
    back = bg.load(path)
    pd.testing.assert_frame_equal(back.predict(df.head(6), kind="conditional"),
                                  fit.predict(df.head(6), kind="conditional"))
    pd.testing.assert_frame_equal(back.varcorr(), vc)
