"""nutpie 0.16's C callbacks without numba's array-assignment machinery.

nutpie wraps the numba-compiled log density and the function that expands a draw into
every stored variable in two small C callbacks. They copy their results with
``out[...] = grad`` and ``out[...] = values``, and for an array assigned through ``...``
numba compiles its general broadcasting setitem together with its shape-mismatch error
message (string formatting included). That is compiled anew in every fresh process: 2.4 s
of the 12 s a betablocker first run took, and about 3 s of hr_slopes's (paired runs with
empty caches, ``benchmarks/course_models.py``). The copies below are nutpie's functions
with those two assignments written as loops over the (known) length; what they compute,
and the codes they return, are nutpie's. :mod:`bayesglmm.fit` installs them on import.
nutpie's licence: MIT.
"""

from __future__ import annotations

import numpy as np
import nutpie.compile_pymc as _compile_pymc

__all__ = ["install", "uninstall", "make_c_logp_func", "make_c_expand_func"]

#: nutpie's own functions, kept for :func:`uninstall` and the equality test.
NUTPIE_MAKE_C_LOGP_FUNC = _compile_pymc._make_c_logp_func
NUTPIE_MAKE_C_EXPAND_FUNC = _compile_pymc._make_c_expand_func


def install() -> None:
    """Make nutpie build its callbacks with :func:`make_c_logp_func` and :func:`make_c_expand_func`.

    Examples
    --------
    >>> install(); _compile_pymc._make_c_logp_func is make_c_logp_func
    True
    """
    _compile_pymc._make_c_logp_func = make_c_logp_func
    _compile_pymc._make_c_expand_func = make_c_expand_func


def uninstall() -> None:
    """Restore nutpie's own callbacks (for tests).

    Examples
    --------
    >>> uninstall(); _compile_pymc._make_c_logp_func is NUTPIE_MAKE_C_LOGP_FUNC
    True
    >>> install()
    """
    _compile_pymc._make_c_logp_func = NUTPIE_MAKE_C_LOGP_FUNC
    _compile_pymc._make_c_expand_func = NUTPIE_MAKE_C_EXPAND_FUNC


def _signature(*args):
    import numba

    return numba.types.int64(*args)


def make_c_logp_func(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """nutpie's ``_make_c_logp_func``: log density and gradient into nutpie's buffers.

    Returns 0, or nutpie's error codes: -1 wrong dimension, 1 an exception, 3 a non-finite
    gradient, 4 a non-finite log density.
    """
    import numba

    extract = _compile_pymc.make_extraction_fn(logp_fn, shared_data, shared_keys, user_data.dtype)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = _signature(numba.types.uint64, double_ptr, double_ptr, double_ptr, numba.types.voidptr)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, (1,))
            logp_val, grad = extract(x, user_data_)
            logp[0] = logp_val
            finite = True
            for i in range(n_dim):
                out[i] = grad[i]
                if not np.isfinite(grad[i]):
                    finite = False
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001 (nutpie's own handling)
            return 1
        return 0

    return logp_numba, c_sig


def make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_var_keys, shared_data):
    """nutpie's ``_make_c_expand_func``: one draw's stored variables into nutpie's buffer.

    Returns 0, -1 for a wrong dimension, -2 for an exception (nutpie's codes).
    """
    import numba

    extract = _compile_pymc.make_extraction_fn(expand_fn, shared_data, shared_var_keys, user_data.dtype)
    double_ptr = numba.types.CPointer(numba.types.double)
    c_sig = _signature(numba.types.uint64, numba.types.uint64, double_ptr, double_ptr, numba.types.voidptr)

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out[i] = values[i]
        except Exception:  # noqa: BLE001 (nutpie's own handling)
            return -2
        return 0

    return expand_numba, c_sig
