"""Group intercepts integrated out of a gaussian model (bayesglmm.marginal): the same posterior, exactly."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesglmm as bg
from bayesglmm import marginal
from bayesglmm.engine import inputs_model, marginalised_index, marginalised_levels
from bayesglmm.errors import SettingsError
from bayesglmm.model import build_model


def _crossed(n=240, groups=24, others=6, seed=3):
    rng = np.random.default_rng(seed)
    g, h, x = rng.integers(0, groups, n), rng.integers(0, others, n), rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.8, groups)[g] + rng.normal(0, 0.5, others)[h] + rng.normal(0, 1.0, n)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g), "h": pd.Categorical(h)})


def test_auto_integrates_out_the_largest_eligible_term():
    spec = build_model("y ~ x + (1|g) + (1|h)", _crossed())
    assert spec.parameterization["1|g"] == marginal.LABEL and spec.marginalised == "1|g"
    assert spec.parameterization["1|h"] != marginal.LABEL
    assert spec.parameterization_choice()["1|g"] == marginal.LABEL  # kept by the retry ladder's rebuilds


def test_joint_minus_marginal_log_density_is_the_conditional_density_of_the_effects():
    """log p(theta, u | y) - log p(theta | y) = log p(u | theta, y), at any point: the integral and the conditional."""
    df = _crossed()
    spec = build_model("y ~ x + (1|g) + (1|h)", df, parameterization={"1|g": marginal.LABEL, "1|h": "centred"})
    joint = spec.pymc_model
    integrated = marginal.integrate_out(inputs_model(spec), "1|g", marginalised_index(spec), marginalised_levels(spec))
    assert "1|g" not in integrated.named_vars and not integrated.observed_RVs
    joint_logp, marginal_logp = joint.compile_logp(), integrated.compile_logp()
    conditional = integrated.compile_fn(integrated.replace_rvs_by_values(
        [integrated["1|g" + marginal.MEAN_SUFFIX], integrated["1|g" + marginal.PRECISIONS_SUFFIX]]),
        inputs=integrated.value_vars, point_fn=True, on_unused_input="ignore")
    counts = np.bincount(marginalised_index(spec), minlength=24)
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = {k: rng.normal(0, 0.5, np.shape(v)) for k, v in joint.initial_point().items()}
        reduced = {k: point[k] for k in integrated.initial_point()}
        mean, precisions = conditional(reduced)
        expected = stats.norm.logpdf(point["1|g"], mean, 1 / np.sqrt(precisions[0] + counts * precisions[1])).sum()
        assert joint_logp(point) - marginal_logp(reduced) == pytest.approx(expected, rel=1e-9, abs=1e-8)


def test_marginal_likelihood_equals_the_dense_multivariate_normal():
    """y ~ 1 + (1|g): the potential is log N(y | b, sigma^2 I + tau^2 Z Z')."""
    df = _crossed(n=60, groups=7)
    spec = build_model("y ~ 1 + (1|g)", df, fixed_design="plain")
    integrated = marginal.integrate_out(inputs_model(spec), "1|g", marginalised_index(spec), marginalised_levels(spec))
    value = integrated.compile_fn(integrated.replace_rvs_by_values([integrated[marginal.POTENTIAL]])[0],
                                  inputs=integrated.value_vars, point_fn=True, on_unused_input="ignore")
    point = {"Intercept": np.array(0.7), "sigma_log__": np.array(np.log(1.3)), "1|g_sigma_log__": np.array(np.log(0.6))}
    z = np.eye(7)[df["g"].cat.codes]
    cov = 1.3**2 * np.eye(60) + 0.6**2 * z @ z.T
    assert float(value(point)) == pytest.approx(stats.multivariate_normal(np.full(60, 0.7), cov).logpdf(df["y"]), rel=1e-10)


def test_fit_agrees_with_the_joint_model_and_is_reproducible():
    df = _crossed(n=300, groups=30)
    kwargs = dict(draws=400, tune=400, chains=2, seed=5, progressbar=False, log_likelihood=False)
    integrated = bg.fit("y ~ x + (1|g) + (1|h)", df, **kwargs)
    joint = bg.fit("y ~ x + (1|g) + (1|h)", df, parameterization={"1|g": "centred", "1|h": "centred"}, **kwargs)
    assert integrated.spec.marginalised == "1|g" and joint.spec.marginalised is None
    assert "1|g marginalised" in str(integrated.summary())
    a, b = integrated.idata["posterior"], joint.idata["posterior"]
    for name in ["1|g_sigma", "sigma", "x"]:
        sd = float(b[name].std())
        assert abs(float(a[name].mean()) - float(b[name].mean())) < 0.3 * sd, name
    effects_a, effects_b = a["1|g"].mean(("chain", "draw")).values, b["1|g"].mean(("chain", "draw")).values
    assert np.max(np.abs(effects_a - effects_b)) < 0.1
    assert a["1|g"].std(("chain", "draw")).values == pytest.approx(b["1|g"].std(("chain", "draw")).values, rel=0.2)
    again = bg.fit("y ~ x + (1|g) + (1|h)", df, **kwargs)
    assert np.array_equal(again.idata["posterior"]["1|g"].values, a["1|g"].values)


def test_recovers_simulated_variance_components():
    rng = np.random.default_rng(11)
    groups, per = 60, 15
    g = np.repeat(np.arange(groups), per)
    y = 2.0 + rng.normal(0, 0.7, groups)[g] + rng.normal(0, 0.4, groups * per)
    fit = bg.fit("y ~ 1 + (1|g)", pd.DataFrame({"y": y, "g": pd.Categorical(g)}), draws=300, tune=300, chains=2,
                 seed=2, progressbar=False, log_likelihood=False)
    post = fit.idata["posterior"]
    assert fit.spec.marginalised == "1|g"
    assert float(post["1|g_sigma"].mean()) == pytest.approx(0.7, abs=0.15)
    assert float(post["sigma"].mean()) == pytest.approx(0.4, abs=0.03)


@pytest.mark.parametrize("kwargs, reason", [
    (dict(family="poisson"), "no closed-form marginal"),
    (dict(formula="y ~ x + (1 + x || g)", term="x|g"), "slope"),
    (dict(formula="y ~ x + (1 + x | g)"), "correlated block"),
    (dict(formula="y ~ x + (1|h/g)", term="1|h"), "nested in it"),
    (dict(dpars={"sigma": "~ x"}), "sigma has its own formula"),
    (dict(weights="w"), "weights"),
])
def test_ineligible_terms_are_refused_by_name_and_left_alone_by_auto(kwargs, reason):
    df = _crossed()
    df["w"] = 1.0
    if kwargs.get("family") == "poisson":
        df["y"] = np.random.default_rng(1).poisson(3, len(df))
    formula = kwargs.pop("formula", "y ~ x + (1|g)")
    term = kwargs.pop("term", "1|g")
    with pytest.raises(SettingsError, match=reason):
        build_model(formula, df, parameterization={term: marginal.LABEL}, **kwargs)
    auto = build_model(formula, df, **kwargs)
    assert term not in [t for t, label in auto.parameterization.items() if label == marginal.LABEL]


def test_only_one_term_can_be_integrated_out():
    with pytest.raises(SettingsError, match="Only one group term"):
        build_model("y ~ x + (1|g) + (1|h)", _crossed(),
                    parameterization={"1|g": marginal.LABEL, "1|h": marginal.LABEL})


def test_beside_an_integrated_term_the_largest_centred_intercept_absorbs_the_intercept(monkeypatch):
    """InstEval's shape: students integrated out, instructors centred around their department and the
    intercept (w = Intercept + u_dept + u_d); a shift with unit Jacobian: the same density at matched points."""
    import bayesglmm.backend as backend

    rng = np.random.default_rng(4)
    n = 400
    b = rng.integers(0, 12, n)
    a, s = b // 3, rng.integers(0, 40, n)
    y = 2 + rng.normal(0, 0.3, 4)[a] + rng.normal(0, 1.0, 12)[b] + rng.normal(0, 0.5, 40)[s] + rng.normal(0, 0.5, n)
    df = pd.DataFrame({"y": y, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b], "s": [f"s{i}" for i in s]})
    choice = {"1|s": "auto", "1|a": "non-centred", "1|b": "centred"}
    new = build_model("y ~ 1 + (1|s) + (1|b) + (1|a)", df, fixed_design="plain", parameterization=choice)
    assert new.parameterization == {"1|s": marginal.LABEL, "1|b": "centred (around 1|a and the intercept)",
                                    "1|a": "non-centred"}
    monkeypatch.setattr(backend, "intercept_absorber", lambda *args, **kwargs: None)
    old = build_model("y ~ 1 + (1|s) + (1|b) + (1|a)", df, fixed_design="plain", parameterization=choice)
    logp_new, logp_old = new.pymc_model.compile_logp(), old.pymc_model.compile_logp()
    for _ in range(3):
        point = {k: rng.normal(0, 0.5, np.shape(v)) for k, v in old.pymc_model.initial_point().items()}
        shifted = dict(point, **{"1|b_total": point["1|b_total"] + point["Intercept"]})
        assert float(logp_new(shifted)) == pytest.approx(float(logp_old(point)), abs=1e-9)
