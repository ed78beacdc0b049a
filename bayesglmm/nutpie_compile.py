"""nutpie's numba compile, with C callbacks that the disk cache serves to later processes.

nutpie (0.16) compiles a PyMC model in two parts: PyTensor's numba functions for the log
density and for the stored variables (cached on disk by PyTensor, ``~/.pytensor``), and two
C callbacks around them (``numba.cfunc``) that nutpie's Rust sampler calls. The callbacks are
closures over the data and over uuid-named fields, so numba compiles them anew in every
process, type-inferring through the cached PyTensor functions: with those cached, that
was most of a warm process's compile time (``benchmarks/compile_cache.py`` measures
what remains).

:func:`compile_numba` is nutpie's ``_compile_pymc_model_numba`` with the callbacks written
as generated source without closures (data pointers read from nutpie's user-data record by
position, result copies as loops) and registered with PyTensor's cache locator under a key
made of the PyTensor function's own cache key and the record's layout. A later process
compiling the same model structure (the same graph with any data of the same ranks and
dtypes, since the data are inputs: :func:`bayesglmm.engine.inputs_model`) loads both
callbacks from disk. What the callbacks compute, and the codes they return, are nutpie's:
0, or -1 wrong dimension, 1 an exception, 3 a non-finite gradient, 4 a non-finite log
density (logp); 0, -1, -2 (expand). ``tests/test_nutpie_compile.py`` checks the draws equal
nutpie's own compile. nutpie's licence: MIT.

The nutpie functions this mirrors are checked against the source they were taken from
(:func:`bayesglmm.patching.require`) before use; ``BAYESGLMM_SPEEDUPS=0`` compiles with
nutpie's own code instead.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings

import numpy as np
import nutpie.compile_pymc as _nutpie

from bayesglmm import patching

__all__ = ["UPSTREAM", "check", "compile_numba"]

#: The nutpie functions mirrored here (their source hashes when copied), and the version.
UPSTREAM = ("nutpie", "0.16.11", {
    "compile_pymc._compile_pymc_model_numba": (_nutpie._compile_pymc_model_numba, "89222a7ba1f2efba"),
    "compile_pymc.make_user_data": (_nutpie.make_user_data, "41dc6d05ca329b07"),
    "compile_pymc.update_user_data": (_nutpie.update_user_data, "3b37102b14f6860a"),
    "compile_pymc._make_c_logp_func": (_nutpie._make_c_logp_func, "8540ecc018f613c6"),
    "compile_pymc._make_c_expand_func": (_nutpie._make_c_expand_func, "544e9ff7f33d5ada"),
})

#: Changes whenever the generated callbacks change (part of every cache key).
CALLBACK_VERSION = "1"


def check() -> None:
    """Raise :class:`~bayesglmm.errors.UpstreamVersionError` unless nutpie's functions are the ones mirrored.

    Examples
    --------
    >>> check()
    """
    patching.require(*UPSTREAM)


def compile_numba(model, var_names: list[str] | None = None, *, initial_points: dict | None = None,
                  jitter_rvs: set | None = None, mode="NUMBA"):
    """Compile ``model`` for nutpie's sampler (numba backend), callbacks cached on disk.

    The model should hold its data as shared variables (:func:`bayesglmm.engine.inputs_model`);
    constants are compiled in, as nutpie would. ``var_names``, ``initial_points`` and
    ``jitter_rvs`` are nutpie's ``compile_pymc_model`` arguments; ``mode`` is PyTensor's numba
    mode, or one with rewrites of its own (:func:`bayesglmm.logistic_rewrite.numba_mode`).
    Returns nutpie's ``CompiledPyMCModel`` (``with_data`` swaps the shared variables, as with
    nutpie's own compile).

    Examples
    --------
    >>> compiled = compile_numba(inputs_model(spec), stored_names(spec))  # doctest: +SKIP
    >>> nutpie.sample(compiled, draws=100, seed=1)  # doctest: +SKIP
    """
    import nutpie

    if not patching.enabled():
        return nutpie.compile_pymc_model(model, var_names=var_names, backend="numba", initial_points=initial_points,
                                         jitter_rvs=jitter_rvs)
    check()
    from pymc.initial_point import make_initial_point_fn

    jitter_rvs = set(model.free_RVs) if jitter_rvs is None else jitter_rvs  # nutpie's defaults
    initial_point_fn = _nutpie._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=initial_points, jitter_rvs=jitter_rvs, default_strategy="support_point",
        return_transformed=True))
    n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_func, shape_info, reparameterized = (
        _nutpie._make_functions(model, mode=mode, compute_grad=True, join_expanded=True,
                                pymc_initial_point_fn=initial_point_fn, var_names=var_names))
    shared_vars = list(dict.fromkeys([*logp_fn_pt.get_shared(), *expand_fn_pt.get_shared()]))
    # Record fields named by position (nutpie draws uuids): the same model gives the same record.
    shared_var_keys = {var: f"s{i}" for i, var in enumerate(shared_vars)}
    shared_data = {key: np.array(var.get_value(), order="C", copy=True) for var, key in shared_var_keys.items()}
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = _nutpie.make_user_data(shared_var_keys, shared_data)
    layout = [(shared_data[key].ndim, shared_data[key].dtype.str) for key in shared_var_keys.values()]
    logp_positions = [shared_vars.index(var) for var in logp_fn_pt.get_shared()]
    expand_positions = [shared_vars.index(var) for var in expand_fn_pt.get_shared()]
    logp_func = _cfunc(_logp_signature, "logp", logp_fn_pt.vm.jit_fn, layout, logp_positions, n_dim=n_dim)
    expand_func = _cfunc(_expand_signature, "expand", expand_fn_pt.vm.jit_fn, layout, expand_positions,
                         n_dim=n_dim, n_expanded=n_expanded)
    dims, coords = _nutpie._prepare_dims_and_coords(model, shape_info, reparameterized)
    return _nutpie.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_func, compiled_expand_func=expand_func, initial_point_func=initial_point_func,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_fn_pt, expand_func=expand_fn_pt,
        reparameterized_names=reparameterized)


def _logp_signature():
    import numba.types as nt

    return nt.int64(nt.uint64, nt.CPointer(nt.double), nt.CPointer(nt.double), nt.CPointer(nt.double), nt.voidptr)


def _expand_signature():
    import numba.types as nt

    return nt.int64(nt.uint64, nt.uint64, nt.CPointer(nt.double), nt.CPointer(nt.double), nt.voidptr)


_LOGP_BODY = """\
def {name}(dim, x_, out_, logp_, user_data_):
    if dim != N_DIM:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_DIM,))
        logp = numba.carray(logp_, (1,))
{unpack}
        logp_val, grad = INNER(x{args})
        logp[0] = logp_val
        finite = True
        for i in range(N_DIM):
            out[i] = grad[i]
            if not np.isfinite(grad[i]):
                finite = False
        if not finite:
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_BODY = """\
def {name}(dim, expanded, x_, out_, user_data_):
    if dim != N_DIM:
        return -1
    if expanded != N_EXPANDED:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_EXPANDED,))
{unpack}
        (values,) = INNER(x{args})
        for i in range(N_EXPANDED):
            out[i] = values[i]
    except Exception:
        return -2
    return 0
"""


def _unpack_source(layout, positions) -> tuple[str, str]:
    """Lines reading each input array from nutpie's user-data record, and the argument list.

    nutpie's record is ``shared: {data: uintp[K], size: uintp[K], shape: uint[ndim_k] each}``
    (``make_user_data``): 8-byte words throughout, read here as one uint64 array by position.
    """
    if not positions:
        return "", ""
    k = len(layout)
    shape_start = list(itertools.accumulate([2 * k] + [ndim for ndim, _ in layout]))
    total = shape_start[-1]
    lines = [f"        words = numba.carray(user_data_, ({max(total, 1)},), np.uint64)"]
    args = []
    for j, p in enumerate(positions):
        ndim = layout[p][0]
        shape = ", ".join(f"int(words[{shape_start[p] + d}])" for d in range(ndim))
        lines.append(f"        a{j} = numba.carray(address_as_void_pointer(words[{p}]), (int(words[{k + p}]),), "
                     f"DTYPE_{j}).reshape(({shape}{',' if ndim == 1 else ''}))")
        args.append(f", a{j}")
    return "\n".join(lines), "".join(args)


def _cfunc(signature, kind: str, inner, layout, positions, **constants):
    """A ``numba.cfunc`` of the generated callback, cached on disk when ``inner`` is."""
    import numba
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    unpack, args = _unpack_source(layout, positions)
    template = _LOGP_BODY if kind == "logp" else _EXPAND_BODY
    name = f"bayesglmm_{kind}_callback"
    source = template.format(name=name, unpack=unpack, args=args)
    # __name__: numba rebuilds a cached function's environment from its module's name.
    env = {"__name__": __name__, "numba": numba, "np": np, "INNER": inner, "address_as_void_pointer": _nutpie.address_as_void_pointer,
           **{key.upper(): value for key, value in constants.items()},
           **{f"DTYPE_{j}": np.dtype(layout[p][1]) for j, p in enumerate(positions)}}
    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    key = None
    if inner_key is not None:
        text = repr((CALLBACK_VERSION, source, inner_key, layout, positions, sorted(constants.items()),
                     patching.installed_version("nutpie"), numba.__version__))
        key = "bayesglmm_" + hashlib.sha256(text.encode()).hexdigest()
    function = compile_numba_function_src(source, name, global_env=env, cache_key=key)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=numba.NumbaWarning)
        return numba.cfunc(signature(), cache=key is not None)(function)
