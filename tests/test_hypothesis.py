"""Hypotheses about fixed effects (brms's hypothesis() semantics), checked against the draws by hand.

The parser tests need no sampling; the numbers are checked on the session's multicentre GLMM
(``mc_glmm``) against counts and quantiles of its draws, and the Savage-Dickey ratio against
the closed form of normal draws and a normal prior.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from bambi import Prior
from scipy import stats

import bayesglmm as bg
from bayesglmm.hypothesis import _savage_dickey, default_rope, parse_statement

NAMES = ["Intercept", "x", "x1", "x2", "treat[drug]", "x:treat[drug]"]


# -- the grammar ------------------------------------------------------------------------------------

@pytest.mark.parametrize("statement, expected", [
    ("treat[drug] > 0.2", ({"treat[drug]": 1.0}, -0.2, ">")),
    ("x1 - x2 = 0", ({"x1": 1.0, "x2": -1.0}, 0.0, "=")),
    ("2*x1 + x2 < 1", ({"x1": 2.0, "x2": 1.0}, -1.0, "<")),
    ("-x1 >= x2*3 - 1", ({"x1": -1.0, "x2": -3.0}, 1.0, ">")),
    ("x:treat[drug] = x", ({"x:treat[drug]": 1.0, "x": -1.0}, 0.0, "=")),
    ("`x1` + 1e-1 > .5", ({"x1": 1.0}, -0.4, ">")),
])
def test_statements_parse_to_a_linear_combination(statement, expected):
    coefs, const, op = parse_statement(statement, NAMES)
    assert coefs == pytest.approx(expected[0]) and const == pytest.approx(expected[1]) and op == expected[2]


def test_an_unknown_name_is_a_term_error_that_lists_the_coefficients():
    with pytest.raises(bg.TermError) as info:
        parse_statement("treat[placebo] > 0", NAMES)
    msg = str(info.value)
    assert "'treat[placebo]'" in msg and "treat[drug]" in msg and "x:treat[drug]" in msg


@pytest.mark.parametrize("statement", ["x1 > 0 > 1", "x1", "x1 * x2 > 0", "x1 ** 2 > 0", "x1 + > 0", "2x1 > 0",
                                       "x1 - x1 = 0", "(x1) > 0", "x1 > ", "x1 / 2 > 0"])
def test_bad_statements_are_settings_errors(statement):
    with pytest.raises(bg.SettingsError):
        parse_statement(statement, NAMES)


def test_statements_are_never_evaluated(monkeypatch):
    import builtins

    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail("eval called"))
    for statement in ["__import__('os').system('echo hi') > 0", "os.system('x') = 0", "x1.__class__ > 0"]:
        with pytest.raises((bg.TermError, bg.SettingsError)):
            parse_statement(statement, NAMES)


def test_savage_dickey_matches_the_closed_form_for_normal_draws():
    rng = np.random.default_rng(5)
    b = rng.normal(0.5, 0.3, 40000)
    spec = SimpleNamespace(priors={"b": Prior("Normal", mu=0.0, sigma=2.0)})
    coefficients = {"b": ("b", 0, b)}
    bf, why = _savage_dickey(spec, coefficients, {"b": 1.0}, 0.0, b)
    truth = stats.norm.pdf(0, 0.5, 0.3) / stats.norm.pdf(0, 0, 2.0)
    assert why == "" and bf == pytest.approx(truth, rel=0.05)
    # "2*b = 1": c = 2b - 1 ~ N(0, 0.6) a posteriori, N(-1, 4) a priori
    bf2, _ = _savage_dickey(spec, coefficients, {"b": 2.0}, -1.0, 2 * b - 1)
    assert bf2 == pytest.approx(stats.norm.pdf(0, 0, 0.6) / stats.norm.pdf(0, -1, 4.0), rel=0.05)
    nan, why = _savage_dickey(spec, {"Intercept": ("Intercept", 0, b)}, {"Intercept": 1.0}, 0.0, b)
    assert math.isnan(nan) and "Intercept" in why
    spec_t = SimpleNamespace(priors={"b": Prior("StudentT", nu=3, mu=0.0, sigma=2.0)})
    nan, why = _savage_dickey(spec_t, coefficients, {"b": 1.0}, 0.0, b)
    assert math.isnan(nan) and "not a Normal" in why


# -- numbers on a real fit ----------------------------------------------------------------------------

def _treat(fit):
    return fit.draws["treat"].transpose("chain", "draw", ...).values.reshape(-1)


def test_one_sided_statement_agrees_with_the_draws(mc_glmm):
    b = _treat(mc_glmm)
    h = bg.hypothesis(mc_glmm, ["treat[drug] > 0.2", "treat[drug] < 0"])
    row = h.table.loc["treat[drug] > 0.2"]
    p = np.mean(b > 0.2)
    assert row["as_tested"] == "treat[drug] - 0.2 > 0"
    assert row["post_prob"] == pytest.approx(p) and row["evid_ratio"] == pytest.approx(p / (1 - p))
    assert row["estimate"] == pytest.approx(b.mean() - 0.2) and row["sd"] == pytest.approx(b.std(ddof=1))
    assert [row["lower"], row["upper"]] == pytest.approx(list(np.quantile(b - 0.2, [0.025, 0.975])))
    assert h.table.loc["treat[drug] < 0", "post_prob"] == pytest.approx(np.mean(b < 0))
    assert np.isnan(row["p_rope"])
    # the method forwards, and the statement's draws are kept
    same = mc_glmm.hypothesis("treat[drug] > 0.2")
    assert same.table.loc["treat[drug] > 0.2", "post_prob"] == row["post_prob"]
    np.testing.assert_allclose(h.draws["treat[drug] > 0.2"], b - 0.2)


def test_point_statement_rope_and_savage_dickey(mc_glmm):
    b = _treat(mc_glmm)
    h = bg.hypothesis(mc_glmm, "treat[drug] = 0")
    row = h.table.iloc[0]
    r = 0.1 * math.pi / math.sqrt(3)  # the default half-width on the logit scale
    assert default_rope(mc_glmm.spec) == pytest.approx(r)
    assert (row["rope_low"], row["rope_high"]) == pytest.approx((-r, r))
    assert row["p_rope"] == pytest.approx(np.mean(np.abs(b) <= r))
    # Savage-Dickey: the posterior is close to normal, so the normal approximation of its density is close
    prior = mc_glmm.spec.priors["treat"]
    mu, sigma = float(np.ravel(prior.args["mu"])[0]), float(np.ravel(prior.args["sigma"])[0])
    approx = stats.norm.pdf(0, b.mean(), b.std()) / stats.norm.pdf(0, mu, sigma)
    assert row["evid_ratio"] == pytest.approx(approx, rel=0.1)
    assert row["post_prob"] == pytest.approx(row["evid_ratio"] / (1 + row["evid_ratio"]))
    custom = bg.hypothesis(mc_glmm, "treat[drug] = 0", rope=(-0.05, 0.3)).table.iloc[0]
    assert custom["p_rope"] == pytest.approx(np.mean((b >= -0.05) & (b <= 0.3)))


def test_combinations_with_the_intercept_have_no_savage_dickey_ratio(mc_glmm):
    h = bg.hypothesis(mc_glmm, "Intercept + treat[drug] = -0.5")
    intercept = mc_glmm.draws["Intercept"].values.reshape(-1)
    np.testing.assert_allclose(h.draws["Intercept + treat[drug] = -0.5"], intercept + _treat(mc_glmm) + 0.5)
    assert np.isnan(h.table.iloc[0]["evid_ratio"]) and any("Intercept" in n for n in h.notes)


def test_unknown_term_on_a_fit(mc_glmm):
    with pytest.raises(bg.TermError, match="treat\\[drug\\]"):
        mc_glmm.hypothesis("treat > 0")
