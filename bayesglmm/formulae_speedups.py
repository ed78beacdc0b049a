"""Grouping factors kept as level codes, not as formulae 0.6's dense one-hot matrix.

formulae evaluates the factor ``g`` of a group-specific term ``(x | g)`` as a dense
rows x levels integer matrix, and then formulae and Bambi only read each row's level
(``argmax``) and the matrix's shape. For 16 copies of the course's patients data
(136,400 rows, 6,512 doctors) that matrix alone is 7.1 GB. This patch computes the same
levels, labels and codes directly, and hands formulae and Bambi a :class:`LevelCodes`
object that answers ``argmax`` and ``shape`` the way the dense matrix did. It covers a
factor that is one categorical column, which is every factor bayesglmm passes on
(``a/b`` and ``a:b`` become one derived column, :mod:`bayesglmm.formula`); any other
factor takes formulae's own path. ``tests/test_formulae_speedups.py`` checks the design matrices, group
labels and new-data evaluation against formulae's. formulae's licence: MIT.
"""

from __future__ import annotations

import warnings

import formulae as fm
import numpy as np
import pandas as pd
from formulae.categorical import ContrastMatrix
from formulae.terms.terms import GroupSpecificTerm
from formulae.terms.variable import Variable
from formulae.utils import row_khatri_rao_sparse

__all__ = ["LevelCodes", "install"]

#: formulae's own methods, kept for the equality tests.
FORMULAE_SET_DATA = GroupSpecificTerm.set_data
FORMULAE_EVAL_NEW_DATA = GroupSpecificTerm.eval_new_data


class LevelCodes:
    """A rows x levels one-hot matrix stored as each row's level.

    Examples
    --------
    >>> LevelCodes([0, 2, 1], 3).argmax(1)
    array([0, 2, 1])
    >>> LevelCodes([0, 2, 1], 3).shape
    (3, 3)
    """

    ndim = 2

    def __init__(self, codes, n_levels: int):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.shape = (len(self.codes), int(n_levels))

    def argmax(self, axis=None):
        """Each row's level (the only axis the one-hot matrix was read along)."""
        if axis not in (1, -1):
            raise ValueError(f"LevelCodes.argmax is defined along the levels (axis=1); got axis={axis!r}.")
        return self.codes.copy()

    def toarray(self) -> np.ndarray:
        """The dense one-hot matrix formulae would have built."""
        out = np.zeros(self.shape, dtype=int)
        out[np.arange(self.shape[0]), self.codes] = 1
        return out


def install() -> None:
    """Make formulae keep single-column grouping factors as :class:`LevelCodes` (idempotent)."""
    GroupSpecificTerm.set_data = set_data
    GroupSpecificTerm.eval_new_data = eval_new_data


def _one_categorical_column(factor) -> Variable | None:
    components = getattr(factor, "components", ())
    if len(components) == 1 and type(components[0]) is Variable and components[0].kind == "categoric":
        return components[0]
    return None


def _encode(variable: Variable) -> np.ndarray:
    """formulae's ``Variable.eval_categoric`` for a factor (full-rank coding), without the dense matrix."""
    x = variable._intermediate_data
    if not hasattr(x.dtype, "ordered") or not x.dtype.ordered:
        categories = sorted(np.unique(x).tolist())
        x = pd.Categorical(x).astype(pd.CategoricalDtype(categories=categories, ordered=True))
    else:
        x = pd.Categorical(x)
    variable.levels = x.categories.tolist()
    # The identity contrast (what formulae reads for new data) in one byte per cell.
    variable.contrast_matrix = ContrastMatrix(np.eye(len(variable.levels), dtype=np.int8),
                                              [str(level) for level in variable.levels])
    variable.spans_intercept = True
    variable.value = LevelCodes(x.codes, len(variable.levels))
    return variable.value.codes


def set_data(self, spans_intercept):
    """``GroupSpecificTerm.set_data`` with the factor's one-hot matrix kept as level codes."""
    variable = _one_categorical_column(self.factor)
    if variable is None:
        return FORMULAE_SET_DATA(self, spans_intercept)
    self.expr.set_data(spans_intercept)
    codes = _encode(variable)
    self.factor.data = variable.value
    self.kind = self.expr.kind
    self.groups = list(variable.contrast_matrix.labels)
    xi = self.expr.data
    if xi.ndim == 1:
        xi = xi[:, np.newaxis]
    self.data = row_khatri_rao_sparse(xi, codes, len(variable.levels))


def eval_new_data(self, data):
    """``GroupSpecificTerm.eval_new_data`` on level codes; unseen levels share one extra column."""
    variable = _one_categorical_column(self.factor)
    if variable is None or not isinstance(self.factor.data, LevelCodes):
        return FORMULAE_EVAL_NEW_DATA(self, data)
    xi = self.expr.eval_new_data(data)
    x = data[variable.name]
    codes = np.asarray(pd.Categorical(x, categories=variable.levels).codes, dtype=np.int64)
    unseen = codes == -1
    n_levels = len(variable.levels)
    if unseen.any():
        new = sorted({str(v) for v in pd.Series(x)[unseen]})
        mode = fm.config["EVAL_UNSEEN_CATEGORIES"]
        if mode == "error":
            raise ValueError(f"The levels ({', '.join(new)}) in '{variable.name}' are not present in the "
                             "original data set.")
        if mode == "warning":
            warnings.warn(f"The levels ({', '.join(new)}) in '{variable.name}' are not present in the "
                          "original data set. It's impossible to select appropriate contrasts for them. "
                          "Setting all the indicator variables to zero.", stacklevel=2)
        codes[unseen] = n_levels  # formulae adds one column for all the rows of unseen levels
        n_levels += 1
    if xi.ndim == 1:
        xi = xi[:, np.newaxis]
    return row_khatri_rao_sparse(xi, codes, k=n_levels)
