"""Prior vs posterior: the variance components and prior and posterior draws of scalar parameters.

:func:`variance_components` names the group SDs and gaussian ``sigma``;
:func:`prior_posterior_draws` pairs their prior draws (:func:`bayesglmm.predictive.sample_prior`)
with the posterior's, which :func:`bayesglmm.plots.plot_prior_posterior` draws.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bayesglmm.errors import NoPosteriorError, TermError
from bayesglmm.predictive import SAMPLE_DIMS, sample_prior
from bayesglmm.ranef_checks import _group_terms


def variance_components(fit) -> list[str]:
    """Names of the variance-component variables: group SDs (``1|centre_sigma``) and gaussian ``sigma``.

    Examples
    --------
    >>> variance_components(fit)  # doctest: +SKIP
    ['1|centre_sigma']
    """
    names = [f"{t}_sigma" for t in _group_terms(fit)]
    residual = fit.spec.family.residual_sd  # gaussian's sigma, unless it has its own formula (sigma ~ x)
    if residual is not None and residual not in (getattr(fit.spec, "dpars", None) or {}):
        names.append(residual)
    return names


def prior_posterior_draws(fit, var_names: Sequence[str] | None = None, *, draws: int = 1000,
                          seed: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Prior and posterior draws of scalar parameters, element by element.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    var_names : list of str, optional
        Variables (default :func:`variance_components`); vector-valued ones give one
        entry per element (``"treat[drug]"``).
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed of the prior draws.

    Returns
    -------
    dict
        Label -> (prior draws, posterior draws), each 1-d.

    Examples
    --------
    >>> pp = prior_posterior_draws(fit, seed=1)  # doctest: +SKIP
    >>> prior, post = pp["1|centre_sigma"]  # doctest: +SKIP
    """
    if fit.prior_only:
        raise NoPosteriorError("This fit holds prior draws only; prior vs posterior needs a posterior fit.")
    names = variance_components(fit) if var_names is None else list(var_names)
    if not names:
        raise TermError(f"The model {fit.spec.formula.original!r} has no variance components (no group terms); "
                         "pass var_names=[...] to compare other parameters.")
    prior = sample_prior(fit, draws, seed)["prior"].to_dataset()
    post = fit.draws
    missing = [n for n in names if n not in post or n not in prior]
    if missing:
        raise TermError(f"Unknown variables {', '.join(missing)}; available: {', '.join(map(str, post.data_vars))}.")
    out = {}
    for name in names:
        pr, po = prior[name], post[name]
        extra = [d for d in po.dims if d not in SAMPLE_DIMS]
        if not extra:
            out[name] = (pr.values.ravel(), po.values.ravel())
            continue
        for k in range(int(np.prod([po.sizes[d] for d in extra]))):
            idx = dict(zip(extra, np.unravel_index(k, [po.sizes[d] for d in extra])))
            label = name + "[" + ", ".join(str(po[d].values[i]) for d, i in idx.items()) + "]"
            out[label] = (pr.isel(idx).values.ravel(), po.isel(idx).values.ravel())
    return out


__all__ = [
    "prior_posterior_draws",
    "variance_components",
]
