"""Refit a model to other data: :func:`refit`, and the refits of cross-validation.

:func:`refit` fits the same request (:mod:`bayesglmm.request`) with the same sampler
settings to new data. The rest of the module is the refit machinery that
:func:`bayesglmm.compare` runs for exact LOO, k-fold and leave-one-group-out: one refit per
held-out set (:func:`_refit_task`, run wherever the executor puts it), the in-process
:class:`_Refitter` that seeds and counts them, the ArviZ sampling wrapper through which
``arviz_stats.reloo`` and ``loo_kfold`` see them (:func:`_make_wrapper`), and a per-fit
cache that lets a second comparison reuse what the first computed.

How refits run
--------------
A refit does not rebuild or recompile anything: the engine (:mod:`bayesglmm.engine`)
compiles the fitted model once per process with a 0/1 *held-out mask* as an input and a
potential ``-sum(mask * loglik_i)`` that removes the held-out rows' likelihood; every
refit only swaps the mask. The posterior of the masked model is exactly the posterior
given the training rows, under the same priors; a group whose rows are all held out
keeps its effect, whose posterior is then Normal(0, sigma) given the other parameters,
i.e. the new-group draw per posterior draw. On multicentre a refit then takes about
0.5 s (4 chains x 1000) instead of about 3 s for a rebuild. With ``reuse_compiled=False``
(an argument of :func:`bayesglmm.compare`) every refit is a fresh :func:`refit` on the
training rows (same formula, family, link, priors, group-effect parameterisation and
sampler settings), and new groups' effects are drawn explicitly from Normal(0, sigma)
(:func:`bayesglmm.newlevels.with_new_levels`).

In every refit the priors are those of the full-data fit: the data-scaled default priors
(:mod:`bayesglmm.priors`) are computed once and held fixed, so each refit is the same
model given fewer rows (brms and rstanarm recompute data-scaled priors on the training
rows; on data of this size the difference is well below the Monte Carlo error).
"""

from __future__ import annotations

import copy
import time
import warnings
import weakref

import numpy as np
import xarray as xr

from bayesglmm.errors import ArgumentError, FitError, NoPosteriorError, SettingsError
from bayesglmm.newlevels import with_new_levels

_REFIT_KEYS = ("draws", "tune", "chains", "cores", "target_accept", "low_rank")
OBS_DIM = "obs"


# ---------------------------------------------------------------------------------------
# refit
# ---------------------------------------------------------------------------------------


def refit(fit, data, seed=None, *, priors: str = "user", parameterization=None, progressbar: bool = False,
          **settings):
    """Fit the same model to other data: the same request (:mod:`bayesglmm.request`) and sampler settings.

    Parameters
    ----------
    fit : Fit
        The fitted model to repeat.
    data : pandas.DataFrame
        The new data (e.g. the training rows of a cross-validation fold).
    seed : int, optional
        Random seed of the refit; the original fit's seed if None.
    priors : {"user", "all"}
        ``"user"`` (default) passes only the priors the user set, so that data-scaled
        default priors are recomputed on ``data`` (what :func:`bayesglmm.fit` would do);
        ``"all"`` holds every prior of the original fit fixed (used by cross-validation).
    parameterization : optional
        Of the group effects; the original fit's choice per term if None (pass ``"auto"``
        to choose again on the new data).
    progressbar : bool
        Show the sampler's progress.
    **settings
        Override sampler settings (``draws``, ``tune``, ``chains``, ``cores``,
        ``target_accept``, ``low_rank``, ``sampler``); the rest are the original fit's.

    Returns
    -------
    Fit

    Examples
    --------
    >>> f2 = refit(fit, mc.drop(index=0), seed=2)  # doctest: +SKIP
    >>> f2.spec.n_obs  # doctest: +SKIP
    21
    """
    from bayesglmm.fit import sample

    spec = fit.spec
    if fit.prior_only:
        raise NoPosteriorError("refit needs a fit of the posterior, not prior draws (prior_only=True).")
    if priors not in ("user", "all"):
        raise SettingsError(f"priors must be 'user' or 'all'; got {priors!r}.")
    chosen = {
        name: copy.deepcopy(prior)
        for name, prior in spec.priors.items()
        if priors == "all" or spec.prior_sources.get(name) == "user"
    }
    for factor, eta in spec.lkj_eta.items():
        if priors == "all" or spec.prior_sources.get(f"{factor}_corr") == "user":
            chosen[f"{factor}_corr"] = eta
    if parameterization is None:
        parameterization = spec.parameterization_choice()
    new_spec = spec.request.replace(priors=chosen, parameterization=parameterization).build(data)
    kwargs = {key: fit.settings[key] for key in ("sampler", *_REFIT_KEYS) if key in fit.settings}
    unknown = set(settings) - {"sampler", *_REFIT_KEYS}
    if unknown:
        raise ArgumentError(f"refit got unknown setting(s): {', '.join(sorted(unknown))}.")
    if "chains" in settings:
        kwargs.pop("cores", None)  # one core per chain by default
    kwargs.update(settings)
    seed = fit.settings.get("seed") if seed is None else seed
    return sample(new_spec, seed=seed, progressbar=progressbar, **kwargs)


# ---------------------------------------------------------------------------------------
# Cross-validation refits
# ---------------------------------------------------------------------------------------


# Per-fit cache of the compiled masked model and of cross-validation results, so that a
# second comparison involving the same fit (e.g. random_effects_needed after compare)
# reuses them. Keyed by id(fit), checked against a weak reference.
_CACHE: dict = {}


def _fit_cache(fit) -> dict:
    key = id(fit)
    entry = _CACHE.get(key)
    if entry is None or entry[0]() is not fit:
        entry = (weakref.ref(fit, lambda _ref, key=key: _CACHE.pop(key, None)), {})
        _CACHE[key] = entry
    return entry[1]


def _loglik_name(fit) -> str:
    names = list(fit.idata["log_likelihood"].data_vars)
    if len(names) != 1:
        raise FitError(f"Expected one log-likelihood variable, found {names}.")
    return names[0]


def _recipe(fit):
    """The fit's :class:`~bayesglmm.batch.ModelRecipe`, its model remembered in this process."""
    from bayesglmm.batch import ModelRecipe, remember

    cache = _fit_cache(fit)
    if "recipe" not in cache:
        cache["recipe"] = ModelRecipe.from_spec(fit.spec)
    remember(cache["recipe"], fit.spec)
    return cache["recipe"]


def _masked_model(fit):
    """The fit's model with the held-out mask, compiled once per process by the fit's engine."""
    from bayesglmm.engine import compiled_for, get_engine

    return compiled_for(fit.spec, get_engine(fit.settings.get("sampler", "nutpie")), heldout=True)[0]


def _sample_masked(spec, model, heldout, settings: dict, seed: int, cores: int | None):
    """Draws of the masked model (:func:`bayesglmm.engine.inputs_model`) with ``heldout`` rows held out."""
    from bayesglmm.engine import HELDOUT, DrawSettings, finish, get_engine
    from bayesglmm.fit import default_cores

    mask = np.zeros(spec.n_obs)
    rows = np.asarray(heldout, dtype=int)
    # The potential is -sum(mask * loglik_i): a weighted row's likelihood counts w_i times.
    mask[rows] = 1.0 if spec.weight_values is None else spec.weight_values[rows]
    chains = settings.get("chains", 4)
    run = DrawSettings(draws=settings.get("draws", 1000), tune=settings.get("tune", 1000), chains=chains,
                       cores=cores or settings.get("cores") or default_cores(chains), seed=seed,
                       target_accept=settings.get("target_accept", 0.9), low_rank=bool(settings.get("low_rank")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return finish(spec, get_engine(settings.get("sampler", "nutpie")).draw(model, run, data={HELDOUT: mask}))


def _sample_rebuilt(fit, heldout, settings: dict, seed: int, cores: int | None):
    """Draws of the model rebuilt on the training rows (:func:`refit`, all priors fixed)."""
    from bayesglmm.diagnostics import ConvergenceWarning

    frame = fit.spec.data.frame
    train = frame.drop(index=frame.index[np.asarray(heldout, dtype=int)])
    settings = dict(settings)
    if cores is not None:
        settings["cores"] = cores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        new = refit(fit, train, seed=seed, priors="all", **settings)
    return new.idata


def _heldout_loglik(spec, var, heldout, idata, masked: bool, reference, rng) -> xr.DataArray:
    """Pointwise log-likelihood (chain, draw, obs) of the held-out rows under a refit's draws."""
    heldout = np.atleast_1d(np.asarray(heldout, dtype=int))
    bm = spec.bambi_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if masked:
            # The masked model keeps every row and level: in-sample log-likelihood.
            bm.compute_log_likelihood(idata)
            ll = idata["log_likelihood"][var].isel(__obs__=heldout)
        else:
            posterior = with_new_levels(spec, idata["posterior"].to_dataset(), reference, rng)
            tree = xr.DataTree.from_dict({"posterior": posterior})
            bm.compute_log_likelihood(tree, data=spec.data.frame.iloc[heldout])
            ll = tree["log_likelihood"][var]
    if spec.weight_values is not None:  # the weighted pointwise log-likelihood, as the fit stores it
        ll = ll * xr.DataArray(spec.weight_values[heldout], dims="__obs__")
    return ll.rename({"__obs__": OBS_DIM}).assign_coords({OBS_DIM: heldout})


def _refit_task(recipe, heldout, seed: int, settings: dict, masked: bool, reference, var: str,
                cores: int | None) -> dict:
    """One cross-validation refit, wherever it runs: the held-out rows' log-likelihood and timings.

    The model comes from this process's cache (built and compiled at most once per
    process); the draws depend only on the arguments.
    """
    from bayesglmm.batch import cached_model
    from bayesglmm.diagnostics import diagnose
    from bayesglmm.engine import compiled_for, get_engine
    from bayesglmm.result import Fit

    spec = cached_model(recipe)["spec"]
    compile_s, fallback = 0.0, None
    start = time.perf_counter()
    if masked:
        try:
            model, compile_s = compiled_for(spec, get_engine(settings.get("sampler", "nutpie")), heldout=True)
            start = time.perf_counter()
            idata = _sample_masked(spec, model, heldout, settings, seed, cores)
        except Exception as err:  # noqa: BLE001 - any failure of the shortcut: rebuild instead
            fallback, masked = f"{type(err).__name__}: {err}", False
    if not masked:
        fit = Fit(spec, xr.DataTree.from_dict({"posterior": xr.Dataset()}), None, dict(settings, seed=seed))
        idata = _sample_rebuilt(fit, heldout, settings, seed, cores)
    ok = diagnose(idata).ok
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    ll = _heldout_loglik(spec, var, heldout, idata, masked, reference, rng)
    return {"loglik": ll, "converged": ok, "compile_s": compile_s, "fit_s": time.perf_counter() - start,
            "fallback": fallback}


class _Refitter:
    """Runs the refits of one fit in this process and counts them (used directly in tests)."""

    def __init__(self, fit, settings: dict, reuse_compiled: bool, seed):
        self.fit = fit
        self.spec = fit.spec
        self.settings = {key: fit.settings[key] for key in _REFIT_KEYS if key in fit.settings}
        if "chains" in settings:
            self.settings.pop("cores", None)
        self.settings.update(settings)
        self.masked = reuse_compiled
        self.rng = np.random.default_rng(seed if seed is not None else fit.settings.get("seed"))
        self.count = 0
        self.seconds = 0.0
        self.unconverged = 0
        self.timing = (0.0, 0.0)  # compile and sampling seconds of the batches run
        self.var = _loglik_name(fit)

    def _seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def run(self, heldout: np.ndarray):
        """Sample the model without the rows at positions ``heldout``; return the idata."""
        from bayesglmm.diagnostics import diagnose

        start = time.perf_counter()
        seed = self._seed()
        if self.masked:
            try:
                settings = dict(self.settings, sampler=self.fit.settings.get("sampler", "nutpie"))
                idata = _sample_masked(self.spec, _masked_model(self.fit), heldout, settings, seed, None)
            except Exception as err:  # noqa: BLE001 - any failure of the shortcut: rebuild instead
                warnings.warn(f"Reusing the compiled model failed ({err}); refitting by rebuilding it.",
                              UserWarning, stacklevel=2)
                self.masked = False
        if not self.masked:
            idata = _sample_rebuilt(self.fit, heldout, self.settings, seed, None)
        self.seconds += time.perf_counter() - start
        self.count += 1
        if not diagnose(idata).ok:
            self.unconverged += 1
        return idata

    def heldout_loglik(self, heldout, idata) -> xr.DataArray:
        """Pointwise log-likelihood (chain, draw, obs) of the held-out rows."""
        return _heldout_loglik(self.spec, self.var, heldout, idata, self.masked,
                               self.fit.idata["posterior"].to_dataset(), self.rng)

    def run_batch(self, heldouts: list, executor, label: str, progress: bool | None = None) -> dict:
        """Run the refits holding out each of ``heldouts`` through ``executor``.

        Task ``i`` gets the ``i``-th seed drawn from this refitter's generator, so the
        seeds depend on the list, not on where or in which order the tasks run (and a
        serial batch draws what :meth:`run` called in the same order would). ``progress``
        (None: only when standard error is a terminal) writes ``label: done/total`` on
        standard error at the start and after each refit (:class:`bayesglmm.executor.Progress`).

        Returns
        -------
        dict
            ``tuple(heldout) -> task result`` (``loglik``, ``converged``, ``compile_s``, ``fit_s``).
        """
        recipe = _recipe(self.fit)
        reference = self.fit.idata["posterior"].to_dataset().isel(chain=[0], draw=[0])
        settings = dict(self.settings, sampler=self.fit.settings.get("sampler", "nutpie"))
        tasks = {}
        for heldout in heldouts:
            key = tuple(int(i) for i in np.atleast_1d(heldout))
            tasks[key] = (recipe, np.asarray(key), self._seed(), settings, self.masked, reference, self.var,
                          executor.cores_per_task)
        start = time.perf_counter()
        results = executor.run(_refit_task, tasks, label=label, progress=progress)
        self.seconds += time.perf_counter() - start
        self.count += len(results)
        self.unconverged += sum(not r["converged"] for r in results.values())
        self.timing = (self.timing[0] + sum(r["compile_s"] for r in results.values()),
                       self.timing[1] + sum(r["fit_s"] for r in results.values()))
        fallbacks = {r["fallback"] for r in results.values() if r["fallback"]}
        self.fallbacks = getattr(self, "fallbacks", 0) + sum(bool(r["fallback"]) for r in results.values())
        if fallbacks:
            warnings.warn(f"Reusing the compiled model failed ({'; '.join(sorted(fallbacks))}); those refits "
                          "rebuilt the model instead.", UserWarning, stacklevel=3)
        return results


# ---------------------------------------------------------------------------------------
# The ArviZ sampling wrapper
# ---------------------------------------------------------------------------------------


def _cv_tree(fit):
    """The fit's draws with the observation dimension named ``obs`` (cached per fit).

    arviz-stats' ``reloo`` stacks the observation dimensions into one named ``__obs__``,
    which fails when the dimension already has that name (Bambi's); renaming avoids it.
    """
    cache = _fit_cache(fit)
    if "tree" not in cache:
        tree = fit.idata.copy()
        tree["log_likelihood"] = fit.idata["log_likelihood"].to_dataset().rename({"__obs__": OBS_DIM})
        cache["tree"] = tree
    return cache["tree"]


def _make_wrapper(fit, refitter, results: dict | None = None):
    """ArviZ sampling wrapper over ``refitter``; with ``results`` (from :meth:`_Refitter.run_batch`)
    it only looks the refits up, so that ArviZ's loop runs none itself."""
    from arviz_stats.loo import SamplingWrapper

    n = fit.spec.n_obs

    class _CVWrapper(SamplingWrapper):
        """ArviZ sampling wrapper: data are row positions; refits run through ``refitter``."""

        def sel_observations(self, idx):
            heldout = np.atleast_1d(np.asarray(idx, dtype=int))
            return np.setdiff1d(np.arange(n), heldout), heldout

        def sample(self, modified_observed_data):
            heldout = np.setdiff1d(np.arange(n), np.asarray(modified_observed_data, dtype=int))
            if results is None:
                return refitter.run(heldout)
            key = tuple(int(i) for i in heldout)
            if key not in results:
                raise FitError(f"Internal error: ArviZ asked for a refit without rows {list(key)[:10]}, "
                               "which the batch did not run.")
            return results[key]

        def get_inference_data(self, fitted_model):
            return fitted_model

        def log_likelihood__i(self, excluded_obs, idata__i):
            if results is None:
                return refitter.heldout_loglik(excluded_obs, idata__i)
            return idata__i["loglik"]

    return _CVWrapper(model=fit.spec, idata_orig=_cv_tree(fit))


__all__ = ["refit"]
