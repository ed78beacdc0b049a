"""New group levels for the draws of a refit that never saw them: :func:`with_new_levels`.

A cross-validation refit rebuilt on the training rows (:mod:`bayesglmm.refit`) has no
effect for a group whose rows are all held out. To score those rows under the full-data
model's design matrices, each missing level gets, per posterior draw, an effect drawn from
the refit's distribution of group effects: Normal(0, sigma), or MVN(0, Sigma) for the
terms of a correlated block. It is a module of its own because it works on any posterior
and reference draws, not only on refits.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesglmm.backend import correlated_labels
from bayesglmm.errors import FitError


def _parent(spec):
    bm = spec.bambi_model
    return bm.parameters[bm.family.likelihood.parent]


def with_new_levels(spec, posterior: xr.Dataset, reference: xr.Dataset, rng=None) -> xr.Dataset:
    """Add the group levels of ``reference`` that ``posterior`` lacks, as new groups.

    For each draw, a missing level's effect is drawn from the fitted distribution of group
    effects: Normal(0, sigma) for an independent term, MVN(0, Sigma) for the terms of a
    correlated block (Sigma from the block's SDs and ``{factor}_corr``). Levels are put
    in ``reference``'s order, so that the full-data model's design matrices apply.

    Parameters
    ----------
    spec : ModelSpec
        The full-data model (its group terms and blocks).
    posterior : xarray.Dataset
        Draws of a refit on a subset of the rows.
    reference : xarray.Dataset
        Draws of the full-data fit (only its level coordinates are used).
    rng : numpy.random.Generator or int, optional
        Random numbers for the new levels.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> post = with_new_levels(fit.spec, refit_posterior, fit.draws, rng=1)  # doctest: +SKIP
    """
    rng = np.random.default_rng(rng)
    terms = _parent(spec).group_specific_terms
    updated: dict = {}
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]

    def factor_dim(name):
        return next(d for d in reference[name].dims if str(d).endswith("__factor_dim"))

    def missing(name):
        dim = factor_dim(name)
        have = set(posterior[name][dim].values.tolist())
        return [lvl for lvl in reference[name][dim].values.tolist() if lvl not in have]

    def put(name, new_values, new_levels):
        dim = factor_dim(name)
        old = posterior[name]
        other = [d for d in old.dims if d not in ("chain", "draw", dim)]
        new = xr.DataArray(new_values, dims=("chain", "draw", dim, *other),
                           coords={dim: new_levels, **{d: old[d].values for d in other}})
        both = xr.concat([old, new.transpose(*old.dims)], dim=dim)
        updated[name] = both.sel({dim: reference[name][dim].values}).transpose(*old.dims)

    done = set()
    for block, label in correlated_labels(spec.formula.blocks):
        names = [n for n in block.term_names if n in terms]
        new_levels = missing(names[0]) if names else []
        done.update(names)
        if not new_levels:
            continue
        corr_name = f"{label}_corr"
        if corr_name not in posterior:
            raise FitError(f"Cannot draw new levels of {block.factor!r}: {corr_name!r} is not in the draws.")
        sds, widths = [], []
        for name in names:
            sd = posterior[f"{name}_sigma"].values.reshape(n_chain, n_draw, -1)
            sds.append(sd)
            widths.append(sd.shape[-1])
        sd = np.concatenate(sds, axis=-1)
        corr = posterior[corr_name].values
        cov = sd[..., :, None] * corr * sd[..., None, :]
        chol = np.linalg.cholesky(cov + 1e-12 * np.eye(cov.shape[-1]))
        z = rng.standard_normal((n_chain, n_draw, len(new_levels), sd.shape[-1]))
        u = np.einsum("cdij,cdlj->cdli", chol, z)
        start = 0
        for name, width in zip(names, widths):
            part = u[..., start : start + width]
            other_shape = posterior[name].shape[3:] if posterior[name].ndim > 3 else ()
            put(name, part.reshape(n_chain, n_draw, len(new_levels), *other_shape), new_levels)
            start += width
    for name in terms:
        if name in done:
            continue
        new_levels = missing(name)
        if not new_levels:
            continue
        sigma = posterior[f"{name}_sigma"]
        dim = factor_dim(name)
        other = [d for d in posterior[name].dims if d not in ("chain", "draw", dim)]
        sig = sigma.transpose("chain", "draw", *other).values[:, :, None, ...]
        z = rng.standard_normal((n_chain, n_draw, len(new_levels), *sig.shape[3:]))
        put(name, z * sig, new_levels)
    if not updated:
        return posterior
    # Replace the grown variables; anything else on a grown level dimension is stale.
    dims = {factor_dim(name) for name in updated}
    stale = [v for v in posterior.data_vars if v not in updated and set(posterior[v].dims) & dims]
    out = posterior.drop_vars([*updated, *stale, *[d for d in dims if d in posterior.coords]])
    return out.assign(updated)


__all__ = ["with_new_levels"]
