"""Partially centred group intercepts (issue 16): the same model in other coordinates, labelled,
chosen by a request and rebuilt from a fit's choice. No sampling here."""

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.errors import SettingsError


def _nested(seed=3):
    rng = np.random.default_rng(seed)
    h, d = np.repeat(np.arange(4), 30), np.repeat(np.arange(12), 10)
    y = rng.poisson(np.exp(1.0 + rng.normal(0, 0.5, 4)[h] + rng.normal(0, 1.0, 12)[d]))
    return pd.DataFrame({"y": y, "a": [f"a{i}" for i in h], "b": [f"b{i % 3}" for i in d],
                         "x": rng.normal(size=h.size)})


def test_partially_centred_parent_has_the_density_of_the_centred_model_times_its_jacobian(monkeypatch):
    """(1|a/b), a partially centred around the intercept, b centred around a's total. With
    w = I sd^2 / (1 + I sd^2) (I: a's level information), v = w * Intercept + u_a / sd**(1 - w),
    so log p(v) = log p(u) + levels * (1 - w) * log(sd): the same model, other coordinates."""
    import bayesglmm.backend as backend

    df = _nested()
    asked = {"1|a": "partially centred", "1|a:b": "centred"}
    new = bg.build_model("y ~ 1 + (1|a/b)", df, "poisson", parameterization=asked)
    assert new.parameterization == {"1|a": "partially centred (around the intercept)", "1|a:b": "centred (around 1|a)"}
    assert new.parameterization_choice() == asked
    free = {v.name for v in new.pymc_model.free_RVs}
    assert {"1|a_partial", "1|a:b_total"} <= free and "1|a" not in free
    information = new.level_information["1|a"].information
    assert information > 0
    monkeypatch.setattr(backend, "nested_parent", lambda name, terms: None)  # plain centred terms
    old = bg.build_model("y ~ 1 + (1|a/b)", df, "poisson", parameterization="centred")
    terms = new.bambi_model.parameters["mu"].group_specific_terms
    parent_of = np.zeros(12, dtype=int)
    parent_of[terms["1|a:b"].group_index] = terms["1|a"].group_index
    model = new.pymc_model
    logp_new, logp_old = model.compile_logp(), old.pymc_model.compile_logp()
    effect = model.compile_fn(model.replace_rvs_by_values([model["1|a"]])[0], inputs=model.value_vars,
                              on_unused_input="ignore")
    rng = np.random.default_rng(7)
    weights = []
    for log_sd in (-4.0, -1.0, 1.0):  # from nearly non-centred to nearly centred
        point = old.pymc_model.initial_point()
        point.update({"Intercept": rng.normal(), "1|a": rng.normal(0, 0.5, 4), "1|a:b": rng.normal(0, 1, 12),
                      "1|a_sigma_log__": log_sd, "1|a:b_sigma_log__": rng.normal(0, 0.3)})
        sd = np.exp(log_sd)
        weight = information * sd**2 / (1 + information * sd**2)
        weights.append(weight)
        moved = {k: v for k, v in point.items() if k not in ("1|a", "1|a:b")}
        moved["1|a_partial"] = weight * point["Intercept"] + point["1|a"] / sd ** (1 - weight)
        moved["1|a:b_total"] = (point["Intercept"] + point["1|a"])[parent_of] + point["1|a:b"]
        jacobian = 4 * (1 - weight) * np.log(sd)
        assert float(logp_new(moved)) == pytest.approx(float(logp_old(point)) + jacobian, abs=1e-9)
        np.testing.assert_allclose(effect(moved), point["1|a"], rtol=1e-12)  # the user's u_a, stored
    assert weights[0] < 0.01 and weights[-1] > 0.9


def test_partially_centred_alone_is_around_zero_and_rebuilds_from_its_choice():
    df = _nested()
    spec = bg.build_model("y ~ x + (1|a)", df, "poisson", parameterization={"1|a": "partially centred"})
    assert spec.parameterization == {"1|a": "partially centred"}
    again = spec.request.replace(parameterization=spec.parameterization_choice()).build(df)
    assert again.parameterization == spec.parameterization
    free = {v.name for v in spec.pymc_model.free_RVs}
    assert "1|a_partial" in free and "1|a_total" not in spec.pymc_model.named_vars


@pytest.mark.parametrize("formula, asked, words", [
    ("y ~ x + (1|a)", {"1|a": "partialy centred"}, "must be 'auto', 'centred'"),
    ("y ~ x + (1 + x|a)", {"1|a": "partially centred", "x|a": "non-centred"}, "outside a correlated block"),
    ("y ~ x + (1|a) + (0 + x|a)", {"x|a": "partially centred"}, "for group intercepts"),
])
def test_partial_centring_refuses_what_it_cannot_do(formula, asked, words):
    with pytest.raises(SettingsError, match=words):
        bg.build_model(formula, _nested(), "poisson", parameterization=asked)
