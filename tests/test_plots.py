"""Figures (bayesglmm.plots): each plot's panels, labels and drawn numbers are checked.

The multicentre fits are conftest's session fixtures; other responses use a "fit" whose
posterior is a set of prior draws (no sampling), enough to check what is drawn.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from bayesglmm import checks, plots  # noqa: E402
from test_checks import prior_as_posterior  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(5)
    n = 40
    return pd.DataFrame({
        "g": pd.Categorical(rng.integers(0, 5, n).astype(str)),
        "h": pd.Categorical(rng.integers(0, 3, n).astype(str)),
        "x": rng.normal(size=n),
        "yb": rng.integers(0, 2, n),
        "yc": rng.poisson(3, n),
        "yg": rng.normal(size=n),
        "yo": pd.Categorical(rng.integers(1, 5, n), categories=[1, 2, 3, 4], ordered=True),
    })


@pytest.fixture(scope="module")
def bern(small):
    return prior_as_posterior("yb ~ x + (1|g)", small, "bernoulli", draws=60)


@pytest.fixture(scope="module")
def gauss2(small):
    """Gaussian with two group terms, (1|g) + (1|h)."""
    return prior_as_posterior("yg ~ x + (1|g) + (1|h)", small, "gaussian", draws=60)


def labelled(fig):
    """Every axis has a title or the figure a suptitle, and both axis labels."""
    assert fig._suptitle is not None or all(ax.get_title() for ax in fig.axes)
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()


def tick_labels(ax, axis="y"):
    return [t.get_text() for t in (ax.get_yticklabels() if axis == "y" else ax.get_xticklabels())]


def bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)][0]


def observed_points(ax):
    return sum(len(c.get_offsets()) for c in ax.collections
               if isinstance(c, PathCollection) and str(c.get_label()).startswith("observed"))


# ---------------------------------------------------------------------------
# Posterior predictive checks
# ---------------------------------------------------------------------------


def test_ppc_groups_multicentre_has_eleven_centres(mc_glmm, mc):
    fig = plots.plot_ppc(mc_glmm, seed=1)  # default for p(y, n): by group
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert sorted(tick_labels(ax), key=int) == [str(k) for k in range(1, 12)]
    assert ax.get_ylabel() == "Centre" and "proportion" in ax.get_xlabel().lower()
    assert "Posterior predictive check" in ax.get_title()
    intervals = [c for c in ax.collections if isinstance(c, LineCollection)][0]
    assert len(intervals.get_segments()) == 22  # one interval per row
    assert observed_points(ax) == 22  # observed proportions, coloured by treat
    xs = np.sort(np.concatenate([c.get_offsets()[:, 0] for c in ax.collections
                                 if isinstance(c, PathCollection) and str(c.get_label()).startswith("observed")]))
    np.testing.assert_allclose(xs, np.sort(mc["y"] / mc["n"]))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("treat = drug" in t for t in legend)
    labelled(fig)


def test_ppc_groups_glm_marks_centres_outside(mc_glm, mc):
    fig = plots.plot_ppc(mc_glm, group=mc["centre"], seed=1, hue=False)
    ax = fig.axes[0]
    assert len(tick_labels(ax)) == 11
    outside = [c for c in ax.collections if c.get_label() == "outside the interval"]
    assert outside and len(outside[0].get_offsets()) >= 8  # most rows escape the GLM's intervals
    fig_rows = plots.plot_ppc(mc_glm, seed=1)  # no group term: one line per row
    assert len(tick_labels(fig_rows.axes[0])) == 22


def test_ppc_bars_binary_two_categories(bern, small):
    fig = plots.plot_ppc(bern, seed=1)  # default for a binary response
    ax = fig.axes[0]
    b = bars(ax)
    assert len(b) == 2 and tick_labels(ax, "x") == ["0", "1"]
    assert [r.get_height() for r in b] == np.bincount(small["yb"], minlength=2).tolist()
    assert ax.get_ylabel() == "Number of rows"
    labelled(fig)


def test_ppc_bars_ordinal_and_counts(small):
    ordinal = prior_as_posterior("yo ~ x + (1|g)", small, "cumulative", draws=40)
    ax = plots.plot_ppc(ordinal, seed=1).axes[0]
    assert len(bars(ax)) == 4 and tick_labels(ax, "x") == ["1", "2", "3", "4"]
    assert [r.get_height() for r in bars(ax)] == small["yo"].value_counts().sort_index().tolist()
    pois = prior_as_posterior("yc ~ x + (1|g)", small, "poisson", draws=40)
    ax = plots.plot_ppc(pois, seed=1).axes[0]
    top = small["yc"].max()
    assert len(bars(ax)) == top + 2  # 0..max and the open bin >max
    assert tick_labels(ax, "x")[-1] == f">{top}"
    assert [r.get_height() for r in bars(ax)][:-1] == np.bincount(small["yc"], minlength=top + 1).tolist()
    binned = plots.plot_ppc(pois, seed=1, max_bars=4).axes[0]
    assert len(bars(binned)) <= 4 and sum(r.get_height() for r in bars(binned)) == len(small)


def test_ppc_density_and_ecdf_for_continuous(gauss2):
    fig = plots.plot_ppc(gauss2, seed=1, draws=60)  # default for gaussian: density
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 51  # 50 replicated densities and the observed one
    assert lines[-1].get_label() == "observed" and lines[-1].get_linewidth() > lines[0].get_linewidth()
    labelled(fig)
    fig = plots.plot_ppc(gauss2, kind="ecdf", seed=1)
    ax = fig.axes[0]
    y = ax.get_lines()[0].get_ydata()
    assert (np.diff(y) >= 0).all() and y[-1] == 1.0
    assert ax.get_ylabel() == "Cumulative share of rows"


def test_ppc_stats_panels_with_pvalues(mc_glmm):
    fig = plots.plot_ppc(mc_glmm, kind="stats", seed=1)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["mean", "sd", "zeros", "max"]
    tab = checks.ppc_pvalues(mc_glmm, seed=1)
    for title, p in zip(titles, tab["p_value"]):
        assert f"p = {p:.3f}" in title
    labelled(fig)


def test_ppc_dispersion_plot(mc_glm):
    fig = plots.plot_ppc(mc_glm, kind="dispersion", seed=1)
    ax = fig.axes[0]
    dc = checks.dispersion_check(mc_glm, seed=1)
    assert "overdispersed" in ax.get_title()
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], dc.observed_draws)
    labelled(fig)


def test_ppc_unknown_kind(mc_glmm):
    with pytest.raises(ValueError, match="kind must be one of"):
        plots.plot_ppc(mc_glmm, kind="violin")


def test_fit_method_forwards(mc_glmm):
    assert len(mc_glmm.plot_ppc(kind="bars", seed=1).axes[0].patches) == 10  # ten bins of the proportion
    assert len(mc_glmm.plot_ranef_qq().axes) == 1


# ---------------------------------------------------------------------------
# Group effects
# ---------------------------------------------------------------------------


def test_ranef_qq_one_panel_per_term(mc_null, gauss2):
    fig = plots.plot_ranef_qq(mc_null)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    qq = checks.ranef_qq(mc_null)["1|centre"]
    pts = [c for c in ax.collections if c.get_label() == "posterior mean"][0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], qq["theoretical"])
    np.testing.assert_allclose(pts[:, 1], qq["mean"])
    w = checks.ranef_normality(mc_null).table.loc[0, "W"]
    assert f"W = {w:.3f}" in ax.get_title()
    assert ax.get_xlabel() == "Normal quantile"
    labelled(fig)
    fig2 = plots.plot_ranef_qq(gauss2)
    assert len(fig2.axes) == 2  # (1|g) and (1|h)
    assert [ax.get_title().split(" ")[0] for ax in fig2.axes] == ["1|g", "1|h"]
    assert len(plots.plot_ranef_qq(gauss2, group="h").axes) == 1


def test_caterpillar_sorted_with_intervals(mc_glmm, gauss2):
    fig = plots.plot_caterpillar(mc_glmm)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    labels = tick_labels(ax)
    assert sorted(labels, key=int) == [str(k) for k in range(1, 12)]
    means = [c for c in ax.collections if c.get_label() == "posterior mean"][0].get_offsets()[:, 0]
    assert (np.diff(means) >= 0).all()  # sorted
    re = mc_glmm.ranef().set_index("level")
    np.testing.assert_allclose(means, re.loc[labels, "mean"])
    n_intervals = sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))
    assert n_intervals == 11
    labelled(fig)
    assert len(plots.plot_caterpillar(gauss2).axes) == 2


# ---------------------------------------------------------------------------
# Prior vs posterior, prior predictive, traces
# ---------------------------------------------------------------------------


def test_prior_posterior_panels(mc_glmm, gauss2):
    fig = plots.plot_prior_posterior(mc_glmm, draws=400, seed=1)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "1|centre_sigma"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior", "posterior"]
    post_line = ax.get_lines()[0]
    prior_fill = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert post_line.get_ydata().max() > 2 * prior_fill.max()  # the data sharpen the centre SD
    assert post_line.get_xdata().min() == 0.0  # an SD: densities start at 0
    labelled(fig)
    # gaussian: the two group SDs and the residual SD
    titles = [ax.get_title() for ax in plots.plot_prior_posterior(gauss2, draws=100, seed=1).axes]
    assert titles == ["1|g_sigma", "1|h_sigma", "sigma"]


def test_prior_predictive_plots(mc_glmm, mc, gauss2):
    fig = plots.plot_prior_predictive(mc_glmm, draws=200, seed=1)
    ax = fig.axes[0]
    assert len(bars(ax)) == 10  # tenths of the proportion
    heights = [r.get_height() for r in bars(ax)]
    expected = np.bincount(np.clip(np.floor(mc["y"] / mc["n"] * 10).astype(int), 0, 9), minlength=10)
    assert heights == expected.tolist()
    assert "Prior predictive check" in ax.get_title()
    labelled(fig)
    ax = plots.plot_prior_predictive(gauss2, draws=60, seed=1).axes[0]
    assert len(ax.get_lines()) == 51 and ax.get_ylabel() == "Density"
    with pytest.raises(ValueError, match="kind"):
        plots.plot_prior_predictive(mc_glmm, kind="dispersion")


def test_trace_rows_and_diagnostics(mc_glmm):
    fig = plots.plot_trace(mc_glmm)
    # Intercept, treat[drug], 1|centre_sigma: a density and a trace each
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes[::2]]
    assert titles == ["Intercept", "treat[drug]", "1|centre_sigma"]
    assert all("R-hat" in ax.get_title() for ax in fig.axes[1::2])
    n_chains = mc_glmm.draws.sizes["chain"]
    assert len(fig.axes[1].get_lines()) == n_chains
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(),
                               mc_glmm.draws["Intercept"].isel(chain=0).values)
    labelled(fig)
    assert len(plots.plot_trace(mc_glmm, var_names=["1|centre"], max_rows=4).axes) == 8
