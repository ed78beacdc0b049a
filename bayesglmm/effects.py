"""Predictions on a grid, comparisons and slopes: the questions emmeans, marginaleffects and brms answer.

Three verbs, one vocabulary (after pymarginaleffects' ``predictions`` / ``comparisons`` /
``slopes``), all computed per posterior draw from :func:`bayesglmm.predict.predict_draws`:

:func:`predictions`
    The expected response (or linear predictor) at the rows of a grid (:func:`datagrid`
    fills the predictors you do not name with typical values), or averaged over the
    observed rows, optionally within ``by`` groups (average predictions).
:func:`comparisons`
    Differences or ratios between levels of a predictor (each level against the reference,
    pairwise or sequential), or between ``x + step`` and ``x`` for a numeric one. Without a
    grid they are counterfactual averages over the observed rows: every row is set to level
    ``a``, then to level ``b``, and the two predictions are averaged over the rows per draw
    before the difference or ratio is taken (a ratio is the ratio of the two averages, e.g.
    a risk ratio of the averaged probabilities).
:func:`slopes`
    Derivatives of the prediction with respect to a numeric predictor, by a centred finite
    difference on the chosen scale (exact for polynomials up to degree 2), at given values
    or averaged over the observed rows.

``kind`` says which groups the prediction is for, as in :func:`bayesglmm.predict.predict`:
``"typical"`` (group effects at zero, the default), ``"conditional"`` (each row's own
group; on a grid, the grouping column's value, by default its most frequent level),
``"marginal"`` (population-averaged: integrated over the distribution of the group
effects) or ``"new_group"`` (a newly drawn group, the same draws for every counterfactual
value). On the identity link the three agree; on other links they differ, and the
population-averaged effect is closer to zero.

Each verb returns an :class:`Effects`: a pandas table whose ``estimate`` is the posterior
**median** (the posterior mean is the ``mean`` column), with the posterior SD, the 95%
equal-tailed interval and, for comparisons and slopes, the posterior probability that the
effect is above 0 (above 1 for ratios); and the draws behind each row of the table,
``draws`` (samples x table rows), for any further question (differences of effects,
probabilities of thresholds). Ordinal models take ``scale="probability"``: one estimate
per response category (a ``category`` column), e.g. how a treatment shifts P(y = k).
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
import xarray as xr

from bayesglmm.errors import ArgumentError, FamilyError, SettingsError, TermError
from bayesglmm.predict import KINDS, predict_draws

SCALES = ("response", "link", "probability")
CONTRASTS = ("difference", "ratio")
PAIRS = ("reference", "pairwise", "sequential")

_KIND_TEXT = {
    "typical": "a typical group (group effects at zero)",
    "conditional": "each row's own group",
    "marginal": "the population (averaged over the distribution of the group effects)",
    "new_group": "a new group drawn from the fitted distribution",
}


# ----------------------------------------------------------------------------- result
@dataclass
class Effects:
    """Predictions, comparisons or slopes: a table of posterior summaries and the draws behind it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per estimate: the label columns (``term``, ``contrast``, grid or ``by``
        columns), then ``estimate`` (posterior median), ``mean``, ``sd`` (posterior SD),
        ``lower`` and ``upper`` (equal-tailed credible interval of probability ``prob``)
        and, for comparisons and slopes, ``p_above_0`` (``p_above_1`` for ratios): the
        posterior probability that the effect is above 0 (1).
    draws : numpy.ndarray
        (samples, table rows): the posterior draws of each estimate, samples in
        chain-major order (the order of :func:`bayesglmm.predict.predict_draws`).
    what : str
        ``"predictions"``, ``"comparisons"`` or ``"slopes"``.
    description : str
        One line saying what was computed (kind, scale, grid or rows averaged over).
    kind, scale : str
        As passed to the verb.
    prob : float
        Probability of the intervals.

    Examples
    --------
    >>> e = Effects(pd.DataFrame({"estimate": [1.0]}), np.ones((4, 1)), "predictions", "demo", "typical",
    ...             "response", 0.95)
    >>> e.draws_xarray().dims
    ('sample', 'row')
    """

    table: pd.DataFrame
    draws: np.ndarray
    what: str
    description: str
    kind: str
    scale: str
    prob: float

    def header(self) -> str:
        """The first lines of the printed form: what, for which groups, on which scale, which summaries.

        Examples
        --------
        >>> e = Effects(pd.DataFrame({"estimate": [1.0]}), np.ones((4, 1)), "slopes", "x at 1", "typical",
        ...             "link", 0.95)
        >>> print(e.header())
        Slopes: x at 1
        estimate = posterior median; 95% equal-tailed credible interval; 4 draws
        """
        return (f"{self.what.capitalize()}: {self.description}\n"
                f"estimate = posterior median; {self.prob:.0%} equal-tailed credible interval; "
                f"{self.draws.shape[0]} draws")

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table, at full precision.

        Examples
        --------
        >>> Effects(pd.DataFrame({"estimate": [1.0]}), np.ones((4, 1)), "predictions", "", "typical",
        ...         "response", 0.95).to_frame()["estimate"].tolist()
        [1.0]
        """
        return self.table.copy()

    def draws_xarray(self) -> xr.DataArray:
        """The draws as an xarray DataArray with dims ``(sample, row)`` (rows of the table).

        Examples
        --------
        >>> Effects(pd.DataFrame({"estimate": [1.0]}), np.ones((4, 1)), "predictions", "", "typical",
        ...         "response", 0.95).draws_xarray().shape
        (4, 1)
        """
        return xr.DataArray(self.draws, dims=("sample", "row"), coords={"row": np.arange(self.draws.shape[1])},
                            name=self.what)

    def __str__(self) -> str:
        body = self.table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{self.header()}\n\n{body}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "<br>".join(html.escape(line) for line in self.header().splitlines())
        return f"<p>{head}</p>\n" + self.table.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4g}")


# ----------------------------------------------------------------------------- checks
def _check(kind, scale, prob, contrast="difference", pairs="reference") -> None:
    if kind not in KINDS:
        raise SettingsError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}.")
    if scale not in SCALES:
        raise SettingsError(f"scale must be 'response', 'link' or 'probability' (ordinal); got {scale!r}.")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise SettingsError(f"prob must be between 0 and 1 (e.g. 0.95); got {prob!r}.")
    if contrast not in CONTRASTS:
        raise SettingsError(f"contrast must be 'difference' or 'ratio'; got {contrast!r}.")
    if pairs not in PAIRS:
        raise SettingsError(f"pairs must be one of {', '.join(map(repr, PAIRS))}; got {pairs!r}.")


def _columns(fit) -> list[str]:
    """The model's columns a grid can hold: predictors, grouping, offset and trials columns."""
    pf = fit.spec.formula
    return [c for c in fit.spec.data.frame.columns if c not in (pf.response, pf.censoring)]


def _unknown(name, known, what="a column of the model") -> TermError:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TermError(f"{name!r} is not {what}{hint}; the model's columns: {', '.join(map(repr, known))}.")


def _is_factor(series: pd.Series) -> bool:
    return (isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series)
            or pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series))


def _levels(series: pd.Series) -> list:
    """A factor's levels in the model's order (the first is the reference)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(series.cat.categories)
    if pd.api.types.is_bool_dtype(series):
        return [False, True]
    return list(pd.Categorical(series.astype(str)).categories)


def _typical(series: pd.Series, trials: bool):
    """Mean of a numeric column; the most frequent value of a factor (and of the trials column)."""
    if trials or _is_factor(series):
        counts = series.value_counts(sort=False)
        order = _levels(series) if _is_factor(series) and not trials else list(counts.index)
        counts = counts.reindex(order).fillna(0)
        return counts.idxmax()
    return float(series.mean())


def _values(name, value) -> list:
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        return [value]
    values = list(value)
    if not values:
        raise SettingsError(f"datagrid: {name}= is empty; give one value or a list of values.")
    return values


# ----------------------------------------------------------------------------- grids
def datagrid(fit, **values) -> pd.DataFrame:
    """A grid of predictor values: every combination of the values named, other columns typical.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    **values
        Column name = one value or a list of values. Every combination is a row. Columns
        not named get a typical value: the mean of a numeric column, the most frequent level
        of a factor, grouping column or the trials column.

    Returns
    -------
    pandas.DataFrame
        One row per combination, with every model column but the response;
        ``.attrs["named"]`` lists the columns named (the labels of the results).

    Examples
    --------
    >>> g = datagrid(fit, treat=["control", "drug"])  # doctest: +SKIP
    >>> g[["treat", "centre", "n"]]  # doctest: +SKIP
         treat centre   n
    0  control      1  ...
    1     drug      1  ...
    """
    frame = fit.spec.data.frame
    allowed = _columns(fit)
    for name in values:
        if name not in allowed:
            raise _unknown(name, allowed)
    axes = {name: _values(name, v) for name, v in values.items()}
    grid = pd.DataFrame(list(product(*axes.values())), columns=list(axes)) if axes else pd.DataFrame(index=[0])
    trials = fit.spec.formula.trials
    for col in allowed:
        if col not in grid.columns:
            grid[col] = _typical(frame[col], col == trials)
    grid = grid[list(axes) + [c for c in allowed if c not in axes]]
    grid.attrs["named"] = list(axes)
    return grid


def _grid_frame(fit, grid) -> pd.DataFrame:
    """A user grid (dict or DataFrame) as a full frame, with ``attrs["named"]`` (its label columns)."""
    if isinstance(grid, dict):
        return datagrid(fit, **grid)
    if not isinstance(grid, pd.DataFrame):
        raise ArgumentError(f"grid must be a dict of values, a DataFrame (e.g. from bg.datagrid) or None; "
                            f"got {type(grid).__name__}.")
    if len(grid) == 0:
        raise SettingsError("grid has no rows.")
    named = list(grid.attrs.get("named", grid.columns))
    out = grid.reset_index(drop=True)
    frame = fit.spec.data.frame
    trials = fit.spec.formula.trials
    for col in _columns(fit):
        if col not in out.columns:
            out[col] = _typical(frame[col], col == trials)
    out.attrs["named"] = [c for c in named if c in out.columns]
    return out


def _groups(frame: pd.DataFrame, by) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Labels (one row per group) and row positions of each ``by`` group (one group if None)."""
    if by is None:
        return pd.DataFrame(index=[0]), [np.arange(len(frame))]
    cols = [by] if isinstance(by, str) else list(by)
    for col in cols:
        if col not in frame.columns:
            raise _unknown(col, list(frame.columns), "a column of the rows averaged over")
    # Groups in the columns' own order: a factor's level order, numbers by value.
    grouped = frame.reset_index(drop=True).groupby(cols, sort=True, observed=True)
    codes = grouped.ngroup().to_numpy()
    labels = grouped.size().index.to_frame(index=False)
    labels = labels.astype({c: object for c in cols if isinstance(labels[c].dtype, pd.CategoricalDtype)})
    return labels, [np.flatnonzero(codes == i) for i in range(len(labels))]


def _average(arr: np.ndarray, groups: list[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """(samples, groups, ...) averages over each group's rows of (samples, rows, ...) draws."""
    if weights is None:
        return np.stack([arr[:, rows].mean(axis=1) for rows in groups], axis=1)
    return np.stack([np.average(arr[:, rows], axis=1, weights=weights[rows]) for rows in groups], axis=1)


def _weights(frame: pd.DataFrame, wts, groups) -> np.ndarray | None:
    """Each row's weight from the column ``wts`` (None: equal weights); checked to be usable."""
    if wts is None:
        return None
    if groups is None:
        raise SettingsError("wts= weights the average over rows: use it without a grid, or with by= on a grid.")
    if not isinstance(wts, str) or wts not in frame.columns:
        raise _unknown(wts, list(frame.columns), "a column of the rows averaged over (wts= names a weight column)")
    w = pd.to_numeric(frame[wts], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(w)) or (w < 0).any() or any(w[rows].sum() <= 0 for rows in groups):
        raise SettingsError(f"The weights in column {wts!r} must be finite, non-negative and not all zero in a group.")
    return w


def _rows_and_labels(fit, grid, by, wts=None):
    """The rows predicted for, the label table, row groups (None: one estimate per row), weights, a phrase."""
    within = "" if by is None else f" within each {', '.join([by] if isinstance(by, str) else by)}"
    weighted = "" if wts is None else f" (weighted by {wts})"
    if grid is None:
        frame = fit.spec.data.frame.reset_index(drop=True)
        labels, groups = _groups(frame, by)
        where = f"averaged over the {len(frame)} observed rows{weighted}{within}"
    else:
        frame = _grid_frame(fit, grid)
        if by is None:
            labels, groups = frame[frame.attrs["named"]].reset_index(drop=True), None
            where = f"at {len(frame)} grid row{'s' * (len(frame) > 1)}"
        else:
            labels, groups = _groups(frame, by)
            where = f"averaged over the {len(frame)} grid rows{weighted}{within}"
    return frame, labels, groups, _weights(frame, wts, groups), where


# ----------------------------------------------------------------------------- draws
def _mean_draws(fit, frame, kind, scale, draws, seed) -> tuple[np.ndarray, list | None]:
    """(samples, rows, values) draws and the values' labels: the ordinal categories, or None (one value)."""
    ds = predict_draws(fit, frame, kind=kind, scale=scale, draws=draws, seed=seed)
    if scale == "probability":
        da = ds["probability"].transpose("sample", "row", "category")
        return da.values, [v.item() if isinstance(v, np.generic) else v for v in da["category"].values]
    mean = ds["mean"]
    if "category" in mean.dims:  # categorical, link scale: the log-odds of each non-reference category
        da = mean.transpose("sample", "row", "category")
        return da.values, [v.item() if isinstance(v, np.generic) else v for v in da["category"].values]
    if mean.ndim != 2:
        raise FamilyError("These predictions have more than one value per row; use scale='link' (or "
                          "scale='probability' for the category probabilities of an ordinal model).")
    return mean.transpose("sample", "row").values[:, :, None], None


def _flatten(labels: pd.DataFrame, arr: np.ndarray, categories) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (one row per estimate) and (samples, estimates) draws from (samples, rows, values) draws."""
    labels = labels.reset_index(drop=True)
    if categories is None:
        return labels, arr[:, :, 0]
    k = len(categories)
    out = labels.loc[labels.index.repeat(k)].reset_index(drop=True)
    out["category"] = list(categories) * len(labels)
    return out, arr.reshape(arr.shape[0], -1)


def _summarise(arr: np.ndarray, prob: float, null: float | None) -> pd.DataFrame:
    lo, hi = np.quantile(arr, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    out = pd.DataFrame({
        "estimate": np.median(arr, axis=0),
        "mean": arr.mean(axis=0),
        "sd": arr.std(axis=0, ddof=1) if arr.shape[0] > 1 else np.full(arr.shape[1], np.nan),
        "lower": lo,
        "upper": hi,
    })
    if null is not None:
        out[f"p_above_{null:g}"] = (arr > null).mean(axis=0)
    return out


def _describe(kind, scale) -> str:
    what = {"response": "response", "link": "link (linear predictor)", "probability": "category probability"}[scale]
    return f"for {_KIND_TEXT[kind]}, on the {what} scale"


# ----------------------------------------------------------------------------- predictions
def predictions(fit, grid=None, *, by=None, wts: str | None = None, kind: str = "typical",
                scale: str = "response", prob: float = 0.95, draws: int | None = None,
                seed: int | None = None) -> Effects:
    """Expected responses on a grid, or averaged over the observed rows (by groups).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    grid : dict or pandas.DataFrame, optional
        Rows to predict for: a dict of values (passed to :func:`datagrid`: every
        combination, other predictors at typical values) or a DataFrame (columns of the
        model it lacks get typical values). If None, the predictions are averaged over the
        observed rows (average predictions).
    by : str or list of str, optional
        Average within the groups of these columns (of the observed rows, or of the grid).
    wts : str, optional
        A column of the rows averaged over that weights each row (e.g. the trials column of
        a binomial model, to average over trials rather than rows); equal weights if None.
    kind : {"typical", "conditional", "marginal", "new_group"}
        Which group the prediction is for (see the module's description).
    scale : {"response", "link", "probability"}
        The expected response, the linear predictor, or (ordinal models) the probability
        of each category: one table row per category, in a ``category`` column.
    prob : float
        Probability of the equal-tailed intervals.
    draws : int, optional
        Use this many posterior draws, evenly spaced (all if None).
    seed : int, optional
        Seed of the new-group simulation (a fixed default if None).

    Returns
    -------
    Effects
        Label columns (grid columns named, or ``by`` columns), then ``estimate``
        (posterior median), ``mean``, ``sd``, ``lower``, ``upper``.

    Examples
    --------
    >>> bg.predictions(fit, {"treat": ["control", "drug"]}).table  # doctest: +SKIP
         treat  estimate    mean     sd   lower   upper
    0  control    0.3567  0.3603  ...
    1     drug    0.3748  ...
    >>> bg.predictions(fit, by="treat", kind="marginal")  # doctest: +SKIP
    """
    _check(kind, scale, prob)
    frame, labels, groups, weights, where = _rows_and_labels(fit, grid, by, wts)
    arr, categories = _mean_draws(fit, frame, kind, scale, draws, seed)
    if groups is not None:
        arr = _average(arr, groups, weights)
    labels, arr = _flatten(labels, arr, categories)
    table = pd.concat([labels, _summarise(arr, prob, None)], axis=1)
    return Effects(table, arr, "predictions", f"{where}, {_describe(kind, scale)}", kind, scale, prob)


# ----------------------------------------------------------------------------- comparisons
def _variable(fit, variable, allow_factor=True):
    """(name, specification) of the predictor named by ``variable`` (a name or {name: spec})."""
    if isinstance(variable, dict):
        if len(variable) != 1:
            raise ArgumentError(f"variable as a dict names one predictor, e.g. {{'age': 10}}; got {variable!r}.")
        (name, spec), = variable.items()
    elif isinstance(variable, str):
        name, spec = variable, None
    else:
        raise ArgumentError(f"variable must be a column name or a one-entry dict; got {type(variable).__name__}.")
    pf = fit.spec.formula
    predictors = [c for c in _columns(fit) if c not in (pf.trials, *pf.group_factors, *pf.offsets)]
    if name not in predictors:
        what = "a predictor of the model"
        if name in pf.group_factors:
            what += " (it is a grouping factor: compare groups with kind='conditional' and by=)"
        raise _unknown(name, predictors, what)
    return name, spec


def _set(frame: pd.DataFrame, col: str, value) -> pd.DataFrame:
    """A copy of ``frame`` with ``col`` set: to a level, or shifted (("shift", h)) for a numeric column."""
    out = frame.copy()
    if isinstance(value, tuple) and value[0] == "shift":
        out[col] = out[col].astype(float) + value[1]
    else:
        out[col] = pd.Series([value] * len(out), index=out.index, dtype=object)
    return out


def _comparison_cases(fit, name, spec, pairs):
    """Counterfactual values {key: value} and cases [(high key, low key, label pieces)]."""
    col = fit.spec.data.frame[name]
    binary = not _is_factor(col) and set(pd.unique(col.astype(float))) <= {0.0, 1.0}
    if _is_factor(col) or binary:
        levels = _levels(col) if not binary else [0, 1]
        if spec is not None:
            asked = _values(name, spec)
            known = {str(v): v for v in levels}
            bad = [v for v in asked if str(v) not in known]
            if bad:
                raise TermError(f"{name!r} has no level {bad[0]!r}; its levels: {', '.join(map(str, levels))}.")
            levels = [known[str(v)] for v in asked]
            if len(levels) < 2:
                raise SettingsError(f"Compare at least two levels of {name!r}; got {asked!r}.")
        if pairs == "reference":
            cases = [(lev, levels[0]) for lev in levels[1:]]
        elif pairs == "sequential":
            cases = list(zip(levels[1:], levels[:-1]))
        else:
            cases = [(levels[j], levels[i]) for i in range(len(levels)) for j in range(i + 1, len(levels))]
        values = {str(v): v for v in levels}
        return values, [(str(hi), str(lo), (str(hi), str(lo))) for hi, lo in cases], False
    if spec is None:
        spec = 1.0
    if np.ndim(spec) == 0:
        step = float(spec)
        if not np.isfinite(step) or step == 0:
            raise SettingsError(f"The step of {name!r} must be a nonzero number; got {spec!r}.")
        values = {"low": ("shift", 0.0), "high": ("shift", step)}
        return values, [("high", "low", (f"({name} + {step:g})", name))], True
    pair = list(spec)
    if len(pair) != 2:
        raise SettingsError(f"For a numeric {name!r}, give a step (e.g. 10) or two values (low, high); got {spec!r}.")
    values = {"low": float(pair[0]), "high": float(pair[1])}
    return values, [("high", "low", (f"{pair[1]:g}", f"{pair[0]:g}"))], False


def comparisons(fit, variable, *, contrast: str = "difference", pairs: str = "reference", grid=None, by=None,
                wts: str | None = None, kind: str = "typical", scale: str = "response", prob: float = 0.95,
                draws: int | None = None, seed: int | None = None) -> Effects:
    """Differences or ratios of predictions between levels of a predictor (contrasts).

    Parameters
    ----------
    fit : Fit
        A fitted model.
    variable : str or dict
        The predictor compared. A factor (or True/False, or a 0/1 column): its levels, each
        against the reference (the first level); ``{"treat": ["drug", "control"]}`` picks
        and orders the levels (the first is the reference). A numeric predictor: ``x +
        step`` against ``x`` (``{"age": 10}``; step 1 by default), or two values
        ``{"age": (40, 60)}`` (60 against 40).
    contrast : {"difference", "ratio"}
        ``high - low`` or ``high / low``. Averaged over rows, a ratio is the ratio of the
        two averaged predictions (e.g. a risk ratio), not the average of the rows' ratios.
    pairs : {"reference", "pairwise", "sequential"}
        Which levels of a factor are compared: each with the first, all pairs, or each
        with the one before it.
    grid : dict or pandas.DataFrame, optional
        Compare at these rows (see :func:`predictions`; the compared column's value in the
        grid is replaced, or shifted for a numeric step). If None, the counterfactual
        comparison averaged over the observed rows: every row set to each level, the
        predictions averaged over the rows per draw.
    by : str or list of str, optional
        Average within the groups of these columns (``by="centre"`` with
        ``kind="conditional"``: the comparison in each centre).
    wts, kind, scale, prob, draws, seed
        As in :func:`predictions`.

    Returns
    -------
    Effects
        Columns ``term``, ``contrast`` (e.g. ``drug - control``), the label columns, then
        ``estimate`` (posterior median), ``mean``, ``sd``, ``lower``, ``upper`` and
        ``p_above_0`` (``p_above_1`` for ratios).

    Examples
    --------
    >>> bg.comparisons(fit, "treat").table  # doctest: +SKIP
        term         contrast  estimate  ...  p_above_0
    0  treat  drug - control    0.0178  ...       0.67
    >>> bg.comparisons(fit, "treat", contrast="ratio", kind="marginal")  # doctest: +SKIP
    """
    _check(kind, scale, prob, contrast, pairs)
    name, spec = _variable(fit, variable)
    values, cases, shifted = _comparison_cases(fit, name, spec, pairs)
    frame, labels, groups, weights, where = _rows_and_labels(fit, grid, by, wts)
    if not shifted and groups is None and name in labels.columns:
        labels = labels.drop(columns=name)
    preds = {}
    for key, value in values.items():
        arr, categories = _mean_draws(fit, _set(frame, name, value), kind, scale, draws, seed)
        preds[key] = arr if groups is None else _average(arr, groups, weights)
    sign = " - " if contrast == "difference" else " / "
    tables, blocks = [], []
    for hi, lo, (hi_text, lo_text) in cases:
        arr = preds[hi] - preds[lo] if contrast == "difference" else preds[hi] / preds[lo]
        rows, arr = _flatten(labels, arr, categories)
        head = pd.DataFrame({"term": [name] * arr.shape[1], "contrast": [hi_text + sign + lo_text] * arr.shape[1]})
        tables.append(pd.concat([head, rows], axis=1))
        blocks.append(arr)
    arr = np.concatenate(blocks, axis=1)
    table = pd.concat(tables, ignore_index=True)
    table = pd.concat([table, _summarise(arr, prob, 0.0 if contrast == "difference" else 1.0)], axis=1)
    text = f"{contrast}s of {name}, {where}, {_describe(kind, scale)}"
    return Effects(table, arr, "comparisons", text, kind, scale, prob)


# ----------------------------------------------------------------------------- slopes
def slopes(fit, variable: str, *, at=None, grid=None, by=None, wts: str | None = None, kind: str = "typical",
           scale: str = "response", eps: float | None = None, prob: float = 0.95, draws: int | None = None,
           seed: int | None = None) -> Effects:
    """Derivatives of the prediction with respect to a numeric predictor (marginal effects).

    The derivative is a centred finite difference, ``(f(x + eps/2) - f(x - eps/2)) / eps``
    per draw and row (exact for linear and quadratic terms; for other curves the error is
    of order ``eps**2``), on the scale asked for: on the response scale of a logit model,
    the change in probability per unit of ``x``.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    variable : str
        A numeric predictor (factors: use :func:`comparisons`).
    at : value or list of values, optional
        Values of ``variable`` at which to take the slope (other predictors typical, as in
        :func:`datagrid`; with a dict ``grid``, combined with it).
    grid : dict or pandas.DataFrame, optional
        Rows at which to take the slope. If neither ``at`` nor ``grid`` is given, the slopes
        are averaged over the observed rows (the average marginal effect), within ``by``
        groups.
    by : str or list of str, optional
        Average within the groups of these columns.
    wts, kind, scale, prob, draws, seed
        As in :func:`predictions`.
    eps : float, optional
        The finite-difference step; 1e-4 times the predictor's SD if None.

    Returns
    -------
    Effects
        Columns ``term``, the label columns, then ``estimate`` (posterior median),
        ``mean``, ``sd``, ``lower``, ``upper``, ``p_above_0``.

    Examples
    --------
    >>> bg.slopes(fit, "age", at=[40, 60]).table  # doctest: +SKIP
      term  age  estimate ...
    0  age   40   0.0123 ...
    >>> bg.slopes(fit, "age", scale="link")  # doctest: +SKIP
    """
    _check(kind, scale, prob)
    name, _ = _variable(fit, variable)
    col = fit.spec.data.frame[name]
    if _is_factor(col):
        raise TermError(f"{name!r} is a factor, which has no slope; use bg.comparisons(fit, {name!r}) to compare "
                        "its levels.")
    if at is not None:
        if grid is None:
            grid = {name: at}
        elif isinstance(grid, dict):
            grid = {**grid, name: at}
        else:
            raise SettingsError("Give at= with a dict grid (or no grid); with a DataFrame grid, put the values of "
                                f"{name!r} in the DataFrame.")
    if eps is None:
        sd = float(col.astype(float).std())
        eps = 1e-4 * (sd if np.isfinite(sd) and sd > 0 else 1.0)
    elif not np.isfinite(eps) or eps <= 0:
        raise SettingsError(f"eps must be a small positive number; got {eps!r}.")
    frame, labels, groups, weights, where = _rows_and_labels(fit, grid, by, wts)
    lo, categories = _mean_draws(fit, _set(frame, name, ("shift", -eps / 2)), kind, scale, draws, seed)
    hi, _ = _mean_draws(fit, _set(frame, name, ("shift", eps / 2)), kind, scale, draws, seed)
    arr = (hi - lo) / eps
    if groups is not None:
        arr = _average(arr, groups, weights)
    labels, arr = _flatten(labels, arr, categories)
    head = pd.DataFrame({"term": [name] * arr.shape[1]})
    table = pd.concat([head, labels, _summarise(arr, prob, 0.0)], axis=1)
    text = f"d/d{name}, {where}, {_describe(kind, scale)}"
    return Effects(table, arr, "slopes", text, kind, scale, prob)


__all__ = ["Effects", "comparisons", "datagrid", "predictions", "slopes"]
