"""bayesglmm.formulae_speedups keeps grouping factors as level codes: same matrices as formulae's."""

import contextlib

import formulae as fm
import numpy as np
import pandas as pd
import pytest

from bayesglmm import formulae_speedups as fs


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "c": rng.choice(["lo", "mid", "hi"], size=n),
        "g": rng.choice(["b", "a", "c10", "c2"], size=n),  # formulae sorts these
        "h": pd.Categorical(rng.choice(["z", "y", "x"], size=n), categories=["z", "y", "x"], ordered=True),
        "k": rng.integers(0, 7, size=n),  # numbers as a grouping factor
        "a:b": rng.choice(["1:1", "1:2", "2:1"], size=n),  # a derived nested factor, as bayesglmm makes it
    })


FORMULA = "y ~ x + (1 + x|g) + (1|h) + (0 + c|g) + (1|k) + (1|`a:b`)"


@contextlib.contextmanager
def _methods(patched: bool):
    """GroupSpecificTerm with the patch's methods, or with formulae's own, for the block."""
    term = fm.terms.terms.GroupSpecificTerm
    saved = term.set_data, term.eval_new_data
    if patched:
        term.set_data, term.eval_new_data = fs.set_data, fs.eval_new_data
    else:
        term.set_data, term.eval_new_data = fs.FORMULAE_SET_DATA, fs.FORMULAE_EVAL_NEW_DATA
    try:
        yield
    finally:
        term.set_data, term.eval_new_data = saved


def _design(formula, data, patched: bool):
    with _methods(patched):
        return fm.design_matrices(formula, data)


def _with(method, new, patched: bool):
    with _methods(patched):
        return method(new)


def test_group_design_labels_and_levels_equal_formulaes():
    data = _data()
    ours, theirs = _design(FORMULA, data, True), _design(FORMULA, data, False)
    np.testing.assert_array_equal(ours.group.design_matrix.toarray(), theirs.group.design_matrix.toarray())
    assert ours.group.slices == theirs.group.slices
    for name, term in ours.group.terms.items():
        other = theirs.group.terms[name]
        assert isinstance(term.factor.data, fs.LevelCodes)
        assert term.groups == other.groups
        assert term.labels == other.labels
        np.testing.assert_array_equal(term.factor.data.toarray(), other.factor.data)
        np.testing.assert_array_equal(term.factor.data.argmax(1), other.factor.data.argmax(1))


@pytest.mark.parametrize("mode", ["silent", "error"])
def test_new_data_with_unseen_levels_equal_formulaes(mode):
    data = _data()
    new = _data(seed=1, n=9)
    new.loc[[2, 5], "g"] = "new-centre"
    new.loc[[5], "k"] = 99
    ours, theirs = _design(FORMULA, data, True), _design(FORMULA, data, False)
    saved = fm.config["EVAL_UNSEEN_CATEGORIES"]
    fm.config["EVAL_UNSEEN_CATEGORIES"] = mode
    try:
        if mode == "error":
            with pytest.raises(ValueError, match="new-centre"):
                _with(ours.group.evaluate_new_data, new, patched=True)
            return
        a = _with(ours.group.evaluate_new_data, new, patched=True)
        b = _with(theirs.group.evaluate_new_data, new, patched=False)
    finally:
        fm.config["EVAL_UNSEEN_CATEGORIES"] = saved
    np.testing.assert_array_equal(a.design_matrix.toarray(), b.design_matrix.toarray())
    assert a.factors_with_new_levels == b.factors_with_new_levels == ("g", "k")
    assert a.slices == b.slices


def test_memory_no_longer_grows_with_rows_times_levels():
    """10,000 rows x 5,000 levels: formulae's one-hot would be 400 MB; the codes are 80 kB."""
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"y": rng.normal(size=10_000), "g": rng.integers(0, 5_000, size=10_000).astype(str)})
    design = _design("y ~ (1|g)", data, patched=True)
    factor = design.group.terms["1|g"].factor.data
    assert isinstance(factor, fs.LevelCodes) and factor.codes.nbytes == 80_000
    assert design.group.design_matrix.nnz == 10_000
