"""Sampling: :func:`fit` builds the model, runs NUTS through the engine and attaches diagnostics.

The draws come from :mod:`bayesglmm.engine` (nutpie by default, compiled with numba and
cached on disk in ``~/.pytensor``; PyMC's NUTS with ``sampler="pymc"``). Four chains run
on up to four cores; the same ``seed`` gives bit-identical draws in any process. An
attempt that is short of draws draws on (:func:`more_draws`); the retry ladder
(:func:`ladder_settings`) rebuilds the model from its one record
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

from bayesglmm import marginal
from bayesglmm.diagnostics import ESS_MIN, RHAT_MAX, ConvergenceWarning, diagnose, warn_if_failed
from bayesglmm.engine import DrawSettings, compile_flags, compiled_for, finish, get_engine, marginalised_levels
from bayesglmm.errors import ComputationError, SettingsError
from bayesglmm.model import ModelSpec, build_model
from bayesglmm.parameterization import PARTIAL, PARTIAL_SUFFIX, centred_around
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


def check_settings(*, draws, tune, chains, sampler, target_accept, cores=None, seed=None, flags=None) -> None:
    """Raise SettingsError for an invalid sampler setting, naming it, the value and the valid values.

    Whole-number settings take Python or numpy integers (not bools, floats or text);
    ``target_accept`` a real number strictly between 0 and 1; ``flags`` maps the names of
    on/off options to their values, each of which must be True or False (None where the
    option has an automatic default). Everything is checked before the model is built.

    Examples
    --------
    >>> check_settings(draws=0, tune=10, chains=4, sampler="nutpie", target_accept=None)
    Traceback (most recent call last):
    ...
    bayesglmm.errors.SettingsError: draws must be a whole number of at least 1; got 0.
    >>> check_settings(draws=np.int64(500), tune=500, chains=2, sampler="nutpie", target_accept=0.95, seed=np.int32(3))
    """
    get_engine(sampler)  # a SettingsError naming the engines for an unknown one
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains), ("cores", cores)):
        if name == "cores" and value is None:
            continue
        least = 0 if name == "tune" else 1
        if not _whole(value) or value < least:
            kind = _kind(value)
            raise SettingsError(f"{name} must be a whole number of at least {least}{kind}; got {value!r}.")
    if seed is not None and (not _whole(seed) or not 0 <= seed < 2**32):
        raise SettingsError(f"seed must be a whole number from 0 to 2**32 - 1, or None{_kind(seed)}; got {seed!r}.")
    if target_accept is not None:
        real = isinstance(target_accept, (int, float, np.integer, np.floating)) and not isinstance(
            target_accept, (bool, np.bool_))
        if not real or not np.isfinite(target_accept) or not 0 < target_accept < 1:
            raise SettingsError(
                f"target_accept must be a number strictly between 0 and 1 (e.g. 0.95){_kind(target_accept)}; "
                f"got {target_accept!r}.")
    for name, value in (flags or {}).items():
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise SettingsError(f"{name} must be True or False{_kind(value)}; got {value!r}.")


def _whole(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _kind(value) -> str:
    """Why a value of the wrong type is wrong, for a SettingsError ("" when its type is fine)."""
    if isinstance(value, (bool, np.bool_)):
        return " (a bool is not accepted)"
    if isinstance(value, str):
        return " (text is not accepted: pass a number, not a string)"
    if isinstance(value, (float, np.floating)):
        return " (a float is not accepted)" if float(value).is_integer() else ""
    return ""


def default_cores(chains: int) -> int:
    """Cores to use: one per chain, at most the machine's."""
    return max(1, min(chains, os.cpu_count() or 1))


def _n_free_params(spec: ModelSpec) -> int:
    """The sampler's free parameters: the model's, less a marginalised term's levels (not sampled)."""
    point = spec.pymc_model.initial_point()
    skipped = marginalised_levels(spec) if spec.marginalised else 0
    return int(sum(np.size(v) for v in point.values())) - skipped


def fit(formula: str, data, family: str = "gaussian", *, link: str | None = None, priors: dict | None = None,
        draws: int = 1000, tune: int = 1000, chains: int = 4, cores: int | None = None, seed: int | None = None,
        sampler: Sampler = "nutpie", target_accept: float | None = None, low_rank: bool | None = None,
        prior_only: bool = False, dropna: bool = False, progressbar: bool | None = None,
        parameterization="auto", fixed_design: str = "auto", retry="auto", log_likelihood: bool | str = "auto",
        weights: str | None = None, dpars: dict | None = None) -> Fit:
    """Fit a Bayesian GLMM by NUTS and check its convergence.

    Parameters
    ----------
    formula : str
        lme4/Bambi formula (see :func:`bayesglmm.model.build_model`).
    data : pandas.DataFrame
        The data.
    family : str
        A family name or alias: ``gaussian``, ``bernoulli``, ``binomial``, ``poisson``,
        ``negativebinomial``, ``cumulative``, ``sratio``, ``student_t``, ``gamma``, ``beta``, ...
        (every one is in :data:`bayesglmm.families.FAMILIES`).
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
        Without it, a diagonal mass matrix adapted from the warm-up draws' variances
        (:data:`bayesglmm.engine.DIAG_ADAPTATION`).
    prior_only : bool
        Draw from the prior (and prior predictive) instead of the posterior.
    dropna : bool
        Drop rows with missing values in the model's columns (recorded) instead of raising.
    progressbar : bool, optional
        Show progress; default only when standard error is a terminal.
    parameterization : {"auto", "centred", "non-centred", "partially centred", "marginalised"} or dict
        Of the group effects (see :func:`bayesglmm.model.build_model`); shown in the summary.
        In a gaussian model "auto" integrates the group intercept with the most levels out
        exactly and draws its effects from their conditional posterior (:mod:`bayesglmm.marginal`).
    fixed_design : {"auto", "qr", "plain"}
        How the fixed effects are sampled: on the QR decomposition of the centred design
        (the default where possible) or as Bambi does; results are on the user's scale
        either way (see :func:`bayesglmm.model.build_model`); shown in the summary.
    retry : {"auto", True, False}
        What to do when the fit does not converge. Each attempt first draws on: when its
        only faults are a low ESS or an R-hat above 1.01 (at most ``RHAT_DRAW_ON_MAX``, any
        on the ladder's last attempt) and there is no divergence, the same chains go on to
        more draws (:func:`more_draws`: enough for the ESS limit with a margin, at least 1.5
        and at most 4 times the draws asked for), judged again at each checkpoint; the first
        draws are those a shorter run gives (:mod:`bayesglmm.chains`). Then the ladder tries again up to twice.
        First: after divergences, twice the warm-up with target_accept 0.95; without any,
        twice the warm-up and twice the draws at the same target_accept (the failure was
        an R-hat that more draws did not bring down: patients and schizo in
        ``benchmarks/RESULTS.md``, where a higher target_accept only lengthened the
        trajectories; the test set's crossed case needed the longer warm-up, see
        ``benchmarks/TESTSET.md``). Then: twice the warm-up, and target_accept 0.99 after
        divergences or twice the draws again without; each group term whose diagnostics point
        at it changes its parameterisation (:func:`parameterization_for`: a weakly informed SD
        non-centred, mixing SDs with stuck level effects centred, a diverging non-centred
        parent of nested terms partially centred), the others keep theirs.
        "auto" (default) and True (the same) draw on and retry every failure, at most twice;
        False never: the fit has exactly ``draws`` draws. The model
        (formula, family, priors) never changes. Every attempt is stored in
        ``fit.attempts`` and listed in the summary; the fit returned is the last attempt,
        and ``fit.ok`` says whether it converged.
    log_likelihood : {"auto", True, False}
        Store the pointwise log-likelihood (``/log_likelihood``, one value per row and draw)
        that LOO needs. "auto" (default) stores it up to ``LOGLIK_STORE_MAX_CELLS`` values
        (100 million: 800 MB, 25,000 rows at 4 x 1,000 draws) and leaves it out above, as
        False always does: 73,000 rows x 4,000 draws are 2.3 GB. Without it,
        :func:`bayesglmm.compare` computes it when it needs it, and the summary's prior
        sensitivity needs only each draw's total, computed block by block; the summary says
        that it was left out.
    weights : str, optional
        Column of frequency weights, as brms's ``y | weights(w)`` and lme4's ``weights=``:
        each row's log-likelihood is multiplied by its weight (a row of weight 3 counts as
        three identical rows; aggregated data with weight = count give the posterior of the
        expanded data). Numbers, finite, non-negative, not all zero. The stored pointwise
        log-likelihood, and so LOO, is the weighted one: leaving a row out leaves out all
        the observations it stands for. Saved and loaded with the fit.
    dpars : dict, optional
        Family parameters with their own formula, as brms's ``bf(y ~ x, sigma ~ x)`` and
        glmmTMB's ``dispformula``/``ziformula``: ``{"sigma": "~ x"}`` (gaussian, Student-t,
        lognormal; log link) or ``{"psi": "~ x"}`` (zero-inflated and hurdle families; logit
        link). Fixed effects only. The coefficients (``sigma_Intercept``, ``sigma_x``) are in
        ``fit.family_params()`` and the summary; predictions, checks and the log-likelihood
        use each row's own value (see :mod:`bayesglmm.dpars`). Saved and loaded with the fit.

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
    >>> h = bg.fit("y ~ x + (1|g)", df, dpars={"sigma": "~ x"}, seed=1)  # doctest: +SKIP
    >>> h.family_params().loc["sigma_x", "mean"]  # doctest: +SKIP
    0.8...
    """
    check_settings(draws=draws, tune=tune, chains=chains, sampler=sampler, target_accept=target_accept, cores=cores,
                   seed=seed, flags={"low_rank": low_rank, "prior_only": prior_only, "dropna": dropna,
                                     "progressbar": progressbar})
    if not (isinstance(log_likelihood, str) and log_likelihood == "auto" or isinstance(log_likelihood, (bool, np.bool_))):
        raise SettingsError(f"log_likelihood must be 'auto', True or False; got {log_likelihood!r}.")
    if retry not in ("auto", True, False):
        raise SettingsError(f"retry must be 'auto', True or False; got {retry!r}.")
    seed = resolve_seed(seed)  # once: every attempt of the ladder uses the same, recorded seed
    spec = build_model(formula, data, family, link=link, priors=priors, dropna=dropna,
                       parameterization=parameterization, fixed_design=fixed_design, weights=weights, dpars=dpars)
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
                        log_likelihood=False, draw_on=True)
    attempts, accept = [_attempt(result)], target_accept
    for step in (1, 2):
        if result.ok:
            break
        # Each attempt drew on while more draws could help: what is left is a geometry problem.
        tune, draws, accept = ladder_settings(step, result.diagnostics.divergences, tune=attempts[0]["tune"],
                                              draws=result.settings["draws_asked"], target_accept=accept)
        if step == 2:
            chosen = spec.parameterization_choice()
            wanted = parameterization_for(spec, result.diagnostics)
            if wanted != chosen:
                spec = spec.request.replace(parameterization=wanted).build(data)
        # The last attempt draws on at any R-hat: no attempt follows to restart its chains, so
        # more draws are the only remedy left (Arabidopsis seed 1: R-hat 1.065 at 1,000 draws,
        # 1.041 at 1,500; benchmarks/PARTIAL_CENTRING.md). They cost time on a failing fit only.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = sample(spec, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, sampler=sampler,
                            target_accept=accept, low_rank=low_rank, progressbar=progressbar,
                            log_likelihood=False, draw_on=True,
                            rhat_draw_on_max=np.inf if step == 2 else RHAT_DRAW_ON_MAX)
        attempts.append(_attempt(result))
    result.attempts = attempts
    if keeps_log_likelihood(log_likelihood, result.spec.n_obs, chains, result.settings["draws"]):
        attach_log_likelihood(result.idata, result.spec.bambi_model)
    warn_if_failed(result.diagnostics, stacklevel=2)
    return result


def ladder_settings(step: int, divergences: int, *, tune: int, draws: int, target_accept: float | None,
                    ) -> tuple[int, int, float | None]:
    """``(tune, draws, target_accept)`` of the ladder's ``step`` (1 or 2) after a failed attempt.

    ``tune`` is the first attempt's, ``draws`` and ``target_accept`` the failed attempt's (a
    target_accept raised against divergences stays raised).

    Examples
    --------
    >>> ladder_settings(1, 0, tune=1000, draws=1000, target_accept=None)  # longer chains
    (2000, 2000, None)
    >>> ladder_settings(1, 3, tune=1000, draws=1000, target_accept=None)  # divergences
    (2000, 1000, 0.95)
    >>> ladder_settings(2, 0, tune=1000, draws=2000, target_accept=None)  # R-hat, no divergence
    (2000, 4000, None)
    """
    if not divergences:  # an R-hat above the limit: longer chains, at the same step size
        return 2 * tune, 2 * draws, target_accept
    return 2 * tune, draws, 0.95 if step == 1 else 0.99


def parameterization_for(spec: ModelSpec, diagnostics) -> dict:
    """The last rung's parameterisation: each group term's choice, changed only where the draws point at it.

    A term whose SD has an R-hat above the limit or a low ESS is weakly informed (its
    likelihood is flat near zero): it is sampled non-centred. A term whose SD mixes but whose
    level effects do not is well informed: it is sampled centred. Terms with no such sign,
    and divergences that no term can be blamed for, keep their choice. (Flipping every term,
    the old last rung, turned hr_slopes' weakly informed slope SD centred and made it worse:
    R-hat 1.028 after 1.016, benchmarks/CONVERGENCE.md.) A correlated block moves as one.
    A nested term sampled around its parent keeps that when the parent's SD mixes slowly too:
    the slow direction is then the split of the variance between the two levels, which no
    parameterisation of the nested term removes, and a non-centred one brings back the ridge
    between parent and nested effects (grouseticks, broods in locations: 0 divergences
    centred around the location, 106-1052 with the broods non-centred; issue 16).

    A parent whose SD fails while it is non-centred already, with divergences, and with
    nested terms sampled around it, is sampled partially centred
    (:func:`bayesglmm.backend.build_partial_total`: centred where its SD is large, non-centred
    where it is small), and so are the centred terms nested below it. That is a term with
    few levels whose SD's posterior spans orders of magnitude: non-centred it diverges in the
    SD's upper tail, centred in the funnel's neck. Measured on lme4's Arabidopsis,
    ``(1|reg)`` with 3 regions above ``(1|popu)`` (9) and ``(1|gen)`` (24), by
    ``benchmarks/parameterization_probe.py`` (``benchmarks/PARTIAL_CENTRING.md``).

    Examples
    --------
    >>> parameterization_for(fit.spec, fit.diagnostics)  # doctest: +SKIP
    {'1|Patient': 'non-centred', 'Time|Patient': 'non-centred'}
    """
    choice = spec.parameterization_choice()
    table = diagnostics.table
    bad = [str(label) for label in table.index[(table["r_hat"] > RHAT_MAX) | (table["ess_bulk"] < ESS_MIN)]]
    blocks = [list(b.term_names) for b in spec.formula.correlated_blocks]
    in_block = {name for block in blocks for name in block}
    units = blocks + [[name] for name in choice if name not in in_block]
    around = {name: parent for name, label in spec.parameterization.items()
              if (parent := centred_around(label)) is not None}
    for unit in units:
        unit = [name for name in unit if name in choice and choice[name] != marginal.LABEL]  # not sampled: kept
        if any(label.startswith(f"{name}_sigma") for name in unit for label in bad):
            if len(unit) == 1 and unit[0] in around and any(label.startswith(f"{around[unit[0]]}_sigma")
                                                            for label in bad):
                continue  # the variance split between a nested term and its parent: keep the nesting
            wanted = "non-centred"
            if (diagnostics.divergences and len(unit) == 1 and choice[unit[0]] == "non-centred"
                    and unit[0] in around.values() and unit[0] not in in_block):
                wanted = PARTIAL  # diverging non-centred, its nested terms centred around it
        elif any(label.startswith((f"{name}[", f"{name}_total[", f"{name}{PARTIAL_SUFFIX}[")) for name in unit
                 for label in bad):
            wanted = "centred"
        else:
            continue
        choice.update({name: wanted for name in unit})
    # Below a partially centred parent, the centred terms around it go partially centred too
    # (Arabidopsis: with the regions alone partially centred, the divergences left sat at the
    # populations' smallest SDs; with the genotypes centred, one seed's chain stuck where the
    # populations' SD is near zero and the genotypes' takes its variance).
    for _ in range(len(around)):  # a chain of nested terms is at most this long
        for name, parent in around.items():
            if choice.get(parent) == PARTIAL and choice.get(name) == "centred":
                choice[name] = PARTIAL
    return choice


#: Most draws an attempt may draw on to, as a multiple of the draws asked for.
DRAW_ON_MAX_FACTOR = 4
#: Largest R-hat that more draws of the same chains are tried for. Above it the chains
#: disagree more than slow mixing explains (a chain stuck or badly adapted): the ladder's
#: longer warm-up is the remedy. A judgement, not a measured edge: the first attempts that
#: failed on R-hat in benchmarks/CONVERGENCE.md before attempts could draw on had 1.010-1.019.
RHAT_DRAW_ON_MAX = 1.05


def more_draws(draws: int, diagnostics, most: int, rhat_max: float = RHAT_DRAW_ON_MAX) -> int:
    """Draws per chain to go on to after a checkpoint at ``draws``, or 0 to stop there.

    Stop when the draws converged, after a divergence (more draws of the same chains keep
    it: the ladder's longer warm-up and higher target_accept are the remedy) or at an R-hat
    above ``rhat_max`` (:data:`RHAT_DRAW_ON_MAX`; the ladder's last attempt has no limit).
    Otherwise (a low ESS, or an R-hat above the limit) enough draws for ``ESS_MIN`` with a
    quarter to spare, at least 1.5 times the draws so far, at most ``most``, rounded up to
    a hundred.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesglmm.diagnostics import Diagnostics
    >>> table = pd.DataFrame({"r_hat": [1.011], "ess_bulk": [591.0], "ess_tail": [700.0]})
    >>> more_draws(1000, Diagnostics(table, 0, np.array([1.0]), ["R-hat"]), 4000)  # an R-hat a little high
    1500
    >>> table = pd.DataFrame({"r_hat": [1.004], "ess_bulk": [100.0], "ess_tail": [300.0]})
    >>> more_draws(1000, Diagnostics(table, 0, np.array([1.0]), ["ESS"]), 4000)  # capped
    4000
    >>> more_draws(1000, Diagnostics(table, 2, np.array([1.0]), ["ESS"]), 4000)  # divergences
    0
    >>> table = pd.DataFrame({"r_hat": [1.065], "ess_bulk": [49.0], "ess_tail": [90.0]})
    >>> more_draws(1000, Diagnostics(table, 0, np.array([1.0]), ["R-hat"]), 4000)  # a chain stuck
    0
    >>> more_draws(1000, Diagnostics(table, 0, np.array([1.0]), ["R-hat"]), 4000, rhat_max=np.inf)  # last attempt
    4000
    """
    if diagnostics.ok or diagnostics.divergences or diagnostics.max_rhat > rhat_max:
        return 0
    factor = max(1.5, 1.25 * ESS_MIN / max(diagnostics.min_ess_bulk, 1.0))
    wanted = int(np.ceil(draws * factor / 100.0) * 100)
    return min(wanted, most) if most > draws else 0


def _attempt(result: Fit) -> dict:
    s = result.settings
    params = ", ".join(f"{t} {p}" for t, p in result.spec.parameterization.items()) or "no group terms"
    return {"tune": s["tune"], "draws": s["draws"], "draws_asked": s.get("draws_asked", s["draws"]),
            "target_accept": s["target_accept"], "parameterization": params, "verdict": result.diagnostics.verdict()}


#: Largest chains x draws x rows block of the log-likelihood computed at once (160 MB of float64).
LOGLIK_BLOCK_CELLS = 20_000_000


def add_log_likelihood(idata, bm, data=None) -> None:
    """Add ``/log_likelihood``: the pointwise values, one per draw and row.

    For the model's own rows they come from the sampled model's graph, compiled once
    (:mod:`bayesglmm.loglik`: 2.6 s instead of Bambi's 16.9 s on the patients model, the
    same values to 1e-13). For new ``data``, or where the stored draws do not determine
    that graph, Bambi's ``compute_log_likelihood`` gives them, a block of draws at a time.
    Bambi evaluates it on whole (chain, draw, row) arrays and their intermediates at once:
    9 GB of peak memory for the patients model (8,525 rows x 4,000 draws). Blocks of at
    most ``LOGLIK_BLOCK_CELLS`` cells give the same values with bounded memory.

    With observation weights (``fit(..., weights="w")``) the values for the model's own
    rows are the weighted ones, ``w_i log p(y_i | theta)``, the terms of the weighted
    likelihood the posterior was sampled from; LOO then leaves a row out with its weight.

    Examples
    --------
    >>> add_log_likelihood(fit.idata, fit.spec.bambi_model)  # doctest: +SKIP
    """
    with compile_flags():  # PyTensor's Python implementations: no gcc for a function run per block
        _add_log_likelihood(idata, bm, data)
    weights = getattr(bm.backend, "weights", None)
    if weights is not None and data is None:
        loglik = idata["log_likelihood"].to_dataset()
        idata["log_likelihood"] = loglik.assign(
            {name: var * xr.DataArray(weights, dims=var.dims[-1]) for name, var in loglik.data_vars.items()}
        ).assign_attrs(loglik.attrs)


def _add_log_likelihood(idata, bm, data) -> None:
    posterior = idata["posterior"].to_dataset()
    if data is None:  # the model's own rows: its own graph, compiled once (bayesglmm.loglik)
        from bambi.utils import get_aliased_name

        from bayesglmm.loglik import pointwise_log_likelihood, sampled_intercepts

        ours = pointwise_log_likelihood(bm.backend.model, sampled_intercepts(bm, posterior),
                                        get_aliased_name(bm.response_term))
        if ours is not None:
            idata["log_likelihood"] = ours
            return
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


#: Most pointwise log-likelihood values (rows x chains x draws) ``log_likelihood="auto"`` stores: 800 MB.
LOGLIK_STORE_MAX_CELLS = 100_000_000


def keeps_log_likelihood(setting, rows: int, chains: int, draws: int) -> bool:
    """Whether a fit stores its pointwise log-likelihood (``fit(..., log_likelihood=setting)``).

    Examples
    --------
    >>> keeps_log_likelihood("auto", 8_525, 4, 1000), keeps_log_likelihood("auto", 73_421, 4, 1000)
    (True, False)
    >>> keeps_log_likelihood(True, 73_421, 4, 1000)
    True
    """
    if isinstance(setting, str) and setting == "auto":
        return rows * chains * draws <= LOGLIK_STORE_MAX_CELLS
    return bool(setting)


def log_likelihood_totals(idata, bm) -> xr.Dataset:
    """Each draw's log-likelihood summed over the rows (weighted), dims ``chain, draw``.

    What power-scaling sensitivity needs (priorsense scales the likelihood by a power of its
    total): the sum of the stored pointwise values where the fit has them; otherwise
    computed block by block from the model's graph without the rows x draws array, or,
    where that graph cannot be used (censored models), from the pointwise values.

    Examples
    --------
    >>> log_likelihood_totals(fit.idata, fit.spec.bambi_model)["y"].dims  # doctest: +SKIP
    ('chain', 'draw')
    """
    from bambi.utils import get_aliased_name

    from bayesglmm.loglik import pointwise_log_likelihood, sampled_intercepts

    def summed(pointwise: xr.Dataset) -> xr.Dataset:
        return pointwise.map(lambda v: v.sum([d for d in v.dims if d not in ("chain", "draw")]))

    if "log_likelihood" in idata.children:
        return summed(idata["log_likelihood"].to_dataset())
    posterior = idata["posterior"].to_dataset()
    with compile_flags():
        out = pointwise_log_likelihood(bm.backend.model, sampled_intercepts(bm, posterior),
                                       get_aliased_name(bm.response_term),
                                       row_weights=getattr(bm.backend, "weights", None), total=True)
    if out is not None:
        return out
    tree = xr.DataTree.from_dict({"posterior": posterior})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        add_log_likelihood(tree, bm)
    return summed(tree["log_likelihood"].to_dataset())


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


def ordered_variables(model) -> list[str]:
    """The free variables with PyMC's ordered transform (ordinal cut-points).

    Examples
    --------
    >>> ordered_variables(spec.pymc_model)  # doctest: +SKIP
    ['threshold']
    """
    from pymc.distributions.transforms import Ordered

    return [rv.name for rv in model.free_RVs if isinstance(model.rvs_to_transforms.get(rv), Ordered)]


def sorted_mask(draws, names, n: int) -> np.ndarray:
    """Which of ``n`` prior draws have every variable in ``names`` strictly increasing.

    Examples
    --------
    >>> ds = xr.Dataset({"c": (("chain", "draw", "k"), np.array([[[0.0, 1.0], [1.0, 0.0]]]))})
    >>> sorted_mask(ds, ["c"], 2).tolist()
    [True, False]
    """
    keep = np.ones(n, dtype=bool)
    for name in names:
        keep &= np.all(np.diff(np.asarray(draws[name].values).reshape(n, -1), axis=1) > 0, axis=1)
    return keep


def sorted_prior_draws(spec: ModelSpec, draws: int, seed: int | None):
    """Bambi's prior and prior predictive draws, keeping only those with sorted cut-points.

    Forward sampling ignores the ordered transform, so an ordinal prior's cut-points come
    out unsorted in many draws, and category probabilities computed from them are
    negative. The prior with the ordered transform is the independent one restricted to
    sorted values: rejection gives exactly it. The draws are made in one call, enlarged
    (from the same seed) until enough are sorted.
    """
    bm = spec.bambi_model
    names = ordered_variables(spec.pymc_model)
    n = draws
    for _ in range(12):
        with warnings.catch_warnings():
            # A likelihood of a family's own (LogitBernoulli, StableHurdlePoisson) draws the response with
            # NumPy, which numba runs in object mode: slower, the same draws; nothing for the user to do.
            warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
            idata = bm.prior_predictive(draws=n, random_seed=seed)
        if not names:
            return idata
        keep = np.flatnonzero(sorted_mask(idata["prior"], names, n))
        if len(keep) >= draws:
            keep = keep[:draws]
            for group in ("prior", "prior_predictive"):
                part = idata[group].to_dataset().isel(draw=keep)
                idata[group] = part.assign_coords(draw=np.arange(draws))
            return idata
        n = int(n * min(20.0, 1.5 * draws / max(len(keep), 1))) + 10
    raise ComputationError(f"Fewer than {draws} prior draws with sorted {', '.join(names)} in {n} tries: the prior "
                           "of the cut-points rarely gives sorted values; give them a prior with more spread.")


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
           log_likelihood: bool | str = "auto", draw_on: bool = False,
           rhat_draw_on_max: float = RHAT_DRAW_ON_MAX) -> Fit:
    """Sample a built model (the second step of :func:`fit`); arguments as :func:`fit`'s.

    The draws come from :mod:`bayesglmm.engine`, which compiles the spec's model once (with
    the data as inputs) and reuses it for every later attempt on the same spec. With
    ``draw_on`` the chains go on past ``draws`` while :func:`more_draws` asks (up to
    ``DRAW_ON_MAX_FACTOR`` times; ``rhat_draw_on_max`` is its ``rhat_max``);
    ``fit.settings`` records ``draws`` (kept) and ``draws_asked``.

    Examples
    --------
    >>> f = sample(build_model("y ~ x", df), seed=1)  # doctest: +SKIP
    """
    bm = spec.bambi_model
    progressbar = sys.stderr.isatty() if progressbar is None else progressbar
    seed = resolve_seed(seed)
    settings = {"sampler": sampler, "draws": draws, "draws_asked": draws, "tune": tune, "chains": chains, "seed": seed}
    if prior_only:
        settings.update(sampler="prior", chains=1)
        return Fit(spec, sorted_prior_draws(spec, draws, seed), None, settings)
    target_accept = DEFAULT_TARGET_ACCEPT if target_accept is None else target_accept
    cores = default_cores(chains) if cores is None else cores
    engine = get_engine(sampler)
    if sampler == "nutpie":
        low_rank = _n_free_params(spec) <= LOW_RANK_MAX_PARAMS if low_rank is None else low_rank
        settings["low_rank"] = bool(low_rank)
    settings.update(target_accept=target_accept, cores=cores)
    most = DRAW_ON_MAX_FACTOR * draws if draw_on else draws
    run = DrawSettings(draws=draws, tune=tune, chains=chains, cores=cores, seed=seed, target_accept=target_accept,
                       low_rank=bool(low_rank), progressbar=progressbar, max_draws=most)
    compiled, settings["compile_seconds"] = compiled_for(spec, engine)
    judged = {}

    def judge(tree) -> int:  # the draws so far, finished (in place) and diagnosed as the fit's would be
        judged.update(tree=tree, idata=finish(spec, tree, seed=seed))
        judged["diagnostics"] = diagnose(judged["idata"])
        return more_draws(tree["posterior"].sizes["draw"], judged["diagnostics"], most, rhat_draw_on_max)

    # The engine and finish() silence the sampler's own FutureWarnings; ours come after.
    start = time.perf_counter()
    raw = engine.draw(compiled, run, more=judge if draw_on else None)
    seconds = time.perf_counter() - start
    draws = settings["draws"] = raw["posterior"].sizes.get("draw", 0)
    if judged.get("tree") is raw:  # the run stopped at a checkpoint: its draws are finished and diagnosed
        idata, diagnostics = judged["idata"], judged["diagnostics"]
        idata["posterior"].attrs["sampling_time"] = seconds
    else:
        idata, diagnostics = finish(spec, raw, seconds=seconds, seed=seed), None
    check_complete(idata, settings["draws_asked"], chains)
    if keeps_log_likelihood(log_likelihood, spec.n_obs, chains, draws):  # no per-row means to drop here
        attach_log_likelihood(idata, bm)
    if diagnostics is None:
        diagnostics = diagnose(idata)
    warn_if_failed(diagnostics, stacklevel=3)
    return Fit(spec, idata, diagnostics, settings)
