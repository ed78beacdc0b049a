"""Families as objects: the registry, its errors, the links, no name branches elsewhere, and Student-t.

Everything but one small seeded Student-t fit runs without sampling.
"""

import ast
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytest
import xarray as xr

import bayesglmm as bg
from bayesglmm.errors import FamilyError
from bayesglmm.families import FAMILIES, LINKS, Family, get_family, link_functions

PACKAGE = Path(bg.__file__).resolve().parent
# Modules that may name families in comparisons: the families themselves, the course
# analyses (they fit named families to named data) and the course data sets.
ALLOWED = ("families/", "course/", "datasets.py")


# ----------------------------------------------------------------------------- (a) no name branches
def _family_names() -> set[str]:
    """The families' names and Bambi names, less one-letter ones (Bambi's "t").

    Aliases are left out: they are what users type ("normal" is also a prior's name, "ordinal"
    a response kind); code that branches on a family would use its name.
    """
    return {n for fam in FAMILIES.values() for n in (fam.name, fam.bambi_name) if len(n) > 1}


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


def family_name_branches(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every comparison or ``match`` case on a family-name string literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for part in (node.left, *node.comparators):
                found += [(node.lineno, s) for s in _strings(part) if s in names]
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, s) for s in _strings(node.value) if s in names]
    return found


def test_the_checker_catches_a_name_branch():
    names = _family_names()
    code = ('if family.name == "poisson":\n    pass\n'
            'x = 1 if spec.family.name in ("gaussian", "binomial") else 2\n'
            'match fam:\n    case "cumulative":\n        pass\n'
            'fit(data, family="bernoulli")\n')  # naming a family is fine; branching on it is not
    assert [name for _, name in family_name_branches(code, names)] == ["poisson", "gaussian", "binomial",
                                                                        "cumulative"]


def test_no_module_branches_on_a_family_name():
    names = _family_names()
    assert {"gaussian", "poisson", "negativebinomial", "student_t"} <= names
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(ALLOWED):
            continue
        offenders += [f"{rel}:{line}: {name!r}" for line, name in family_name_branches(path.read_text(), names)]
    assert not offenders, ("Ask the family object (bayesglmm/families) instead of branching on its name: "
                           + "; ".join(offenders))


# ----------------------------------------------------------------------------- (b) registry and errors
def test_registry_names_aliases_and_case():
    assert list(FAMILIES)[:7] == ["gaussian", "bernoulli", "binomial", "poisson", "negativebinomial", "cumulative",
                                  "student_t"]  # issue 18's families follow (tests/test_families_more.py)
    assert all(isinstance(f, Family) for f in FAMILIES.values())
    for alias, name in [("Normal", "gaussian"), ("logistic", "bernoulli"), ("NegBinomial", "negativebinomial"),
                        ("ordinal", "cumulative"), ("t", "student_t"), ("Student-T", "student_t"),
                        ("POISSON", "poisson")]:
        assert get_family(alias) is FAMILIES[name]
    assert get_family(FAMILIES["binomial"]) is FAMILIES["binomial"]
    assert pickle.loads(pickle.dumps(FAMILIES["student_t"])) is FAMILIES["student_t"]


def test_unknown_family_lists_the_families_and_suggests_one():
    with pytest.raises(FamilyError) as info:
        get_family("studnt_t")
    message = str(info.value)
    assert "'studnt_t'" in message and "Did you mean 'student_t'?" in message
    assert all(name in message for name in FAMILIES)
    with pytest.raises(FamilyError, match="Families: gaussian"):
        bg.build_model("y ~ x", pd.DataFrame({"y": [1.0, 2.0], "x": [0.0, 1.0]}), family="tweedie")


def test_unknown_link_lists_the_links():
    with pytest.raises(FamilyError, match="'logit' is not available for family 'student_t'; choose one of "
                                          "identity, log"):
        get_family("student_t").check_link("logit")
    with pytest.raises(FamilyError, match="choose one of log"):
        bg.build_model("y ~ x", pd.DataFrame({"y": [1, 2, 0], "x": [0.0, 1.0, 2.0]}), family="poisson",
                       link="identity")
    with pytest.raises(FamilyError, match="Unknown link 'sqrt'; links: identity, log, logit, probit, cloglog"):
        link_functions("sqrt")


# ----------------------------------------------------------------------------- (d) links
# Closed forms of each inverse link, written out independently of scipy.
CLOSED_INVERSE = {
    "identity": lambda x: x,
    "log": lambda x: np.exp(x),
    "logit": lambda x: 1 / (1 + np.exp(-x)),
    "probit": lambda x: 0.5 * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))),
    "cloglog": lambda x: 1 - np.exp(-np.exp(x)),
}
ETA = np.linspace(-4, 3, 15)


# One linear predictor per category (categorical: softmax) is tested in tests/test_categorical.py.
@pytest.mark.parametrize("name, link", [(f.name, link) for f in FAMILIES.values() for link in f.links
                                        if not f.per_category_predictor])
def test_link_and_inverse_link_invert_each_other(name, link):
    fam = get_family(name)
    g, g_inv = fam.link_function(link), fam.inverse_link(link)
    mu = CLOSED_INVERSE[link](ETA)
    np.testing.assert_allclose(g_inv(ETA), mu, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g(mu), ETA, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g_inv(g(mu)), mu, rtol=1e-12)
    assert set(LINKS) == set(CLOSED_INVERSE)


def test_ratio_labels_per_link():
    assert get_family("bernoulli").ratio_name("logit") == "odds ratio"
    assert get_family("poisson").ratio_name("log") == "rate ratio"
    assert get_family("student_t").ratio_name("identity") is None
    assert get_family("student_t").ratio_name("log") == "ratio of means"


# ----------------------------------------------------------------------------- Student-t without sampling
def test_student_t_simulates_a_t_response():
    fam = get_family("student_t")
    rng = np.random.default_rng(3)
    mu = np.full((1, 200_000), 2.0)
    y = fam.simulate(mu, {"sigma": np.array([[0.5]]), "nu": np.array([[5.0]])}, rng=rng)  # identity: eta = mu
    z = (y - 2.0) / 0.5
    assert abs(np.median(z)) < 0.01
    assert np.var(z) == pytest.approx(5 / 3, rel=0.03)  # nu / (nu - 2)


def test_student_t_icc_variance_is_the_t_variance():
    fam = get_family("student_t")
    sigma, nu = np.array([[1.0, 2.0, 1.0]]), np.array([[4.0, 10.0, 1.5]])
    ds = xr.Dataset({"sigma": (("chain", "draw"), sigma), "nu": (("chain", "draw"), nu)})
    v, text = fam.icc_residual_variance("identity", ds, lambda: None, np.ones(3))
    np.testing.assert_allclose(v, [2.0, 5.0, np.inf])
    assert "nu / (nu - 2)" in text and "1 of 3 draws have nu <= 2" in text
    with pytest.raises(FamilyError, match="identity link only"):
        fam.icc_residual_variance("log", ds, lambda: None, np.ones(3))


def test_student_t_checks_its_response_and_builds_a_finite_graph():
    df = pd.DataFrame({"y": [0.5, 1.5, -2.0, 8.0, 1.0, 0.2], "x": [0.0, 1, 2, 3, 4, 5], "g": list("aabbcc")})
    with pytest.raises(bg.DataError, match="'y'.*inf"):
        bg.build_model("y ~ x", df.assign(y=[0.5, np.inf, 1, 2, 3, 4]), family="student_t")
    with pytest.raises(bg.DataError, match="'y'.*numeric.*'b'"):
        bg.build_model("y ~ x", df.assign(y=["1", "b", "1", "2", "3", "4"]), family="t")
    spec = bg.build_model("y ~ x + (1|g)", df, family="t")
    assert spec.family.name == "student_t" and spec.bambi_model.family.name == "t"
    table = spec.prior_table().set_index("term")
    assert table.loc["nu", "prior"] == "Gamma(alpha=2, beta=0.1)"
    assert spec.priors["x"].args["sigma"] == pytest.approx(2.5 * df["y"].std(ddof=0) / df["x"].std(ddof=0))
    fast = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")
    point = spec.pymc_model.initial_point()
    assert np.isfinite(spec.pymc_model.compile_logp(mode=fast)(point))


# ----------------------------------------------------------------------------- (c) a small Student-t fit
SLOPE, GROUP_SD = 0.8, 1.0


@pytest.fixture(scope="module")
def t_fit():
    rng = np.random.default_rng(11)
    n, groups = 200, 10
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(size=n)
    y = 1.0 + SLOPE * x + rng.normal(0, GROUP_SD, groups)[g] + 0.5 * rng.standard_t(3, n)  # heavy tails
    df = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bg.fit("y ~ x + (1|g)", df, family="student_t", draws=300, tune=300, chains=2, seed=1,
                      retry=False, progressbar=False)


def test_student_t_fit_recovers_slope_and_group_sd(t_fit):
    fixef = t_fit.fixef()
    assert fixef.loc["x", "lower"] < SLOPE < fixef.loc["x", "upper"]
    sd = t_fit.varcorr().set_index("label").loc["1|g_sigma"]
    assert sd["lower"] < GROUP_SD < sd["upper"]
    assert "Residual" not in set(t_fit.varcorr()["group"])  # sigma is a scale: with the family parameters
    assert {"sigma", "nu"} <= set(t_fit.family_params().index)


def test_student_t_fit_tables_and_predictions(t_fit):
    priors = t_fit.prior_summary()
    assert "nu" in set(priors["term"]) and "sigma" in set(priors["term"])
    text = str(t_fit.summary())
    assert "student_t (identity link)" in text and "nu" in text
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["0", "1"]})
    pred = t_fit.predict(new)
    assert np.all(pred["lower"] < pred["median"]) and np.all(pred["median"] < pred["upper"])
    assert np.all(pred["pred_lower"] < pred["lower"]) and np.all(pred["upper"] < pred["pred_upper"])
    typical = t_fit.predict(new, kind="typical")
    assert typical["median"].iloc[1] - typical["median"].iloc[0] == pytest.approx(
        float(t_fit.draws["x"].median()), abs=0.05)
    icc = t_fit.icc()
    assert 0 < icc.loc["g", "median"] < 1 and "nu / (nu - 2)" in icc.definition
    with pytest.raises(FamilyError, match="no ratio meaning"):
        t_fit.ratios()
