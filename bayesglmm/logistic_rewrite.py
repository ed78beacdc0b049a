"""Softplus and sigmoid in the compiled log density: one ``exp`` and one ``log`` per value.

A logit-link likelihood (bernoulli, binomial, the ordinal families) evaluates ``softplus(eta)``
in its log density and ``sigmoid(eta)`` in the gradient, for every row at every leapfrog step.
PyTensor's numba code computes them apart: softplus as ``log1p(exp(x))`` (branches by range)
and sigmoid as ``1 / (1 + exp(-x))``, so two ``exp`` and one ``log1p`` per row, each a call to
the C library in numba's scalar loop (``log1p`` costs about twice ``log``). With
``t = exp(-|x|)`` and ``u = 1 + t``:

- ``softplus(x) = max(x, 0) + log1p(t)``, softplus's stable form, where
  ``log1p(t) = log(u) - ((u - 1) - t) / u`` (the rounding of ``u`` corrected; ``u - 1`` and
  ``(u - 1) - t`` are exact in floating point for ``0 <= t <= 1``, so the result is within a
  few units in the last place: ``tests/test_logistic_rewrite.py`` checks softplus and sigmoid
  against 80-bit extended precision over the whole double range, within 3 units);
- ``sigmoid(x) = 1 / u`` for ``x >= 0`` and ``t / u`` below.

Both share ``t`` and ``1 / u`` (PyTensor's merge rewrite finds the common terms, also for
``softplus(-x)`` beside ``sigmoid(x)``: ``t`` is built from ``|x|``). The rewrite runs after
PyTensor's stabilising and specialising rewrites, which would turn ``log(1 + t)`` back into
``log1p(t)``, and before elementwise fusion, which puts the terms in one loop. The correction
needs exact floating-point arithmetic: with numba's fastmath, which the engine turns off
(:func:`bayesglmm.engine.compile_flags`), LLVM may simplify ``(u - 1) - t`` to zero.

The patients model's log density and gradient cost 1.25 times less with the rewrite
(``benchmarks/likelihood_cost.py``, engine column), and its sampling took 32.4 s instead of
39.0 s in a paired run (``benchmarks/course_models_notes.md``).
"""

from __future__ import annotations

__all__ = ["REWRITE_POSITION", "logistic_parts", "numba_mode"]

#: Position in PyTensor's rewrite sequence: after ``specialize`` (2) and the shape rewrites
#: (10), before ``add_mul_fusion`` (48) and elementwise fusion (49).
REWRITE_POSITION = 47.5


def logistic_parts(x):
    """``(softplus(x), sigmoid(x))`` written with one ``exp``, one ``log`` and one division.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> x = pt.dvector("x")
    >>> softplus, sigmoid = logistic_parts(x)
    >>> values = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    >>> np.allclose(softplus.eval({x: values}), np.logaddexp(0, values))
    True
    >>> np.allclose(sigmoid.eval({x: values}), 0.5 * (1 + np.tanh(values / 2)))
    True
    """
    import pytensor.tensor as pt

    t = pt.exp(-pt.abs(_unsigned(x)))
    u = 1 + t
    reciprocal = 1 / u
    log1p_t = pt.log(u) - ((u - 1) - t) * reciprocal
    softplus = pt.maximum(x, 0) + log1p_t
    sigmoid = pt.switch(pt.ge(x, 0), 1, t) * reciprocal
    return softplus, sigmoid


def numba_mode():
    """PyTensor's ``NUMBA`` mode with softplus and sigmoid rewritten (:func:`logistic_parts`).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> x = pt.dvector("x")
    >>> f = pytensor.function([x], pt.softplus(x), mode=numba_mode())
    >>> float(f(np.array([0.0]))[0]) == float(np.log(2.0))
    True
    """
    from pytensor.compile.mode import get_mode
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.tensor.math import sigmoid, softplus

    rewrite = in2out(node_rewriter([softplus, sigmoid])(_rewrite_logistic), name="bayesglmm_logistic_parts")
    return get_mode("NUMBA").register((rewrite, REWRITE_POSITION))


def _rewrite_logistic(fgraph, node):
    """Replace a float ``softplus`` or ``sigmoid`` node by its :func:`logistic_parts` form."""
    from pytensor.scalar.math import Softplus

    (x,) = node.inputs
    if not x.dtype.startswith("float"):
        return None
    softplus, sigmoid = logistic_parts(x)
    out = softplus if isinstance(node.op.scalar_op, Softplus) else sigmoid
    return [out.astype(node.outputs[0].dtype)]


def _unsigned(x):
    """``x`` without leading negations and shape assertions, whose ``|x|`` is the same.

    So ``t`` is one term for ``x``, ``-x`` and ``specify_shape(x)`` (as the gradient has it).
    """
    from pytensor.scalar.basic import Neg
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.shape import SpecifyShape

    while x.owner is not None:
        op = x.owner.op
        if not (isinstance(op, SpecifyShape) or (isinstance(op, Elemwise) and isinstance(op.scalar_op, Neg))):
            break
        x = x.owner.inputs[0]
    return x
