"""Pointwise log-likelihood of a fit's own rows, from the sampled model's graph, built once.

Bambi's ``compute_log_likelihood`` rebuilds a PyMC distribution from NumPy arrays of every
per-row parameter and compiles ``pm.logp(...).eval()`` anew for each block of draws, folding
the arrays in as constants: on a 20,000-row crossed gaussian model that took 43 s of a
141 s fit (four blocks, about 8 s of graph rewriting each), more than a third of the time
NUTS took. Here the observed variable's log-density is taken from the model that was
sampled (so censoring, weights' base terms and the families' own likelihoods are exactly the
ones sampled), with every stored parameter (free variables and deterministics in the
posterior) replaced by an input; the function is built once, batched over draws, and
evaluated a block of draws at a time into a preallocated (chain, draw, row) array, by NumPy
or, for large ones, by numba (:func:`compile_mode`).

Where the stored draws do not determine the likelihood (a free variable the posterior does
not keep, which the replaced graph would still need), :func:`log_likelihood_function` returns
None and the caller uses Bambi's computation (the same values, slower): never a guess.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

#: Largest draws x rows block evaluated at once. A block's intermediates can be a multiple of
#: it: NumPy evaluates a dense design's product as a (draws, rows, columns) array, 36 MB at 9
#: columns (the patients model). With 2,000,000 cells patients' peak RSS after the
#: log-likelihood was 1,402 MB and the log-likelihood took 6.2 s; with these, 1,134 MB and
#: 4.8 s (``benchmarks/course_models.py --models patients``, warm fit).
BLOCK_CELLS = 500_000


def log_likelihood_function(model, names, draws: int | None = None):
    """``(function, input names, batched)`` giving the pointwise log-likelihood, or None.

    ``names`` are the posterior's variables. The graph of ``logp(y | parents)`` is rewritten
    with each named free variable or deterministic as an input; it is usable only when no
    random variable is left in it. ``batched`` is True when the function takes a block of
    draws at once (each input with a leading draw dimension: PyTensor's ``vectorize_graph``),
    False when it takes one draw (a graph ``vectorize_graph`` cannot batch). ``draws``, the
    number of draws it will be evaluated for, times the observed values chooses the backend
    (:func:`compile_mode`; None: numba).

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu")
    ...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.0, 1.0]))
    >>> fn, inputs, batched = log_likelihood_function(m, ["mu"])
    >>> inputs, batched, np.round(fn(np.array([1.0, 0.0])), 4).tolist()
    (['mu'], True, [[-1.4189, -0.9189], [-0.9189, -1.4189]])
    """
    import pymc as pm
    import pytensor
    from pytensor.graph.basic import ancestors
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace, vectorize_graph
    from pytensor.tensor.random.op import RandomVariable

    from bayesglmm.engine import compile_flags

    if len(model.observed_RVs) != 1:
        return None
    observed = model.observed_RVs[0]
    value = model.rvs_to_values[observed]
    logp = pm.logp(observed, value)
    stored = set(model.free_RVs) | set(model.deterministics)
    replacements, order = {}, []
    for name in names:
        var = model.named_vars.get(name)
        if var is None or var not in stored or var is observed:
            continue
        replacements[var] = var.type()
        order.append(name)
    rewritten = graph_replace(logp, replacements, strict=False)
    if any(node.owner is not None and isinstance(node.owner.op, RandomVariable) for node in ancestors([rewritten])):
        return None
    inputs = [replacements[model.named_vars[name]] for name in order]
    try:
        batched_inputs = [pt.tensor(dtype=v.type.dtype, shape=(None, *v.type.shape)) for v in inputs]
        output, batched = vectorize_graph(rewritten, dict(zip(inputs, batched_inputs))), True
        inputs = batched_inputs
    except NotImplementedError:  # an Op without a batched form: one draw per call
        output, batched = rewritten, False
    size = _data_size(value)
    cells = None if draws is None or size is None else draws * size
    with compile_flags():
        fn = pytensor.function(inputs, output, on_unused_input="ignore", mode=compile_mode(cells))
    return fn, order, batched


#: Most draws x observed values whose log-likelihood is evaluated by NumPy, not numba.
NUMPY_MAX_CELLS = 50_000_000


def compile_mode(cells: int | None):
    """PyTensor's mode for a log-likelihood of ``cells`` values: NumPy's up to :data:`NUMPY_MAX_CELLS`.

    numba compiles the function once per process (its disk cache serves later processes),
    while NumPy (PyTensor's Python linker, each operation one NumPy call on a block of draws)
    needs no compilation. On a first fit with empty caches the log-likelihood took 0.2-5.5 s
    instead of 13.5-21.7 s (betablocker, schizo, housing, patients; paired runs of
    ``benchmarks/course_models.py``, log-lik column, ``benchmarks/course_models_notes.md``).
    With warm caches numba's loops are faster (patients: 1.6 s against 4.8 s), so above the
    bound, where NumPy's time grows past a typical compilation, numba is used. Elementwise
    fusion is left out of the NumPy mode: a fused loop would run in Python per value. The
    two modes compute the same values (``tests/test_loglik.py``). ``cells`` None: numba.

    Examples
    --------
    >>> type(compile_mode(4_000 * 1_000).linker).__name__, type(compile_mode(None).linker).__name__
    ('PerformLinker', 'NumbaLinker')
    """
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode, get_default_mode
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.tensor.math import Sum

    if cells is None or cells > NUMPY_MAX_CELLS:
        return get_default_mode()
    # After PyTensor's stabilising rewrites (1.5) and specialisation (2), which would turn
    # log1p(exp(.)) back into softplus.
    as_ufuncs = in2out(node_rewriter([pt.softplus])(_softplus_as_ufuncs))
    as_matmul = in2out(node_rewriter([Sum])(_product_sum_as_matmul))
    return Mode(linker="py", optimizer="fast_run").excluding("fusion").register((as_ufuncs, 2.5), (as_matmul, 2.6))


def _product_sum_as_matmul(fgraph, node):
    """``sum(u * v, axis=-1)``, ``v`` of length 1 along axis -2, -> ``(u @ v.T)[..., 0]``: one BLAS call.

    The fixed effects' design product is written as a broadcast product summed over the
    columns (:func:`bayesglmm.backend.elementwise_dot`, which numba compiles quickly). Batched
    over draws, NumPy would build it as a (draws, rows, columns) array, then sum it; one
    matrix product instead took the patients log-likelihood (4,000 draws x 8,525 rows, 9
    columns) from 3.5 to 1.5 s (paired runs of ``benchmarks/course_models.py --models
    patients``, log-lik column). Same values to rounding (``tests/test_loglik.py``).
    """
    import pytensor.tensor as pt
    from pytensor.scalar.basic import Mul
    from pytensor.tensor.elemwise import Elemwise

    (product,) = node.inputs
    axis = node.op.axis
    if product.owner is None or not isinstance(product.owner.op, Elemwise) or \
            not isinstance(product.owner.op.scalar_op, Mul) or len(product.owner.inputs) != 2 or \
            product.ndim < 2 or axis is None or tuple(axis) != (product.ndim - 1,):
        return None
    u, v = product.owner.inputs
    if not u.dtype.startswith("float") or u.dtype != v.dtype:  # (Elemwise gives its inputs the output's rank)
        return None
    if v.type.shape[-2] != 1:
        u, v = v, u
    if v.type.shape[-2] != 1 or u.type.shape[-2] == 1 or (u.type.shape[-1] == 1) != (v.type.shape[-1] == 1):
        return None  # the second: one factor broadcast along the summed axis, which a matrix product cannot do
    return [pt.matmul(u, v.swapaxes(-1, -2))[..., 0]]


def _softplus_as_ufuncs(fgraph, node):
    """``softplus(x) -> max(x, 0) + log1p(exp(-|x|))``: NumPy ufuncs for PyTensor's Python linker.

    PyTensor's ``Softplus`` has no NumPy function, so the Python linker evaluates it one value
    at a time through ``np.frompyfunc``: the patients log-likelihood (34 million values, whose
    bernoulli likelihood on the logit scale is ``y eta - softplus(eta)``) took 28-29 s instead
    of 5 s (``benchmarks/course_models.py --models patients``, log-lik column). The
    expression is softplus's own stable form, the same values to rounding.
    """
    import pytensor.tensor as pt

    (x,) = node.inputs
    return [pt.maximum(x, 0) + pt.log1p(pt.exp(-pt.abs(x)))]


def _data_size(value) -> int | None:
    """Number of values of an observed variable (a constant or a shared variable), or None when unknown."""
    data = getattr(value, "data", None)
    if data is None and hasattr(value, "get_value"):
        data = value.get_value()
    return None if data is None else int(np.size(data))


def sampled_intercepts(bm, posterior: xr.Dataset) -> xr.Dataset:
    """The posterior with each intercept as sampled: on the centred design, not Bambi's reported one.

    Bambi reports ``Intercept - mean(X) @ beta`` (the intercept at zero predictors) after
    sampling; the model's graph holds the intercept at the predictors' means. This undoes
    Bambi's shift (``bambi.backend.pymc.PyMCModel._clean_results``), with the same design
    means and coefficients.

    Examples
    --------
    >>> sampled = sampled_intercepts(fit.spec.bambi_model, fit.idata["posterior"].to_dataset())  # doctest: +SKIP
    """
    from bambi.utils import get_aliased_name

    out = posterior.copy()
    for component in bm.backend.distributional_components.values():
        spec = component.component
        if not (spec.intercept_term and spec.common_terms and bm.center_predictors):
            continue
        means = component.design_matrix_without_intercept.mean(0)
        name = get_aliased_name(spec.intercept_term)
        keep = set(posterior[name].dims)  # chain, draw and (categorical) the category dimension
        shift, start = 0, 0
        for term in spec.common_terms.values():
            coef = posterior[get_aliased_name(term)]
            width = 1 if term.data.ndim == 1 else term.data.shape[1]
            columns = [d for d in coef.dims if d not in keep]  # the term's column dimension, if any
            if columns:
                shift = shift + (coef * xr.DataArray(means[start:start + width], dims=columns)).sum(columns)
            else:
                shift = shift + coef * means[start]
            start += width
        out[name] = posterior[name] + shift
    return out


def pointwise_log_likelihood(model, posterior: xr.Dataset, name: str, *,
                             row_weights: np.ndarray | None = None, total: bool = False) -> xr.Dataset | None:
    """``/log_likelihood`` of the model's own rows for every draw of ``posterior``, or None.

    ``posterior`` holds the parameters as the graph uses them (:func:`sampled_intercepts`).
    None when :func:`log_likelihood_function` cannot build the function from the stored
    variables. The values are those of the sampled model's observed variable, times
    ``row_weights`` (one per row) when given. With ``total=True`` only each draw's sum over
    the rows is kept, block by block (dims ``chain, draw``): what power-scaling sensitivity
    needs, without the rows x draws array (2.3 GB for 73,000 rows x 4,000 draws).

    Examples
    --------
    >>> pointwise_log_likelihood(fit.spec.pymc_model, fit.idata["posterior"].to_dataset(), "y")  # doctest: +SKIP
    """
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    n = chains * draws
    built = log_likelihood_function(model, [str(v) for v in posterior.data_vars], draws=n)
    if built is None:
        return None
    fn, order, batched = built
    arrays = []
    for v in order:  # each draw in the graph's own dimension order and shape (Bambi reorders some)
        dims = tuple(model.named_vars_to_dims.get(v) or ())
        value = posterior[v].transpose("chain", "draw", *(dims if set(dims) == set(posterior[v].dims[2:]) else [...]))
        shape = model.named_vars[v].type.shape
        if len(shape) != value.ndim - 2 or any(s is not None and s != t for s, t in zip(shape, value.shape[2:])):
            return None  # the stored draws do not have the graph's shape: Bambi's computation instead
        arrays.append(value.values.reshape(n, *value.shape[2:]))
    first = np.asarray(fn(*(a[:1] for a in arrays))[0] if batched else fn(*(a[0] for a in arrays)))
    weights = None if row_weights is None else \
        np.asarray(row_weights, dtype=float).reshape((-1,) + (1,) * (first.ndim - 1))

    def finish(values):  # a block (draws, rows, ...) -> what is kept of it
        values = values if weights is None else values * weights
        return values.reshape(len(values), -1).sum(axis=1) if total else values

    out = np.empty((n,) if total else (n,) + first.shape, dtype=first.dtype)
    if batched:  # blocks of draws: bounded intermediates, few calls
        step = max(1, BLOCK_CELLS // max(first.size, 1))
        for start in range(0, n, step):
            out[start:start + step] = finish(np.asarray(fn(*(a[start:start + step] for a in arrays))))
    else:
        for i in range(n):
            out[i] = finish(np.asarray(fn(*(a[i] for a in arrays)))[None])[0]
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    if total:
        return xr.Dataset({name: (["chain", "draw"], out.reshape(chains, draws))}, coords=coords)
    out = out.reshape((chains, draws) + first.shape)
    dims = ["chain", "draw"] + ["__obs__" if i == 0 else f"{name}_dim_{i}" for i in range(first.ndim)]
    return xr.Dataset({name: (dims, out)}, coords={**coords, "__obs__": np.arange(first.shape[0])})
