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

This module holds the result (:class:`Comparison`), the PSIS-LOO step, the choice of
method and folds, and :func:`compare`. The refits (exact LOO, k-fold and leave-one-group-out
folds) are in :mod:`bayesglmm.refit`, which says how they run; new groups' effects in
:mod:`bayesglmm.newlevels`; the checks that the models can be compared in
:mod:`bayesglmm.comparable`. It re-exports :func:`~bayesglmm.refit.refit`,
:func:`~bayesglmm.newlevels.with_new_levels` and :func:`~bayesglmm.comparable.check_same_data`,
which lived here before, so that ``bayesglmm.compare.refit`` and the others still import.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesglmm.comparable import _add_missing_log_likelihood, _check_models, check_same_data
from bayesglmm.errors import DataError, SettingsError, TermError, UnknownModelError
from bayesglmm.newlevels import with_new_levels
from bayesglmm.refit import _REFIT_KEYS, _cv_tree, _fit_cache, _make_wrapper, _Refitter, refit

CV_METHODS = ("loo", "kfold", "logo")


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

    def _repr_html_(self) -> str:
        """Notebook view: the best model first, then the table and notes of the text form."""
        from bayesglmm import html

        shown = self.table.copy()
        for col in ("elpd", "se", "p", "elpd_diff", "dse"):
            shown[col] = shown[col].map(lambda v: f"{v:.1f}")
        shown["weight"] = shown["weight"].map(lambda v: f"{v:.2f}")
        head = f"Best model: {self.best}"
        if len(self.table) > 1:
            runner = self.table.iloc[1]
            head += f" (next: {self.table.index[1]}, elpd_diff {runner['elpd_diff']:.1f}, dse {runner['dse']:.1f})"
        parts = [html.verdict(head, None), html.table(shown, f"Model comparison ({self.n_obs} rows; higher elpd "
                                                             "predicts better; elpd_diff and dse are relative to the best model)")]
        if self.refits:
            parts.append(html.paragraph(
                f"Refits: {self.refits} in {self.refit_seconds:.1f} s ({self.executor}; compiling "
                f"{self.compile_seconds:.1f} s, sampling {self.fit_seconds / self.refits:.2f} s per refit)."))
        parts += [html.paragraph(f"Note: {note}") for note in self.notes]
        return html.page(*parts)

# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------

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
        Show refits done / total and the time left on standard error, one step per finished
        refit (:class:`bayesglmm.executor.Progress`, no dependency). Default: only when standard
        error is a terminal, so scripts, notebooks and tests stay quiet; True forces it on.

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
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise SettingsError(f"progress must be True, False or None (only on a terminal); got {progress!r}.")
    _check_models(models, allow_unconverged)
    _add_missing_log_likelihood(models)
    n = next(iter(models.values())).spec.n_obs
    settings = dict(refit_settings or {})
    unknown = set(settings) - set(_REFIT_KEYS)
    if unknown:
        raise SettingsError(f"refit_settings takes {', '.join(_REFIT_KEYS)}; got {', '.join(sorted(unknown))}.")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise SettingsError(f"k must be a whole number of folds; got {k!r}.")
    if cv == "kfold" and not 2 <= k <= n:  # before any LOO is computed (cv='loo' checks it if it switches)
        raise SettingsError(f"k must be between 2 and the number of rows ({n}); got {k}.")
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
