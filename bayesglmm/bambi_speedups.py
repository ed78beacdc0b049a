"""A faster copy of Bambi 0.21's ``DistributionalComponent.predict_group_specific``.

Bambi multiplies the group-effect draws by the group design matrix with ``xarray.dot`` on a
pydata-sparse array; profiling the patients model (8,525 rows, 442 group levels) put 184 of
the 534 s of a first fit and most of its 8.9 GB peak memory in sparse's index expansion
(benchmarks/RESULTS.md). This copy is Bambi's code with that last product done by SciPy's
sparse matrix product, which gives the same numbers (tests/test_fit.py checks them against
Bambi's). Bambi's class is left alone: :func:`apply` gives only the components of a model
bayesglmm built (:func:`bayesglmm.build_model`) a subclass with this method, after
checking that Bambi's method is still the one copied (:mod:`bayesglmm.patching`).
Bambi's licence: MIT.
"""

import formulae as fm
import numpy as np
import scipy.sparse
import xarray as xr
from bambi.model_components import DistributionalComponent as _Component
from bambi.utils import get_aliased_name

from bayesglmm import patching
from bayesglmm.errors import DataError

__all__ = ["FastComponent", "apply", "check", "predict_group_specific"]

#: Bambi's own method, kept for the equality test.
BAMBI_PREDICT_GROUP_SPECIFIC = _Component.predict_group_specific

#: Where the copy was taken from: package, version, {function: source hash} (see :func:`bayesglmm.patching.require`).
UPSTREAM = ("bambi", "0.21.0", {
    "DistributionalComponent.predict_group_specific": (BAMBI_PREDICT_GROUP_SPECIFIC, "46af7d2580b69b57"),
})


def check() -> None:
    """Raise :class:`~bayesglmm.errors.UpstreamVersionError` unless Bambi's method is the one copied."""
    patching.require(*UPSTREAM)


def apply(bambi_model) -> None:
    """Give the components of ``bambi_model`` (one bayesglmm built) the fast group-effect product.

    Each of the model's own ``DistributionalComponent`` objects becomes a
    :class:`FastComponent`; Bambi's class and every other model are untouched. Being a
    class (not a bound method in the instance), it survives ``copy.deepcopy`` and pickling.
    Does nothing when ``BAYESGLMM_SPEEDUPS=0``.

    Examples
    --------
    >>> apply(spec.bambi_model)  # doctest: +SKIP
    """
    if not patching.enabled():
        return
    check()
    for component in bambi_model.conditional_parameters.values():
        if type(component) is _Component:
            component.__class__ = FastComponent


def predict_group_specific(
    self,
    posterior,
    data,
    in_sample,
    to_stack_dims,
    design_matrix_dims,
    sample_new_groups,
    random_seed,
):
    if in_sample:
        Z = self.design.group.design_matrix
        u = posterior
    else:
        # We temporarily allow for the evaluation of new groups
        fm_eval_unseen_categories_original = fm.config["EVAL_UNSEEN_CATEGORIES"]
        fm.config["EVAL_UNSEEN_CATEGORIES"] = "silent"
        group = self.design.group.evaluate_new_data(data)
        fm.config["EVAL_UNSEEN_CATEGORIES"] = fm_eval_unseen_categories_original

        Z = group.design_matrix
        factors_with_new_levels = group.factors_with_new_levels
        if factors_with_new_levels:
            if sample_new_groups is False:
                raise DataError(
                    f"There are new groups for the factors {factors_with_new_levels} and "
                    "'sample_new_groups' is False."
                )
            u = self._construct_u_with_new_groups(
                posterior=posterior,
                to_stack_dims=to_stack_dims,
                factors_with_new_levels=factors_with_new_levels,
                random_seed=random_seed,
            )
        else:
            u = posterior

    # Construct "u"
    # Previously, we used to use `.to_stacked_array()`.
    # Turns out the MultiIndex it used had it components sorted alphabetically, which is NOT
    # how columns are sorted in Z. This was problematic when the expression contained a
    # categoric variable.
    # I couldn't find how to do it with xarray, I think it's not possible.
    # So I'm doing it with NumPy.
    u_arrays = []
    for term in self.group_specific_terms.values():
        aliased_term_name = get_aliased_name(term)
        if term.alias:
            expr_dim = term.alias + "__expr_dim"
            factor_dim = term.alias + "__factor_dim"
        else:
            expr, factor = term.name.split("|")
            expr_dim = expr + "__expr_dim"
            factor_dim = factor + "__factor_dim"

        draws = u[aliased_term_name]

        to_stack_dims_len = len(to_stack_dims)
        assert 2 <= to_stack_dims_len <= 3

        if to_stack_dims_len == 2:  # univariate response
            offset = 0
        else:  # multivariate response
            offset = 1

        coords_len = len(draws.coords)
        assert 3 + offset <= coords_len <= 4 + offset

        if coords_len == 3 + offset:  # numeric
            u_columns = draws.to_numpy()
        else:  # categoric
            u_columns = draws.stack(column=(factor_dim, expr_dim)).to_numpy()

        u_arrays.append(u_columns)

    u_dims = ["chain", "draw", "__variables__"]
    if to_stack_dims_len == 3:
        u_dims.insert(2, to_stack_dims[-1])

    u = np.concatenate(u_arrays, axis=-1)
    # bayesglmm: SciPy's sparse product instead of xarray.dot on a pydata-sparse array,
    # which spent 184 of 534 s of a patients fit in sparse's index expansion.
    z = scipy.sparse.csr_matrix(Z)
    stacked = u.reshape(-1, u.shape[-1])  # (chain * draw [* response levels], columns of Z)
    product = np.asarray(z @ stacked.T)  # (rows, chain * draw [* response levels])
    if len(u_dims) == 3:
        values = product.reshape(Z.shape[0], u.shape[0], u.shape[1])
        return xr.DataArray(values, dims=(design_matrix_dims[0], "chain", "draw"))
    values = product.reshape(Z.shape[0], u.shape[0], u.shape[1], u.shape[2])
    return xr.DataArray(values, dims=(design_matrix_dims[0], "chain", "draw", u_dims[2]))


class FastComponent(_Component):
    """Bambi's ``DistributionalComponent`` with :func:`predict_group_specific` (set by :func:`apply`)."""

    predict_group_specific = predict_group_specific
