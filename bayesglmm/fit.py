"""Sampling: :func:`fit` builds the model, runs NUTS through the engine and attaches diagnostics.

The draws come from :mod:`bayesglmm.engine` (nutpie by default, compiled with numba and
cached on disk in ``~/.pytensor``; PyMC's NUTS with ``sampler="pymc"``). Four chains run
on up to four cores; the same ``seed`` gives bit-identical draws in any process. The
retry ladder (:func:`ladder_settings`) rebuilds the model from its one record
(:class:`bayesglmm.request.ModelRequest`). The log-likelihood is stored so that LOO works
on the result, a :class:`bayesglmm.result.Fit`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Literal

import numpy as np
import xarray as xr

from bayesglmm.diagnostics import RHAT_MAX, ConvergenceWarning, diagnose, warn_if_failed
from bayesglmm.engine import DrawSettings, compile_flags, compiled_for, finish, get_engine
from bayesglmm.errors import SettingsError
from bayesglmm.model import ModelSpec, build_model
from bayesglmm.result import Fit

Sampler = Literal["nutpie", "pymc"]

# nutpie's low-rank modified mass matrix adapts to the strong intercept/offset correlation
# of non-centred hierarchical models (betablocker: min bulk ESS 281 -> 803, ../shared/STACK.md)
# but costs ~7x wall time on a 350-parameter crossed model; it is used up to this size.
LOW_RANK_MAX_PARAMS = 150
DEFAULT_TARGET_ACCEPT = 0.9


def check_complete(idata, draws: int, chains: int) -> None:
    """Raise KeyboardInterrupt if the sampler returned fewer draws than asked for.

    nutpie catches Ctrl-C and returns the draws made so far; a fit built from them would
    look like a short but valid one, so it is refused here.
    """
    posterior = idata["posterior"]
    got_chains, got_draws = posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0)
    if got_chains < chains or got_draws < draws:
        raise KeyboardInterrupt(
            f"sampling was interrupted: {got_chains} chain(s) x {got_draws} draws of the "
            f"{chains} x {draws} asked for; no fit was returned"
        )


def check_settings(*, draws, tune, chains, sampler, target_accept) -> None:
    """Raise SettingsError for an invalid sampler setting, naming it and the valid values.

    Examples
    --------
    >>> check_settings(draws=0, tune=10, chains=4, sampler="nutpie", target_accept=None)
    Traceback (most recent call last):
    ...
    bayesglmm.errors.SettingsError: draws must be a whole number of at least 1; got 0.
    """
    get_engine(sampler)  # a SettingsError naming the engines for an unknown one
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        least = 0 if name == "tune" else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise SettingsError(f"{name} must be a whole number of at least {least}; got {value!r}.")
    if target_accept is not None and not 0 < target_accept < 1:
        raise SettingsError(f"target_accept must be between 0 and 1 (e.g. 0.95); got {target_accept!r}.")


def default_cores(chains: int) -> int:
    """Cores to use: one per chain, at most the machine's."""
    return max(1, min(chains, os.cpu_count() or 1))


def _n_free_params(spec: ModelSpec) -> int:
    point = spec.pymc_model.initial_point()
    return int(sum(np.size(v) for v in point.values()))


def fit(formula: str, data, family: str = "gaussian", *, link: str | None = None, priors: dict | None = None,
        draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int | None = None, seed: int | None = None,
        sampler: Sampler = "nutpie", target_accept: float | None = None, low_rank: bool | None = None,
        prior_only: bool = False, dropna: bool = False, progressbar: bool | None = None,
        parameterization="auto", fixed_design: str = "auto", retry="auto", log_likelihood: bool = True) -> Fit:
    """Fit a Bayesian GLMM by NUTS and check its convergence.

    Parameters
    ----------
    formula : str
        lme4/Bambi formula (see :func:`bayesglmm.model.build_model`).
    data : pandas.DataFrame
        The data.
    family : str
        ``gaussian``, ``bernoulli``, ``binomial``, ``poisson``, ``negativebinomial``, ``cumulative``,
        ``student_t`` (:data:`bayesglmm.families.FAMILIES`).
    link : str, optional
        Link function; the family's default if None.
    priors : dict, optional
        Overrides of the default priors, per term (see :func:`fit.prior_summary`).
    draws, tune, chains : int
        Draws kept per chain, warm-up iterations per chain, number of chains.
    cores : int, optional
        Parallel chains; default one per chain up to the machine's cores.
    seed : int, optional
        Random seed: the same seed gives the same draws.
    sampler : {"nutpie", "pymc"}
        NUTS implementation.
    target_accept : float, optional
        Target acceptance rate of NUTS (default 0.9).
    low_rank : bool, optional
        nutpie's low-rank modified mass matrix; default on for models up to 150 parameters.
    prior_only : bool
        Draw from the prior (and prior predictive) instead of the posterior.
    dropna : bool
        Drop rows with missing values in the model's columns (recorded) instead of raising.
    progressbar : bool, optional
        Show progress; default only when standard error is a terminal.
    parameterization : {"auto", "centred", "non-centred"} or dict
        Of the group effects (see :func:`bayesglmm.model.build_model`); shown in the summary.
    fixed_design : {"auto", "qr", "plain"}
        How the fixed effects are sampled: on the QR decomposition of the centred design
        (the default where possible) or as Bambi does; results are on the user's scale
        either way (see :func:`bayesglmm.model.build_model`); shown in the summary.
    retry : {"auto", True, False}
        What to do when the fit does not converge. The ladder tries again up to twice.
        First: after divergences, twice the warm-up with target_accept 0.95; without any,
        twice the warm-up and twice the draws at the same target_accept (the failure was
        an R-hat just above 1.01 or a low ESS: patients and schizo in
        ``benchmarks/RESULTS.md``, where a higher target_accept only lengthened the
        trajectories; the test set's crossed case needed the longer warm-up, see
        ``benchmarks/TESTSET.md``). Then: twice the warm-up, target_accept 0.99 and the other
        parameterisation of every group term. "auto" (default) climbs it when the sampler
        shows a geometry problem (a divergence or an R-hat above 1.01), not for a low ESS
        alone, which more draws fix; True climbs it for any failure; False never. The model
        (formula, family, priors) never changes. Every attempt is stored in
        ``fit.attempts`` and listed in the summary; the fit returned is the last attempt,
        and ``fit.ok`` says whether it converged.
    log_likelihood : bool
        Store the pointwise log-likelihood (``/log_likelihood``, one value per row and draw)
        that LOO needs. False leaves it out, for large data: 136,000 rows x 4,000 draws are
        4.4 GB; :func:`bayesglmm.compare` then computes it when it needs it.

    Returns
    -------
    Fit
        ``fit.ok`` is False (and a ConvergenceWarning was issued) if the sampler did not converge.

    Examples
    --------
    >>> import bayesglmm as bg
    >>> mc = bg.datasets.load("multicentre")  # doctest: +SKIP
    >>> f = bg.fit("p(y, n) ~ treat + (1|centre)", mc, family="binomial", seed=1)  # doctest: +SKIP
    >>> f.ok  # doctest: +SKIP
    True
    """
    check_settings(draws=draws, tune=tune, chains=chains, sampler=sampler, target_accept=target_accept)
    if retry not in ("auto", True, False):
        raise SettingsError(f"retry must be 'auto', True or False; got {retry!r}.")
    seed = resolve_seed(seed)  # once: every attempt of the ladder uses the same, recorded seed
    spec = build_model(formula, data, family, link=link, priors=priors, dropna=dropna,
                       parameterization=parameterization, fixed_design=fixed_design)
    if prior_only or retry is False:
        return sample(spec, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, sampler=sampler,
                      target_accept=target_accept, low_rank=low_rank, prior_only=prior_only,
                      progressbar=progressbar, log_likelihood=log_likelihood)
    # The attempts are sampled without the log-likelihood, which is added to the one returned:
    # computing it for an attempt the ladder discards cost patients 5 s (benchmarks/RESULTS.md).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = sample(spec, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, sampler=sampler,
                        target_accept=target_accept, low_rank=low_rank, progressbar=progressbar,
                        log_likelihood=False)
    attempts = [_attempt(result)]
    first_tune = tune
    for ladder_step in (1, 2):
        if result.ok or (retry == "auto" and not _geometry_problem(result.diagnostics)):
            break
        tune, draws, accept = ladder_settings(ladder_step, result.diagnostics.divergences, tune=first_tune,
                                              draws=draws, target_accept=target_accept)
        if ladder_step == 2:
            flipped = {name: ("non-centred" if choice == "centred" else "centred")
                       for name, choice in spec.parameterization_choice().items()}
            spec = spec.request.replace(parameterization=flipped or parameterization).build(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = sample(spec, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, sampler=sampler,
                            target_accept=accept, low_rank=low_rank, progressbar=progressbar,
                            log_likelihood=False)
        attempts.append(_attempt(result))
    result.attempts = attempts
    if log_likelihood:
        attach_log_likelihood(result.idata, result.spec.bambi_model)
    warn_if_failed(result.diagnostics, stacklevel=2)
    return result


def ladder_settings(step: int, divergences: int, *, tune: int, draws: int, target_accept: float | None,
                    ) -> tuple[int, int, float | None]:
    """``(tune, draws, target_accept)`` of the ladder's ``step`` (1 or 2) after a failed attempt.

    ``tune`` and ``target_accept`` are the first attempt's, ``draws`` the failed attempt's.

    Examples
    --------
    >>> ladder_settings(1, 0, tune=1000, draws=1000, target_accept=None)  # longer chains
    (2000, 2000, None)
    >>> ladder_settings(1, 3, tune=1000, draws=1000, target_accept=None)  # divergences
    (2000, 1000, 0.95)
    >>> ladder_settings(2, 0, tune=1000, draws=2000, target_accept=None)
    (2000, 2000, 0.99)
    """
    if step == 1 and not divergences:
        return 2 * tune, 2 * draws, target_accept
    return 2 * tune, draws, 0.95 if step == 1 else 0.99


def _geometry_problem(diagnostics) -> bool:
    """A divergence or an R-hat above the limit: what a longer warm-up or another geometry can fix."""
    return diagnostics.divergences > 0 or diagnostics.max_rhat > RHAT_MAX


def _attempt(result: Fit) -> dict:
    s = result.settings
    params = ", ".join(f"{t} {p}" for t, p in result.spec.parameterization.items()) or "no group terms"
    return {"tune": s["tune"], "draws": s["draws"], "target_accept": s["target_accept"],
            "parameterization": params, "verdict": result.diagnostics.verdict()}


#: Largest chains x draws x rows block of the log-likelihood computed at once (160 MB of float64).
LOGLIK_BLOCK_CELLS = 20_000_000


def add_log_likelihood(idata, bm, data=None) -> None:
    """Add ``/log_likelihood`` (Bambi's pointwise values), computed a block of draws at a time.

    Bambi evaluates it on whole (chain, draw, row) arrays and their intermediates at once:
    9 GB of peak memory for the patients model (8,525 rows x 4,000 draws). Blocks of at
    most ``LOGLIK_BLOCK_CELLS`` cells give the same values with bounded memory.

    Examples
    --------
    >>> add_log_likelihood(fit.idata, fit.spec.bambi_model)  # doctest: +SKIP
    """
    with compile_flags():  # PyTensor's Python implementations: no gcc for a function run per block
        _add_log_likelihood(idata, bm, data)


def _add_log_likelihood(idata, bm, data) -> None:
    posterior = idata["posterior"].to_dataset()
    rows = len(bm.response_term.data) if data is None else len(data)
    per_draw = posterior.sizes["chain"] * max(rows, 1)
    step = max(1, LOGLIK_BLOCK_CELLS // per_draw)
    n_draws = posterior.sizes["draw"]
    if step >= n_draws:
        bm.compute_log_likelihood(idata, data=data)
        return
    values = {}
    for start in range(0, n_draws, step):
        part = xr.DataTree.from_dict({"posterior": posterior.isel(draw=slice(start, start + step))})
        bm.compute_log_likelihood(part, data=data)
        block = part["log_likelihood"].to_dataset().transpose("chain", "draw", ...)
        if not values:  # filled in place: concatenating the blocks would hold every value twice
            values = {name: xr.DataArray(np.empty((var.sizes["chain"], n_draws) + var.shape[2:], var.dtype),
                                         dims=var.dims, coords={d: var.coords[d] for d in var.dims[2:] if d in var.coords})
                      for name, var in block.data_vars.items()}
        for name, var in block.data_vars.items():
            values[name].values[:, start:start + var.sizes["draw"]] = var.values
    out = xr.Dataset(values).assign_coords(chain=posterior["chain"], draw=posterior["draw"])
    idata["log_likelihood"] = out.assign_attrs(block.attrs)


def attach_log_likelihood(idata, bm) -> None:
    """Add ``/log_likelihood`` (:func:`add_log_likelihood`) and drop the per-row means it leaves.

    What :func:`sample` does after sampling, and :func:`bayesglmm.compare` for a fit made
    with ``log_likelihood=False``.

    Examples
    --------
    >>> attach_log_likelihood(fit.idata, fit.spec.bambi_model)  # doctest: +SKIP
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*Pareto.*")
        add_log_likelihood(idata, bm)
    drop_response_means(idata, bm)


def drop_response_means(idata, bm) -> None:
    """Remove the per-row means (``p``, ``mu``) that Bambi's log-likelihood leaves in the posterior.

    They are one value per row and draw (136,000 rows x 4,000 draws = 4.4 GB for 16 copies
    of the patients data), are not parameters, and every prediction recomputes them.
    """
    posterior = idata["posterior"].to_dataset()
    rows = [name for name in bm.family.likelihood.params if name in posterior and "__obs__" in posterior[name].dims]
    if rows:
        posterior = posterior.drop_vars(rows)
        unused = [dim for dim in ("__obs__",) if dim in posterior.coords and
                  not any(dim in var.dims for var in posterior.data_vars.values())]
        idata["posterior"] = posterior.drop_vars(unused)


def resolve_seed(seed) -> int:
    """The seed to use: ``seed`` checked, or one drawn at random (and recorded) when None.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> 0 <= resolve_seed(None) < 2**31
    True
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise SettingsError(f"seed must be a whole number from 0 to 2**32 - 1, or None; got {seed!r}.")
    return int(seed)


def sample(spec: ModelSpec, *, draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int | None = None,
           seed: int | None = None, sampler: Sampler = "nutpie", target_accept: float | None = None,
           low_rank: bool | None = None, prior_only: bool = False, progressbar: bool | None = None,
           log_likelihood: bool = True) -> Fit:
    """Sample a built model (the second step of :func:`fit`); arguments as :func:`fit`'s.

    The draws come from :mod:`bayesglmm.engine`, which compiles the spec's model once (with
    the data as inputs) and reuses it for every later attempt on the same spec.

    Examples
    --------
    >>> f = sample(build_model("y ~ x", df), seed=1)  # doctest: +SKIP
    """
    bm = spec.bambi_model
    progressbar = sys.stderr.isatty() if progressbar is None else progressbar
    seed = resolve_seed(seed)
    settings = {"sampler": sampler, "draws": draws, "tune": tune, "chains": chains, "seed": seed}
    if prior_only:
        settings.update(sampler="prior", chains=1)
        idata = bm.prior_predictive(draws=draws, random_seed=seed)
        return Fit(spec, idata, None, settings)
    target_accept = DEFAULT_TARGET_ACCEPT if target_accept is None else target_accept
    cores = default_cores(chains) if cores is None else cores
    engine = get_engine(sampler)
    if sampler == "nutpie":
        low_rank = _n_free_params(spec) <= LOW_RANK_MAX_PARAMS if low_rank is None else low_rank
        settings["low_rank"] = bool(low_rank)
    settings.update(target_accept=target_accept, cores=cores)
    run = DrawSettings(draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, target_accept=target_accept,
                       low_rank=bool(low_rank), progressbar=progressbar)
    compiled, settings["compile_seconds"] = compiled_for(spec, engine)
    # The engine and finish() silence the sampler's own FutureWarnings; ours come after.
    start = time.perf_counter()
    idata = finish(spec, engine.draw(compiled, run), seconds=time.perf_counter() - start)
    check_complete(idata, draws, chains)
    if log_likelihood:  # the engine's draws hold no per-row means to drop
        attach_log_likelihood(idata, bm)
    diagnostics = diagnose(idata)
    warn_if_failed(diagnostics, stacklevel=3)
    return Fit(spec, idata, diagnostics, settings)
