"""Prior sensitivity (power-scaling): flags a prior that decides the answer, and only then."""

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.request import ModelRequest
from bayesglmm.sensitivity import sensitivity, top_level_variables
from conftest import quick_fit


def informed_data() -> pd.DataFrame:
    """120 gaussian rows in 8 groups, y = 1 + 0.8 x + u_g + noise: x is well informed."""
    rng = np.random.default_rng(7)
    g = np.repeat([f"g{i}" for i in range(8)], 15)
    u = dict(zip(sorted(set(g)), rng.normal(0, 1, 8)))
    x = rng.normal(size=120)
    y = 1 + 0.8 * x + np.array([u[k] for k in g]) + rng.normal(0, 0.5, 120)
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.fixture(scope="module")
def default_fit():
    return quick_fit("y ~ x + (1|g)", informed_data(), "gaussian", chains=2, draws=500, tune=500)


@pytest.fixture(scope="module")
def conflict_fit():
    # A prior that puts x at 3 +/- 0.1 while the data say 0.8 +/- 0.05: the posterior sits between.
    priors = {"x": bg.Prior("Normal", mu=3, sigma=0.1)}
    return quick_fit("y ~ x + (1|g)", informed_data(), "gaussian", chains=2, draws=500, tune=500, priors=priors)


def test_default_priors_do_not_decide_a_well_informed_slope(default_fit):
    table = default_fit.sensitivity()
    assert table.loc["x", "diagnosis"] == "ok"
    assert table.loc["x", "prior"] < 0.05 < table.loc["x", "likelihood"]


def test_a_conflicting_prior_is_flagged(conflict_fit):
    table = conflict_fit.sensitivity()
    assert table.loc["x", "diagnosis"] == "prior-data conflict"
    assert table.loc["x", "prior"] > 0.05 and table.loc["x", "likelihood"] > 0.05
    assert "check its location and scale" in table.loc["x", "advice"]
    # The posterior really was pulled: it lies between the data's answer (0.8) and the prior's (3).
    assert 0.9 < conflict_fit.fixef().loc["x", "mean"] < 2.9


def test_summary_shows_the_column_and_what_to_do(conflict_fit, default_fit):
    text = str(conflict_fit.summary())
    assert "sensitivity" in text and "conflict" in text
    assert "Prior sensitivity (power-scaling" in text and "flagged" in text
    assert conflict_fit.summary().fixef.loc["x", "sensitivity"] == "conflict"
    assert default_fit.summary().fixef.loc["x", "sensitivity"] == "ok"


def test_only_top_level_priors_are_scaled():
    data = informed_data()
    data["t"] = np.tile([0.0, 1.0, 2.0], 40)
    for par in ("centred", "non-centred"):
        spec = ModelRequest(formula="y ~ x + (1|g) + (0 + t|g)", parameterization=par).build(data)
        names = top_level_variables(spec)
        assert "1|g_sigma" in names and "t|g_sigma" in names and "sigma" in names
        assert not any(n in names for n in ("1|g", "t|g", "1|g_offset", "t|g_offset"))
        spec = ModelRequest(formula="y ~ x + (1 + t|g)", parameterization=par).build(data)
        names = top_level_variables(spec)
        assert "g_sds" in names and "g_corr_chol" in names  # LKJ(2): SDs and correlations apart
        assert not any(n in names for n in ("g_effects", "g_z_offset"))
        spec = ModelRequest(formula="y ~ x + (1 + t|g)", priors={"g_corr": 1}, parameterization=par).build(data)
        names = top_level_variables(spec)
        assert "g_chol_cov" in names  # LKJ(1): PyMC's packed covariance factor
        assert not any(n in names for n in ("g_effects", "g_z_offset"))


def test_prior_draws_have_no_sensitivity():
    fit = bg.fit("y ~ x + (1|g)", informed_data(), prior_only=True, draws=50, seed=1)
    with pytest.raises(bg.errors.NoPosteriorError):
        sensitivity(fit)
    assert "not computed for prior draws" in str(fit.summary())
