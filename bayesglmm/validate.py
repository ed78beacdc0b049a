"""Pre-fit checks: every problem with the data is reported before any sampling starts.

Like lme4's checks in ``R/modular.R``, these run on the model frame (only the columns the
formula uses). Each error names the column, the offending value and the rows, by the
data's own index labels. :func:`prepare_data` returns the cleaned model frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayesglmm.errors import DataError, SettingsError
from bayesglmm.formula import ParsedFormula

if TYPE_CHECKING:  # the families call this module's checks
    from bayesglmm.families import Family

_MAX_ROWS_SHOWN = 5


@dataclass
class PreparedData:
    """The model frame handed to Bambi, and what was done to get it.

    Attributes
    ----------
    frame : pandas.DataFrame
        The used columns, grouping factors as categoricals, rows as in the input.
    dropped_rows : list
        Index labels of rows dropped for missing values (only with ``dropna=True``).
    notes : list of str
        Plain-language notes on conversions (e.g. a numeric grouping column made a factor).
    """

    frame: pd.DataFrame
    dropped_rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _rows(index) -> str:
    labels = list(index)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in labels[:_MAX_ROWS_SHOWN])
    more = f" and {len(labels) - _MAX_ROWS_SHOWN} more" if len(labels) > _MAX_ROWS_SHOWN else ""
    return f"row{'s' if len(labels) > 1 else ''} {shown}{more}"


def _first_bad(series: pd.Series, mask) -> str:
    mask = np.asarray(mask, dtype=bool)
    bad = series[mask]
    value = bad.iloc[0]
    value = value.item() if isinstance(value, np.generic) else value
    return f"value {value!r} at {_rows(bad.index)}"


def _numeric(series: pd.Series, column: str, what: str) -> pd.Series:
    """The column as numbers, or a DataError naming the first value that is not a number."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        raise DataError(
            f"Column {column!r} ({what}) must be numeric but has {int(bad.sum())} non-numeric "
            f"value(s): {_first_bad(series, bad)}."
        )
    return converted.astype(float)


def check_missing(frame: pd.DataFrame, columns) -> None:
    """Raise DataError listing, per column, how many values are missing and where.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, None], "g": ["a", "b"]})
    >>> check_missing(df, ["y", "g"])
    Traceback (most recent call last):
    ...
    bayesglmm.errors.DataError: Missing values in the model's columns: column 'y': 1 missing (row 1). ...
    """
    parts = []
    for col in columns:
        miss = frame[col].isna()
        if miss.any():
            parts.append(f"column {col!r}: {int(miss.sum())} missing ({_rows(frame.index[miss])})")
    if parts:
        raise DataError(
            "Missing values in the model's columns: " + "; ".join(parts) + ". Nothing is dropped "
            "silently: remove or impute these rows, or pass dropna=True to drop them (the fit "
            "records how many)."
        )


def check_response(frame: pd.DataFrame, pf: ParsedFormula, family: Family) -> pd.DataFrame:
    """Check the response (and trials) against the family; return the frame with it converted.

    Each family checks its own response (:meth:`bayesglmm.families.Family.check_response`),
    naming the column, the first bad value and its rows.
    """
    return family.check_response(frame, pf)


def empty_categories(y: pd.Series) -> list[str]:
    """The declared categories of a pandas categorical column that no row takes.

    Examples
    --------
    >>> empty_categories(pd.Series(pd.Categorical(["a", "a"], categories=["a", "b", "c"])))
    ['b', 'c']
    """
    counts = y.value_counts(sort=False)
    return [str(level) for level, c in counts.items() if c == 0]


def _check_ordinal(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    y = frame[col]
    if isinstance(y.dtype, pd.CategoricalDtype):
        empty = empty_categories(y)
        if empty:
            raise DataError(
                f"Ordinal response {col!r} has categories with no rows: {', '.join(empty)}. "
                "A cut-point between empty categories is not identified: remove the unused "
                f"categories (data[{col!r}] = data[{col!r}].cat.remove_unused_categories()) or merge them."
            )
        if not y.cat.ordered:
            frame[col] = y.cat.as_ordered()
    elif pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        _check_finite(y.astype(float), col)
        values = y.astype(float)
        fractional = values != np.round(values)
        declare = (f"If it really is ordinal, declare the order: data[{col!r}] = pd.Categorical(data[{col!r}], "
                   "categories=[...], ordered=True).")
        if fractional.any():
            raise DataError(
                f"Ordinal response {col!r} holds numbers that are not whole ({_first_bad(y, fractional)}): "
                "numeric codes of ordered categories are whole numbers. A continuous response needs "
                f"family='gaussian' (or 'student_t'), not an ordinal model with a cut-point between every "
                f"pair of values. {declare}")
        distinct = int(y.nunique())
        if distinct > MAX_ORDINAL_CODES:
            raise DataError(
                f"Ordinal response {col!r} has {distinct} distinct numeric values (more than "
                f"{MAX_ORDINAL_CODES}): an ordinal model would estimate {distinct - 1} cut-points. A count or "
                f"measurement needs another family (poisson, negativebinomial, gaussian). {declare}")
        frame[col] = pd.Categorical(y, categories=sorted(y.unique()), ordered=True)
    else:
        raise DataError(
            f"Ordinal response {col!r} must be an ordered categorical or numeric codes; it is "
            f"{y.dtype}. Make the order explicit: pd.Categorical(data[{col!r}], categories=[...], ordered=True)."
        )
    if frame[col].nunique() < 2:
        raise DataError(
            f"Ordinal response {col!r} has a single category ({frame[col].iloc[0]!r}): "
            "there is nothing to model."
        )
    return frame


#: Most distinct numeric codes an ordinal response may have without being declared an ordered categorical.
MAX_ORDINAL_CODES = 20

#: Largest |value| of a response or numeric predictor: beyond it, squares and sums of the
#: values overflow float64 (the SD is inf) and the sampler fails with a RuntimeError.
MAX_ABS_VALUE = 1e150


#: Largest count or number of trials: whole numbers beyond 2**53 are not exact in float64, and
#: converting values beyond int64's range wraps them round silently.
MAX_COUNT = float(2**53)


class DegenerateResponseWarning(UserWarning):
    """A binary or binomial response with only failures (or only successes): the answer is prior-driven."""


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside bayesglmm (NumPyro's ``find_stack_level``)."""
    import inspect
    import os

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = inspect.currentframe(), 0
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return max(level, 1)


def check_response_scale(frame: pd.DataFrame, col: str, what: str = "the response",
                         limit: float = MAX_ABS_VALUE) -> None:
    """Raise DataError when a numeric column's scale overflows float64 arithmetic.

    A value beyond :data:`MAX_ABS_VALUE` in size (or a standard deviation that is not
    finite) makes the default priors, the initial point and the sampler overflow.

    Examples
    --------
    >>> check_response_scale(pd.DataFrame({"y": [1.0, 2e300]}), "y")
    Traceback (most recent call last):
    ...
    bayesglmm.errors.DataError: Column 'y' (the response) has values too large to compute with: value 2e+300 at row 1...
    """
    values = frame[col]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    x = values.to_numpy(dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        sd = float(np.std(x))
    big = np.abs(x) > limit
    if big.any() or not np.isfinite(sd):
        big = big if big.any() else np.abs(x) == np.abs(x).max()
        raise DataError(
            f"Column {col!r} ({what}) has values too large to compute with: {_first_bad(values, big)} "
            f"(limit {limit:g} in size; its standard deviation is {sd:g}). "
            + (f"Rescale it, e.g. data[{col!r}] / 1e6, or check the data for a misread value." if limit > MAX_COUNT
               else "Counts this large are not exact in floating point: check the data for a misread value.")
        )


def warn_degenerate_response(frame: pd.DataFrame, pf: ParsedFormula, family: Family) -> None:
    """Warn when a binary or binomial response has no successes or no failures at all.

    A warning, not an error: the model is legal (brms and glmer fit it) and such data arise
    honestly in refits of subsets and in simulation-based calibration, but every
    coefficient is then pushed towards infinity by the likelihood and held by its prior
    alone, so the answer is the prior's; most often the wrong column or a filtered subset.

    Examples
    --------
    >>> import warnings
    >>> from bayesglmm.formula import parse_formula
    >>> from bayesglmm.families import get_family
    >>> df = pd.DataFrame({"y": [0, 0, 0], "x": [1.0, 2.0, 3.0]})
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_degenerate_response(df, parse_formula("y ~ x", df.columns), get_family("bernoulli"))
    >>> "every row is 0" in str(w[0].message)
    True
    """
    if family.response not in ("binary", "trials") or pf.response not in frame:
        return
    y = frame[pf.response].to_numpy(dtype=float)
    n = frame[pf.trials].to_numpy(dtype=float) if pf.trials and pf.trials in frame else np.ones_like(y)
    if len(y) == 0:
        return
    if np.all(y == 0):
        what = "every row is 0 (no successes)" if pf.trials is None else "every row has 0 successes"
    elif np.all(y == n):
        what = ("every row is 1 (no failures)" if pf.trials is None
                else f"every row's successes equal its trials ({pf.trials!r}): no failures")
    else:
        return
    warnings.warn(
        f"Response {pf.response!r} of the {family.name} model has one outcome only: {what}. Nothing in the data "
        "tells the outcomes apart, so the intercept and every coefficient are estimated from their priors alone "
        "(the likelihood pushes them towards infinity). Check that this is the right column and rows; report any "
        "estimate as prior-driven.",
        DegenerateResponseWarning,
        stacklevel=_user_stacklevel(),
    )


def _check_finite(values: pd.Series, col: str) -> None:
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        raise DataError(f"Column {col!r} has non-finite values: {_first_bad(values, bad)}.")


def check_groups(frame: pd.DataFrame, pf: ParsedFormula, family: Family, notes: list) -> pd.DataFrame:
    """Make grouping columns categorical and check they have at least two levels."""
    for col in pf.group_factors:
        g = frame[col]
        if not isinstance(g.dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical(g.astype(str), categories=_natural_order(g))
            notes.append(f"grouping column {col!r} was converted to a factor ({frame[col].nunique()} levels)")
        else:
            frame[col] = g.cat.remove_unused_categories()
        levels = frame[col].nunique()
        if levels < 2:
            raise DataError(
                f"Grouping factor {col!r} has a single level ({frame[col].iloc[0]!r}) in the "
                "model's rows: a group-level variance cannot be estimated from one group. "
                "Drop the term or check the data."
            )
        if levels == len(frame) and not family.observation_level_effect:
            raise DataError(
                f"Grouping factor {col!r} has a different level on every row ({levels} levels for "
                f"{len(frame)} rows): with a {family.name} response an observation-level effect "
                "is not identified. (Observation-level effects are a remedy for overdispersed "
                "counts: binomial, poisson.)"
            )
    return frame


class SeparationWarning(UserWarning):
    """A predictor separates the outcomes perfectly: its estimate is held finite by the prior alone."""


def separated_columns(design: dict, y, trials=None) -> list[str]:
    """Design columns that separate a binary or binomial outcome perfectly.

    A dummy column separates when every row where it is 1 has only failures or only
    successes; a numeric column when a threshold on it splits failures from successes.
    Binomial rows with both successes and failures cannot be separated and end the check.

    Parameters
    ----------
    design : dict
        Column label -> 1-d array (the fixed-effect design, without the intercept).
    y, trials : array-like
        Successes and (binomial) trials; trials None for a 0/1 response.

    Returns
    -------
    list of str
        Each separating column, described in words.

    Examples
    --------
    >>> separated_columns({"x": np.array([0.1, 0.2, 0.9, 1.0])}, np.array([0, 0, 1, 1]))
    ['x (every row with x <= 0.2 has no successes and every row above has only successes)']
    """
    y = np.asarray(y, dtype=float)
    n = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    none, all_ = y == 0, y == n
    if not np.all(none | all_):
        return []
    found = []
    for label, x in design.items():
        x = np.asarray(x, dtype=float)
        if set(np.unique(x)) <= {0.0, 1.0}:
            on = x == 1
            if on.any() and (np.all(none[on]) or np.all(all_[on])):
                outcome = "no successes" if np.all(none[on]) else "only successes"
                found.append(f"{label} (every row where it applies has {outcome})")
        elif none.any() and all_.any():
            if x[none].max() < x[all_].min():
                found.append(f"{label} (every row with {label} <= {x[none].max():.4g} has no successes and every row above has only successes)")
            elif x[all_].max() < x[none].min():
                found.append(f"{label} (every row with {label} <= {x[all_].max():.4g} has only successes and every row above has none)")
    return found


def add_derived_factors(frame: pd.DataFrame, pf: ParsedFormula) -> pd.DataFrame:
    """Add the interaction grouping factors (``a:b``) with only the observed combinations.

    Levels are labelled ``"a_level:b_level"`` and ordered by the factors' own level order.

    Examples
    --------
    >>> from bayesglmm.formula import parse_formula
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "a": ["1", "1", "2", "2"], "b": ["x", "y", "x", "x"]})
    >>> add_derived_factors(df, parse_formula("y ~ (1|a/b)", df.columns))["a:b"].cat.categories.tolist()
    ['1:x', '1:y', '2:x']
    """
    for name in pf.derived_factors:
        parts = name.split(":")
        codes = [frame[c].cat.codes if isinstance(frame[c].dtype, pd.CategoricalDtype) else frame[c] for c in parts]
        order = pd.DataFrame(dict(zip(parts, codes))).drop_duplicates().sort_values(parts).index
        labels = frame[parts[0]].astype(str)
        for part in parts[1:]:  # column by column: a row-wise join runs Python once per row
            labels = labels + ":" + frame[part].astype(str)
        frame[name] = pd.Categorical(labels, categories=list(dict.fromkeys(labels.loc[order])))
    return frame


def _natural_order(values: pd.Series) -> list[str]:
    uniq = pd.unique(values.dropna())
    try:
        return [str(v) for v in sorted(uniq, key=float)]
    except (TypeError, ValueError):
        return [str(v) for v in sorted(uniq, key=str)]


def check_offsets(frame: pd.DataFrame, pf: ParsedFormula) -> None:
    """Offsets must be finite numbers, and positive when the formula takes their log."""
    for col in pf.offsets:
        values = _numeric(frame[col], col, "an offset")
        _check_finite(values, col)
        if f"log({col})" in pf.original.replace(" ", "").replace("`", ""):
            bad = values <= 0
            if bad.any():
                raise DataError(
                    f"Column {col!r} is used as offset(log({col})) and must be positive (an exposure); "
                    f"found {_first_bad(frame[col], bad)}."
                )


def check_predictors(frame: pd.DataFrame, pf: ParsedFormula) -> None:
    """Numeric predictor columns must be finite; a text column that is mostly numbers is an error.

    formulae would treat a numeric column with one stray string ("12", "13", "n/a") as a
    factor with a level per value: a silently wrong model. Genuine factors are left alone.
    """
    skip = {pf.response, pf.trials, pf.censoring, *pf.group_factors}
    for col in pf.columns:
        if col in skip:
            continue
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            _check_finite(s.astype(float), col)
            check_response_scale(frame, col, "a predictor")
            if s.nunique() == 1:
                value = s.iloc[0].item() if isinstance(s.iloc[0], np.generic) else s.iloc[0]
                raise DataError(
                    f"Predictor {col!r} is constant (value {value!r} in every row): its coefficient "
                    "cannot be told apart from the intercept. Remove it from the formula."
                )
        elif not isinstance(s.dtype, pd.CategoricalDtype) and not pd.api.types.is_bool_dtype(s):
            as_numbers = pd.to_numeric(s, errors="coerce")
            numeric_share = as_numbers.notna().mean()
            if 0.5 <= numeric_share < 1:
                bad = as_numbers.isna() & s.notna()
                raise DataError(
                    f"Column {col!r} looks numeric ({numeric_share:.0%} of its values are numbers) but has "
                    f"{int(bad.sum())} non-numeric value(s): {_first_bad(s, bad)}. Fix or remove those "
                    f"values, or make the column a factor explicitly (data[{col!r}].astype('category'))."
                )


def prepare_data(data, pf: ParsedFormula, family: Family, *, dropna: bool = False) -> PreparedData:
    """Run every pre-fit check and return the model frame.

    Raises
    ------
    DataError
        With the column, value and rows of the first problem found.

    Examples
    --------
    >>> from bayesglmm.formula import parse_formula
    >>> from bayesglmm.families import get_family
    >>> df = pd.DataFrame({"y": [1, 5], "n": [4, 4], "g": ["a", "b"]})
    >>> prepare_data(df, parse_formula("p(y, n) ~ 1 + (1|g)", df.columns), get_family("binomial"))
    Traceback (most recent call last):
    ...
    bayesglmm.errors.DataError: Successes exceed trials: column 'y' = 5 > column 'n' = 4 at row 1.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if not isinstance(dropna, (bool, np.bool_)):
        raise SettingsError(f"dropna must be True or False; got {dropna!r}.")
    twice = sorted({str(c) for c in data.columns[data.columns.duplicated()] if c in pf.columns})
    if twice:
        raise DataError(
            f"The data have more than one column named {', '.join(map(repr, twice))}: the formula cannot tell "
            "which one it means. Rename or drop the copies (data.loc[:, ~data.columns.duplicated()] keeps the first)."
        )
    if len(data) == 0:
        raise DataError("The data have no rows.")
    frame = data.loc[:, list(pf.columns)].copy()
    notes: list[str] = []
    dropped: list = []
    if dropna:
        miss = frame.isna().any(axis=1)
        if miss.any():
            dropped = list(frame.index[miss])
            per_col = {c: int(frame[c].isna().sum()) for c in frame.columns if frame[c].isna().any()}
            frame = frame.loc[~miss].copy()
            notes.append(
                f"{len(dropped)} row(s) with missing values were dropped ("
                + ", ".join(f"{c}: {k}" for c, k in per_col.items())
                + ")"
            )
            if len(frame) == 0:
                raise DataError("Every row has a missing value in the model's columns; nothing is left to fit.")
    check_missing(frame, pf.columns)
    for col in (pf.response, pf.trials):  # before the family converts it (a count of 1e200 to int64 wraps)
        if col is not None and col in frame:
            check_response_scale(frame, col, "the response" if col == pf.response else "the trials",
                                 limit=MAX_COUNT if family.response in ("count", "trials") else MAX_ABS_VALUE)
    frame = check_response(frame, pf, family)
    check_response_scale(frame, pf.response)  # any numeric response; an ordinal one is categorical by now
    warn_degenerate_response(frame, pf, family)
    check_offsets(frame, pf)
    check_predictors(frame, pf)
    frame = check_groups(frame, pf, family, notes)
    frame = add_derived_factors(frame, pf)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype) and col not in pf.group_factors and col != pf.response:
            # formulae sorts an unordered categorical's levels alphabetically; marking it
            # ordered keeps the data's level order (as R's factor does: the first level is
            # the baseline) with the same treatment coding.
            frame[col] = frame[col].cat.remove_unused_categories().cat.as_ordered()
    for note in notes:
        if note.startswith("grouping column"):
            continue
        warnings.warn(note, UserWarning, stacklevel=3)
    return PreparedData(frame=frame, dropped_rows=dropped, notes=notes)
