"""bayesglmm.logistic_rewrite: softplus and sigmoid with one exp and one log, to the last bits."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.scalar.basic import Composite, Exp, Log, Log1p
from pytensor.scalar.math import Sigmoid, Softplus

from bayesglmm.engine import compile_flags
from bayesglmm.logistic_rewrite import logistic_parts, numba_mode


def _values() -> np.ndarray:
    """The whole double range of softplus and sigmoid: a grid, a log-uniform spread, and edges."""
    rng = np.random.default_rng(0)
    spread = np.sign(rng.standard_normal(100_000)) * np.exp(rng.uniform(-40, 6.6, 100_000))
    edges = [0.0, -0.0, 1e-300, -1e-300, 18.0, -37.0, 33.3, 745.0, -745.0, -746.0]
    return np.concatenate([np.linspace(-750, 750, 150_001), spread, edges])


def _ulps(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest error of ``values`` in units in the last place of the reference (where it is a normal number)."""
    normal = np.abs(reference) > np.finfo(np.float64).tiny
    spacing = np.spacing(np.abs(reference[normal]).astype(np.float64)).astype(np.longdouble)
    return float(np.max(np.abs(values[normal].astype(np.longdouble) - reference[normal]) / spacing))


def _compiled(outputs, x, mode):
    with compile_flags():
        return pytensor.function([x], outputs, mode=mode)


def _scalar_ops(function) -> list:
    """The scalar operations of every elementwise node of a compiled function, fused ones opened."""
    found = []

    def walk(op):
        if isinstance(op, Composite):
            for node in op.fgraph.toposort():
                walk(node.op)
        elif hasattr(op, "scalar_op"):
            walk(op.scalar_op)
        elif hasattr(op, "fgraph"):  # a fused loop with reductions
            for node in op.fgraph.toposort():
                walk(node.op)
        else:
            found.append(op)

    for node in function.maker.fgraph.toposort():
        walk(node.op)
    return found


def test_softplus_and_sigmoid_within_three_ulps_of_extended_precision():
    x = pt.dvector("x")
    values = _values()
    softplus, sigmoid = _compiled(list(logistic_parts(x)), x, "NUMBA")(values)
    ext = values.astype(np.longdouble)
    # softplus's stable form and the logistic function, evaluated in 80-bit extended precision
    ref_softplus = np.maximum(ext, 0) + np.log1p(np.exp(-np.abs(ext)))
    ref_sigmoid = np.where(ext >= 0, 1 / (1 + np.exp(-np.abs(ext))), np.exp(-np.abs(ext)) / (1 + np.exp(-np.abs(ext))))
    assert _ulps(softplus, ref_softplus) <= 3
    assert _ulps(sigmoid, ref_sigmoid) <= 3
    # the correction matters: log(1 + t) alone is 0 where softplus is below 1e-16
    assert softplus[values == -745.0][0] == pytest.approx(np.exp(-745.0), rel=1e-12) and softplus[values == -745.0][0] > 0


def test_infinities_and_nan():
    x = pt.dvector("x")
    softplus, sigmoid = _compiled(list(logistic_parts(x)), x, "NUMBA")(np.array([np.inf, -np.inf, np.nan]))
    np.testing.assert_array_equal(softplus[:2], [np.inf, 0.0])
    np.testing.assert_array_equal(sigmoid[:2], [1.0, 0.0])
    assert np.isnan(softplus[2]) and np.isnan(sigmoid[2])


def test_numba_mode_rewrites_a_logit_likelihood_and_its_gradient_to_one_exp_and_one_log():
    eta = pt.dvector("eta")
    y = np.array([0, 1, 1, 0, 1], dtype="int8")
    logp = pt.sum(y * eta - pt.softplus(eta))
    outputs = [logp, pt.grad(logp, eta)]
    ours, plain = _compiled(outputs, eta, numba_mode()), _compiled(outputs, eta, "NUMBA")
    ops = [type(op) for op in _scalar_ops(ours)]
    assert ops.count(Exp) == 1 and ops.count(Log) == 1
    assert not {Softplus, Sigmoid, Log1p} & set(ops)
    assert {Softplus, Sigmoid} <= {type(op) for op in _scalar_ops(plain)}  # what the rewrite replaced
    values = np.array([-40.0, -2.5, 0.0, 3.0, 30.0])
    for a, b in zip(ours(values), plain(values)):
        np.testing.assert_allclose(a, b, rtol=4e-16, atol=0)


def test_negated_input_shares_the_exponential():
    x = pt.dvector("x")
    function = _compiled([pt.softplus(-x), pt.sigmoid(x)], x, numba_mode())
    assert [type(op) for op in _scalar_ops(function)].count(Exp) == 1
    values = np.array([-5.0, 0.5, 7.0])
    softplus_neg, sigmoid = function(values)
    np.testing.assert_allclose(softplus_neg, np.logaddexp(0, -values), rtol=1e-15)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-values)), rtol=1e-15)


def test_engine_compiles_the_log_density_with_the_rewrite():
    from bayesglmm.engine import NutpieEngine

    rng = np.random.default_rng(1)
    with pm.Model() as model:
        eta = pm.Normal("b", 0, 1) + pm.Normal("a", 0, 1) * rng.normal(size=20)
        pm.Bernoulli("y", logit_p=eta, observed=rng.integers(0, 2, 20))
    compiled = NutpieEngine().compile(model, ["a", "b"])
    ops = {type(op) for op in _scalar_ops(compiled.logp_func)}
    assert Exp in ops and not {Softplus, Sigmoid, Log1p} & ops
