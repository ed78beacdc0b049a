"""Observed and replicated data: posterior and prior predictive draws of a fit's response.

The material of every predictive check (:mod:`bayesglmm.ppc`, :mod:`bayesglmm.ppc_tables`,
:mod:`bayesglmm.dispersion`) and of :mod:`bayesglmm.plots`. (Predictions for new data are
:mod:`bayesglmm.predict`; this module draws replicates of the fitted data.) Each function
is a plain function of a :class:`~bayesglmm.fit.Fit` (nothing is cached on the fit).

Conventions:

* Replicated data are simulated by the family object (``fit.spec.family.simulate``, through
  :func:`bayesglmm.predict.simulate_response`), the one way the package simulates a
  response, from each draw's linear predictor and family parameters (posterior draws, or
  Bambi's prior draws for the prior predictive).
* Replicated data are on the response's own scale (successes for ``p(y, n)``, category
  codes 0..K-1 for ordinal responses, as Bambi stores them). Statistics of a binomial
  response are computed on the proportion scale ``y / n``; those of an ordinal response on
  the category number 1..K (``_scale``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesglmm.errors import DataError, NoPosteriorError, SettingsError

SAMPLE_DIMS = ("chain", "draw")


def _response_name(fit) -> str:
    return str(next(iter(fit.idata["observed_data"].data_vars)))


def observed(fit) -> np.ndarray:
    """The observed response as the model sees it (successes, 0/1, counts, codes 0..K-1).

    Examples
    --------
    >>> observed(fit)[:4]  # doctest: +SKIP
    array([11, 10, 16, 22])
    """
    return np.asarray(fit.idata["observed_data"][_response_name(fit)].values)


def trials(fit) -> np.ndarray | None:
    """The number of trials of each row of a binomial ``p(y, n)`` model, else None.

    Examples
    --------
    >>> trials(fit)[:2]  # doctest: +SKIP
    array([36., 37.])
    """
    column = fit.spec.formula.trials
    if column is None:
        return None
    return fit.spec.data.frame[column].to_numpy(dtype=float)


def _thin(dataset: xr.Dataset, draws: int | None) -> xr.Dataset:
    """About ``draws`` draws in all, evenly spaced within each chain."""
    if draws is None:
        return dataset
    if int(draws) < 1:
        raise SettingsError(f"draws must be a positive whole number; got {draws!r}.")
    n_chain, n_draw = dataset.sizes["chain"], dataset.sizes["draw"]
    per_chain = min(n_draw, int(np.ceil(int(draws) / n_chain)))
    if per_chain >= n_draw:
        return dataset
    idx = np.unique(np.linspace(0, n_draw - 1, per_chain).round().astype(int))
    return dataset.isel(draw=idx)


def _as_response(fit, y: np.ndarray, draws: xr.Dataset) -> xr.DataArray:
    """Simulated responses (samples, rows) as ``(chain, draw, __obs__)``, named as the response.

    Whole-valued families keep integers (as the observed data and Bambi store them).
    """
    values = y.astype(np.int64) if fit.spec.family.discrete else y
    shape = (draws.sizes["chain"], draws.sizes["draw"], y.shape[1])
    return xr.DataArray(values.reshape(shape), dims=("chain", "draw", "__obs__"),
                        coords={"chain": draws["chain"].values, "draw": draws["draw"].values,
                                "__obs__": np.arange(y.shape[1])}, name=_response_name(fit))


def _predict(fit, draws: int | None = None, seed: int | None = None) -> tuple[xr.DataArray, np.ndarray]:
    """Posterior predictive draws (through the family's ``simulate``) and the linear predictor (samples, rows)."""
    from bayesglmm.predict import simulate_response

    if fit.prior_only:
        raise NoPosteriorError("This fit holds prior draws only (prior_only=True): use prior_predictive(fit) "
                         "for replicated data from the prior.")
    posterior = _thin(fit.idata["posterior"].to_dataset(), draws)
    eta, y = simulate_response(fit.spec, posterior, rng=seed)
    return _as_response(fit, y, posterior), eta


def _prior_predictive_group(fit, prior: xr.Dataset, rng) -> xr.Dataset:
    """The ``/prior_predictive`` group, simulated from raw prior draws by the family's ``simulate``."""
    from bayesglmm.predict import simulate_response

    _, y = simulate_response(fit.spec, prior, rng=rng, raw=True)
    return _as_response(fit, y, prior).to_dataset()


def posterior_predictive(fit, draws: int | None = None, seed: int | None = None) -> xr.DataArray:
    """Replicated data drawn from the posterior predictive distribution.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    draws : int, optional
        About how many posterior draws to use (evenly spaced within each chain); all if None.
    seed : int, optional
        Seed of the predictive sampling: the same seed gives the same replicated data.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, __obs__)``, named as the response (``"p(y, n)"``), on the
        response's scale: successes for ``p(y, n)``, 0/1, counts, or category codes 0..K-1.

    Examples
    --------
    >>> yrep = posterior_predictive(fit, draws=400, seed=1)  # doctest: +SKIP
    >>> yrep.sizes["__obs__"]  # doctest: +SKIP
    22
    """
    return _predict(fit, draws, seed)[0]


def sample_prior(fit, draws: int = 500, seed: int | None = None) -> xr.DataTree:
    """Prior draws of the fit's model: a DataTree with ``/prior`` and ``/prior_predictive``.

    The parameters are drawn by Bambi (PyMC's forward sampling; ordinal cut-points kept
    sorted, :func:`bayesglmm.fit.sorted_prior_draws`); the response in
    ``/prior_predictive`` is simulated from them by the family's ``simulate``, as every
    replicated response is. For a prior-only fit (``bg.fit(..., prior_only=True)``) its own
    parameter draws are used (``draws`` is ignored), with the response simulated with
    ``seed`` (the fit's seed if None).

    Parameters
    ----------
    fit : Fit
        The fit whose model's priors are sampled.
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed: the same seed gives the same draws.

    Returns
    -------
    xarray.DataTree

    Examples
    --------
    >>> prior = sample_prior(fit, draws=500, seed=1)  # doctest: +SKIP
    >>> float(prior["prior"]["1|centre_sigma"].median())  # doctest: +SKIP
    1.7...
    """
    from bayesglmm.fit import sorted_prior_draws

    if fit.prior_only:
        tree = fit.idata.copy()
        seed = fit.settings.get("seed") if seed is None else seed
    else:  # as a prior-only fit draws them: ordinal cut-points sorted in every draw
        tree = sorted_prior_draws(fit.spec, int(draws), seed)
    # The parameters are Bambi's prior draws; the response is the family's simulation from them.
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])
    tree["prior_predictive"] = _prior_predictive_group(fit, tree["prior"].to_dataset(), rng)
    return tree


def prior_predictive(fit, draws: int = 500, seed: int | None = None) -> xr.DataArray:
    """Replicated data drawn from the prior predictive distribution.

    Same layout as :func:`posterior_predictive`; for a prior-only fit, simulated from its
    own parameter draws (see :func:`sample_prior`).

    Parameters
    ----------
    fit : Fit
        The fit whose model's priors are sampled.
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed: the same seed gives the same draws.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, __obs__)``.

    Examples
    --------
    >>> yprior = prior_predictive(fit, draws=500, seed=1)  # doctest: +SKIP
    >>> yprior.dims  # doctest: +SKIP
    ('chain', 'draw', '__obs__')
    """
    pp = sample_prior(fit, draws, seed)["prior_predictive"].to_dataset()
    name = _response_name(fit)
    return (pp[name] if name in pp else pp[next(iter(pp.data_vars))]).rename(name)


def _flat(yrep) -> np.ndarray:
    """Replicated data as a (draws, rows) array."""
    if isinstance(yrep, xr.DataArray):
        dims = [d for d in SAMPLE_DIMS if d in yrep.dims]
        other = [d for d in yrep.dims if d not in SAMPLE_DIMS]
        return yrep.transpose(*dims, *other).values.reshape(-1, int(np.prod([yrep.sizes[d] for d in other])))
    arr = np.asarray(yrep)
    return arr.reshape(-1, arr.shape[-1])


def _refuse_censored(fit) -> None:
    """Censored times against uncensored replicates would mislead: SettingsError pointing to the survival check."""
    from bayesglmm.censoring import right_censored

    cens = right_censored(fit.spec)
    if cens is not None and cens.any():
        raise SettingsError(
            f"The response is censored ({int(cens.sum())} of {cens.size} rows right-censored): the recorded "
            "times are not comparable with replicated event times. Use bayesglmm.censoring.survival_check(fit) "
            "or bg.plots.plot_survival_check(fit) (Kaplan-Meier against the posterior predictive survival curves).")


def _replicated(fit, yrep, draws, seed) -> np.ndarray:
    _refuse_censored(fit)
    y = posterior_predictive(fit, draws, seed) if yrep is None else yrep
    arr = _flat(y)
    n = observed(fit).shape[0]
    if arr.shape[1] != n:
        raise DataError(f"yrep has {arr.shape[1]} rows per draw but the fit has {n} observations.")
    return arr


def _scale(fit, values: np.ndarray) -> np.ndarray:
    """Values on the scale statistics use: proportions for p(y, n), 1..K for ordinal."""
    kind = fit.spec.family.response
    if kind == "trials":
        return values / trials(fit)
    if kind == "ordinal":
        return values + 1.0
    return values.astype(float)



__all__ = [
    "SAMPLE_DIMS",
    "observed",
    "posterior_predictive",
    "prior_predictive",
    "sample_prior",
    "trials",
]
