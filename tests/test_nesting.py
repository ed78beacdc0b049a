"""Nesting found in the data: ``(1|brood) + (1|location)`` with every brood in one location is
sampled as ``(1|location/brood)`` is (issue 16, lme4's grouseticks). No sampling here."""

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.backend import implicit_parent, nested_parent, nesting_depth
from bayesglmm.diagnostics import Diagnostics
from bayesglmm.fit import parameterization_for
from bayesglmm.model import level_information


class _Term:
    kind = "intercept"

    def __init__(self, codes):
        self.group_index = np.asarray(codes)


def test_implicit_parent_finds_the_closest_level_of_a_chain_only():
    loc = [0, 0, 0, 0, 1, 1, 1, 1]
    brood = [0, 0, 1, 1, 2, 2, 3, 3]
    terms = {"1|loc": _Term(loc), "1|brood": _Term(brood), "1|obs": _Term(range(8))}
    assert implicit_parent("1|brood", terms) == "1|loc"
    assert implicit_parent("1|obs", terms) == "1|brood"  # not loc: the closest level of the chain
    assert implicit_parent("1|loc", terms) is None
    assert nesting_depth("1|obs", terms) == 2 and nesting_depth("1|loc", terms) == 0
    # A brood seen in two locations: not nested.
    terms["1|brood"] = _Term([0, 0, 1, 1, 2, 2, 0, 3])
    assert implicit_parent("1|brood", terms) is None
    # Crossed subjects and items: an observation-level effect has no single parent.
    crossed = {"1|s": _Term([0, 0, 1, 1, 0, 0, 1, 1]), "1|i": _Term([0, 1, 0, 1, 2, 3, 2, 3]),
               "1|obs": _Term(range(8))}
    assert crossed["1|i"].group_index.max() == 3 and implicit_parent("1|obs", crossed) is None
    # The same partition under two names (as many levels): neither is the other's parent.
    assert implicit_parent("1|a", {"1|a": _Term([0, 1, 2]), "1|b": _Term([2, 0, 1])}) is None


def _broods(seed=4, locations=20, per_location=3, rows=5):
    rng = np.random.default_rng(seed)
    loc = np.repeat(np.arange(locations), per_location * rows)
    brood = np.repeat(np.arange(locations * per_location), rows)
    eta = 2.5 + rng.normal(0, 0.2, locations)[loc] + rng.normal(0, 1.0, locations * per_location)[brood]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "location": [f"L{i}" for i in loc],
                         "brood": [f"B{i}" for i in brood], "obs": [f"o{i}" for i in range(len(loc))]})


def test_crossed_formula_of_nested_factors_is_sampled_as_the_nested_one():
    df = _broods()
    spec = bg.build_model("y ~ 1 + (1|brood) + (1|location) + (1|obs)", df, "poisson")
    assert spec.parameterization["1|brood"] == "centred (around 1|location)"  # shown in the summary
    assert spec.parameterization["1|location"] == "non-centred"
    assert spec.parameterization["1|obs"] == "non-centred"
    free = set(spec.pymc_model.named_vars) - set(spec.pymc_model.deterministics)
    assert "1|brood_total" in free and "1|brood" in spec.pymc_model.named_vars
    terms = spec.bambi_model.parameters["mu"].group_specific_terms
    assert nested_parent("1|obs", terms) == "1|brood"
    # The information about a brood and its spread are those of the written nested model.
    written = bg.build_model("y ~ 1 + (1|location/brood) + (1|obs)", df, "poisson")
    assert written.level_information["1|location:brood"] == spec.level_information["1|brood"]
    assert written.parameterization["1|location:brood"] == "centred (around 1|location)"
    # Asked for, every term is still non-centred: the nesting changes no user choice.
    plain = bg.build_model("y ~ 1 + (1|brood) + (1|location)", df, "poisson", parameterization="non-centred")
    assert set(plain.parameterization.values()) == {"non-centred"}


def test_nested_spread_ignores_parents_with_one_nested_level():
    """A location's only brood deviates by zero from it by construction: it must not count."""
    df = _broods()
    spec = bg.build_model("y ~ 1 + (1|location/brood)", df, "poisson")
    # Add 20 locations with one brood each: the nested spread estimate must not shrink.
    extra = _broods(seed=5, locations=20, per_location=1)
    extra["location"] = "M" + extra["location"].str[1:]
    extra["brood"] = "C" + extra["brood"].str[1:]
    more = bg.build_model("y ~ 1 + (1|location/brood)", pd.concat([df, extra], ignore_index=True), "poisson")
    before = spec.level_information["1|location:brood"].between_sd
    assert before == pytest.approx(1.0, abs=0.3)
    assert more.level_information["1|location:brood"].between_sd == pytest.approx(before, abs=1e-9)
    assert level_information  # the public helper behind both numbers


def test_last_rung_keeps_a_nested_term_around_its_parent_when_both_sds_mix_slowly():
    spec = bg.build_model("y ~ 1 + (1|brood) + (1|location)", _broods(), "poisson")
    names = ["1|brood_sigma", "1|location_sigma", "1|brood[B0]"]

    def verdict(r_hat):
        return Diagnostics(pd.DataFrame({"r_hat": r_hat, "ess_bulk": [1000.0] * 3}, index=names), 0, np.ones(4))

    both = parameterization_for(spec, verdict([1.02, 1.02, 1.0]))
    assert both == {"1|brood": "centred", "1|location": "non-centred"}
    alone = parameterization_for(spec, verdict([1.02, 1.0, 1.0]))  # a weakly informed brood SD alone
    assert alone["1|brood"] == "non-centred"


def test_last_rung_samples_a_diverging_non_centred_parent_partially_centred():
    """Arabidopsis's regions: a parent's SD fails non-centred, with divergences (issue 16)."""
    spec = bg.build_model("y ~ 1 + (1|brood) + (1|location)", _broods(), "poisson")
    names = ["1|brood_sigma", "1|location_sigma", "1|brood[B0]"]
    table = pd.DataFrame({"r_hat": [1.0, 1.05, 1.0], "ess_bulk": [1000.0, 40.0, 1000.0]}, index=names)
    wanted = parameterization_for(spec, Diagnostics(table, 3, np.ones(4)))
    assert wanted == {"1|brood": "partially centred", "1|location": "partially centred"}
    rebuilt = spec.request.replace(parameterization=wanted).build(_broods())
    assert rebuilt.parameterization == {"1|brood": "partially centred (around 1|location)",
                                        "1|location": "partially centred (around the intercept)"}
    # Without divergences the parent stays as it was (slow mixing is not this geometry).
    assert parameterization_for(spec, Diagnostics(table, 0, np.ones(4)))["1|location"] == "non-centred"


def test_last_rung_partially_centres_the_centred_chain_below_the_diverging_parent():
    rng = np.random.default_rng(2)
    reg, popu, gen = np.repeat(np.arange(3), 40), np.repeat(np.arange(9), 40 // 3 + 1)[:120], np.repeat(np.arange(24), 5)
    df = pd.DataFrame({"y": rng.poisson(3.0, 120), "reg": reg.astype(str), "popu": popu.astype(str),
                       "gen": gen.astype(str)})
    asked = {"1|reg": "non-centred", "1|reg:popu": "centred", "1|reg:popu:gen": "centred"}
    spec = bg.build_model("y ~ 1 + (1|reg/popu/gen)", df, "poisson", parameterization=asked)
    assert spec.parameterization["1|reg:popu:gen"] == "centred (around 1|reg:popu)"
    table = pd.DataFrame({"r_hat": [1.05, 1.0], "ess_bulk": [40.0, 1000.0]}, index=["1|reg_sigma", "1|reg:popu_sigma"])
    wanted = parameterization_for(spec, Diagnostics(table, 2, np.ones(4)))
    assert wanted == {"1|reg": "partially centred", "1|reg:popu": "partially centred",
                      "1|reg:popu:gen": "partially centred"}
    # A non-centred term below keeps its choice: only centred terms move.
    asked["1|reg:popu:gen"] = "non-centred"
    spec = bg.build_model("y ~ 1 + (1|reg/popu/gen)", df, "poisson", parameterization=asked)
    assert parameterization_for(spec, Diagnostics(table, 2, np.ones(4)))["1|reg:popu:gen"] == "non-centred"
