"""The one way responses are simulated: ``Family.simulate(eta, params, link=, trials=, rng=)``.

Closed-form checks, no sampling: for every family and link, many draws at fixed parameters
against the exact mean and variance (category frequencies for cumulative, the share of
zeros for counts), within Monte Carlo error (5 standard errors, seeded). Then the plumbing:
the linear predictor that :func:`bayesglmm.predict.simulate_response` computes from raw
prior draws equals the mean Bambi's own PyMC graph computes (uncentred intercept, offsets,
correlated slopes, the cumulative sign convention), and the responses SBC and the prior
predictive check simulate agree in distribution with PyMC's forward sampling of the same
parameter draws.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import bayesglmm as bg
from bayesglmm import checks
from bayesglmm.errors import FamilyError
from bayesglmm.families import FAMILIES, get_family
from bayesglmm.model import build_model
from bayesglmm.predict import simulate_response

N = 200_000  # draws per check: Monte Carlo SE of a mean is sd / 447
Z = 5.0  # tolerance in standard errors (seeded, so never flaky)


def draw(family, eta, params=None, *, link=None, trials=None, seed=0, n=N):
    """``n`` draws of one row with linear predictor ``eta``, as a 1-d array."""
    eta = np.full((n, 1), float(eta))
    y = get_family(family).simulate(eta, params, link=link, trials=trials, rng=np.random.default_rng(seed))
    assert y.shape == (n, 1)
    return y[:, 0]


def assert_mean_var(y, mean, var):
    """Sample mean and variance equal the closed form within Z standard errors."""
    n = len(y)
    assert abs(y.mean() - mean) < Z * np.sqrt(var / n), (y.mean(), mean)
    m4 = np.mean((y - y.mean()) ** 4)  # SE of the sample variance: sqrt((mu4 - var^2) / n)
    assert abs(y.var() - var) < Z * np.sqrt(max(m4 - var**2, 1e-12) / n), (y.var(), var)


def assert_share(hits, p):
    """A share of hits equals the probability p within Z binomial standard errors."""
    n = len(hits)
    assert abs(np.mean(hits) - p) < Z * np.sqrt(p * (1 - p) / n) + 1e-12, (np.mean(hits), p)


# ----------------------------------------------------------------------------- closed forms, one family at a time
@pytest.mark.parametrize("link, eta, mean", [("identity", 1.5, 1.5), ("log", np.log(3.0), 3.0)])
def test_gaussian_mean_and_variance(link, eta, mean):
    y = draw("gaussian", eta, {"sigma": np.array([[2.0]])}, link=link)
    assert_mean_var(y, mean, 4.0)


def test_student_t_mean_and_variance():
    y = draw("student_t", 1.0, {"sigma": np.array([[0.5]]), "nu": np.array([[6.0]])})
    assert_mean_var(y, 1.0, 0.25 * 6 / 4)  # sigma^2 nu / (nu - 2)
    z = (y - 1.0) / 0.5
    assert_share(z > stats.t.ppf(0.9, 6), 0.1)  # the tail of a t_6, not of a normal


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_bernoulli_share_of_ones(link):
    p = float(get_family("bernoulli").inverse_link(link)(0.3))
    y = draw("bernoulli", 0.3, link=link)
    assert set(np.unique(y)) == {0.0, 1.0}
    assert_mean_var(y, p, p * (1 - p))


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_binomial_mean_and_variance_per_row_trials(link):
    p = float(get_family("binomial").inverse_link(link)(-0.4))
    trials = np.array([5, 40])
    eta = np.full((N, 2), -0.4)
    y = get_family("binomial").simulate(eta, link=link, trials=trials, rng=np.random.default_rng(1))
    for j, n in enumerate(trials):
        assert y[:, j].max() <= n and y[:, j].min() >= 0
        assert_mean_var(y[:, j], n * p, n * p * (1 - p))


def test_poisson_mean_variance_and_zeros():
    mu = 1.3
    y = draw("poisson", np.log(mu))
    assert_mean_var(y, mu, mu)
    assert_share(y == 0, np.exp(-mu))


def test_negativebinomial_mean_variance_and_zeros():
    mu, alpha = 4.0, 2.0  # Bambi's parameterisation: variance mu + mu^2 / alpha
    y = draw("negativebinomial", np.log(mu), {"alpha": np.array([[alpha]])})
    assert_mean_var(y, mu, mu + mu**2 / alpha)
    assert_share(y == 0, (alpha / (alpha + mu)) ** alpha)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_cumulative_category_frequencies(link):
    """P(y <= k) = F(threshold_k - eta): Bambi's parameterisation, F the inverse link."""
    threshold = np.array([-1.0, 0.5, 2.0])
    eta = 0.7
    y = draw("cumulative", eta, {"threshold": threshold[None, :]}, link=link)
    cum = get_family("cumulative").inverse_link(link)(threshold - eta)
    probs = np.diff(np.r_[0.0, cum, 1.0])
    assert set(np.unique(y)) <= {0.0, 1.0, 2.0, 3.0}
    for k, p in enumerate(probs):
        assert_share(y == k, p)


def test_cumulative_sign_convention_and_per_draw_cutpoints():
    """A larger eta moves mass to higher categories; every draw uses its own cut-points."""
    fam = get_family("cumulative")
    rng = np.random.default_rng(2)
    low = fam.simulate(np.full((N, 1), -1.0), {"threshold": np.array([[0.0, 1.0]])}, rng=rng)
    high = fam.simulate(np.full((N, 1), 1.0), {"threshold": np.array([[0.0, 1.0]])}, rng=rng)
    assert low.mean() < high.mean()
    # Two draws with different cut-points: all mass below, all mass above.
    threshold = np.array([[50.0, 60.0], [-60.0, -50.0]])
    y = fam.simulate(np.zeros((2, 1000)), {"threshold": threshold}, rng=rng)
    assert (y[0] == 0).all() and (y[1] == 2).all()


def test_parameters_vary_per_draw():
    """params (samples, 1) broadcast along the rows: each draw its own sigma."""
    fam = get_family("gaussian")
    sigma = np.array([[0.1], [10.0]])
    y = fam.simulate(np.zeros((2, N)), {"sigma": sigma}, rng=np.random.default_rng(3))
    assert y[0].std() == pytest.approx(0.1, rel=0.01) and y[1].std() == pytest.approx(10.0, rel=0.01)


def test_same_generator_state_same_responses_and_errors_that_teach():
    fam = get_family("negativebinomial")
    params = {"alpha": np.array([[3.0]])}
    a = fam.simulate(np.ones((5, 4)), params, rng=np.random.default_rng(7))
    b = fam.simulate(np.ones((5, 4)), params, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(FamilyError, match="trials"):
        get_family("binomial").simulate(np.zeros((1, 2)), rng=np.random.default_rng(0))
    with pytest.raises(FamilyError, match="cut-points"):
        get_family("cumulative").simulate(np.zeros((1, 2)), rng=np.random.default_rng(0))
    with pytest.raises(FamilyError, match="Link 'log'"):
        get_family("bernoulli").simulate(np.zeros((1, 2)), link="log", rng=np.random.default_rng(0))


def test_every_family_simulates_and_names_its_parameters():
    for fam in FAMILIES.values():
        assert set(fam.simulation_parameters) >= set(fam.aux_parameters)
    assert get_family("cumulative").simulation_parameters == ("threshold",)


# ----------------------------------------------------------------------------- the linear predictor behind it
@pytest.fixture(scope="module")
def template():
    rng = np.random.default_rng(1)
    n = 24
    return pd.DataFrame({
        "x": rng.normal(size=n) + 3.0,  # far from 0: a centred intercept would show
        "z": rng.normal(size=n),
        "g": np.repeat(list("abcd"), n // 4),
        "h": np.tile(list("pq"), n // 2),
        "n": rng.integers(5, 10, n),
        "yg": rng.normal(size=n),
        "yc": rng.poisson(2.0, size=n),
        "yb": rng.integers(0, 5, n),
        "yo": pd.Categorical(np.tile([1, 2, 3, 4], n // 4), ordered=True),
    })


MODELS = [
    ("gaussian", "yg ~ x + z + (1 + x|g) + (1|h)"),
    ("poisson", "yc ~ x + offset(np.log(n)) + (1|g)"),
    ("binomial", "p(yb, n) ~ x + (x|g)"),
    ("negativebinomial", "yc ~ x + (1|g)"),
    ("cumulative", "yo ~ x + (1|g)"),
]


def _prior(template, family, formula, draws=60, seed=2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model(formula, template, family)
        tree = spec.bambi_model.prior_predictive(draws=draws, random_seed=seed)
    return spec, tree


@pytest.mark.parametrize("family, formula", MODELS, ids=[m[0] for m in MODELS])
def test_linear_predictor_from_prior_draws_matches_bambis_mean(template, family, formula):
    """eta from raw prior draws (Bambi's post-processing applied) gives exactly the mean in PyMC's graph."""
    spec, tree = _prior(template, family, formula)
    prior = tree["prior"].to_dataset()
    eta, y = simulate_response(spec, prior, rng=1, raw=True)
    assert eta.shape == y.shape == (60, len(template))
    parent = spec.bambi_model.family.likelihood.parent
    graph = prior[parent].transpose("chain", "draw", ...).values.reshape(60, len(template), -1)
    if family == "cumulative":
        # Bambi: P(y = 0) = F(threshold_0 - eta) (PyMC's forward sampling leaves some cut-points unsorted).
        threshold = prior["threshold"].values.reshape(60, -1)
        np.testing.assert_allclose(special.expit(threshold[:, :1] - eta), graph[..., 0], atol=1e-12)
    else:
        np.testing.assert_allclose(spec.family.inverse_link(spec.link)(eta), graph[..., 0], rtol=1e-10)


@pytest.mark.parametrize("family, formula", MODELS[1:], ids=[m[0] for m in MODELS[1:]])
def test_sbc_responses_agree_with_pymc_forward_sampling(template, family, formula):
    """Same parameter draws: the family's responses and PyMC's have the same distribution per row."""
    import pymc as pm

    from bayesglmm.sbc import prior_draws

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model(formula, template, family)
        truths, ys = prior_draws(spec, 30, seed=5)
    assert ys.shape == (30, len(template)) and ys.dtype == np.int64
    # Many prior draws: the family's responses and PyMC's, from the very same parameter draws.
    model = spec.pymc_model
    obs = model.observed_RVs[0]
    S = 4000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(draws=S, model=model, random_seed=11)
    pymc_y = prior["prior_predictive"][obs.name].values.reshape(S, -1)
    raw = prior["prior"].to_dataset()
    ordered = "threshold" in raw
    if ordered:
        keep = np.all(np.diff(raw["threshold"].values.reshape(S, -1), axis=1) > 0, axis=1)
        raw, pymc_y = raw.isel(draw=np.flatnonzero(keep)), pymc_y[keep]
    _, ours = simulate_response(spec, raw, rng=12, raw=True)
    # The rows' responses pooled over the prior: same distribution (two-sample chi-square on capped values).
    cap = 6 if not ordered else 3
    a, b = np.minimum(ours, cap).astype(int).ravel(), np.minimum(pymc_y, cap).astype(int).ravel()
    table = np.array([np.bincount(a, minlength=cap + 1), np.bincount(b, minlength=cap + 1)])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table)[1] > 1e-4


def test_prior_predictive_check_goes_through_the_family(template):
    """checks.sample_prior: Bambi's parameter draws, the family's response; seeded and repeatable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bg.fit("yo ~ x + (1|g)", template, "cumulative", prior_only=True, draws=40, seed=3)
    a = checks.prior_predictive(f, seed=1)
    b = checks.prior_predictive(f, seed=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.dims == ("chain", "draw", "__obs__") and a.sizes["draw"] == 40
    assert set(np.unique(a.values)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(checks.prior_predictive(f).values, checks.prior_predictive(f).values)


# ----------------------------------------------------------------------------- posterior predictive, a real fit
def test_posterior_predictive_agrees_with_bambis_predictive(mc_glmm):
    """The family's replicated successes per centre-row have Bambi's predictive mean and variance."""
    import xarray as xr

    from bayesglmm.predictive import _thin

    mine = checks.posterior_predictive(mc_glmm, seed=4)
    posterior = _thin(mc_glmm.idata["posterior"].to_dataset(), None)
    tree = xr.DataTree.from_dict({"posterior": posterior, "observed_data": mc_glmm.idata["observed_data"].to_dataset()})
    theirs = mc_glmm.spec.bambi_model.predict(tree, kind="response", inplace=False, random_seed=4)
    theirs = theirs["posterior_predictive"].to_dataset()
    theirs = theirs[next(iter(theirs.data_vars))].transpose("chain", "draw", "__obs__").values
    a = mine.values.reshape(-1, mine.sizes["__obs__"]).astype(float)
    b = theirs.reshape(a.shape).astype(float)
    assert mine.dtype == np.int64 and (a <= checks.trials(mc_glmm)).all()
    se = np.sqrt((a.var(axis=0) + b.var(axis=0)) / len(a))  # independent noise, same parameter draws
    assert (np.abs(a.mean(axis=0) - b.mean(axis=0)) < Z * se).all()
    np.testing.assert_allclose(a.var(axis=0), b.var(axis=0), rtol=0.15)
