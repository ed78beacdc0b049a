"""Shared fixtures: the course data and a few small seeded fits, made once per session.

Fits are the expensive part of the suite (numba compiles each new model structure once;
pytensor caches the result in ~/.pytensor), so tests share these session-scoped fits
instead of sampling their own whenever they can.
"""

import os
import warnings

import numpy as np
import pandas as pd

import pytest

import bayesglmm as bg
from bayesglmm.datasets import find_data_dir

os.environ.setdefault("MPLBACKEND", "Agg")


def _have_course_data() -> bool:
    try:
        find_data_dir(name="multicentre")
    except Exception:
        return False
    return True


needs_data = pytest.mark.skipif(not _have_course_data(), reason="course data not found (set BAYESGLMM_DATA)")


def tiny_data() -> pd.DataFrame:
    """24 gaussian rows in 4 groups (y = 1 + 0.8 x + u_g + noise): the executor and engine tests' data."""
    rng = np.random.default_rng(3)
    g = np.repeat(list("abcd"), 6)
    u = dict(zip("abcd", rng.normal(0, 1, 4)))
    x = rng.normal(size=24)
    y = 1 + 0.8 * x + np.array([u[k] for k in g]) + rng.normal(0, 0.5, 24)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def quick_fit(formula, data, family, **kwargs):
    """A seeded fit with the suite's default size (4 chains x 500 after 500 warm-up), no retry ladder."""
    kwargs.setdefault("draws", 500)
    kwargs.setdefault("tune", 500)
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("progressbar", False)
    kwargs.setdefault("retry", False)  # tests of other things: one attempt, as sized
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        return bg.fit(formula, data, family, **kwargs)


@pytest.fixture(scope="session")
def mc():
    if not _have_course_data():
        pytest.skip("course data not found (set BAYESGLMM_DATA)")
    return bg.datasets.load("multicentre")


@pytest.fixture(scope="session")
def mc_glm(mc):
    """GLM without centre effects: p(y, n) ~ treat."""
    return quick_fit("p(y, n) ~ treat", mc, "binomial")


@pytest.fixture(scope="session")
def mc_glmm(mc):
    """GLMM with centre intercepts: p(y, n) ~ treat + (1|centre), 4 x 1000 draws."""
    return quick_fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", draws=1000, tune=1000)


@pytest.fixture(scope="session")
def mc_null(mc):
    """Intercept-only GLMM: p(y, n) ~ 1 + (1|centre), 4 x 1000 draws."""
    return quick_fit("p(y, n) ~ 1 + (1|centre)", mc, "binomial", draws=1000, tune=1000)
