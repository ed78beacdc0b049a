"""Compare fitted models by cross-validation: PSIS-LOO with exact refits, k-fold, leave-one-group-out.

:func:`compare` estimates each model's expected log pointwise predictive density (elpd)
with ArviZ's tools (``arviz_stats.loo``, ``reloo``, ``loo_kfold``, ``compare``) and never
passes over a failed importance-sampling approximation:

* ``cv="loo"`` (default): PSIS-LOO. Rows whose Pareto-k exceeds ArviZ's threshold
  (``min(1 - 1/log10(S), 0.7)``, i.e. 0.7 from 2,200 draws on) are refitted exactly
  without the row (``arviz_stats.reloo``) when a model has at most ``reloo_max`` of them
  (default ``2 * k``: exact refits then cost at most twice what k-fold would). When any
  model has more, every model is cross-validated by k-fold on the same folds, so that the
  differences stay paired.
* ``cv="kfold"``: k-fold cross-validation (``arviz_stats.loo_kfold``) on random folds.
* ``cv="logo", group="centre"``: leave-one-group-out; each fold holds out all rows of one
  group, whose effect is then that of a new group, drawn per posterior draw from
  Normal(0, sigma) (MVN(0, Sigma) for a correlated block) of the refitted model.

Aggregated binomial data with one effect per group routinely give high Pareto-k for many
rows (on the course's multicentre data, 8 to 11 of 22 rows): that is expected with as
many parameters as rows, and is what the exact refits are for.

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
every refit is a fresh :func:`refit` on the training rows (same formula, family, link,
priors, group-effect parameterisation and sampler settings), and new groups' effects are
drawn explicitly from Normal(0, sigma).

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayesglmm.errors import (ArgumentError, DataError, FitError, NoPosteriorError, SettingsError, TermError,
                              UnknownModelError)

CV_METHODS = ("loo", "kfold", "logo")
_REFIT_KEYS = ("draws", "tune", "chains", "cores", "target_accept", "low_rank")
OBS_DIM = "obs"


# ---------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The result of :func:`compare`: one row per model, best first.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``model``; columns ``elpd`` (expected log pointwise predictive density),
        ``se`` (its standard error), ``p`` (effective number of parameters, p_loo),
        ``elpd_diff`` (elpd minus the best model's, 0 for the best), ``dse`` (SE of that
        difference, from the paired pointwise differences), ``weight`` (stacking weight),
        ``n_high_k`` (rows with PSIS Pareto-k above the threshold, before any remedy),
        ``method`` (how the elpd was estimated), ``refits`` (refits used for this model)
        and ``converged`` (the fit's convergence verdict).
    cv : str
        ``"loo"``, ``"kfold"`` or ``"logo"`` as asked; ``table["method"]`` says what was done.
    n_obs : int
        Rows of the data.
    elpd : dict
        Model name -> ArviZ ELPDData (pointwise values in ``elpd_i``).
    refits : int
        Refits run by this call (cached results of earlier calls count 0).
    refit_seconds : float
        Wall time of those refits (compiling included).
    compile_seconds : float
        Time spent compiling models for the refits, summed over workers (each worker
        compiles a model once; a serial batch reuses the fit's compiled model).
    fit_seconds : float
        Sampling time of the refits, summed over tasks (``fit_seconds / refits`` is the
        time per refit).
    executor : str
        Where the refits ran: ``"serial"``, ``"local"`` or ``"dask"``.
    notes : list of str
        What was done and why (remedies for high Pareto-k, unconverged refits).

    Examples
    --------
    >>> res = compare({"GLM": glm, "GLMM": glmm})  # doctest: +SKIP
    >>> print(res)  # doctest: +SKIP
    >>> res.table.loc["GLM", ["elpd_diff", "dse"]]  # doctest: +SKIP
    """

    table: pd.DataFrame
    cv: str
    n_obs: int
    elpd: dict
    refits: int = 0
    refit_seconds: float = 0.0
    notes: list = field(default_factory=list)
    compile_seconds: float = 0.0
    fit_seconds: float = 0.0
    executor: str = "serial"

    @property
    def best(self) -> str:
        """Name of the model with the highest elpd.

        Examples
        --------
        >>> compare({"GLM": glm, "GLMM": glmm}).best  # doctest: +SKIP
        'GLMM'
        """
        return str(self.table.index[0])

    def difference(self, a: str, b: str) -> tuple[float, float]:
        """elpd(a) - elpd(b) and its standard error, from the paired pointwise values.

        Examples
        --------
        >>> d, se = result.difference("GLMM", "GLM")  # doctest: +SKIP
        """
        for name in (a, b):
            if name not in self.elpd:
                raise UnknownModelError(f"No model {name!r} in this comparison; models: {', '.join(self.elpd)}.")
        diff = np.asarray(self.elpd[a].elpd_i).ravel() - np.asarray(self.elpd[b].elpd_i).ravel()
        return float(diff.sum()), float(np.sqrt(diff.size * np.var(diff)))

    def __str__(self) -> str:
        shown = self.table.copy()
        for col in ("elpd", "se", "p", "elpd_diff", "dse"):
            shown[col] = shown[col].map(lambda v: f"{v:.1f}")
        shown["weight"] = shown["weight"].map(lambda v: f"{v:.2f}")
        lines = [f"Model comparison ({self.n_obs} rows; higher elpd predicts better; "
                 "elpd_diff and dse are relative to the best model):", shown.to_string()]
        if self.refits:
            lines.append(f"Refits: {self.refits} in {self.refit_seconds:.1f} s ({self.executor}; compiling "
                         f"{self.compile_seconds:.1f} s, sampling {self.fit_seconds / self.refits:.2f} s per refit).")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


# ---------------------------------------------------------------------------------------
# Refitting
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
        parameterization = {
            term: ("centred" if label.startswith("centred") else "non-centred")
            for term, label in spec.parameterization.items()
            if "LKJ" not in label
        }
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


def _parent(spec):
    bm = spec.bambi_model
    return bm.parameters[bm.family.likelihood.parent]


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
    mask[np.asarray(heldout, dtype=int)] = 1.0
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
    from bayesglmm.fit import Fit

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
        serial batch draws what :meth:`run` called in the same order would).

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
    blocks = [b for b in spec.formula.blocks if b.correlated]
    for block in blocks:
        names = [n for n in block.term_names if n in terms]
        new_levels = missing(names[0]) if names else []
        done.update(names)
        if not new_levels:
            continue
        corr_name = f"{block.factor}_corr"
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


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


def _response_values(fit):
    spec = fit.spec
    frame = spec.data.frame
    y = frame[spec.formula.response]
    y = y.astype(str).to_numpy() if isinstance(y.dtype, pd.CategoricalDtype) else y.to_numpy(dtype=float)
    trials = frame[spec.formula.trials].to_numpy(dtype=float) if spec.formula.trials else None
    return y, trials


def check_same_data(models: dict) -> None:
    """Raise FitError unless all fits used the same rows (index labels) and response values.

    Two fits are on the same data when their model frames (``fit.spec.data.frame``) have
    the same row labels in the same order and the same response values (and trials for
    ``p(y, n)`` responses): their pointwise elpd values then refer to the same rows.

    Examples
    --------
    >>> check_same_data({"GLM": glm, "GLMM": glmm})  # doctest: +SKIP
    """
    names = list(models)
    ref = names[0]
    ref_index = models[ref].spec.data.frame.index
    ref_y, ref_trials = _response_values(models[ref])
    for name in names[1:]:
        fit = models[name]
        index = fit.spec.data.frame.index
        if len(index) != len(ref_index):
            raise FitError(
                f"Models {ref!r} and {name!r} were fitted to different data ({len(ref_index)} and "
                f"{len(index)} rows): elpd values are comparable only on the same rows. Refit both on one data set."
            )
        if not index.equals(ref_index):
            differ = [label for label, other in zip(ref_index, index) if label != other][:5]
            raise FitError(
                f"Models {ref!r} and {name!r} were fitted to different rows (row labels differ, "
                f"first at {differ}): elpd values are comparable only on the same rows."
            )
        y, trials = _response_values(fit)
        same_y = y.shape == ref_y.shape and bool(np.all(y == ref_y))
        same_trials = (trials is None and ref_trials is None) or (
            trials is not None and ref_trials is not None and np.array_equal(trials, ref_trials))
        if not (same_y and same_trials):
            what = "response values" if not same_y else "numbers of trials"
            raise FitError(
                f"Models {ref!r} and {name!r} have different {what} on the same rows "
                f"({models[ref].spec.formula.original!r} vs {fit.spec.formula.original!r}): "
                "elpd values are comparable only for the same response."
            )


def _check_models(models, allow_unconverged: bool) -> None:
    from bayesglmm.fit import Fit

    if not isinstance(models, dict) or len(models) < 2:
        raise SettingsError("compare takes a dict of at least two fits, e.g. {'GLM': glm, 'GLMM': glmm}.")
    for name, fit in models.items():
        if not isinstance(fit, Fit):
            raise ArgumentError(f"Model {name!r} is a {type(fit).__name__}, not a bayesglmm Fit.")
        if fit.prior_only:
            raise NoPosteriorError(f"Model {name!r} holds prior draws, not a posterior: it cannot be compared.")
    check_same_data(models)
    failed = {name: fit for name, fit in models.items() if not fit.ok}
    if failed and not allow_unconverged:
        detail = "; ".join(f"{name!r}: {fit.diagnostics.verdict()}" for name, fit in failed.items())
        raise FitError(
            f"Refusing to compare models that did not converge ({detail}). Their elpd cannot be "
            "trusted: refit them (more tune/draws, higher target_accept), or pass "
            "allow_unconverged=True to compare anyway (they are flagged in the 'converged' column)."
        )


def _add_missing_log_likelihood(models) -> None:
    """Compute the pointwise log-likelihood of fits made with ``log_likelihood=False``."""
    from bayesglmm.fit import attach_log_likelihood

    for fit in models.values():
        if "log_likelihood" not in fit.idata.children:
            attach_log_likelihood(fit.idata, fit.spec.bambi_model)


# ---------------------------------------------------------------------------------------
# compare
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


def _psis(fit):
    from arviz_stats import loo

    cache = _fit_cache(fit)
    if "psis" not in cache:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cache["psis"] = loo(_cv_tree(fit), pointwise=True)
    return cache["psis"]


def _n_high(elpd) -> int:
    return int(np.sum(np.asarray(elpd.pareto_k) > elpd.good_k))


def _group_folds(models: dict, group) -> tuple[np.ndarray, str]:
    if isinstance(group, str):
        for fit in models.values():
            frame = fit.spec.data.frame
            if group in frame.columns:
                values = frame[group]
                break
        else:
            raise TermError(
                f"group={group!r} is not a column of any model's data; pass the group labels of "
                "each row instead (a pandas Series or array, in the data's row order)."
            )
        label = group
    else:
        values = pd.Series(group)
        n = next(iter(models.values())).spec.n_obs
        if len(values) != n:
            raise DataError(f"group has {len(values)} values for {n} rows.")
        label = str(getattr(group, "name", None) or "given groups")
    codes = pd.factorize(pd.Series(np.asarray(values)).astype(str))[0] + 1
    if codes.max() < 2:
        raise DataError("Leave-one-group-out needs at least two groups.")
    return codes, label


def _cached_cv(fit, key, compute):
    cache = _fit_cache(fit).setdefault("cv", {})
    if key in cache:
        elpd, refits, seconds, unconverged, timing = cache[key]
        return elpd, 0, 0.0, unconverged, refits, (0.0, 0.0)
    elpd, refits, seconds, unconverged, timing = compute()
    cache[key] = (elpd, refits, seconds, unconverged, timing)
    return elpd, refits, seconds, unconverged, refits, timing


def compare(models: dict, cv: str = "loo", *, group=None, k: int = 10, reloo_max: int | None = None,
            seed: int | None = None, allow_unconverged: bool = False, refit_settings: dict | None = None,
            reuse_compiled: bool = True, executor=None, progress: bool | None = None) -> Comparison:
    """Compare models fitted to the same data by their cross-validated predictive accuracy.

    Parameters
    ----------
    models : dict
        Name -> :class:`bayesglmm.Fit`, all fitted to the same rows and response.
    cv : {"loo", "kfold", "logo"}
        ``"loo"``: PSIS-LOO, with exact refits of the rows whose Pareto-k is too high, or
        k-fold for all models when some model has more than ``reloo_max`` such rows.
        ``"kfold"``: k-fold on random folds. ``"logo"``: leave one group out (``group``).
    group : str or array-like, optional
        For ``cv="logo"``: a column of the models' data, or one label per row.
    k : int
        Number of folds for k-fold.
    reloo_max : int, optional
        Most rows with high Pareto-k that are refitted exactly, per model; default
        ``2 * k``. ``0`` switches to k-fold whenever any Pareto-k is high.
    seed : int, optional
        Seed of the fold split and of the refits (default: each fit's own seed).
    allow_unconverged : bool
        Compare fits that did not converge (``fit.ok`` False) instead of refusing them;
        the ``converged`` column flags them.
    refit_settings : dict, optional
        Sampler settings of the refits (``draws``, ``tune``, ``chains``, ``target_accept``,
        ``low_rank``, ``cores``); default each fit's own.
    reuse_compiled : bool
        With nutpie, refit by masking the held-out rows of a once-compiled copy of the
        model (fast, same priors); False rebuilds the model on the training rows
        (:func:`refit`) for every refit.
    executor : None, "local", "serial", a dask.distributed Client or a scheduler address
        Where the refits run: this machine's cores (default), this process, or a Dask
        cluster (see :func:`bayesglmm.executor.get_executor`). The results are the same
        everywhere: each refit's seed depends only on ``seed`` and which rows it holds out.
    progress : bool, optional
        Show refits done / total and the time left; default when standard error is a terminal.

    Returns
    -------
    Comparison
        ``.table`` has one row per model, best first: ``elpd``, ``se``, ``p``,
        ``elpd_diff``, ``dse``, ``weight`` (stacking), ``n_high_k``, ``method``,
        ``refits``, ``converged``. ``method`` is ``"psis-loo"``, ``"psis-loo + exact
        refits of N rows"``, ``"k-fold (k=10)"`` or ``"logo (group=centre)"``.

    Raises
    ------
    FitError
        Fits on different data (rows or response values), fits without a posterior, or
        unconverged fits unless ``allow_unconverged=True``.

    Examples
    --------
    >>> import bayesglmm as bg
    >>> mc = bg.datasets.load("multicentre")  # doctest: +SKIP
    >>> glm = bg.fit("p(y, n) ~ treat", mc, "binomial", seed=1)  # doctest: +SKIP
    >>> glmm = bg.fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", seed=1)  # doctest: +SKIP
    >>> res = bg.compare({"GLM": glm, "GLMM": glmm})  # doctest: +SKIP
    >>> res.table[["elpd_diff", "dse", "method"]]  # doctest: +SKIP
    >>> bg.compare({"GLM": glm, "GLMM": glmm}, cv="logo", group="centre")  # doctest: +SKIP
    >>> bg.compare({"GLM": glm, "GLMM": glmm}, cv="logo", group="centre",
    ...            executor="tcp://scheduler:8786")  # doctest: +SKIP
    """
    from bayesglmm.executor import get_executor

    from arviz_stats import compare as az_compare
    from arviz_stats import loo_kfold, reloo

    if cv not in CV_METHODS:
        raise SettingsError(f"cv must be one of {', '.join(CV_METHODS)}; got {cv!r}.")
    if cv == "logo" and group is None:
        raise SettingsError("cv='logo' needs group=, e.g. group='centre'.")
    _check_models(models, allow_unconverged)
    _add_missing_log_likelihood(models)
    n = next(iter(models.values())).spec.n_obs
    settings = dict(refit_settings or {})
    unknown = set(settings) - set(_REFIT_KEYS)
    if unknown:
        raise SettingsError(f"refit_settings takes {', '.join(_REFIT_KEYS)}; got {', '.join(sorted(unknown))}.")
    if reloo_max is None:
        reloo_max = 2 * k
    key_settings = tuple(sorted(settings.items())) + (reuse_compiled, seed)

    psis = {name: _psis(fit) for name, fit in models.items()}
    n_high = {name: _n_high(elpd) for name, elpd in psis.items()}
    notes: list[str] = []
    method = {}
    elpds = {}
    refits = {}
    total_refits, total_seconds, unconverged = 0, 0.0, 0
    compile_seconds, fit_seconds = 0.0, 0.0
    ex = get_executor(executor)

    folds = None
    if cv == "loo":
        over = {name: c for name, c in n_high.items() if c > reloo_max}
        if over:
            detail = ", ".join(f"{name!r} {c}" for name, c in over.items())
            notes.append(
                f"k-fold instead of PSIS-LOO for every model: rows with high Pareto-k ({detail} of {n}) "
                f"are more than reloo_max={reloo_max} exact refits per model."
            )
            cv_used = "kfold"
        else:
            cv_used = "loo"
    else:
        cv_used = cv
    if cv_used == "kfold":
        if not 2 <= k <= n:
            raise SettingsError(f"k must be between 2 and the number of rows ({n}); got {k}.")
        # One split for all models, so that the pointwise differences are paired; seeded
        # by `seed`, else by the first fit's seed, so that a rerun gives the same folds.
        rng = np.random.default_rng(seed if seed is not None else next(iter(models.values())).settings.get("seed"))
        folds = (np.arange(n) % k + 1)[rng.permutation(n)]
        label = f"k-fold (k={k})"
    elif cv_used == "logo":
        folds, group_label = _group_folds(models, group)
        label = f"logo (group={group_label})"

    for name, fit in models.items():
        refitter = _Refitter(fit, settings, reuse_compiled, seed)
        if cv_used == "loo":
            if n_high[name] == 0:
                elpd, done, secs, bad, used, timing = psis[name], 0, 0.0, 0, 0, (0.0, 0.0)
                method[name] = "psis-loo"
            else:
                def compute(fit=fit, refitter=refitter, name=name):
                    rows = np.flatnonzero(np.asarray(psis[name].pareto_k).ravel() > psis[name].good_k)
                    results = refitter.run_batch([[i] for i in rows], ex, f"{name}: exact LOO refits", progress)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = reloo(_make_wrapper(fit, refitter, results), loo_orig=psis[name],
                                    k_threshold=psis[name].good_k, pointwise=True)
                    return res, refitter.count, refitter.seconds, refitter.unconverged, refitter.timing

                elpd, done, secs, bad, used, timing = _cached_cv(fit, ("reloo", key_settings), compute)
                method[name] = f"psis-loo + exact refits of {used} rows"
        else:
            def compute(fit=fit, refitter=refitter, name=name):
                heldouts = [np.flatnonzero(folds == f) for f in range(1, int(folds.max()) + 1)]
                results = refitter.run_batch(heldouts, ex, f"{name}: {label} refits", progress)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = loo_kfold(_cv_tree(fit), _make_wrapper(fit, refitter, results), pointwise=True,
                                    folds=folds)
                return res, refitter.count, refitter.seconds, refitter.unconverged, refitter.timing

            elpd, done, secs, bad, used, timing = _cached_cv(fit, (cv_used, folds.tobytes(), key_settings), compute)
            method[name] = label
        elpds[name], refits[name] = elpd, used
        total_refits += done
        total_seconds += secs
        compile_seconds += timing[0]
        fit_seconds += timing[1]
        unconverged += bad
        if getattr(refitter, "fallbacks", 0):
            notes.append(f"{name!r}: {refitter.fallbacks} refit(s) rebuilt the model because reusing the compiled "
                         "model failed (see the warning).")

    if unconverged:
        notes.append(f"{unconverged} refit(s) did not converge by the usual standard (R-hat, ESS, "
                     "divergences); with few draws per refit this is expected, but check refit_settings.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = az_compare(elpds, method="stacking", round_to="none")
    table = pd.DataFrame({
        "elpd": comp["elpd"].astype(float),
        "se": comp["se"].astype(float),
        "p": comp["p"].astype(float),
        "elpd_diff": comp["elpd_diff"].astype(float),
        "dse": comp["dse"].astype(float),
        "weight": comp["weight"].astype(float),
    })
    names = list(table.index)
    table["n_high_k"] = [n_high[m] for m in names]
    table["method"] = [method[m] for m in names]
    table["refits"] = [refits[m] for m in names]
    table["converged"] = [bool(models[m].ok) for m in names]
    table.index.name = "model"
    if not all(table["converged"]):
        notes.append("Models marked converged=False did not converge: their elpd is not reliable.")
    return Comparison(table=table, cv=cv, n_obs=n, elpd={m: elpds[m] for m in names}, refits=total_refits,
                      refit_seconds=total_seconds, notes=notes, compile_seconds=compile_seconds,
                      fit_seconds=fit_seconds, executor=ex.name)


__all__ = ["Comparison", "check_same_data", "compare", "refit", "with_new_levels"]
