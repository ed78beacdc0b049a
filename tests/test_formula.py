"""Formula reading: bars, ||, nesting, quoting, columns; errors name what is wrong."""

import pytest

from bayesglmm.errors import FormulaError
from bayesglmm.formula import parse_formula, quote_columns

COLS = ["y", "n", "x", "t", "g", "a", "b", "e", "ID.hospital", "ID.doctor"]


def test_binomial_response_and_trials():
    pf = parse_formula("p(y, n) ~ x + (1|g)", COLS)
    assert (pf.response, pf.trials) == ("y", "n")
    assert pf.group_factors == ("g",)


def test_correlated_block_names_follow_bambi():
    pf = parse_formula("y ~ t + (1 + t | g)", COLS)
    (block,) = pf.blocks
    assert block.correlated and block.term_names == ("1|g", "t|g")


def test_double_bar_is_uncorrelated_and_rewritten():
    pf = parse_formula("y ~ t + (1 + t || g)", COLS)
    assert not pf.blocks[0].correlated
    assert "||" not in pf.bambi


def test_single_effect_block_is_not_correlated():
    assert not parse_formula("y ~ x + (1|g)", COLS).blocks[0].correlated


def test_nested_expands_like_lme4():
    pf = parse_formula("y ~ x + (1|a/b)", COLS)
    assert [b.factor for b in pf.blocks] == ["a", "a:b"]
    assert pf.group_factors == ("a", "b")


def test_crossed_and_offset_columns():
    pf = parse_formula("y ~ x + offset(log(e)) + (1|a) + (1|b)", COLS)
    assert pf.offsets == ("e",)
    assert set(pf.columns) == {"y", "x", "e", "a", "b"}


def test_course_column_names_need_no_quotes():
    pf = parse_formula("y ~ x + (1|ID.hospital/ID.doctor)", COLS)
    assert "`ID.hospital`" in pf.bambi
    assert pf.group_factors == ("ID.hospital", "ID.doctor")
    assert quote_columns("y ~ `ID.doctor`", COLS) == "y ~ `ID.doctor`"


@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("y ~ zz + (1|g)", "'zz'"),
        ("y ~ xx", "did you mean 'x'"),
        ("y ~ x + (1|)", "(effects | grouping factor)"),
        ("y ~ x +", "does not parse"),
        ("y x", "needs a response"),
        ("y ~ (x|g", "Unbalanced"),
        (" ~ x", "no response"),
    ],
)
def test_bad_formulas_say_why(formula, fragment):
    with pytest.raises(FormulaError, match=None) as info:
        parse_formula(formula, COLS)
    assert fragment in str(info.value)
