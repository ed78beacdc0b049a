"""Bayesian p-values of test statistics: is each observed statistic typical of replicated data?

:func:`replicated_statistics` gives each statistic of the data and its replicated draws;
:func:`ppc_pvalues` summarises them. Replicated data come from
:func:`bayesglmm.predictive.posterior_predictive` (or are passed as ``yrep=``); the tables
behind the PPC plots are in :mod:`bayesglmm.ppc_tables`.

Conventions:

* A Bayesian p-value is the share of replicated statistics at or above the observed one,
  with ties counted half (the "mid-p" value): for a continuous statistic this is the usual
  ``P(T(y_rep) >= T(y))``; for discrete ones (share of zeros, maximum count, a group's
  number of successes) it keeps a statistic that the model reproduces exactly (say no
  zeros, observed and replicated) at 0.5 instead of flagging it at 1.
* A statistic is flagged when its p-value is below 0.025 or above 0.975.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from bayesglmm.errors import DataError, SettingsError, TermError
from bayesglmm.predictive import _refuse_censored, _replicated, _scale, observed, trials
from bayesglmm.summary import interval_bounds

FLAG_LOW, FLAG_HIGH = 0.025, 0.975

#: Statistics :func:`ppc_pvalues` knows, by response kind (others are skipped, see its docstring).
STATISTICS = {
    "real": ("mean", "sd", "min", "max"),
    "count": ("mean", "sd", "zeros", "min", "max"),
    "trials": ("mean", "sd", "zeros", "min", "max"),
    "binary": ("mean",),
    "ordinal": ("mean", "sd"),
    "nominal": ("shares",),
}
_ALL_STATISTICS = ("mean", "sd", "zeros", "min", "max", "shares")


def _mid_p(rep: np.ndarray, obs) -> float:
    """Share of replicated values above the observed one, ties counted half."""
    rep = np.asarray(rep, dtype=float)
    return float(np.mean(rep > obs) + 0.5 * np.mean(rep == obs))


def _stat_fn(fit, name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(raw values (S, n), scaled values (S, n)) -> (S,) statistic."""
    n_trials = trials(fit)
    if name == "mean":
        if n_trials is not None:  # pooled proportion sum(y) / sum(n)
            return lambda raw, scaled: raw.sum(axis=1) / n_trials.sum()
        return lambda raw, scaled: scaled.mean(axis=1)
    if name == "sd":
        return lambda raw, scaled: scaled.std(axis=1, ddof=1)
    if name == "zeros":
        return lambda raw, scaled: (raw == 0).mean(axis=1)
    if name == "max":
        return lambda raw, scaled: scaled.max(axis=1)
    if name == "min":
        return lambda raw, scaled: scaled.min(axis=1)
    raise SettingsError(f"Unknown statistic {name!r}; choose from {', '.join(_ALL_STATISTICS)} or pass a function.")


def _group_labels(fit, by_group) -> tuple[str, pd.Categorical]:
    """(name, labels of each row) for a column name of the model frame or row-aligned labels."""
    frame = fit.spec.data.frame
    if isinstance(by_group, str):
        if by_group not in frame.columns:
            cols = [c for c in frame.columns if not pd.api.types.is_float_dtype(frame[c])]
            raise TermError(f"{by_group!r} is not a column of the model's data (columns: {', '.join(map(str, cols))}). "
                             "For a column the model does not use, pass its values, e.g. by_group=data['centre'].")
        values, name = frame[by_group], by_group
    else:
        name = getattr(by_group, "name", None) or "group"
        if isinstance(by_group, pd.Series) and set(frame.index) <= set(by_group.index):
            values = by_group.reindex(frame.index)
        else:
            values = pd.Series(np.asarray(by_group), index=frame.index)
        if len(values) != len(frame):
            raise DataError(f"by_group has {len(values)} values but the fit has {len(frame)} rows.")
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = values.cat.remove_unused_categories().array
    else:
        labels = pd.Categorical(values.astype(str), categories=sorted(values.astype(str).unique(), key=_natural))
    return str(name), pd.Categorical(labels)


def _natural(label: str):
    """Sort key that puts "2" before "10"."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _group_means(fit, raw: np.ndarray, labels: pd.Categorical) -> np.ndarray:
    """Per-group proportion (p(y, n): sum y / sum n) or mean, shape (S, levels)."""
    codes = labels.codes
    onehot = np.zeros((len(codes), len(labels.categories)))
    onehot[np.arange(len(codes)), codes] = 1.0
    n_trials = trials(fit)
    if n_trials is not None:
        return (raw @ onehot) / (n_trials @ onehot)
    return (_scale(fit, raw) @ onehot) / onehot.sum(axis=0)


def _category_labels(fit) -> list[str]:
    """The response's categories in code order (categorical responses)."""
    return fit.spec.family.category_labels(fit.spec.data.frame[fit.spec.formula.response])


def _default_statistics(fit, stats):
    """``stats``, or the family's own choice (:meth:`bayesglmm.families.Family.ppc_statistics`) when None."""
    return fit.spec.family.ppc_statistics() if stats is None else stats


def replicated_statistics(fit, stats: Sequence | None = None, by_group=None, *,
                          yrep=None, draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Observed test statistics and their replicated draws (the material of :func:`ppc_pvalues`).

    Parameters are those of :func:`ppc_pvalues`.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (and per group level with ``by_group``): ``statistic``,
        ``group``, ``level``, ``observed`` and ``replicated`` (a 1-d array, one value per draw).
        ``attrs["skipped"]`` lists requested statistics that do not apply to the response.

    Examples
    --------
    >>> rs = replicated_statistics(fit, stats=("mean",))  # doctest: +SKIP
    >>> rs.loc[0, "replicated"].shape  # doctest: +SKIP
    (4000,)
    """
    _refuse_censored(fit)
    stats = _default_statistics(fit, stats)
    kind = fit.spec.family.response
    rep_raw = _replicated(fit, yrep, draws, seed)
    obs_raw = observed(fit)[None, :]
    rep_scaled, obs_scaled = _scale(fit, rep_raw), _scale(fit, obs_raw)
    rows, skipped = [], []
    for stat in stats:
        if callable(stat):
            name = getattr(stat, "__name__", "statistic")
            obs_v = float(stat(obs_scaled[0]))
            rep_v = np.array([stat(row) for row in rep_scaled], dtype=float)
        else:
            if stat not in _ALL_STATISTICS:
                _stat_fn(fit, stat)  # raises the error naming the known statistics
            if stat not in STATISTICS[kind]:
                skipped.append(stat)
                continue
            if stat == "shares":  # one statistic per category: the share of rows in it
                for k, label in enumerate(_category_labels(fit)):
                    rows.append({"statistic": f"share {label}", "group": "", "level": "",
                                 "observed": float((obs_raw[0] == k).mean()), "replicated": (rep_raw == k).mean(axis=1)})
                continue
            fn = _stat_fn(fit, stat)
            name, obs_v, rep_v = stat, float(fn(obs_raw, obs_scaled)[0]), fn(rep_raw, rep_scaled)
        rows.append({"statistic": name, "group": "", "level": "", "observed": obs_v, "replicated": rep_v})
    if by_group is not None:
        group, labels = _group_labels(fit, by_group)
        if "shares" in STATISTICS[kind]:  # each group's share of each category
            parts = [(f"share {label}", (obs_raw == k).astype(float), (rep_raw == k).astype(float))
                     for k, label in enumerate(_category_labels(fit))]
        else:
            parts = [("proportion" if kind in ("trials", "binary") else "mean", obs_raw, rep_raw)]
        for stat_name, obs_part, rep_part in parts:
            obs_g, rep_g = _group_means(fit, obs_part, labels)[0], _group_means(fit, rep_part, labels)
            for j, level in enumerate(labels.categories):
                rows.append({"statistic": stat_name, "group": group, "level": str(level),
                             "observed": float(obs_g[j]), "replicated": rep_g[:, j]})
    table = pd.DataFrame(rows, columns=["statistic", "group", "level", "observed", "replicated"])
    table.attrs["skipped"] = skipped
    return table


def ppc_pvalues(fit, stats: Sequence | None = None, by_group=None, *, prob: float = 0.95,
                yrep=None, draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Bayesian p-values: is each observed statistic typical of data replicated from the fit?

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    stats : sequence of str or callable, optional
        The family's choice if None (:meth:`bayesglmm.families.Family.ppc_statistics`:
        ``("mean", "sd", "zeros", "max")``; zero-inflated and hurdle families put ``"zeros"``
        first). A censored response is refused (SettingsError): use
        :func:`bayesglmm.censoring.survival_check`. Statistics of the whole data set: ``"mean"``, ``"sd"``, ``"zeros"`` (share of zero
        counts / zero successes), ``"min"``, ``"max"``, or functions of a 1-d array of the
        response (on the proportion scale for ``p(y, n)``). For ``p(y, n)`` the mean is the
        pooled proportion ``sum(y) / sum(n)`` and the others use the row proportions
        ``y / n``; ordinal responses use the category numbers 1..K. ``"shares"`` (the
        categorical family's default) is one statistic per category, ``share k``: the share
        of rows in category k (with ``by_group``, each group's share of each category);
        functions get a categorical response's codes 0..K-1. Statistics that carry no
        information for the response are skipped and listed in ``attrs["skipped"]``:
        ``zeros`` except for counts and ``p(y, n)``; all but ``mean`` for a binary response
        (its SD, share of zeros and maximum follow from the mean); ``zeros``, ``min`` and
        ``max`` for an ordinal one.
    by_group : str or array-like, optional
        Add each group's proportion (``p(y, n)``: sum of y over sum of n; binary: share of
        ones) or mean: a column of the model's data (``"centre"``) or one label per row
        (``data["centre"]``, for a column the model does not use).
    prob : float
        Probability of the replicated interval (equal-tailed).
    yrep : xarray.DataArray or array, optional
        Replicated data to use (from :func:`posterior_predictive`); drawn if None.
    draws, seed : int, optional
        Passed to :func:`posterior_predictive` when ``yrep`` is None.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (``group == ""``) and per group level: ``statistic``,
        ``group``, ``level``, ``observed``, ``median``, ``lower``, ``upper`` (replicated
        median and interval), ``p_value`` (share of replicated statistics >= observed, ties
        counted half) and ``flag`` (p < 0.025 or p > 0.975).

    Examples
    --------
    >>> tab = ppc_pvalues(fit, by_group="centre", seed=1)  # doctest: +SKIP
    >>> tab.query("group == 'centre'")["flag"].sum()  # doctest: +SKIP
    0
    """
    rs = replicated_statistics(fit, stats, by_group, yrep=yrep, draws=draws, seed=seed)
    rows = []
    for rec in rs.itertuples(index=False):
        lo, hi = interval_bounds(rec.replicated, prob)
        p = _mid_p(rec.replicated, rec.observed)
        rows.append({"statistic": rec.statistic, "group": rec.group, "level": rec.level, "observed": rec.observed,
                     "median": float(np.median(rec.replicated)), "lower": lo, "upper": hi, "p_value": p,
                     "flag": bool(p < FLAG_LOW or p > FLAG_HIGH)})
    cols = ["statistic", "group", "level", "observed", "median", "lower", "upper", "p_value", "flag"]
    table = pd.DataFrame(rows, columns=cols)
    table.attrs["skipped"] = rs.attrs.get("skipped", [])
    table.attrs["prob"] = prob
    return table


__all__ = [
    "FLAG_HIGH",
    "FLAG_LOW",
    "STATISTICS",
    "ppc_pvalues",
    "replicated_statistics",
]
