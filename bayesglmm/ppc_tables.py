"""Tables behind the PPC plots: category counts, per-group intervals and the ECDF band.

Each table holds the observed data against the median and interval of replicated data,
which :func:`bayesglmm.plots.plot_ppc` draws. Functions take ``yrep=`` so that one set of
predictive draws (from :func:`bayesglmm.predictive.posterior_predictive` or
:func:`bayesglmm.predictive.prior_predictive`) can be reused; otherwise they draw it
themselves, with ``draws`` and ``seed``. p-values are mid-p values (:mod:`bayesglmm.ppc`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesglmm.ppc import _group_labels, _group_means, _mid_p
from bayesglmm.predictive import _replicated, _scale, observed, trials
from bayesglmm.summary import interval_bounds


def _bins(fit, obs: np.ndarray, max_bars: int):
    """(labels, function values -> bin index) for the response's kind."""
    kind = fit.spec.family.response
    if kind == "binary":
        return ["0", "1"], lambda v: np.clip(v.astype(int), 0, 1)
    if kind in ("ordinal", "nominal"):
        cats = [str(c) for c in fit.spec.data.frame[fit.spec.formula.response].cat.categories]
        return cats, lambda v: np.clip(v.astype(int), 0, len(cats) - 1)
    if kind == "trials":
        edges = np.linspace(0, 1, 11)
        labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
        n_trials = trials(fit)
        return labels, lambda v: np.clip(np.floor(v / n_trials * 10).astype(int), 0, 9)
    if kind == "count":
        top = int(max(obs.max(), 0))
        if top + 1 <= max_bars - 1:
            labels = [str(k) for k in range(top + 1)] + [f">{top}"]
            return labels, lambda v: np.clip(v, 0, top + 1).astype(int)
        width = int(np.ceil((top + 1) / (max_bars - 1)))
        n_bins = int(np.ceil((top + 1) / width))
        labels = [f"{k * width}-{(k + 1) * width - 1}" for k in range(n_bins)] + [f">{n_bins * width - 1}"]
        return labels, lambda v: np.clip(v // width, 0, n_bins).astype(int)
    # real: equal-width bins over the observed range, open bins either side
    n_bins = max(3, max_bars - 2)
    edges = np.linspace(obs.min(), obs.max(), n_bins + 1)
    labels = [f"<{edges[0]:.3g}"] + [f"{a:.3g}-{b:.3g}" for a, b in zip(edges[:-1], edges[1:])] + [f">{edges[-1]:.3g}"]

    def index(v):
        i = np.searchsorted(edges, v, side="right")  # 0: below, 1..n_bins: inside, n_bins+1: above
        i = np.where(v == edges[-1], n_bins, i)
        return i

    return labels, index


def category_counts(fit, *, yrep=None, draws: int | None = None, seed: int | None = None, prob: float = 0.95,
                    max_bars: int = 20) -> pd.DataFrame:
    """Rows in each category (or bin) of the response: observed vs replicated.

    Categories: 0 and 1 for a binary response, the levels of an ordinal one, the count
    values 0..max(y) and an open bin ``>max`` for counts (bins of equal width when there
    are more than ``max_bars`` values), ten bins of the proportion for ``p(y, n)``, and
    equal-width bins with open ends for a continuous response.

    Parameters
    ----------
    fit : Fit
        The fit.
    yrep : xarray.DataArray or array, optional
        Replicated data (posterior or prior predictive); posterior predictive if None.
    draws, seed : int, optional
        Passed to :func:`posterior_predictive` when ``yrep`` is None.
    prob : float
        Probability of the replicated interval.
    max_bars : int
        Most bars for counts and continuous responses.

    Returns
    -------
    pandas.DataFrame
        ``category``, ``observed`` (number of rows), ``median``, ``lower``, ``upper`` (of the
        replicated number of rows).

    Examples
    --------
    >>> category_counts(bernoulli_fit, seed=1)["category"].tolist()  # doctest: +SKIP
    ['0', '1']
    """
    obs = observed(fit)
    rep = _replicated(fit, yrep, draws, seed)
    labels, index = _bins(fit, obs, max_bars)
    obs_idx, rep_idx = index(obs), index(rep)
    rows = []
    for k, label in enumerate(labels):
        counts = (rep_idx == k).sum(axis=1)
        lo, hi = interval_bounds(counts, prob)
        rows.append({"category": label, "observed": int((obs_idx == k).sum()), "median": float(np.median(counts)),
                     "lower": lo, "upper": hi})
    return pd.DataFrame(rows)


def default_group(fit) -> str | None:
    """The first grouping column of the formula, or None for a model without groups.

    Examples
    --------
    >>> default_group(fit)  # doctest: +SKIP
    'centre'
    """
    factors = [f for f in fit.spec.formula.group_factors if f in fit.spec.data.frame.columns]
    return factors[0] if factors else None


def group_intervals(fit, group=None, *, yrep=None, draws: int | None = None, seed: int | None = None,
                    prob: float = 0.95, per_row: bool | None = None) -> pd.DataFrame:
    """Observed values per row or per group against their replicated intervals.

    For ``p(y, n)`` (by default) every row's proportion ``y/n``, labelled by its group, as
    in the course's plot of observed proportions by centre; for other responses each
    group's mean (share of ones for a binary response).

    Parameters
    ----------
    fit : Fit
        The fit.
    group : str or array-like, optional
        Grouping column of the model's data or one label per row; default the formula's
        first grouping factor. Without one (a model with no group terms) rows are labelled
        by their index.
    yrep, draws, seed, prob
        As in :func:`category_counts`.
    per_row : bool, optional
        One entry per row (default for ``p(y, n)``) or per group (default otherwise).

    Returns
    -------
    pandas.DataFrame
        ``level`` (group label), ``row`` (index label of the data row, or None per group),
        ``observed``, ``median``, ``lower``, ``upper``, ``p_value`` and ``outside`` (the
        observed value lies outside the interval). ``attrs["group"]`` names the grouping.

    Examples
    --------
    >>> gi = group_intervals(fit, "centre", seed=1)  # doctest: +SKIP
    >>> gi["level"].nunique()  # doctest: +SKIP
    11
    """
    frame = fit.spec.data.frame
    obs = observed(fit)[None, :]
    rep = _replicated(fit, yrep, draws, seed)
    kind = fit.spec.family.response
    per_row = (kind == "trials") if per_row is None else per_row
    group = default_group(fit) if group is None else group
    if group is None:
        name, labels = "row", pd.Categorical([str(i) for i in frame.index], categories=[str(i) for i in frame.index])
        per_row = True
    else:
        name, labels = _group_labels(fit, group)
    rows = []
    if per_row:
        obs_s, rep_s = _scale(fit, obs)[0], _scale(fit, rep)
        for i, row in enumerate(frame.index):
            rows.append({"level": str(labels[i]), "row": row, "observed": float(obs_s[i]), "replicated": rep_s[:, i]})
    else:
        obs_g, rep_g = _group_means(fit, obs, labels)[0], _group_means(fit, rep, labels)
        for j, level in enumerate(labels.categories):
            rows.append({"level": str(level), "row": None, "observed": float(obs_g[j]), "replicated": rep_g[:, j]})
    out = []
    for r in rows:
        lo, hi = interval_bounds(r["replicated"], prob)
        out.append({"level": r["level"], "row": r["row"], "observed": r["observed"],
                    "median": float(np.median(r["replicated"])), "lower": lo, "upper": hi,
                    "p_value": _mid_p(r["replicated"], r["observed"]),
                    "outside": bool(r["observed"] < lo or r["observed"] > hi)})
    table = pd.DataFrame(out, columns=["level", "row", "observed", "median", "lower", "upper", "p_value", "outside"])
    table["level"] = pd.Categorical(table["level"], categories=[str(c) for c in labels.categories])
    table.attrs["group"] = name
    table.attrs["per_row"] = per_row
    return table


def ecdf_band(fit, *, yrep=None, draws: int | None = None, seed: int | None = None, prob: float = 0.95,
              points: int = 200) -> pd.DataFrame:
    """Empirical CDF of the data and a pointwise interval of the replicated data's ECDFs.

    Parameters
    ----------
    fit : Fit
        The fit (proportions ``y/n`` for ``p(y, n)``).
    yrep, draws, seed, prob
        As in :func:`category_counts`.
    points : int
        Number of grid points.

    Returns
    -------
    pandas.DataFrame
        ``x`` (grid), ``observed`` (the data's ECDF), ``median``, ``lower``, ``upper`` (of
        the replicated ECDFs at each grid point).

    Examples
    --------
    >>> band = ecdf_band(gaussian_fit, seed=1)  # doctest: +SKIP
    >>> band.columns.tolist()  # doctest: +SKIP
    ['x', 'observed', 'median', 'lower', 'upper']
    """
    obs = _scale(fit, observed(fit)[None, :])[0]
    rep = _scale(fit, _replicated(fit, yrep, draws, seed))
    lo_x, hi_x = np.quantile(np.concatenate([obs, rep.ravel()]), [0.005, 0.995])
    grid = np.linspace(min(lo_x, obs.min()), max(hi_x, obs.max()), points)
    rep_sorted = np.sort(rep, axis=1)
    rep_cdf = np.stack([np.searchsorted(r, grid, side="right") / r.size for r in rep_sorted])
    obs_cdf = np.searchsorted(np.sort(obs), grid, side="right") / obs.size
    lo, med, hi = np.quantile(rep_cdf, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    return pd.DataFrame({"x": grid, "observed": obs_cdf, "median": med, "lower": lo, "upper": hi})


__all__ = [
    "category_counts",
    "default_group",
    "ecdf_band",
    "group_intervals",
]
