"""Figures for checking a fit: predictive checks, group effects, prior vs posterior, traces.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (titled, axes
labelled) and never calls ``plt.show()``; close figures you no longer need with
``plt.close(fig)``. The numbers drawn come from :mod:`bayesglmm.checks` (these functions
only draw), so a figure's content can be inspected as a table with the matching checks
function (named in each docstring).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats as sps

from bayesglmm import checks, ppc, predictive
from bayesglmm.errors import SettingsError, TermError

OBSERVED_COLOR = "black"
REPLICATED_COLOR = "#3b75af"
PRIOR_COLOR = "#9a9a9a"
FLAG_COLOR = "#c0392b"
HUE_COLORS = ["#e07b39", "#3b75af", "#519e3e", "#8d69b8", "#c53a32", "#84584e", "#d57fbe", "#bcbc45"]

PPC_KINDS = ("bars", "groups", "density", "ecdf", "stats", "dispersion")


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _grid(n: int, figsize=None, panel=(4.6, 3.6), max_cols: int = 3):
    cols = min(n, max_cols)
    rows = int(np.ceil(n / cols))
    figsize = figsize or (panel[0] * cols, panel[1] * rows + 0.5)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
    for ax in axes.ravel()[n:]:
        fig.delaxes(ax)
    return fig, list(axes.ravel()[:n])


def _kde(values, grid, lower: float | None = None) -> np.ndarray:
    """Gaussian KDE on ``grid``, reflected at ``lower`` (for SDs, bounded at 0)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2 or np.ptp(values) == 0:
        return np.zeros_like(grid)
    kde = sps.gaussian_kde(values)
    dens = kde(grid)
    if lower is not None:
        dens = np.where(grid >= lower, dens + kde(2 * lower - grid), 0.0)
    return dens


def _response_label(fit) -> str:
    pf, kind = fit.spec.formula, fit.spec.family.response
    if kind == "trials":
        return f"Proportion {pf.response}/{pf.trials}"
    return str(pf.response)


def _default_kind(fit) -> str:
    kind = fit.spec.family.response
    return {"trials": "groups", "real": "density"}.get(kind, "bars")


def _auto_hue(fit, group) -> str | None:
    """First categorical predictor with at most 8 levels (not the grouping), e.g. ``treat``."""
    pf, frame = fit.spec.formula, fit.spec.data.frame
    skip = {pf.response, pf.trials, pf.censoring, *pf.group_factors, *pf.offsets, group if isinstance(group, str) else None}
    for col in pf.columns:
        if col in skip or col not in frame.columns:
            continue
        s = frame[col]
        discrete = (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s)
                    or pd.api.types.is_object_dtype(s) or pd.api.types.is_bool_dtype(s))
        if discrete and s.nunique() <= 8:
            return col
    return None


def _title(fig, text: str) -> None:
    fig.suptitle(text, fontsize=12)
    fig.tight_layout()


# ---------------------------------------------------------------------------
# Predictive-check panels (shared by plot_ppc and plot_prior_predictive)
# ---------------------------------------------------------------------------


def _draw_bars(ax, table: pd.DataFrame, what: str, prob: float, xlabel: str) -> None:
    x = np.arange(len(table))
    ax.bar(x, table["observed"], color="#cfcfcf", edgecolor="#7f7f7f", label="observed")
    yerr = np.vstack([table["median"] - table["lower"], table["upper"] - table["median"]])
    ax.errorbar(x, table["median"], yerr=yerr, fmt="o", color=REPLICATED_COLOR, ms=5, capsize=3,
                label=f"{what}: median, {prob:.0%} interval")
    ax.set_xticks(x, table["category"], rotation=45 if len(x) > 8 else 0,
                  ha="right" if len(x) > 8 else "center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Number of rows")
    ax.legend(frameon=False, fontsize=8)


def _draw_groups(ax, fit, table: pd.DataFrame, what: str, prob: float, hue) -> None:
    levels = list(table["level"].cat.categories)
    pos = {lev: i for i, lev in enumerate(levels)}
    y = table["level"].map(pos).astype(float).to_numpy()
    if table.attrs.get("per_row"):
        # dodge the rows that share a level, as the course's plot of rows by centre
        rank = table.groupby("level", observed=True).cumcount().to_numpy()
        size = table.groupby("level", observed=True)["level"].transform("size").to_numpy()
        y = y + np.where(size > 1, (rank - (size - 1) / 2) * (0.5 / np.maximum(size - 1, 1)), 0.0)
    ax.hlines(y, table["lower"], table["upper"], color=REPLICATED_COLOR, alpha=0.55, lw=3,
              label=f"{what} {prob:.0%} interval")
    ax.plot(table["median"], y, "|", color=REPLICATED_COLOR, ms=9, mew=1.5)
    frame = fit.spec.data.frame
    hue_col = _auto_hue(fit, table.attrs.get("group")) if hue is None else (hue or None)
    if table.attrs.get("per_row") and hue_col is not None and hue_col in frame.columns:
        hue_values = frame[hue_col].reindex(table["row"])
        values = hue_values.astype(str).to_numpy()
        order = ([str(c) for c in hue_values.cat.categories if str(c) in set(values)]
                 if isinstance(hue_values.dtype, pd.CategoricalDtype) else list(pd.unique(values)))
        for k, lev in enumerate(order):
            m = values == lev
            ax.scatter(table["observed"][m], y[m], color=HUE_COLORS[k % len(HUE_COLORS)], zorder=3, s=22,
                       label=f"observed, {hue_col} = {lev}")
    else:
        ax.scatter(table["observed"], y, color=OBSERVED_COLOR, zorder=3, s=22, label="observed")
    out = table["outside"].to_numpy()
    if out.any():
        ax.scatter(table["observed"][out], y[out], facecolors="none", edgecolors=FLAG_COLOR, s=80, lw=1.3,
                   zorder=4, label="outside the interval")
    step = max(1, int(np.ceil(len(levels) / 50)))
    ax.set_yticks(np.arange(0, len(levels), step), levels[::step])
    ax.set_ylim(-0.7, len(levels) - 0.3)
    ax.invert_yaxis()
    name = str(table.attrs.get("group", "group"))
    ax.set_ylabel(name[:1].upper() + name[1:])
    kind = fit.spec.family.response
    if table.attrs.get("per_row"):
        ax.set_xlabel(_response_label(fit))
    else:
        ax.set_xlabel(("Proportion of " if kind in ("binary", "trials") else "Mean of ") + str(fit.spec.formula.response))
    ax.legend(frameon=False, fontsize=8, loc="best")


def _draw_density(ax, fit, yrep, what: str, n_lines: int = 50) -> None:
    obs = predictive._scale(fit, checks.observed(fit)[None, :])[0]
    rep = predictive._scale(fit, predictive._flat(yrep))
    pick = np.linspace(0, rep.shape[0] - 1, min(n_lines, rep.shape[0])).round().astype(int)
    lo, hi = np.quantile(np.concatenate([obs, rep[pick].ravel()]), [0.005, 0.995])
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(min(lo, obs.min()) - pad, max(hi, obs.max()) + pad, 256)
    for k, i in enumerate(pick):
        ax.plot(grid, _kde(rep[i], grid), color=REPLICATED_COLOR, alpha=0.2, lw=0.8,
                label=f"{what} ({len(pick)} draws)" if k == 0 else None)
    ax.plot(grid, _kde(obs, grid), color=OBSERVED_COLOR, lw=2, label="observed")
    ax.set_xlabel(_response_label(fit))
    ax.set_ylabel("Density")
    ax.legend(frameon=False, fontsize=8)


def _draw_ecdf(ax, fit, band: pd.DataFrame, what: str, prob: float) -> None:
    ax.fill_between(band["x"], band["lower"], band["upper"], step="post", color=REPLICATED_COLOR, alpha=0.3,
                    label=f"{what} {prob:.0%} interval")
    ax.step(band["x"], band["observed"], where="post", color=OBSERVED_COLOR, lw=1.8, label="observed")
    ax.set_xlabel(_response_label(fit))
    ax.set_ylabel("Cumulative share of rows")
    ax.legend(frameon=False, fontsize=8)


def _draw_stat(ax, row, what: str) -> None:
    ax.hist(row.replicated, bins=30, color=REPLICATED_COLOR, alpha=0.6, label=what)
    ax.axvline(row.observed, color=OBSERVED_COLOR, lw=2, label="observed")
    ax.set_xlabel(f"{row.statistic}" + (f" ({row.group} {row.level})" if row.group else ""))
    ax.set_ylabel("Number of draws")


# ---------------------------------------------------------------------------
# Posterior and prior predictive checks
# ---------------------------------------------------------------------------


def _predictive_figure(fit, yrep, kind, *, source: str, group, hue, prob, stats, figsize, max_bars):
    what = "replicated" if source == "posterior" else "prior predictive"
    label = "Posterior predictive check" if source == "posterior" else "Prior predictive check"
    formula = fit.spec.formula.original
    if kind == "stats":
        stats = ppc._default_statistics(fit, stats)
        rs = checks.replicated_statistics(fit, stats, None, yrep=yrep)
        if rs.empty:
            raise SettingsError(f"None of the statistics {list(stats)} applies to this response.")
        fig, axes = _grid(len(rs), figsize, panel=(4.0, 3.2))
        for ax, row in zip(axes, rs.itertuples(index=False)):
            _draw_stat(ax, row, what)
            p = ppc._mid_p(row.replicated, row.observed)
            ax.set_title(f"{row.statistic}: p = {p:.3f}", color=FLAG_COLOR if (p < 0.025 or p > 0.975) else "black")
        axes[0].legend(frameon=False, fontsize=8)
        _title(fig, f"{label}, test statistics: {formula}")
        return fig
    fig, ax = plt.subplots(figsize=figsize or (7.0, 4.5))
    if kind == "bars":
        table = checks.category_counts(fit, yrep=yrep, prob=prob, max_bars=max_bars)
        _draw_bars(ax, table, what, prob, _response_label(fit))
        per = "category" if fit.spec.family.response in ("binary", "ordinal", "nominal") else "value or bin"
        ax.set_title(f"{label}: rows per {per}\n{formula}")
    elif kind == "groups":
        table = checks.group_intervals(fit, group, yrep=yrep, prob=prob)
        n_levels = len(table["level"].cat.categories)
        if figsize is None:
            fig.set_size_inches(7.5, min(max(3.5, 0.32 * n_levels + 1.8), 16))
        _draw_groups(ax, fit, table, what, prob, hue)
        by = table.attrs["group"]
        ax.set_title(f"{label}: observed vs {what}, by {by}\n{formula}")
    elif kind == "density":
        _draw_density(ax, fit, yrep, what)
        ax.set_title(f"{label}: density\n{formula}")
    elif kind == "ecdf":
        band = checks.ecdf_band(fit, yrep=yrep, prob=prob)
        _draw_ecdf(ax, fit, band, what, prob)
        ax.set_title(f"{label}: empirical CDF\n{formula}")
    else:
        plt.close(fig)
        raise SettingsError(f"kind must be one of {', '.join(PPC_KINDS)}; got {kind!r}.")
    fig.tight_layout()
    return fig


def plot_ppc(fit, kind: str | None = None, *, group=None, hue=None, draws: int | None = None,
             seed: int | None = None, prob: float = 0.95, stats: Sequence | None = None,
             figsize=None, max_bars: int = 20):
    """Posterior predictive check: the data against data replicated from the fit.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    kind : str, optional
        ``"bars"``: rows in each category (binary, ordinal, count values, binned when
        there are many) as bars, with the replicated median and interval as points
        (:func:`bayesglmm.checks.category_counts`); ``"groups"``: observed value per row
        (``p(y, n)``: the proportion) or per group against its replicated interval, groups
        on the y axis, as in the course's plot of proportions by centre
        (:func:`bayesglmm.checks.group_intervals`); ``"density"``: density of the data over
        those of replicated data sets; ``"ecdf"``: empirical CDF with a replicated band
        (:func:`bayesglmm.checks.ecdf_band`); ``"stats"``: replicated test statistics with
        the observed one and its Bayesian p-value, one panel per statistic
        (:func:`bayesglmm.checks.ppc_pvalues`); ``"dispersion"``: the Pearson dispersion
        statistic of the data vs replicated data, one point per draw
        (:func:`bayesglmm.checks.dispersion_check`). Default: ``"groups"`` for ``p(y, n)``,
        ``"density"`` for a continuous response, ``"bars"`` otherwise; for a censored
        response the survival check (:func:`plot_survival_check`), the only kind allowed.
    group : str or array-like, optional
        For ``"groups"``: grouping column or one label per row (default: the formula's first
        grouping factor; rows if the model has none).
    hue : str or False, optional
        For ``"groups"`` per row: column that colours the observed points (default: the
        first categorical predictor with at most 8 levels, e.g. ``treat``; False for none).
    draws, seed : int, optional
        Posterior draws used and seed of the replicated data.
    prob : float
        Probability of the intervals.
    stats : sequence, optional
        Statistics for ``"stats"`` (see :func:`bayesglmm.checks.ppc_pvalues`); the family's
        choice if None.
    figsize : tuple, optional
        Figure size in inches.
    max_bars : int
        Most bars for counts (values are binned beyond it).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_ppc(fit, kind="groups", seed=1)  # doctest: +SKIP
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][:3]  # doctest: +SKIP
    ['1', '2', '3']
    """
    from bayesglmm.predictive import _refuse_censored

    if kind is None and fit.spec.formula.censored:
        return plot_survival_check(fit, draws=400 if draws is None else draws, seed=seed, prob=prob, figsize=figsize)
    kind = _default_kind(fit) if kind is None else kind
    if kind not in PPC_KINDS:
        raise SettingsError(f"kind must be one of {', '.join(PPC_KINDS)}; got {kind!r}.")
    _refuse_censored(fit)
    if kind == "dispersion":
        return _dispersion_figure(fit, checks.dispersion_check(fit, prob=prob, draws=draws, seed=seed), figsize)
    yrep = checks.posterior_predictive(fit, draws=draws, seed=seed)
    return _predictive_figure(fit, yrep, kind, source="posterior", group=group, hue=hue, prob=prob, stats=stats,
                              figsize=figsize, max_bars=max_bars)


def plot_survival_check(fit, *, times=None, draws: int | None = 400, seed: int | None = None, prob: float = 0.95,
                        figsize=None):
    """Kaplan-Meier curve of the observed (censored) times over the posterior predictive survival band.

    Draws :func:`bayesglmm.censoring.survival_check`: the observed Kaplan-Meier step curve and
    the median and ``prob`` band of the survival curves of event times replicated from the fit.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_survival_check(fit, seed=1)  # doctest: +SKIP
    >>> fig.axes[0].get_ylabel()  # doctest: +SKIP
    'Share still without the event'
    """
    from bayesglmm.censoring import survival_check

    table = survival_check(fit, times, prob=prob, draws=draws, seed=seed)
    fig, ax = plt.subplots(figsize=figsize or (7.0, 4.5))
    ax.fill_between(table["time"], table["lower"], table["upper"], color=REPLICATED_COLOR, alpha=0.3,
                    label=f"replicated {prob:.0%} interval")
    ax.plot(table["time"], table["median"], color=REPLICATED_COLOR, lw=1.2, label="replicated median")
    ax.step(table["time"], table["observed"], where="post", color=OBSERVED_COLOR, lw=1.8,
            label="observed (Kaplan-Meier)")
    ax.set_xlabel(_response_label(fit))
    ax.set_ylabel("Share still without the event")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"Posterior predictive check: survival\n{fit.spec.formula.original}")
    fig.tight_layout()
    return fig


def _dispersion_figure(fit, dc, figsize):
    fig, ax = plt.subplots(figsize=figsize or (5.5, 5.0))
    obs, rep = dc.observed_draws, dc.replicated_draws
    ax.scatter(obs, rep, s=6, alpha=0.3, color=REPLICATED_COLOR, label="one posterior draw")
    lim = [0, float(max(obs.max(), rep.max())) * 1.05]
    ax.plot(lim, lim, color=OBSERVED_COLOR, lw=1, ls="--", label="replicated = observed")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("Dispersion of the data (sum of squared Pearson residuals / n)")
    ax.set_ylabel("Dispersion of replicated data")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.set_title(f"Dispersion check: {dc.verdict} (p = {dc.p_value:.3f}, ratio {dc.ratio:.2f})\n"
                 f"{fit.spec.formula.original} [{dc.family}]",
                 color=FLAG_COLOR if not dc.ok else "black")
    fig.tight_layout()
    return fig


def plot_prior_predictive(fit, kind: str | None = None, *, draws: int = 500, seed: int | None = None,
                          prob: float = 0.95, group=None, hue=None, figsize=None, max_bars: int = 20):
    """Prior predictive check: data drawn from the priors against the observed data.

    Shows whether the priors give data of a plausible size and spread before any data are
    seen (too-wide logit priors, for instance, pile proportions at 0 and 1).

    Parameters
    ----------
    fit : Fit
        A fit (posterior or prior-only); its model's priors are sampled.
    kind : str, optional
        ``"bars"`` (default for binary, ordinal, count and ``p(y, n)`` responses: rows per
        category, per count bin with an open ``>max`` bin, or per tenth of the proportion),
        ``"density"`` (default for continuous), ``"ecdf"``, ``"groups"`` or ``"stats"``
        (see :func:`plot_ppc`).
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed of the prior draws.
    prob, group, hue, figsize, max_bars
        As in :func:`plot_ppc`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_prior_predictive(fit, draws=500, seed=1)  # doctest: +SKIP
    >>> fig.axes[0].get_xlabel()  # doctest: +SKIP
    'Proportion y/n'
    """
    if kind is None:
        kind = "density" if fit.spec.family.response == "real" else "bars"
    if kind not in PPC_KINDS or kind == "dispersion":
        raise SettingsError(f"kind must be one of {', '.join(k for k in PPC_KINDS if k != 'dispersion')}; got {kind!r}.")
    yrep = checks.prior_predictive(fit, draws=draws, seed=seed)
    return _predictive_figure(fit, yrep, kind, source="prior", group=group, hue=hue, prob=prob,
                              stats=("mean", "sd", "zeros", "max"), figsize=figsize, max_bars=max_bars)


# ---------------------------------------------------------------------------
# Group effects
# ---------------------------------------------------------------------------


def plot_ranef_qq(fit, group=None, *, prob: float = 0.95, label_points: bool | None = None, figsize=None):
    """Normal QQ plot of the group effects, one panel per group term.

    Points: posterior means of the effects, sorted, against normal quantiles (as the
    course's ``qqnorm(ranef)``). Band: for each draw the effects are sorted, and the
    ``prob`` interval of each rank over draws is shaded (:func:`bayesglmm.checks.ranef_qq`),
    which shows how uncertain the shape is. Dashed: ``qqline`` through the quartiles;
    dotted: the model's normal, slope = posterior median of the term's SD. Titles give
    Shapiro-Wilk's W and p (:func:`bayesglmm.checks.ranef_normality`; read its note).

    Parameters
    ----------
    fit : Fit
        A fit with group terms.
    group : str or list of str, optional
        Grouping factors (``"centre"``) or terms (``"1|centre"``); all if None.
    prob : float
        Probability of the band.
    label_points : bool, optional
        Write each level's name by its point (default: when a term has at most 25 levels).
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_ranef_qq(fit)  # doctest: +SKIP
    >>> len(fig.axes)  # one panel per group term  # doctest: +SKIP
    1
    """
    qq = checks.ranef_qq(fit, group, prob)
    sw = checks.ranef_normality(fit, group).table.set_index("term")
    fig, axes = _grid(len(qq), figsize, panel=(4.8, 4.2))
    for ax, (term, table) in zip(axes, qq.items()):
        x, y = table["theoretical"].to_numpy(), table["mean"].to_numpy()
        ax.fill_between(x, table["lower"], table["upper"], color=REPLICATED_COLOR, alpha=0.25,
                        label=f"{prob:.0%} band from draws")
        ax.scatter(x, y, color=OBSERVED_COLOR, s=18, zorder=3, label="posterior mean")
        q1, q3 = np.quantile(y, [0.25, 0.75])
        z1, z3 = sps.norm.ppf([0.25, 0.75])
        slope = (q3 - q1) / (z3 - z1)
        ax.plot(x, q1 + slope * (x - z1), ls="--", color="#555555", lw=1, label="qqline (quartiles)")
        sigma = table.attrs.get("sigma", float("nan"))
        if np.isfinite(sigma):
            ax.plot(x, sigma * x, ls=":", color=FLAG_COLOR, lw=1.2, label=f"N(0, {sigma:.2f}) (model)")
        if label_points or (label_points is None and len(table) <= 25):
            for xi, yi, lev in zip(x, y, table["level"]):
                ax.annotate(lev, (xi, yi), xytext=(3, -3), textcoords="offset points", fontsize=7, color="#444444")
        w, p = sw.loc[term, "W"], sw.loc[term, "p_value"]
        stat = f"Shapiro-Wilk W = {w:.3f}, p = {p:.3f}" if np.isfinite(w) else "too few levels for Shapiro-Wilk"
        ax.set_title(f"{term} ({len(table)} levels)\n{stat}", fontsize=10)
        ax.set_xlabel("Normal quantile")
        ax.set_ylabel(f"Effect of {term} (link scale)")
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    _title(fig, f"Normal QQ plot of group effects: {fit.spec.formula.original}")
    return fig


def plot_caterpillar(fit, group=None, *, prob: float = 0.95, figsize=None):
    """Group effects with their intervals, sorted, one panel per group term.

    Each level's posterior mean (point) and ``prob`` equal-tailed interval (line), from
    :meth:`Fit.ranef`; sorted by the mean; a vertical line at 0 (the population average).

    Parameters
    ----------
    fit : Fit
        A fit with group terms.
    group : str or list of str, optional
        Grouping factors or terms; all if None.
    prob : float
        Probability of the intervals.
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_caterpillar(fit)  # doctest: +SKIP
    >>> len(fig.axes[0].get_yticklabels())  # doctest: +SKIP
    11
    """
    entries = checks.ranef_draws(fit, group)  # validates group, gives the term list
    table = fit.ranef(prob=prob)
    n_max = max(len(e["levels"]) for e in entries)
    panel_h = min(max(3.0, 0.22 * n_max + 1.5), 14)
    fig, axes = _grid(len(entries), figsize, panel=(4.6, panel_h))
    for ax, entry in zip(axes, entries):
        sub = table[(table["group"] == entry["group"]) & (table["effect"] == entry["effect"])]
        sub = sub.sort_values("mean").reset_index(drop=True)
        y = np.arange(len(sub))
        away = (sub["lower"] > 0) | (sub["upper"] < 0)
        for mask, color, text in ((~away, REPLICATED_COLOR, "includes 0"), (away, FLAG_COLOR, "excludes 0")):
            if mask.any():
                ax.hlines(y[mask], sub["lower"][mask], sub["upper"][mask], color=color, lw=2,
                          label=f"{prob:.0%} interval {text}")
        ax.scatter(sub["mean"], y, color=OBSERVED_COLOR, s=16, zorder=3, label="posterior mean")
        ax.axvline(0, color="#777777", lw=1, ls="--")
        step = max(1, int(np.ceil(len(sub) / 60)))
        ax.set_yticks(y[::step], sub["level"].iloc[::step], fontsize=8 if len(sub) <= 30 else 6)
        ax.set_ylabel(entry["group"])
        ax.set_xlabel(f"Effect of {entry['term']} (link scale)")
        ax.set_title(f"{entry['term']}: {len(sub)} levels, sorted", fontsize=10)
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    _title(fig, f"Group effects: {fit.spec.formula.original}")
    return fig


# ---------------------------------------------------------------------------
# Prior vs posterior, traces
# ---------------------------------------------------------------------------


def plot_prior_posterior(fit, var_names: Sequence[str] | None = None, *, draws: int = 1000,
                         seed: int | None = None, figsize=None):
    """Prior and posterior densities of the variance components (or chosen parameters).

    One panel per parameter (:func:`bayesglmm.checks.prior_posterior_draws`): the group
    SDs (``1|centre_sigma``) and, for gaussian models, the residual SD. A posterior much
    narrower than its prior means the data informed it; one that repeats the prior, that
    they did not.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    var_names : list of str, optional
        Parameters to show (default: the variance components).
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed of the prior draws.
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_prior_posterior(fit, seed=1)  # doctest: +SKIP
    >>> fig.axes[0].get_title()  # doctest: +SKIP
    '1|centre_sigma'
    """
    pairs = checks.prior_posterior_draws(fit, var_names, draws=draws, seed=seed)
    fig, axes = _grid(len(pairs), figsize, panel=(4.6, 3.4))
    for ax, (label, (prior, post)) in zip(axes, pairs.items()):
        positive = bool(np.all(prior >= 0) and np.all(post >= 0))
        both = np.concatenate([prior, post])
        lo, hi = np.quantile(both, [0.0 if positive else 0.005, 0.995])
        lo = 0.0 if positive else lo
        grid = np.linspace(lo, hi, 400)
        bound = 0.0 if positive else None
        ax.fill_between(grid, _kde(prior, grid, bound), color=PRIOR_COLOR, alpha=0.45, label="prior")
        ax.plot(grid, _kde(post, grid, bound), color=REPLICATED_COLOR, lw=2, label="posterior")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(f"{label} (SD, link scale)" if label.endswith("sigma") else label)
        ax.set_ylabel("Density")
        ax.legend(frameon=False, fontsize=8)
    _title(fig, f"Prior vs posterior: {fit.spec.formula.original}")
    return fig


def _trace_variables(fit, var_names):
    from bayesglmm.dpars import coefficient_names, dpars_of

    draws = fit.draws
    if var_names is None:
        bm = fit.spec.bambi_model
        comp = bm.parameters[bm.family.likelihood.parent]
        names = (["Intercept"] if comp.intercept_term is not None else []) + list(comp.common_terms)
        names += [f"{t}_sigma" for t in comp.group_specific_terms]
        names += [n for n in bm.parameters if n != bm.family.likelihood.parent]
        names += list(coefficient_names(bm, dpars_of(fit.spec)))  # sigma ~ x: its coefficients
        names += [str(v) for v in draws.data_vars if str(v).endswith("_corr")]
    else:
        names = list(var_names)
    missing = [n for n in names if n not in draws]
    if var_names is not None and missing:
        raise TermError(f"Unknown variables {', '.join(missing)}; available: {', '.join(map(str, draws.data_vars))}.")
    out = []
    for name in [n for n in names if n in draws]:
        da = draws[name]
        extra = [d for d in da.dims if d not in checks.SAMPLE_DIMS]
        if not extra:
            out.append((name, da.transpose(*checks.SAMPLE_DIMS).values))
            continue
        shape = [da.sizes[d] for d in extra]
        for k in range(int(np.prod(shape))):
            idx = dict(zip(extra, np.unravel_index(k, shape)))
            coords = [str(da[d].values[i]) for d, i in idx.items()]
            if name.endswith("_corr") and len(coords) == 2 and idx[extra[0]] >= idx[extra[1]]:
                continue  # a correlation matrix: only the pairs above the diagonal
            out.append((f"{name}[{', '.join(coords)}]", da.isel(idx).transpose(*checks.SAMPLE_DIMS).values))
    return out


def plot_trace(fit, var_names: Sequence[str] | None = None, *, max_rows: int = 12, figsize=None):
    """Trace plots for convergence: per parameter, each chain's density and its draws.

    Parameters
    ----------
    fit : Fit
        A fit.
    var_names : list of str, optional
        Variables (vector-valued ones give a row per element). Default: the fixed
        effects, the group SDs, correlations and the family's parameters (not the
        individual group effects).
    max_rows : int
        Most rows (parameters) shown; the first ``max_rows`` are kept.
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes per parameter (density, trace); R-hat and bulk ESS in the trace's title.

    Examples
    --------
    >>> fig = plot_trace(fit)  # doctest: +SKIP
    >>> len(fig.axes) // 2  # doctest: +SKIP
    4
    """
    rows = _trace_variables(fit, var_names)[:max_rows]
    if not rows:
        raise TermError("No parameters to plot.")
    diag = None if fit.diagnostics is None else fit.diagnostics.table
    fig, axes = plt.subplots(len(rows), 2, figsize=figsize or (10, 1.9 * len(rows) + 0.8), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, values), (ax_d, ax_t) in zip(rows, axes):
        lo, hi = np.quantile(values, [0.001, 0.999])
        grid = np.linspace(lo, hi, 200) if hi > lo else np.linspace(lo - 1, hi + 1, 200)
        for c, chain in enumerate(values):
            color = colors[c % len(colors)]
            ax_d.plot(grid, _kde(chain, grid), color=color, lw=1)
            ax_t.plot(np.arange(chain.size), chain, color=color, lw=0.5, alpha=0.7, label=f"chain {c}")
        ax_d.set_title(label, fontsize=9)
        ax_d.set_xlabel(label, fontsize=8)
        ax_d.set_ylabel("Density", fontsize=8)
        info = ""
        if diag is not None and label in diag.index:
            info = f"  (R-hat {diag.loc[label, 'r_hat']:.3f}, bulk ESS {diag.loc[label, 'ess_bulk']:.0f})"
        ax_t.set_title(f"{label}{info}", fontsize=9)
        ax_t.set_xlabel("Draw", fontsize=8)
        ax_t.set_ylabel(label, fontsize=8)
    axes[0][1].legend(frameon=False, fontsize=7, ncol=min(4, values.shape[0]), loc="upper right")
    what = "prior draws" if fit.prior_only else "posterior draws"
    _title(fig, f"Trace plots ({what}): {fit.spec.formula.original}")
    return fig


# ---------------------------------------------------------------------------
# Conditional effects
# ---------------------------------------------------------------------------


def plot_effects(fit, effect, *, kind: str = "typical", scale: str = "response", prob: float = 0.95,
                 points: int = 50, conditions: dict | None = None, draws: int | None = None, figsize=None):
    """Conditional-effects plot: the prediction against one predictor, optionally by a second, with bands.

    The numbers are :func:`bayesglmm.effects.predictions` on a grid (other predictors at
    typical values, or at ``conditions``), as brms's ``conditional_effects``: a numeric
    predictor gets a line (posterior median) and a band (credible interval) over its
    observed range; a factor gets points with interval bars. The second predictor gives
    one line (or set of points) per level; a numeric second predictor is shown at its
    mean and mean +- 1 SD.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    effect : str or (str, str)
        The predictor on the x-axis, or (x-axis predictor, predictor shown by colour).
    kind : {"typical", "conditional", "marginal", "new_group"}
        ``typical``: a group at the centre (group effects zero); ``marginal``:
        population-averaged; see :func:`bayesglmm.predict.predict`.
    scale : {"response", "link", "probability"}
        The expected response, the linear predictor, or (ordinal models) the probability
        of each response category, one colour per category.
    prob : float
        Probability of the bands.
    points : int
        Number of values of a numeric x-axis predictor.
    conditions : dict, optional
        Values of other predictors (default: their typical values, see
        :func:`bayesglmm.effects.datagrid`).
    draws : int, optional
        Use this many posterior draws (all if None).
    figsize : tuple, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One panel; ``fig.effects`` holds the :class:`~bayesglmm.effects.Effects` drawn.

    Examples
    --------
    >>> fig = plot_effects(fit, ("age", "treat"), kind="marginal")  # doctest: +SKIP
    """
    from bayesglmm.effects import _is_factor, _levels, _variable, predictions

    names = [effect] if isinstance(effect, str) else list(effect)
    if not 1 <= len(names) <= 2 or not all(isinstance(n, str) for n in names):
        raise SettingsError(f"effect must be a predictor name or a pair of names, e.g. ('age', 'treat'); got "
                            f"{effect!r}.")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2:
        raise SettingsError(f"points must be a whole number of at least 2; got {points!r}.")
    frame = fit.spec.data.frame
    grid = dict(conditions or {})
    for name in names:
        _variable(fit, name)  # TermError for a name that is not a predictor
    x, hue = names[0], (names[1] if len(names) == 2 else None)
    if scale == "probability" and hue is not None:
        raise SettingsError("With scale='probability' the response categories are the colours: give one "
                            f"predictor, e.g. plot_effects(fit, {x!r}, scale='probability').")
    x_factor = _is_factor(frame[x])
    if x_factor:
        grid[x] = _levels(frame[x])
    else:
        xs = frame[x].astype(float)
        grid[x] = np.linspace(xs.min(), xs.max(), int(points))
    if hue is not None:
        if _is_factor(frame[hue]):
            grid[hue] = _levels(frame[hue])
        else:
            m, s = float(frame[hue].astype(float).mean()), float(frame[hue].astype(float).std())
            grid[hue] = [m - s, m, m + s]
    res = predictions(fit, grid, kind=kind, scale=scale, prob=prob, draws=draws)
    table = res.table
    fig, ax = plt.subplots(figsize=figsize or (6.4, 4.4))
    if scale == "probability":  # ordinal: one line (or set of points) per response category
        hue = "category"
        grid[hue] = list(pd.unique(table[hue]))
    hue_values = [None] if hue is None else list(grid[hue])
    width = 0.6 / max(len(hue_values), 1)
    for j, value in enumerate(hue_values):
        rows = table if hue is None else table[table[hue].astype(str) == str(value)]
        color = HUE_COLORS[j % len(HUE_COLORS)] if hue is not None else REPLICATED_COLOR
        label = None if hue is None else (f"{value:.3g}" if isinstance(value, float) else str(value))
        if x_factor:
            pos = np.arange(len(rows)) + (j - (len(hue_values) - 1) / 2) * width
            est = rows["estimate"].to_numpy()
            err = np.vstack([est - rows["lower"].to_numpy(), rows["upper"].to_numpy() - est])
            ax.errorbar(pos, est, yerr=err, fmt="o", color=color, capsize=3, label=label)
        else:
            xv = rows[x].to_numpy(dtype=float)
            ax.fill_between(xv, rows["lower"], rows["upper"], color=color, alpha=0.25, linewidth=0)
            ax.plot(xv, rows["estimate"], color=color, label=label)
    if x_factor:
        ax.set_xticks(np.arange(len(grid[x])), [str(v) for v in grid[x]])
    ax.set_xlabel(x)
    what = {"response": _response_label(fit), "link": f"{fit.spec.formula.response} (linear predictor)",
            "probability": f"P({fit.spec.formula.response} = category)"}[scale]
    ax.set_ylabel(what)
    if hue is not None:
        ax.legend(title=hue, frameon=False, fontsize=8)
    who = {"typical": "typical group", "conditional": "conditional on group", "marginal": "population-averaged",
           "new_group": "new group"}[kind]
    ax.set_title(f"Effect of {x}{' by ' + hue if hue else ''} ({who}, {prob:.0%} intervals)", fontsize=10)
    fig.tight_layout()
    fig.effects = res
    return fig


__all__ = [
    "plot_caterpillar",
    "plot_effects",
    "plot_ppc",
    "plot_survival_check",
    "plot_prior_posterior",
    "plot_prior_predictive",
    "plot_ranef_qq",
    "plot_trace",
]
