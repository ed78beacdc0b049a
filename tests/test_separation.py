"""Perfect separation: warned before sampling; the posterior of the separated coefficient
is as wide as its prior allows, i.e. the prior is what keeps it finite."""

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.validate import separated_columns
from conftest import quick_fit


def _separated():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 10), "x": rng.normal(size=80), "trt": np.tile(["ctl", "new"], 40)})
    df["y"] = np.where(df["trt"] == "new", 1, rng.integers(0, 2, 80))
    return df


def test_separation_is_detected_for_dummies_numbers_and_binomial_rows():
    assert separated_columns({"d": np.array([1, 1, 0, 0])}, np.array([1, 1, 0, 1])) != []
    assert separated_columns({"x": np.array([3.0, 1.0, 2.0, 4.0])}, np.array([1, 0, 0, 1])) != []
    assert separated_columns({"x": np.array([3.0, 1.0, 2.0, 4.0])}, np.array([1, 0, 1, 0])) == []
    # a binomial row with both successes and failures cannot be separated
    assert separated_columns({"d": np.array([1, 0])}, np.array([3, 0]), trials=np.array([5, 5])) == []


def test_separation_warns_and_the_prior_bounds_the_estimate():
    df = _separated()
    with pytest.warns(bg.SeparationWarning, match=r"trt\[new\].*only successes.*Normal\(0, 5\)"):
        fit = quick_fit("y ~ trt + x + (1|g)", df, "bernoulli")
    row = fit.fixef().loc["trt[new]"]
    # Finite, far from 0, and its spread is of the prior's order (SD 5), not the data's.
    assert np.isfinite(row["upper"]) and row["median"] > 2 and row["sd"] > 1.5
    tight = quick_fit("y ~ trt + x + (1|g)", df, "bernoulli", priors={"trt": bg.Prior("Normal", mu=0, sigma=1)})
    assert tight.fixef().loc["trt[new]", "upper"] < row["upper"]
