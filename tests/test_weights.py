"""Observation (frequency) weights: ``bg.fit(..., weights="w")``, as brms's ``y | weights(w)``.

Each row's log-likelihood is multiplied by its weight. Checked exactly on the log density
(weight 2 on every row equals the duplicated data; aggregated rows with weight = count
equal the expanded data), on the stored pointwise log-likelihood, and by sampling: the
posterior of an aggregated data set equals the expanded one's within Monte Carlo error.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.errors import DataError
from bayesglmm.model import build_model
from bayesglmm.request import ModelRequest


def _expanded(seed=8, n_groups=12, per=30):
    """Bernoulli rows: logit p = -0.4 + 0.9 treat + u_g, SD(u) = 0.8; treat 0/1."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    treat = rng.integers(0, 2, g.size)
    u = rng.normal(0, 0.8, n_groups)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-0.4 + 0.9 * treat + u[g]))))
    return pd.DataFrame({"y": y, "treat": treat, "g": [f"g{i:02d}" for i in g]})


def _aggregated(df):
    """Unique rows with weight = how often each occurs."""
    return df.groupby(["y", "treat", "g"], as_index=False).size().rename(columns={"size": "w"})


PRIORS = {"Intercept": bg.Prior("Normal", mu=0, sigma=2.0), "treat": bg.Prior("Normal", mu=0, sigma=1.5),
          "1|g": bg.Prior("Normal", mu=0, sigma=bg.Prior("HalfNormal", sigma=1.0))}


def _logp(spec, point):
    return float(spec.pymc_model.compile_logp()(point))


def _points(spec, n=3, seed=1):
    rng = np.random.default_rng(seed)
    base = spec.pymc_model.initial_point()
    return [{k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in base.items()} for _ in range(n)]


@pytest.mark.parametrize("family, formula", [("bernoulli", "y ~ treat + (1|g)"), ("gaussian", "y ~ treat + (1|g)"),
                                             ("binomial", "p(y, n) ~ treat + (1|g)"),
                                             ("cumulative", "y ~ treat + (1|g)")])
def test_weight_two_equals_duplicated_rows(family, formula):
    """The log density, at any point, of every row with weight 2 is that of the data set twice."""
    df = _expanded(n_groups=5, per=8)
    rng = np.random.default_rng(2)
    extra = {}
    if family == "gaussian":
        df["y"] = df["y"] + rng.normal(0, 1, len(df))
        extra = {"sigma": bg.Prior("HalfNormal", sigma=2.0)}
    elif family == "binomial":
        df["n"] = rng.integers(1, 6, len(df))
        df["y"] = rng.binomial(df["n"], 0.4)
    elif family == "cumulative":
        df["y"] = pd.Categorical(rng.integers(0, 3, len(df)), ordered=True)
    df["w"] = 2.0
    priors = {k: v for k, v in PRIORS.items() if not (family == "cumulative" and k == "Intercept")}
    kw = dict(priors={**priors, **extra}, fixed_design="plain", parameterization="non-centred")
    weighted = build_model(formula, df, family, weights="w", **kw)
    twice = build_model(formula, pd.concat([df, df], ignore_index=True), family, **kw)
    for point in _points(weighted):
        assert _logp(weighted, point) == pytest.approx(_logp(twice, point), rel=1e-10)


def test_aggregated_log_density_equals_expanded():
    """The same log density at every point.

    Without predictors: Bambi samples the intercept of the centred predictors, and their
    means over the unique rows differ from those over the expanded rows (a reparameterisation
    of the same likelihood; the prior on that intercept then sits at another place).
    """
    df = _expanded(n_groups=5, per=8)
    agg = df.groupby(["y", "g"], as_index=False).size().rename(columns={"size": "w"})
    kw = dict(priors={k: v for k, v in PRIORS.items() if k != "treat"}, fixed_design="plain",
              parameterization="non-centred")
    weighted = build_model("y ~ 1 + (1|g)", agg, "bernoulli", weights="w", **kw)
    full = build_model("y ~ 1 + (1|g)", df, "bernoulli", **kw)
    diffs = [_logp(weighted, p) - _logp(full, p) for p in _points(weighted, 4)]
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


@pytest.mark.parametrize("values, match", [
    ([1, -2, 1, 1], "non-negative; found value -2 at row 1"),
    ([1, np.inf, 1, 1], "finite; found value inf at row 1"),
    ([1, np.nan, 1, 1], "missing values: value nan at row 1"),
    (["1", "a", "1", "1"], "must be numeric.*value 'a' at row 1"),
    ([0, 0, 0, 0], "every one is zero"),
])
def test_bad_weights_are_named(values, match):
    df = pd.DataFrame({"y": [0.1, 0.5, 0.9, 1.3], "x": [0, 1, 2, 3], "w": values})
    with pytest.raises(DataError, match=match) as err:
        build_model("y ~ x", df, weights="w")
    assert "'w'" in str(err.value)


def test_weights_column_missing_or_boolean():
    df = pd.DataFrame({"y": [0.1, 0.5, 0.9, 1.3], "x": [0, 1, 2, 3], "b": [True, False, True, True]})
    with pytest.raises(DataError, match="weights must name a column.*Columns are: y, x, b"):
        build_model("y ~ x", df, weights="ww")
    with pytest.raises(DataError, match="boolean"):
        build_model("y ~ x", df, weights="b")


def test_missing_weight_dropped_with_dropna():
    df = pd.DataFrame({"y": [0.1, 0.5, 0.9, 1.3, 0.7], "x": [0, 1, 2, 3, 4], "w": [1, np.nan, 2, 1, 1]})
    spec = build_model("y ~ x", df, weights="w", dropna=True)
    assert spec.n_obs == 4 and spec.data.dropped_rows == [1]
    np.testing.assert_array_equal(spec.weight_values, [1, 2, 1, 1])


def test_request_records_weights():
    df = _aggregated(_expanded(n_groups=4, per=6))
    r = ModelRequest("y ~ treat + (1|g)", "bernoulli", weights="w")
    assert r.build(df).weights == "w"
    assert r.key() != r.replace(weights=None).key()


@pytest.fixture(scope="module")
def pair():
    df = _expanded()
    agg = _aggregated(df)
    kw = dict(draws=1000, tune=1000, chains=2, seed=4, progressbar=False, retry=False, priors=PRIORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.ConvergenceWarning)
        weighted = bg.fit("y ~ treat + (1|g)", agg, "bernoulli", weights="w", **kw)
        full = bg.fit("y ~ treat + (1|g)", df, "bernoulli", **kw)
    return weighted, full, agg, df


def test_aggregated_posterior_equals_expanded(pair):
    """Posterior means agree within 4 combined Monte Carlo standard errors; SDs within 10%."""
    weighted, full, agg, df = pair
    assert len(agg) < len(df) / 4
    a, b = weighted.fixef(), full.fixef()
    va, vb = weighted.varcorr().set_index("label"), full.varcorr().set_index("label")
    for name, (ta, tb) in {"Intercept": (a, b), "treat": (a, b), "1|g_sigma": (va, vb)}.items():
        da, db = weighted.draws, full.draws
        var = "1|g_sigma" if name == "1|g_sigma" else name
        sa, sb = (d[var].values.ravel() for d in (da, db))
        mcse = np.sqrt(sa.var() / ta.loc[name, "ess_bulk"] + sb.var() / tb.loc[name, "ess_bulk"])
        assert abs(sa.mean() - sb.mean()) < 4 * mcse, name
        assert sa.std() == pytest.approx(sb.std(), rel=0.1), name


def test_pointwise_log_likelihood_is_weighted(pair, tmp_path):
    """The stored values are w_i log p(y_i); summed, they equal the expanded data's for the same draws."""
    weighted, full, agg, df = pair
    ll = weighted.idata["log_likelihood"]["y"].values
    bm = full.spec.bambi_model
    tree = weighted.idata.copy()
    bm.compute_log_likelihood(tree)  # the expanded rows' log-likelihood at the weighted fit's draws
    expanded = tree["log_likelihood"]["y"].values
    np.testing.assert_allclose(ll.sum(axis=-1), expanded.sum(axis=-1), rtol=1e-9)
    # saved and loaded with the fit
    path = tmp_path / "weighted.bgfit"
    weighted.save(path)
    back = bg.load(path)
    assert back.spec.weights == "w"
    np.testing.assert_array_equal(back.spec.weight_values, agg["w"].to_numpy(float))
    point = back.spec.pymc_model.initial_point()
    assert _logp(back.spec, point) == pytest.approx(_logp(weighted.spec, point), rel=1e-12)


def test_holding_out_a_weighted_row_removes_its_weighted_likelihood():
    """The masked model of k-fold/LOGO refits (mask = the row's weight, as bayesglmm.refit sets it)
    has the log density of the same data with that row's weight set to 0."""
    from bayesglmm.engine import HELDOUT, _shared_inputs, inputs_model

    df = _aggregated(_expanded(n_groups=4, per=10))
    kw = dict(priors=PRIORS, fixed_design="plain", parameterization="non-centred")
    spec = build_model("y ~ treat + (1|g)", df, "bernoulli", weights="w", **kw)
    rows = np.array([0, 3])
    masked = inputs_model(spec, heldout=True)
    mask = np.zeros(spec.n_obs)
    mask[rows] = spec.weight_values[rows]
    next(v for v in _shared_inputs(masked) if v.name == HELDOUT).set_value(mask)
    zeroed = df.copy()
    zeroed.loc[rows, "w"] = 0
    without = build_model("y ~ treat + (1|g)", zeroed, "bernoulli", weights="w", **kw)
    for point in _points(spec, 2):
        assert float(masked.compile_logp()(point)) == pytest.approx(_logp(without, point), rel=1e-10)


def test_summary_says_the_fit_is_weighted(pair):
    weighted, full, agg, df = pair
    header = weighted.summary().header
    assert header["Weights"].startswith("column 'w'") and f"total {len(df)} over {len(agg)} rows" in header["Weights"]
    assert "Weights" not in full.summary().header
