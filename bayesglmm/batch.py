"""Batches of fits: a model set in parallel (:func:`fit_many`), and the per-worker model cache.

A task sent to a worker carries a :class:`ModelRecipe` (formula, family, link, model
frame, the user's priors, parameterisation): plain data that pickles to any process or
Dask worker. The worker builds the model from it once and keeps it in a small module-level cache
keyed by :attr:`ModelRecipe.key`, with whatever the engine compiled from it
(``spec.compiled``: the masked model of cross-validation refits, the model of SBC fits);
later tasks on the same model only swap data. Building a model from its recipe gives the same model as the
original (the data-scaled default priors are recomputed on the same rows), so the draws
of a task do not depend on where it ran.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesglmm.errors import ArgumentError, SettingsError
from bayesglmm.executor import get_executor, task_seed
from bayesglmm.request import ModelRequest

CACHE_SIZE = 8


@dataclass(frozen=True)
class ModelRecipe:
    """What a worker needs to build a model: the request and the model frame, picklable.

    Attributes
    ----------
    request : bayesglmm.request.ModelRequest
        The fit's request, with the group terms' parameterisation as chosen; the
        data-scaled default priors are recomputed on the same frame, so a worker builds
        exactly the fitted model.
    frame : pandas.DataFrame
        The model frame (``spec.data.frame``).
    key : str
        Hash of both: equal keys, same model.

    Examples
    --------
    >>> recipe = ModelRecipe.from_spec(fit.spec)  # doctest: +SKIP
    >>> spec = recipe.build()  # doctest: +SKIP
    """

    request: ModelRequest
    frame: pd.DataFrame
    key: str

    @classmethod
    def from_spec(cls, spec) -> ModelRecipe:
        """The recipe of a built model.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesglmm.model import build_model
        >>> df = pd.DataFrame({"y": [0.1, 0.5, 0.2, 0.9], "g": list("aabb")})
        >>> r = ModelRecipe.from_spec(build_model("y ~ 1 + (1|g)", df))
        >>> r.key == ModelRecipe.from_spec(build_model("y ~ 1 + (1|g)", df)).key
        True
        """
        param = spec.parameterization_choice()
        request = spec.request.replace(parameterization=param or spec.request.parameterization)
        frame = spec.data.frame
        digest = hashlib.sha256()
        for part in (request.key(), repr(list(frame.columns)), repr(list(map(str, frame.dtypes)))):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        return cls(request, frame, digest.hexdigest())

    def build(self):
        """Build the model (no sampling).

        Examples
        --------
        >>> spec = recipe.build()  # doctest: +SKIP
        """
        with warnings.catch_warnings():  # the user saw the model's warnings when it was first built
            warnings.simplefilter("ignore")
            return self.request.build(self.frame)


_MODELS: OrderedDict = OrderedDict()


def cached_model(recipe: ModelRecipe) -> dict:
    """This process's cache entry of a model: ``{"spec": ModelSpec, ...compiled forms}``.

    Examples
    --------
    >>> cached_model(recipe)["spec"].n_obs  # doctest: +SKIP
    """
    entry = _MODELS.get(recipe.key)
    if entry is None:
        entry = {"spec": recipe.build()}
        _MODELS[recipe.key] = entry
        while len(_MODELS) > CACHE_SIZE:
            _MODELS.popitem(last=False)
    _MODELS.move_to_end(recipe.key)
    return entry


def remember(recipe: ModelRecipe, spec) -> None:
    """Put an already built model in this process's cache (a serial batch then builds nothing).

    Examples
    --------
    >>> remember(ModelRecipe.from_spec(fit.spec), fit.spec)  # doctest: +SKIP
    """
    if recipe.key not in _MODELS:
        _MODELS[recipe.key] = {"spec": spec}
        while len(_MODELS) > CACHE_SIZE:
            _MODELS.popitem(last=False)


def _fit_task(formula, data, family, kwargs):
    """One model of :func:`fit_many`, on a worker: the draws and the wall time."""
    from bayesglmm.fit import fit

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(formula, data, family, progressbar=False, **kwargs)
    return result.idata, result.settings, time.perf_counter() - start


def fit_many(models: dict, data, family: str = "gaussian", *, seed: int | None = None, executor=None,
             progress: bool | None = None, **fit_kwargs) -> dict:
    """Fit a set of models in parallel: one task per model.

    Parameters
    ----------
    models : dict
        Name -> formula.
    data : pandas.DataFrame
        The data of every model.
    family : str
        Family of every model.
    seed : int, optional
        Batch seed; model ``name`` is fitted with ``task_seed(seed, name)``, wherever it
        runs. Drawn at random when None (each fit records its seed in ``fit.settings``).
    executor : None, "local", "serial", a Dask Client or scheduler address
        Where the fits run (see :func:`bayesglmm.executor.get_executor`).
    progress : bool, optional
        Show models done / total and the time left on standard error, one step per finished
        fit (:class:`bayesglmm.executor.Progress`). Default: only when standard error is a
        terminal; True forces it on. Each fit's own sampler progress bar stays off.
    **fit_kwargs
        Passed to :func:`bayesglmm.fit` (``draws``, ``tune``, ``chains``, ``priors``, ...).

    Returns
    -------
    dict
        Name -> :class:`bayesglmm.Fit`, in the order of ``models``.

    Examples
    --------
    >>> import bayesglmm as bg
    >>> fits = bg.fit_many({"null": "y ~ 1 + (1|g)", "x": "y ~ x + (1|g)"}, df, seed=1)  # doctest: +SKIP
    >>> bg.compare(fits)  # doctest: +SKIP
    """
    from bayesglmm.diagnostics import diagnose, warn_if_failed
    from bayesglmm.fit import check_settings
    from bayesglmm.result import Fit
    from bayesglmm.model import build_model

    if not isinstance(models, dict) or not models:
        raise SettingsError("fit_many takes a dict of name -> formula, e.g. {'m1': 'y ~ x', 'm2': 'y ~ x + (1|g)'}.")
    bad = {name: f for name, f in models.items() if not isinstance(f, str)}
    if bad:
        raise ArgumentError(f"fit_many: the formula of {next(iter(bad))!r} is a {type(next(iter(bad.values()))).__name__}, "
                        "not a string.")
    import inspect

    from bayesglmm.fit import fit as fit_one

    allowed = set(inspect.signature(fit_one).parameters) - {"formula", "data", "family", "seed", "progressbar",
                                                            "cores"}
    unknown = sorted(set(fit_kwargs) - allowed)
    if unknown:
        raise ArgumentError(f"fit_many got unexpected keyword argument(s) {', '.join(unknown)}; it passes on "
                        f"{', '.join(sorted(allowed))} (seed is the batch seed; cores are set per task).")
    build_keys = ("link", "priors", "dropna", "parameterization", "fixed_design")
    build_kwargs = {k: fit_kwargs[k] for k in build_keys if k in fit_kwargs}
    check_settings(draws=fit_kwargs.get("draws", 1000), tune=fit_kwargs.get("tune", 1000),
                   chains=fit_kwargs.get("chains", 4), sampler=fit_kwargs.get("sampler", "nutpie"),
                   target_accept=fit_kwargs.get("target_accept"), flags={"progress": progress})
    specs = {name: build_model(formula, data, family, **build_kwargs) for name, formula in models.items()}
    ex = get_executor(executor)
    batch_seed = int(np.random.SeedSequence().entropy % (2**31)) if seed is None else int(seed)
    tasks = {}
    for name, formula in models.items():
        kwargs = dict(fit_kwargs, seed=task_seed(batch_seed, name))
        if ex.cores_per_task is not None:
            kwargs["cores"] = ex.cores_per_task
        tasks[name] = (formula, data, family, kwargs)
    results = ex.run(_fit_task, tasks, label="fit_many", progress=progress)
    out = {}
    for name, (idata, settings, seconds) in results.items():
        diagnostics = diagnose(idata) if "posterior" in idata.children else None
        settings = dict(settings, batch_seed=batch_seed, seconds=seconds)
        out[name] = Fit(specs[name], idata, diagnostics, settings)
        if diagnostics is not None:
            warn_if_failed(diagnostics, stacklevel=2)
    return out


__all__ = ["ModelRecipe", "cached_model", "fit_many", "remember"]
