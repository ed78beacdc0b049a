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
labels and new-data evaluation against formulae's.

formulae's classes are left alone outside bayesglmm's own design construction:
:func:`patched` is entered around the ``bmb.Model(...)`` call of
:func:`bayesglmm.build_model`, and each term it builds on level codes becomes a
:class:`LevelCodedTerm`, whose ``eval_new_data`` reads the codes. So every later
evaluation of new data through that design (Bambi's ``predict``, ``compute_log_likelihood``,
bayesglmm's predictions and cross-validation) takes this path without a patch, and terms
built anywhere else are formulae's own. formulae's licence: MIT.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import formulae as fm
import numpy as np
import pandas as pd
from formulae.categorical import ContrastMatrix
from formulae.terms.terms import GroupSpecificTerm
from formulae.terms.variable import Variable
from formulae.utils import row_khatri_rao_sparse

from bayesglmm import patching
from bayesglmm.errors import DataError, SettingsError

__all__ = ["LevelCodedTerm", "LevelCodes", "check", "patched"]

#: formulae's own methods, kept for the equality tests.
FORMULAE_SET_DATA = GroupSpecificTerm.set_data
FORMULAE_EVAL_NEW_DATA = GroupSpecificTerm.eval_new_data

#: Where the copies were taken from: package, version, {function: source hash}. ``Variable``'s
#: two methods are the ones :func:`_encode` and :func:`eval_new_data` mirror.
UPSTREAM = ("formulae", "0.6.2", {
    "GroupSpecificTerm.set_data": (FORMULAE_SET_DATA, "300ae0d2f761a6de"),
    "GroupSpecificTerm.eval_new_data": (FORMULAE_EVAL_NEW_DATA, "6f9c85b316f03ace"),
    "Variable.eval_categoric": (Variable.eval_categoric, "de2a3c9a57920df2"),
    "Variable.eval_new_data_categoric": (Variable.eval_new_data_categoric, "ee6c019a0fd7b244"),
})


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
            raise SettingsError(f"LevelCodes.argmax is defined along the levels (axis=1); got axis={axis!r}.")
        return self.codes.copy()

    def toarray(self) -> np.ndarray:
        """The dense one-hot matrix formulae would have built."""
        out = np.zeros(self.shape, dtype=int)
        out[np.arange(self.shape[0]), self.codes] = 1
        return out


def check() -> None:
    """Raise :class:`~bayesglmm.errors.UpstreamVersionError` unless formulae's methods are the ones copied."""
    patching.require(*UPSTREAM)


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Designs built in this block keep single-column grouping factors as :class:`LevelCodes`.

    Entered by :func:`bayesglmm.build_model` around its ``bmb.Model(...)`` call only.
    ``GroupSpecificTerm.set_data`` is swapped through :func:`bayesglmm.patching.swapped`:
    thread-safe in that only the thread inside the block builds terms on level codes, while
    a design built at the same time in another thread gets formulae's own method. Checks
    formulae's methods first (:func:`check`); does nothing when ``BAYESGLMM_SPEEDUPS=0``.

    Examples
    --------
    >>> import formulae as fm, pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "g": ["a", "b", "a"]})
    >>> with patched():
    ...     design = fm.design_matrices("y ~ (1|g)", df)
    >>> type(design.group.terms["1|g"]).__name__, design.group.terms["1|g"].factor.data.codes
    ('LevelCodedTerm', array([0, 1, 0]))
    """
    if not patching.enabled():
        yield
        return
    check()
    with patching.swapped(GroupSpecificTerm, "set_data", set_data):
        yield


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
    if type(self) is GroupSpecificTerm:
        self.__class__ = LevelCodedTerm


def eval_new_data(self, data):
    """``GroupSpecificTerm.eval_new_data`` on level codes; unseen levels share one extra column."""
    variable = _one_categorical_column(self.factor)
    if variable is None or not isinstance(self.factor.data, LevelCodes):
        return FORMULAE_EVAL_NEW_DATA(self, data)
    xi = self.expr.eval_new_data(data)
    x = data[variable.name]
    # Each value's position among the levels, -1 where unseen (pd.Categorical(x, categories=...) with
    # values outside the categories is deprecated in pandas 3).
    codes = np.asarray(pd.Index(variable.levels).get_indexer(np.asarray(x, dtype=object)), dtype=np.int64)
    unseen = codes == -1
    n_levels = len(variable.levels)
    if unseen.any():
        new = sorted({str(v) for v in pd.Series(x)[unseen]})
        mode = fm.config["EVAL_UNSEEN_CATEGORIES"]
        if mode == "error":
            raise DataError(f"The levels ({', '.join(new)}) in '{variable.name}' are not present in the "
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


class LevelCodedTerm(GroupSpecificTerm):
    """formulae's ``GroupSpecificTerm`` built on :class:`LevelCodes`: evaluates new data on the codes.

    :func:`set_data` gives this class to the terms it builds, so the fast new-data path
    travels with the design through copies and pickling; it compares and hashes as
    formulae's term does.
    """

    eval_new_data = eval_new_data

    def __eq__(self, other):
        if not isinstance(other, GroupSpecificTerm):
            return False
        return self.expr == other.expr and self.factor == other.factor

    __hash__ = GroupSpecificTerm.__hash__
