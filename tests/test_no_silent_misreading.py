"""Issue 17, the other side of the bad-input table: legal input is still accepted, unchanged.

The checks added against silent misreading (prior keywords, settings types, loose bars,
degenerate and continuous responses, duplicated CSV headers) must not reject what is
right. Nothing here samples: the sampler is replaced by one that raises.
"""

from __future__ import annotations

import importlib
import warnings

import bambi
import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.fit import check_settings
from bayesglmm.formula import parse_formula
from bayesglmm.priors import check_prior_values, describe
from bayesglmm.validate import MAX_ORDINAL_CODES, DegenerateResponseWarning

P = bg.Prior


class SamplingStarted(Exception):
    """The checks passed and sampling would start."""


@pytest.fixture
def no_sampling(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise SamplingStarted

    monkeypatch.setattr(importlib.import_module("bayesglmm.fit"), "sample", refuse)
    monkeypatch.setattr(bambi.Model, "fit", refuse)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def data() -> pd.DataFrame:
    return pd.DataFrame({"y": [0, 1, 1, 0, 1, 0, 1, 1], "x": [0.1, 0.5, 1.2, 2.0, 0.3, 0.9, 1.5, 2.2],
                         "g": list("aabbccdd")})


@pytest.mark.parametrize("prior", [
    P("Normal", mu=0, sigma=2.5),
    P("Normal", mu=1, tau=0.5),
    P("StudentT", nu=3, mu=0, sigma=1),
    P("Cauchy", alpha=-1, beta=2),  # Cauchy's alpha is a location: may be negative
    P("SkewNormal", alpha=-2, mu=0, sigma=1),  # a skewness: may be negative
    P("Laplace", mu=0, b=1),
    P("Logistic", mu=0, s=1),
    P("Uniform", lower=-5, upper=5),
    P("Normal", mu=np.array([0.0]), sigma=np.array([1.5])),
    P("Normal", mu=0, sigma=P("HalfNormal", sigma=1)),
    P("Normal", mu=0, sigma=P("Exponential", lam=1)),
])
def test_valid_coefficient_priors_pass(prior):
    check_prior_values({"x": prior})


@pytest.mark.parametrize("prior", [
    P("HalfNormal", sigma=1), P("HalfStudentT", nu=4, sigma=1), P("Exponential", lam=2), P("Exponential", scale=2),
    P("Gamma", alpha=2, beta=1), P("Gamma", mu=1, sigma=0.5), P("InverseGamma", alpha=3, beta=2),
    P("LogNormal", mu=0, sigma=1), P("HalfCauchy", beta=1), P("Weibull", alpha=2, beta=1), 2.0, np.float32(0.5),
])
def test_valid_scale_priors_and_fixed_values_pass(prior):
    check_prior_values({"sigma": prior})


def test_group_priors_with_positive_hyperpriors_pass():
    check_prior_values({"1|g": P("Normal", mu=0, sigma=P("HalfStudentT", nu=3, sigma=1)),
                        "x|g": P("Normal", sigma=P("Gamma", alpha=2, beta=2)),
                        "1|h": P("Normal", sigma=P("Uniform", lower=0, upper=10)),
                        "1|k": P("Normal", sigma=P("TruncatedNormal", mu=1, sigma=1, lower=0))})


@pytest.mark.parametrize("family, formula", [
    ("gaussian", "y ~ x + (1 + x|g)"), ("bernoulli", "y ~ x + (1|g)"), ("poisson", "y ~ x + (1|g)"),
    ("cumulative", "o ~ x + (1|g)"), ("student_t", "y ~ x + (1|g)"), ("negativebinomial", "y ~ x + (1|g)"),
])
def test_every_default_prior_passes_the_user_checks(family, formula):
    """refit(priors='all') and saved fits send the defaults back through the user's checks."""
    df = data().assign(o=[1, 2, 3, 1, 2, 3, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = bg.build_model(formula, df, family)
    check_prior_values(dict(spec.priors))


def test_summary_shows_the_values_pymc_applies():
    assert describe(P("Normal", mu=1)) == "Normal(mu=1, sigma=1 (default))"
    assert describe(P("StudentT", nu=3)) == "StudentT(nu=3, mu=0 (default), sigma=1 (default))"
    assert describe(P("Normal", mu=0, tau=4)) == "Normal(mu=0, tau=4)"  # tau given: no made-up sigma
    assert describe(P("Normal", mu=0, sigma=P("HalfNormal"))) == "Normal(mu=0, sigma=HalfNormal(sigma=1 (default)))"


def test_prior_summary_of_a_model_marks_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = bg.build_model("y ~ x + (1|g)", data(), "bernoulli", priors={"x": P("Normal", mu=0.5)})
    table = spec.prior_table().set_index("term")
    assert table.loc["x", "prior"] == "Normal(mu=0.5, sigma=1 (default))"
    assert table.loc["x", "source"] == "user"


def test_numpy_integers_are_whole_numbers():
    check_settings(draws=np.int64(10), tune=np.int32(0), chains=np.int16(2), sampler="nutpie",
                   target_accept=np.float32(0.95), cores=np.uint8(2), seed=np.uint32(7),
                   flags={"dropna": np.bool_(True), "low_rank": None})


def test_fit_with_numpy_settings_reaches_sampling(no_sampling):
    with pytest.raises(SamplingStarted), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg.fit("y ~ x + (1|g)", data(), "bernoulli", draws=np.int64(10), tune=np.int64(10), chains=np.int64(1),
               cores=np.int64(1), seed=np.int64(3), target_accept=np.float64(0.8))


@pytest.mark.parametrize("formula", [
    "y ~ x + (1|g)", "y ~ (1 + x || g)", "y ~ x + (1|g) + (0 + x|g)", "y ~ x + ( 1 | g )",
])
def test_bars_inside_parentheses_are_group_terms(formula):
    assert parse_formula(formula, ["y", "x", "g"]).has_groups


def test_ordinal_codes_up_to_the_limit_and_ordered_categoricals_are_accepted(no_sampling):
    n = 2 * MAX_ORDINAL_CODES
    df = pd.DataFrame({"o": np.arange(n) % MAX_ORDINAL_CODES, "x": np.linspace(0, 1, n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bg.build_model("o ~ x", df, "cumulative").n_obs == n
        many = df.assign(o=pd.Categorical(np.arange(n) % 25, categories=range(25), ordered=True))
        assert bg.build_model("o ~ x", many, "cumulative").n_obs == n  # declared: 25 categories are the user's call
        whole = df.assign(o=(df["o"] + 1).astype(float))  # 1.0, 2.0, ...: whole numbers stored as floats
        assert bg.build_model("o ~ x", whole, "cumulative").n_obs == n


def test_large_but_finite_gaussian_response_is_accepted():
    df = data().assign(y=np.linspace(-1e100, 1e100, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bg.build_model("y ~ x + (1|g)", df, "gaussian").n_obs == 8


def test_degenerate_response_warning_points_at_the_caller(no_sampling):
    with pytest.warns(DegenerateResponseWarning) as record, pytest.raises(SamplingStarted):
        bg.fit("y ~ x + (1|g)", data().assign(y=0), "bernoulli")
    hit = [w for w in record if issubclass(w.category, DegenerateResponseWarning)][0]
    assert hit.filename == __file__


def test_mixed_binary_response_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResponseWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        bg.build_model("y ~ x + (1|g)", data(), "bernoulli")


def test_read_csv_reads_distinct_headers(tmp_path):
    path = tmp_path / "ok.csv"
    data().to_csv(path, index=False)
    assert list(bg.datasets.read_csv(path).columns) == ["y", "x", "g"]
    (tmp_path / "x_dot.csv").write_text("x,x.1\n1,2\n")  # distinct names that look like pandas' renaming
    assert list(bg.datasets.read_csv(tmp_path / "x_dot.csv").columns) == ["x", "x.1"]
    (tmp_path / "blank.csv").write_text("y,,\n1,2,3\n")  # empty header cells: pandas names each its own
    assert list(bg.datasets.read_csv(tmp_path / "blank.csv").columns) == ["y", "Unnamed: 1", "Unnamed: 2"]


def test_course_text_file_with_distinct_header_loads(tmp_path):
    (tmp_path / "multicentre.txt").write_text("centre treat y n obs\n1 control 3 10 1\n1 drug 4 10 2\n")
    df = bg.datasets.load("multicentre", data_dir=tmp_path)
    assert len(df) == 2


def test_prior_arrays_must_match_the_columns_of_their_term():
    from bayesglmm.errors import PriorError
    from bayesglmm.priors import check_prior_shapes

    df = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "f": list("abcabc"), "x": np.arange(6.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = bambi.Model("y ~ f + x", df, family="bernoulli")
    check_prior_shapes({"f": P("Normal", mu=0, sigma=np.array([1.0, 2.0])), "x": P("Normal", mu=0, sigma=1)}, m)
    with pytest.raises(PriorError, match=r"'f': sigma has 3 values, but 'f' has 2 columns \(b, c\)"):
        check_prior_shapes({"f": P("Normal", mu=0, sigma=np.array([1.0, 2.0, 3.0]))}, m)


@pytest.mark.parametrize("prior, sigma", [(P("Normal", mu=0, sigma=10), 10.0), (P("Normal", mu=0.5), 1.0)])
def test_the_summary_shows_the_sigma_the_graph_uses(prior, sigma):
    """prior_summary's text and the PyMC graph agree, defaults included (fixed_design='plain': x is its own RV)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = bg.build_model("y ~ x + (1|g)", data(), "bernoulli", priors={"x": prior}, fixed_design="plain")
    rv = spec.pymc_model["x"]
    used = float(np.asarray(rv.owner.inputs[-1].eval()).ravel()[0])  # Normal's inputs end with mu, sigma
    assert used == sigma
    shown = spec.prior_table().set_index("term").loc["x", "prior"]
    assert f"sigma={sigma:g}" in shown
