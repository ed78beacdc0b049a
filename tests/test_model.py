"""Model building without sampling: every family with every grouping structure builds a
graph whose log-density and gradient are finite at the initial point; priors are as
documented; correlated blocks carry Bambi's names."""

import numpy as np
import pandas as pd
import pytensor
import pytest

import bayesglmm as bg
from bayesglmm.priors import SCALE

RNG = np.random.default_rng(0)
N = 120


def _frame():
    df = pd.DataFrame({
        "x": RNG.normal(size=N),
        "t": np.tile(np.arange(6.0), N // 6),
        "a": np.repeat([f"a{i}" for i in range(6)], N // 6),
        "b": np.tile(np.repeat([f"b{i}" for i in range(4)], 5), 6),
        "c": np.tile([f"c{i}" for i in range(8)], N // 8),
        "exposure": RNG.uniform(0.5, 2.0, size=N),
    })
    df["yb"] = RNG.integers(0, 2, size=N)
    df["n"] = 10
    df["yk"] = RNG.integers(0, 11, size=N)
    df["yc"] = RNG.poisson(3.0, size=N)
    df["yg"] = RNG.normal(size=N)
    df["yo"] = pd.Categorical(RNG.integers(1, 5, size=N), categories=[1, 2, 3, 4], ordered=True)
    return df


RESPONSES = {
    "gaussian": "yg", "bernoulli": "yb", "binomial": "p(yk, n)", "poisson": "yc",
    "negativebinomial": "yc", "cumulative": "yo",
}
STRUCTURES = {
    "intercepts": "(1|a)",
    "slopes": "(1 + t|a)",
    "uncorrelated": "(1 + t||a)",
    "nested": "(1|a/b)",
    "crossed": "(1|a) + (1|c)",
    "glm": None,
}


# Every family with random intercepts, and every structure with two families: the
# construction code paths are per family and per structure, not per combination.
CASES = [(f, "intercepts") for f in RESPONSES] + [
    (f, s) for s in STRUCTURES if s != "intercepts" for f in ("bernoulli", "poisson")
] + [("cumulative", "slopes"), ("negativebinomial", "nested")]
# A pure-Python linker: no C compilation per graph, so these checks take milliseconds.
FAST = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")


@pytest.mark.parametrize("family, structure", CASES)
def test_every_family_and_structure_builds_a_finite_graph(family, structure):
    df = _frame()
    rhs = "x + t" + (f" + {STRUCTURES[structure]}" if STRUCTURES[structure] else "")
    offset = " + offset(log(exposure))" if family == "poisson" else ""
    spec = bg.build_model(f"{RESPONSES[family]} ~ {rhs}{offset}", df, family=family)
    model = spec.pymc_model
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode=FAST)(point))
    assert np.all(np.isfinite(model.compile_dlogp(mode=FAST)(point)))
    if structure == "slopes":
        assert "a_corr" in model.named_vars and "t|a" in model.named_vars
        assert spec.parameterization["1|a"] in ("centred (LKJ)", "non-centred (LKJ)")  # by the information rule
    if structure == "uncorrelated":
        assert "a_corr" not in model.named_vars


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_cumulative_links(link):
    spec = bg.build_model("yo ~ x + (1|a)", _frame(), family="cumulative", link=link)
    assert spec.link == link
    thresholds = spec.priors["threshold"]
    assert np.all(np.diff(thresholds.args["mu"]) > 0)


def test_default_priors_scale_with_the_predictor():
    df = _frame()
    df["x_big"] = df["x"] * 1000
    spec = bg.build_model("yb ~ x + x_big + (1 + x|a)", df, family="bernoulli")
    sd_small, sd_big = df["x"].std(ddof=0), df["x_big"].std(ddof=0)
    assert spec.priors["x"].args["sigma"] == pytest.approx(SCALE / sd_small)
    assert spec.priors["x_big"].args["sigma"] == pytest.approx(SCALE / sd_big)
    assert spec.priors["x|a"].args["sigma"].args["sigma"] == pytest.approx(SCALE / sd_small)
    assert spec.priors["1|a"].args["sigma"].args["sigma"] == pytest.approx(SCALE)


def test_intercept_prior_is_centred_on_the_observed_rate():
    df = _frame()
    spec = bg.build_model("yc ~ x + offset(log(exposure))", df, family="poisson")
    expected = np.log(df["yc"].sum() / df["exposure"].sum())
    assert spec.priors["Intercept"].args["mu"] == pytest.approx(expected)


def test_gaussian_priors_use_the_response_scale():
    df = _frame()
    df["yg"] = df["yg"] * 50 + 100
    spec = bg.build_model("yg ~ x + (1|a)", df)
    sy = df["yg"].std(ddof=0)
    assert spec.priors["Intercept"].args["mu"] == pytest.approx(df["yg"].mean())
    assert spec.priors["Intercept"].args["sigma"] == pytest.approx(SCALE * sy)
    assert spec.priors["1|a"].args["sigma"].args["sigma"] == pytest.approx(SCALE * sy)


def test_user_priors_override_and_are_reported():
    prior = bg.Prior("Normal", mu=0, sigma=1)
    spec = bg.build_model("yb ~ x + (1 + t|a)", _frame(), family="bernoulli", priors={"x": prior, "a_corr": 2})
    table = spec.prior_table().set_index("term")
    assert table.loc["x", "source"] == "user" and table.loc["x", "prior"] == "Normal(mu=0, sigma=1)"
    assert table.loc["a_corr", "prior"] == "LKJCorr(eta=2)"
    assert table.loc["t|a", "source"] == "default"


def test_unknown_prior_name_is_an_error():
    with pytest.raises(bg.PriorError, match="did you mean 'x'"):
        bg.build_model("yb ~ x", _frame(), family="bernoulli", priors={"xx": bg.Prior("Normal", mu=0, sigma=1)})


def test_parameterization_rule_and_override():
    df = _frame()
    rng = np.random.default_rng(11)  # its own seed: the rule reads the data's between-level spread
    level = df["a"].str[1:].astype(int).to_numpy()
    df["yk"] = rng.binomial(10, 1 / (1 + np.exp(-rng.normal(0, 1.0, 6)[level])))
    spec = bg.build_model("p(yk, n) ~ x + (1|a)", df, family="binomial")
    assert spec.parameterization["1|a"] == "centred"  # 20 rows x 10 trials per level, SD 1
    spec = bg.build_model("yb ~ x + (1|c)", df, family="bernoulli")
    assert spec.parameterization["1|c"] == "non-centred"  # 15 binary rows per level
    spec = bg.build_model("yb ~ x + (1|c)", df, family="bernoulli", parameterization={"1|c": "centred"})
    assert spec.parameterization["1|c"] == "centred"


def test_nested_intercept_centred_around_its_parent_has_the_same_log_density(monkeypatch):
    """(1|a/b) with both centred samples w_a = Intercept + u_a and w_ab = w_a + u_ab (hierarchical
    centring); shifts with unit Jacobian: the same density at matched points."""
    import bayesglmm.backend as backend

    rng = np.random.default_rng(3)
    h, d = np.repeat(np.arange(4), 30), np.repeat(np.arange(12), 10)
    y = rng.poisson(np.exp(1.0 + rng.normal(0, 0.5, 4)[h] + rng.normal(0, 1.0, 12)[d]))
    df = pd.DataFrame({"y": y, "a": [f"a{i}" for i in h], "b": [f"b{i % 3}" for i in d]})
    both = {"1|a": "centred", "1|a:b": "centred"}
    new = bg.build_model("y ~ 1 + (1|a/b)", df, "poisson", parameterization=both)
    assert new.parameterization == {"1|a": "centred (around the intercept)", "1|a:b": "centred (around 1|a)"}
    assert {"1|a_total", "1|a:b_total"} <= set(new.pymc_model.named_vars) - set(new.pymc_model.deterministics)
    monkeypatch.setattr(backend, "nested_parent", lambda name, terms: None)  # plain centred terms
    old = bg.build_model("y ~ 1 + (1|a/b)", df, "poisson", parameterization=both)
    terms = new.bambi_model.parameters["mu"].group_specific_terms
    parent_of = np.zeros(12, dtype=int)
    parent_of[terms["1|a:b"].group_index] = terms["1|a"].group_index
    logp_new, logp_old = new.pymc_model.compile_logp(), old.pymc_model.compile_logp()
    for _ in range(3):
        point = old.pymc_model.initial_point()
        point.update({"Intercept": rng.normal(), "1|a": rng.normal(0, 0.5, 4), "1|a:b": rng.normal(0, 1, 12),
                      "1|a_sigma_log__": rng.normal(-0.5, 0.3), "1|a:b_sigma_log__": rng.normal(0, 0.3)})
        shifted = {k: v for k, v in point.items() if k not in ("1|a", "1|a:b")}
        shifted["1|a_total"] = point["Intercept"] + point["1|a"]
        shifted["1|a:b_total"] = shifted["1|a_total"][parent_of] + point["1|a:b"]
        assert float(logp_new(shifted)) == pytest.approx(float(logp_old(point)), abs=1e-9)


def test_intercept_sampled_at_the_mean_has_the_same_log_density(monkeypatch):
    """y ~ x + (1|g) non-centred samples a = Intercept + mean(sd * z[g]) (issue 16): a shift with unit
    Jacobian, so the same density at matched points; an observation-level term is left out."""
    import bayesglmm.backend as backend

    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(5), 30)
    x = rng.normal(size=g.size)
    df = pd.DataFrame({"y": rng.poisson(np.exp(1.0 + 0.3 * x + rng.normal(0, 0.4, 5)[g])), "x": x,
                       "g": [f"g{i}" for i in g], "obs": [f"o{i}" for i in range(g.size)]})
    new = bg.build_model("y ~ x + (1|g)", df, "poisson", parameterization="non-centred")
    free = {v.name for v in new.pymc_model.free_RVs}
    assert "Intercept_at_mean" in free and "Intercept" not in free and "Intercept" in new.pymc_model.named_vars
    monkeypatch.setattr(backend, "mean_shifted_terms", lambda *args, **kwargs: [])
    old = bg.build_model("y ~ x + (1|g)", df, "poisson", parameterization="non-centred")
    assert "Intercept" in {v.name for v in old.pymc_model.free_RVs}
    logp_new, logp_old = new.pymc_model.compile_logp(), old.pymc_model.compile_logp()
    for _ in range(3):
        point = old.pymc_model.initial_point()
        point.update({"Intercept": rng.normal(), "1|g_offset": rng.normal(size=5),
                      "1|g_sigma_log__": rng.normal(-1.0, 0.5)})
        shifted = {k: v for k, v in point.items() if k != "Intercept"}
        sd = np.exp(point["1|g_sigma_log__"])
        shifted["Intercept_at_mean"] = point["Intercept"] + sd * point["1|g_offset"][g].mean()
        assert float(logp_new(shifted)) == pytest.approx(float(logp_old(point)), abs=1e-9)
    monkeypatch.undo()
    # An observation-level term is never shifted; here each row's level also lies in one level of g,
    # so g is the parent of a nested term (bayesglmm.backend.implicit_parent) and is left out too.
    obs = bg.build_model("y ~ x + (1|g) + (1|obs)", df, "poisson", parameterization="non-centred")
    assert obs.bambi_model.backend.components["mu"].mean_shifted == []
    assert "Intercept" in {v.name for v in obs.pymc_model.free_RVs}


def test_qr_prior_is_the_multivariate_normal_implied_by_the_coefficients_prior():
    """theta = R* beta, beta ~ Normal(mu, sigma): log density, draws and initial point of MvNormal(R* mu, R* S^2 R*')."""
    import pymc as pm
    from scipy import stats

    from bayesglmm.backend import qr_factors, qr_normal

    x = RNG.normal(size=(40, 3)) * [1.0, 30.0, 0.01]
    _, r = qr_factors(x - x.mean(0))
    mu, sigma = np.array([0.5, -1.0, 2.0]), np.array([2.5, 0.1, 40.0])
    exact = stats.multivariate_normal(r @ mu, (r * sigma**2) @ r.T)
    with pm.Model() as model:
        theta = qr_normal("theta", r, mu, sigma)
    logp = model.compile_logp()
    for value in RNG.normal(size=(4, 3)) * [1.0, 30.0, 0.1]:
        assert abs(float(logp({"theta": value})) - exact.logpdf(value)) < 1e-9
    np.testing.assert_array_equal(model.initial_point()["theta"], r @ mu)
    draws = pm.draw(theta, draws=40_000, random_seed=1)
    z = np.linalg.solve(r, (draws - r @ mu).T).T / sigma  # standard normal if the draws are right
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=0.03)
    ops = {type(node.op).__name__ for node in model.compile_dlogp().f.maker.fgraph.apply_nodes}
    assert not ops & {"Cholesky", "SolveTriangular"}  # no LAPACK at every gradient (what numba compiles slowly)
