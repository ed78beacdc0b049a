"""Predictions on a grid, comparisons and slopes (bayesglmm.effects), checked per draw against closed forms.

One small sampled gaussian fit (y ~ tr + z + x + I(x**2) + (1|g), simulated with known
coefficients); the logistic and Poisson "fits" are prior draws used as a posterior (no
sampling), which is all the identities below need: each holds draw by draw.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from scipy import integrate, special  # noqa: E402
import xarray as xr  # noqa: E402

import bayesglmm as bg  # noqa: E402
from bayesglmm.effects import Effects  # noqa: E402
from conftest import quick_fit  # noqa: E402
from test_checks import prior_as_posterior  # noqa: E402

TRUE = {"tr": 0.5, "z": 0.3, "x": 0.8, "x2": -0.4}


def flat(da):
    """(chain, draw[, dim]) -> (samples[, dim]) in chain-major order, as predict_draws orders samples."""
    da = da.transpose("chain", "draw", ...)
    return da.values.reshape((da.sizes["chain"] * da.sizes["draw"],) + da.shape[2:])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def gdata():
    rng = np.random.default_rng(7)
    n = 60
    g = rng.integers(0, 5, n)
    u = rng.normal(0, 0.7, 5)
    d = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "tr": rng.choice(["ctl", "trt"], n),
                      "g": pd.Categorical([f"g{k}" for k in g])})
    d["y"] = (1 + TRUE["tr"] * (d.tr == "trt") + TRUE["z"] * d.z + TRUE["x"] * d.x + TRUE["x2"] * d.x ** 2
              + u[g] + rng.normal(0, 0.5, n))
    return d


@pytest.fixture(scope="module")
def gfit(gdata):
    return quick_fit("y ~ tr + z + x + I(x**2) + (1|g)", gdata, "gaussian", draws=200, tune=300, chains=2)


@pytest.fixture(scope="module")
def bdata():
    rng = np.random.default_rng(11)
    n = 40
    return pd.DataFrame({"x": rng.normal(size=n), "tr": rng.choice(["a", "b"], n),
                         "g": pd.Categorical(rng.integers(0, 4, n).astype(str)), "yb": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def bfit(bdata):
    return prior_as_posterior("yb ~ tr + x + (1|g)", bdata, "bernoulli", draws=80)


@pytest.fixture(scope="module")
def pfit():
    rng = np.random.default_rng(12)
    n = 40
    d = pd.DataFrame({"x": rng.normal(size=n), "f": rng.choice(["lo", "mid", "hi"], n),
                      "g": pd.Categorical(rng.integers(0, 4, n).astype(str)), "y": rng.poisson(3, n)})
    return prior_as_posterior("y ~ f + x + (1|g)", d, "poisson", draws=80)


def b_eta(fit, frame, tr, with_groups):
    """Intercept + tr[b] + x*b_x (+ u[g]) per draw and row of the bernoulli model, by hand."""
    d = fit.draws
    eta = flat(d["Intercept"])[:, None] + flat(d["x"])[:, None] * frame["x"].to_numpy()[None, :]
    eta = eta + flat(d["tr"])[:, 0][:, None] * (tr == "b")
    if with_groups:
        u = flat(d["1|g"].transpose("chain", "draw", "g__factor_dim"))
        levels = [str(v) for v in d["g__factor_dim"].values]
        eta = eta + u[:, [levels.index(str(v)) for v in frame["g"]]]
    return eta


# ----------------------------------------------------------------------------- datagrid
def test_datagrid_fills_typical_values_and_crosses_named_ones(gfit, gdata):
    grid = bg.datagrid(gfit, tr=["ctl", "trt"], x=[-1, 0, 1])
    assert len(grid) == 6 and grid.attrs["named"] == ["tr", "x"]
    assert list(grid[["tr", "x"]].itertuples(index=False, name=None))[:3] == [("ctl", -1), ("ctl", 0), ("ctl", 1)]
    assert np.allclose(grid["z"], gdata["z"].mean())  # numeric: the mean
    assert (grid["g"] == gdata["g"].value_counts().idxmax()).all()  # factor: the most frequent level
    assert "y" not in grid.columns
    with pytest.raises(bg.TermError, match=r"'xx' is not a column of the model \(did you mean 'x'\?\)"):
        bg.datagrid(gfit, xx=1)


# ----------------------------------------------------------------------------- gaussian
def test_binary_factor_comparison_is_the_coefficient_per_draw(gfit):
    coef = flat(gfit.draws["tr"])[:, 0]
    for kind in ("typical", "conditional", "marginal"):
        res = bg.comparisons(gfit, "tr", kind=kind)  # averaged over the observed rows
        assert res.draws.shape == (coef.size, 1)
        np.testing.assert_allclose(res.draws[:, 0], coef, atol=1e-10)
    # a new group: both counterfactuals share the same new-group draws, so they cancel too
    new = bg.comparisons(gfit, "tr", kind="new_group", grid={"x": [0.0, 1.0]}, seed=5)
    np.testing.assert_allclose(new.draws, np.column_stack([coef, coef]), atol=1e-10)
    at_grid = bg.comparisons(gfit, "tr", grid={"x": [-1, 2], "z": 0.5}, kind="conditional")
    np.testing.assert_allclose(at_grid.draws, np.column_stack([coef, coef]), atol=1e-10)
    t = at_grid.table
    assert list(t["contrast"]) == ["trt - ctl"] * 2 and list(t["x"]) == [-1, 2] and "tr" not in t.columns
    assert t.loc[0, "estimate"] == pytest.approx(np.median(coef))
    assert t.loc[0, "sd"] == pytest.approx(coef.std(ddof=1))
    assert t.loc[0, "p_above_0"] == pytest.approx((coef > 0).mean())
    assert (t.loc[0, "lower"], t.loc[0, "upper"]) == pytest.approx(tuple(np.quantile(coef, [0.025, 0.975])))
    assert t.loc[0, "lower"] < TRUE["tr"] < t.loc[0, "upper"]  # the simulated effect is recovered


def test_slopes_of_linear_and_quadratic_terms(gfit, gdata):
    d = gfit.draws
    b_z, b1, b2 = flat(d["z"]), flat(d["x"]), flat(d["I(x ** 2)"])
    np.testing.assert_allclose(bg.slopes(gfit, "z").draws[:, 0], b_z, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(bg.slopes(gfit, "z", at=[-2, 3]).draws, np.column_stack([b_z, b_z]),
                               rtol=1e-6, atol=1e-8)
    at = np.array([-1.0, 0.5, 2.0])
    res = bg.slopes(gfit, "x", at=at, kind="conditional")
    np.testing.assert_allclose(res.draws, b1[:, None] + 2 * b2[:, None] * at[None, :], rtol=1e-6, atol=1e-7)
    assert list(res.table["x"]) == list(at) and list(res.table["term"]) == ["x"] * 3
    # averaged over the rows: b1 + 2 b2 mean(x); by group: b1 + 2 b2 mean(x in the group)
    avg = bg.slopes(gfit, "x")
    np.testing.assert_allclose(avg.draws[:, 0], b1 + 2 * b2 * gdata["x"].mean(), rtol=1e-6, atol=1e-7)
    by = bg.slopes(gfit, "x", by="tr")
    means = gdata.groupby("tr")["x"].mean()
    assert list(by.table["tr"]) == ["ctl", "trt"]
    np.testing.assert_allclose(by.draws, b1[:, None] + 2 * b2[:, None] * means.to_numpy()[None, :], rtol=1e-6,
                               atol=1e-7)


def test_numeric_comparisons_and_predictions_by_hand(gfit, gdata):
    d = gfit.draws
    b1, b2 = flat(d["x"]), flat(d["I(x ** 2)"])
    step = bg.comparisons(gfit, {"x": 2}, grid={"x": [0.0, 1.0]})  # f(x + 2) - f(x)
    np.testing.assert_allclose(step.draws, np.column_stack([2 * b1 + 4 * b2, 2 * b1 + 8 * b2]), atol=1e-9)
    assert list(step.table["contrast"]) == ["(x + 2) - x"] * 2
    pair = bg.comparisons(gfit, {"x": (-1, 1)})  # every row at x = 1 minus every row at x = -1
    np.testing.assert_allclose(pair.draws[:, 0], 2 * b1, atol=1e-9)
    # predictions at a grid row: the linear predictor written out (gaussian: identity link)
    grid = pd.DataFrame({"tr": ["trt"], "z": [0.5], "x": [1.5], "g": ["g1"]})
    u = flat(d["1|g"].sel(g__factor_dim="g1"))
    by_hand = (flat(d["Intercept"]) + flat(d["tr"])[:, 0] + 0.5 * flat(d["z"]) + 1.5 * b1 + 2.25 * b2)
    np.testing.assert_allclose(bg.predictions(gfit, grid).draws[:, 0], by_hand, atol=1e-9)
    np.testing.assert_allclose(bg.predictions(gfit, grid, kind="conditional").draws[:, 0], by_hand + u, atol=1e-9)
    # average prediction over the rows by tr (conditional): mean of mu over each arm's rows
    u_all = flat(d["1|g"].transpose("chain", "draw", "g__factor_dim"))
    levels = [str(v) for v in d["g__factor_dim"].values]
    mu = (flat(d["Intercept"])[:, None] + np.outer(flat(d["tr"])[:, 0], gdata["tr"] == "trt")
          + np.outer(flat(d["z"]), gdata["z"]) + np.outer(b1, gdata["x"]) + np.outer(b2, gdata["x"] ** 2)
          + u_all[:, [levels.index(str(v)) for v in gdata["g"]]])
    res = gfit.predictions(by="tr", kind="conditional")
    for j, arm in enumerate(["ctl", "trt"]):
        np.testing.assert_allclose(res.draws[:, j], mu[:, (gdata["tr"] == arm).to_numpy()].mean(axis=1), atol=1e-9)


# ----------------------------------------------------------------------------- logistic
def test_logistic_averaged_comparison_equals_the_by_hand_computation(bfit, bdata):
    for kind, with_groups in (("conditional", True), ("typical", False)):
        p_b = special.expit(b_eta(bfit, bdata, "b", with_groups))
        p_a = special.expit(b_eta(bfit, bdata, "a", with_groups))
        diff = bg.comparisons(bfit, "tr", kind=kind)
        np.testing.assert_allclose(diff.draws[:, 0], p_b.mean(axis=1) - p_a.mean(axis=1), atol=1e-10)
        ratio = bg.comparisons(bfit, "tr", kind=kind, contrast="ratio")
        np.testing.assert_allclose(ratio.draws[:, 0], p_b.mean(axis=1) / p_a.mean(axis=1), rtol=1e-9)
        assert "p_above_1" in ratio.table.columns and "p_above_0" not in ratio.table.columns
    # within each group (conditional): averaged over that group's rows only
    by = bg.comparisons(bfit, "tr", kind="conditional", by="g")
    p_b = special.expit(b_eta(bfit, bdata, "b", True))
    p_a = special.expit(b_eta(bfit, bdata, "a", True))
    for j, level in enumerate(by.table["g"]):
        rows = (bdata["g"].astype(str) == str(level)).to_numpy()
        np.testing.assert_allclose(by.draws[:, j], (p_b[:, rows] - p_a[:, rows]).mean(axis=1), atol=1e-10)
    # link scale, typical group: the coefficient
    link = bg.comparisons(bfit, "tr", scale="link")
    np.testing.assert_allclose(link.draws[:, 0], flat(bfit.draws["tr"])[:, 0], atol=1e-10)


def test_logistic_population_averaged_comparison_by_quadrature(bfit, bdata):
    row = bdata.iloc[[0]]
    res = bg.comparisons(bfit, "tr", grid=row, kind="marginal")
    sd = flat(bfit.draws["1|g_sigma"])
    for s in range(3):
        def pa(tr):
            eta = b_eta(bfit, row, tr, False)[s, 0]
            return integrate.quad(lambda u: special.expit(eta + u) * np.exp(-0.5 * (u / sd[s]) ** 2)
                                  / (sd[s] * np.sqrt(2 * np.pi)), -12 * sd[s], 12 * sd[s])[0]
        assert res.draws[s, 0] == pytest.approx(pa("b") - pa("a"), abs=1e-7)


def test_logistic_slope_on_the_response_scale(bfit, bdata):
    grid = {"x": [0.3], "tr": "b"}
    res = bg.slopes(bfit, "x", grid=grid)
    eta = b_eta(bfit, pd.DataFrame({"x": [0.3]}), "b", False)[:, 0]
    p = special.expit(eta)
    np.testing.assert_allclose(res.draws[:, 0], flat(bfit.draws["x"]) * p * (1 - p), rtol=1e-5, atol=1e-9)


# ----------------------------------------------------------------------------- poisson
def test_poisson_ratio_contrasts_are_exp_coefficients(pfit):
    coef = flat(pfit.draws["f"])  # (samples, coded levels)
    coded = [str(v) for v in pfit.draws["f_dim"].values]
    b = dict(zip(coded, coef.T))
    assert coded == ["lo", "mid"]  # reference "hi" (the first in sorted order)
    for kind in ("typical", "marginal", "conditional"):
        res = bg.comparisons(pfit, "f", contrast="ratio", kind=kind)
        assert list(res.table["contrast"]) == ["lo / hi", "mid / hi"]
        np.testing.assert_allclose(res.draws, np.exp(np.column_stack([b["lo"], b["mid"]])), rtol=1e-9)
    pairwise = bg.comparisons(pfit, "f", contrast="ratio", pairs="pairwise", grid={"x": [0, 1]})
    assert list(pairwise.table["contrast"]) == ["lo / hi"] * 2 + ["mid / hi"] * 2 + ["mid / lo"] * 2
    np.testing.assert_allclose(pairwise.draws[:, 4], np.exp(b["mid"] - b["lo"]), rtol=1e-9)
    chosen = bg.comparisons(pfit, {"f": ["mid", "lo"]}, contrast="ratio")  # the first is the reference
    np.testing.assert_allclose(chosen.draws[:, 0], np.exp(b["lo"] - b["mid"]), rtol=1e-9)


# ----------------------------------------------------------------------------- printing and errors
def test_text_and_html_forms_escape_user_strings():
    e = Effects(pd.DataFrame({"contrast": ["<b> - a&b"], "estimate": [1.0]}), np.ones((4, 1)), "comparisons",
                "differences of <b>", "typical", "response", 0.95)
    text = str(e)
    assert text.startswith("Comparisons: differences of <b>") and "posterior median; 95%" in text
    page = e._repr_html_()
    assert "<b>" not in page and "&lt;b&gt; - a&amp;b" in page and "differences of &lt;b&gt;" in page


def test_bad_arguments_are_named(gfit, pfit):
    with pytest.raises(bg.TermError, match="'zz' is not a predictor"):
        bg.comparisons(gfit, "zz")
    with pytest.raises(bg.TermError, match="grouping factor"):
        bg.comparisons(gfit, "g")
    with pytest.raises(bg.TermError, match="is a factor, which has no slope"):
        bg.slopes(gfit, "tr")
    with pytest.raises(bg.TermError, match="has no level 'none'"):
        bg.comparisons(pfit, {"f": ["lo", "none"]})
    with pytest.raises(bg.SettingsError, match="contrast must be"):
        bg.comparisons(gfit, "tr", contrast="odds")
    with pytest.raises(bg.SettingsError, match="kind must be one of"):
        bg.predictions(gfit, kind="population")
    with pytest.raises(bg.TermError, match="rows averaged over"):
        bg.predictions(gfit, by="nope")
    with pytest.raises(bg.SettingsError, match="at= with a dict grid"):
        bg.slopes(gfit, "x", at=[1], grid=pd.DataFrame({"x": [0.0]}))
    with pytest.raises(TypeError):
        bg.comparisons(gfit, "tr", contrasts="ratio")  # unknown keyword


# ----------------------------------------------------------------------------- plot
def test_plot_effects_draws_one_line_and_band_per_level(gfit, pfit):
    fig = bg.plot_effects(gfit, ("x", "tr"), points=20)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    res = fig.effects
    np.testing.assert_allclose(ax.lines[0].get_ydata(), res.table.loc[res.table["tr"] == "ctl", "estimate"])
    assert ax.get_xlabel() == "x" and ax.get_legend().get_title().get_text() == "tr"
    fig1 = bg.plot_effects(gfit, "z", kind="marginal", points=10)
    assert len(fig1.axes[0].lines) == 1 and len(fig1.axes[0].collections) == 1
    assert len(fig1.axes[0].lines[0].get_xdata()) == 10
    fig2 = bg.plot_effects(pfit, ("f", "x"))  # factor on the x-axis, numeric by: mean and mean +- SD
    assert len(fig2.axes[0].containers) == 3
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == ["hi", "lo", "mid"]


# ----------------------------------------------------------------------------- ordinal
@pytest.fixture(scope="module")
def ofit():
    rng = np.random.default_rng(13)
    n = 40
    d = pd.DataFrame({"x": rng.normal(size=n), "tr": rng.choice(["a", "b"], n),
                      "g": pd.Categorical(rng.integers(0, 4, n).astype(str)),
                      "yo": pd.Categorical(rng.integers(1, 5, n), categories=[1, 2, 3, 4], ordered=True)})
    f = prior_as_posterior("yo ~ tr + x + (1|g)", d, "cumulative", draws=60)
    # Forward sampling of the prior ignores the ordered transform: sort the cut-points as a posterior has them.
    post = f.idata["posterior"].to_dataset()
    post["threshold"] = post["threshold"].copy(data=np.sort(post["threshold"].values, axis=-1))
    return bg.Fit(f.spec, xr.DataTree.from_dict({"posterior": post}), None, dict(f.settings))


def test_ordinal_category_probability_comparisons_and_slopes(ofit):
    d = ofit.draws
    t = flat(d["threshold"])  # (samples, K - 1)
    b_tr, b_x = flat(d["tr"])[:, 0], flat(d["x"])

    def probs(eta):  # P(y = k) = F(t_k+1 - eta) - F(t_k - eta), F = expit
        cdf = np.concatenate([np.zeros((eta.size, 1)), special.expit(t - eta[:, None]), np.ones((eta.size, 1))],
                             axis=1)
        return np.diff(cdf, axis=1)

    res = bg.comparisons(ofit, "tr", scale="probability", grid={"x": [0.5]})
    assert list(map(str, res.table["category"])) == ["1", "2", "3", "4"]
    assert list(res.table["contrast"]) == ["b - a"] * 4
    np.testing.assert_allclose(res.draws, probs(b_tr + 0.5 * b_x) - probs(0.5 * b_x), atol=1e-10)
    np.testing.assert_allclose(res.draws.sum(axis=1), 0, atol=1e-10)  # the shifts balance out
    # slope of P(y = k) at x: -b_x (f(t_k+1 - eta) - f(t_k - eta)), f the logistic density
    sl = bg.slopes(ofit, "x", at=[0.0], grid={"tr": "a"}, scale="probability")
    dens = np.concatenate([np.zeros((b_x.size, 1)), special.expit(t) * (1 - special.expit(t)),
                           np.zeros((b_x.size, 1))], axis=1)
    np.testing.assert_allclose(sl.draws, -b_x[:, None] * np.diff(dens, axis=1), rtol=1e-5, atol=1e-8)
    pm = bg.predictions(ofit, scale="probability", kind="marginal")
    np.testing.assert_allclose(pm.draws.sum(axis=1), 1, atol=1e-8)
    assert pm.draws.min() >= -1e-12
    fig = bg.plot_effects(ofit, "x", scale="probability", points=8)
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and ax.get_legend().get_title().get_text() == "category"


def test_binomial_average_weighted_by_trials(bdata):
    d = bdata.assign(n=np.arange(1, len(bdata) + 1), k=lambda t: np.minimum(t["yb"] * 3, t["n"]))
    fit = prior_as_posterior("p(k, n) ~ tr + x + (1|g)", d, "binomial", draws=40)
    grid = bg.datagrid(fit, tr="b")
    assert grid.loc[0, "n"] in set(d["n"])  # trials: the most frequent value, a whole number
    p_b = special.expit(b_eta(fit, d, "b", False))
    p_a = special.expit(b_eta(fit, d, "a", False))
    w = d["n"].to_numpy(float)
    res = bg.comparisons(fit, "tr", wts="n")
    np.testing.assert_allclose(res.draws[:, 0], (p_b - p_a) @ w / w.sum(), atol=1e-10)
    assert "weighted by n" in res.description
    pred = bg.predictions(fit, by="tr", wts="n")
    arm = (d["tr"] == "a").to_numpy()
    p_obs = np.where(arm, p_a, p_b)
    np.testing.assert_allclose(pred.draws[:, 0], p_obs[:, arm] @ w[arm] / w[arm].sum(), atol=1e-10)
    with pytest.raises(bg.SettingsError, match="wts= weights the average"):
        bg.predictions(fit, {"tr": ["a", "b"]}, wts="n")
