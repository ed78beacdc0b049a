"""Checks before a comparison: the fits can be compared, and each has its pointwise log-likelihood.

:func:`bayesglmm.compare` runs them first: every model is a :class:`bayesglmm.Fit` of a
posterior, converged (unless ``allow_unconverged=True``), and fitted to the same rows and
response (:func:`check_same_data`), so that pointwise elpd values refer to the same rows;
fits made with ``log_likelihood=False`` get it computed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesglmm.errors import ArgumentError, FitError, NoPosteriorError, SettingsError


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
        _check_same_censoring(models[ref], fit, ref, name)


def _check_same_censoring(a, b, name_a: str, name_b: str) -> None:
    """FitError unless both fits censor the same rows: a censored row's elpd is a log survival, not a density."""
    from bayesglmm.censoring import right_censored

    ca, cb = right_censored(a.spec), right_censored(b.spec)
    ca = np.zeros(len(a.spec.data.frame), bool) if ca is None else ca
    cb = np.zeros(len(b.spec.data.frame), bool) if cb is None else cb
    if not np.array_equal(ca, cb):
        raise FitError(
            f"Models {name_a!r} and {name_b!r} censor different rows ({int(ca.sum())} and {int(cb.sum())} "
            f"right-censored; {a.spec.formula.original!r} vs {b.spec.formula.original!r}): a censored row's elpd "
            "is a log survival probability, an observed row's a log density, so they are not comparable.")


def _check_models(models, allow_unconverged: bool) -> None:
    from bayesglmm.result import Fit

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


__all__ = ["check_same_data"]
