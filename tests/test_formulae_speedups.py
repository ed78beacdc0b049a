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


def _design(formula, data, patched: bool):
    """A design built inside :func:`fs.patched` (level codes) or as formulae builds it."""
    with fs.patched() if patched else contextlib.nullcontext():
        return fm.design_matrices(formula, data)


def _with(method, new, patched: bool):
    """New data evaluated outside any block: the terms' own class decides the path."""
    group = method.__self__
    assert all(isinstance(t, fs.LevelCodedTerm) == patched for t in group.terms.values())
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


# formulae's own path (the reference here) builds pd.Categorical with unseen values, which pandas 3 deprecates.
@pytest.mark.filterwarnings("ignore:Constructing a Categorical with a dtype and values:DeprecationWarning:formulae")
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


def test_formulae_untouched_outside_the_block():
    term = fm.terms.terms.GroupSpecificTerm
    data = _data()
    with fs.patched():
        assert term.set_data is not fs.FORMULAE_SET_DATA
    assert term.set_data is fs.FORMULAE_SET_DATA and term.eval_new_data is fs.FORMULAE_EVAL_NEW_DATA
    plain = _design(FORMULA, data, False)
    assert all(type(t) is term and not isinstance(t.factor.data, fs.LevelCodes) for t in plain.group.terms.values())


def test_level_coded_terms_copy_pickle_and_compare_as_formulaes():
    import copy
    import pickle

    data, new = _data(), _data(seed=2, n=7)
    ours, theirs = _design(FORMULA, data, True), _design(FORMULA, data, False)
    for name, term in ours.group.terms.items():
        assert term == theirs.group.terms[name] and theirs.group.terms[name] == term
        assert hash(term) == hash(theirs.group.terms[name])
        for clone in (copy.deepcopy(term), pickle.loads(pickle.dumps(term))):
            assert isinstance(clone, fs.LevelCodedTerm)
            np.testing.assert_array_equal(clone.eval_new_data(new).toarray(), term.eval_new_data(new).toarray())
