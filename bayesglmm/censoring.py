"""Right-censored responses: ``censored(time, status) ~ ...`` for time-to-event families.

Bambi 0.21 reads ``censored(time, status)`` in the response and builds PyMC's
``pm.Censored`` likelihood: an observed row contributes the density ``log f(t)``, a
right-censored row the log survival ``log S(t)`` (the event happens after ``t``). The same
pointwise values are what :func:`bayesglmm.fit.add_log_likelihood` stores for LOO.

Conventions (decided here, checked before anything is built):

* **Status: 1 = right-censored, 0 = event observed**, brms's ``cens()`` convention and the
  one Bambi's own data sets use. (R's ``survival::Surv(time, event)`` is the opposite: there
  1 = event. Recode with ``status = 1 - event``.) Bambi's labels ``"right"`` and ``"none"``
  are accepted too (a saved fit stores them). Anything else (2, -1, ``"left"``,
  ``"interval"``) is a DataError naming the column, the value and its rows: only right
  censoring is supported.
* Only families with ``Family.censorable`` (weibull, exponential, gamma, lognormal) take a
  censored response; any other is a FamilyError.
* Default priors are computed from the recorded times, censored or not (a censored time is
  a lower bound, so they are centred a little low; they stay weakly informative).
* Replicated data (:func:`bayesglmm.predictive.posterior_predictive`) are event times
  *without* censoring, from the family's ``simulate``; predictions of the mean are the mean
  event time. :func:`survival_check` compares the observed Kaplan-Meier curve with the
  posterior predictive survival curves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesglmm.errors import DataError, FamilyError

#: Bambi's censoring labels of the accepted status codes (1 = right-censored, 0 = event observed).
STATUS_LABELS = {0: "none", 1: "right"}


def check_status(frame: pd.DataFrame, pf, family) -> pd.DataFrame:
    """Check the status column of ``censored(time, status)``; return the frame with Bambi's labels.

    Returns ``frame`` unchanged when the response is not censored.

    Raises
    ------
    FamilyError
        The family cannot be censored.
    DataError
        A status is not 0/1 (or ``"none"``/``"right"``): names the column, value and rows;
        or every row is censored (no observed event).

    Examples
    --------
    >>> from bayesglmm.formula import parse_formula
    >>> from bayesglmm.families import get_family
    >>> df = pd.DataFrame({"t": [1.0, 2.0, 3.0], "s": [0, 1, 0]})
    >>> pf = parse_formula("censored(t, s) ~ 1", df.columns)
    >>> check_status(df, pf, get_family("weibull"))["s"].tolist()
    ['none', 'right', 'none']
    """
    if not getattr(pf, "censored", False):
        return frame
    if not family.censorable:
        from bayesglmm.families import FAMILIES

        ok = [name for name, fam in FAMILIES.items() if fam.censorable]
        raise FamilyError(f"The {family.name} family does not take a censored response; censored(time, status) "
                          f"works with {', '.join(ok)}.")
    col = pf.censoring
    status = frame[col]
    labels = pd.Series(None, index=status.index, dtype=object)
    for code, label in STATUS_LABELS.items():
        as_text = status.astype(str).str.strip().str.lower()
        if pd.api.types.is_bool_dtype(status) or pd.api.types.is_numeric_dtype(status):
            hit = pd.to_numeric(status, errors="coerce") == code
        else:
            hit = (as_text == label) | (as_text == str(code)) | (as_text == f"{code}.0")
        labels[hit.to_numpy()] = label
    bad = labels.isna().to_numpy()
    if bad.any():
        from bayesglmm import validate

        raise DataError(
            f"Column {col!r} is the censoring status of censored({pf.response}, {col}) and must hold 1 "
            f"(right-censored) or 0 (event observed) (or Bambi's labels 'right' and 'none'); found "
            f"{validate._first_bad(status, bad)}. Only right censoring is supported; survival's "
            "Surv(time, event) codes 1 = event: recode with status = 1 - event.")
    if (labels == STATUS_LABELS[1]).all():
        raise DataError(
            f"Column {col!r} marks every one of the {len(labels)} rows as right-censored (status 1): with no "
            "observed event the data say only that times are long, and the fit would follow the priors. Check "
            "the coding (1 = censored, 0 = event observed; survival's Surv codes 1 = event).")
    frame = frame.copy()
    frame[col] = labels.to_numpy()
    return frame


def right_censored(spec) -> np.ndarray | None:
    """Which rows of a model's data are right-censored (bool array), or None for an uncensored response.

    Examples
    --------
    >>> right_censored(fit.spec)[:3]  # doctest: +SKIP
    array([False,  True, False])
    """
    col = getattr(spec.formula, "censoring", None)
    if col is None:
        return None
    status = spec.data.frame[col]
    return (status.astype(str).to_numpy() == STATUS_LABELS[1]) | (status.astype(str).to_numpy() == "1")


def censored_log_likelihood(family, model, posterior, data=None, **kwargs):
    """Bambi's ``Family.log_likelihood`` for a censored response: ``log f(t)``, or ``log S(t)`` where censored.

    Bambi 0.21 builds the censored likelihood for sampling but its ``compute_log_likelihood``
    evaluates the plain density on the (time, status) matrix; :func:`attach_log_likelihood`
    puts this function on one model's own family object instead. Same layout as Bambi's:
    an ``xarray.DataArray`` with dims ``(chain, draw, __obs__)``.

    Examples
    --------
    >>> ll = censored_log_likelihood(bm.family, bm, idata["posterior"])  # doctest: +SKIP
    """
    import pymc as pm
    import xarray as xr
    from bambi.families.family import get_response_dist
    from bambi.utils import response_evaluate_new_data

    matrix = model.response_term.data if data is None else response_evaluate_new_data(model, data)
    matrix = np.asarray(matrix, dtype=float).reshape(-1, 2)
    y, code = matrix[:, 0], matrix[:, 1]
    lower = np.where(code == -1, y, -np.inf)
    upper = np.where(code == 1, y, np.inf)
    dist_kwargs, coords = family._make_dist_kwargs_and_coords(model, posterior, **kwargs)
    coords = dict(list(coords.items())[:3])
    dist = get_response_dist(model.family).dist(**dist_kwargs)
    values = pm.logp(pm.Censored.dist(dist, lower=lower, upper=upper), y).eval()
    return xr.DataArray(values, coords=coords)


def attach_log_likelihood(bm) -> None:
    """Make one Bambi model's ``compute_log_likelihood`` censoring-aware (see :func:`censored_log_likelihood`).

    Examples
    --------
    >>> attach_log_likelihood(spec.bambi_model)  # doctest: +SKIP
    """
    import functools

    if bm.response_term.is_censored:
        bm.family.log_likelihood = functools.partial(censored_log_likelihood, bm.family)


def kaplan_meier(time, censored=None) -> pd.DataFrame:
    """The Kaplan-Meier estimate of the survival function from right-censored times.

    Parameters
    ----------
    time : array-like
        Recorded times (event or censoring).
    censored : array-like of bool, optional
        True where the time is right-censored; no censoring if None.

    Returns
    -------
    pandas.DataFrame
        One row per distinct event time: ``time``, ``at_risk`` (rows with time >= t),
        ``events`` and ``survival`` (the estimate just after t). Censored rows tied with
        an event time count as at risk at that time (the usual convention).

    Examples
    --------
    >>> kaplan_meier([1, 2, 2, 3, 4], [False, False, True, False, True])["survival"].round(4).tolist()
    [0.8, 0.6, 0.3]
    """
    t = np.asarray(time, dtype=float)
    c = np.zeros(len(t), dtype=bool) if censored is None else np.asarray(censored, dtype=bool)
    if c.shape != t.shape:
        raise DataError(f"censored has {c.size} values but time has {t.size}.")
    event_times = np.unique(t[~c])
    at_risk = np.array([(t >= u).sum() for u in event_times], dtype=float)
    events = np.array([((t == u) & ~c).sum() for u in event_times], dtype=float)
    survival = np.cumprod(1.0 - events / at_risk) if len(event_times) else np.array([])
    return pd.DataFrame({"time": event_times, "at_risk": at_risk.astype(int), "events": events.astype(int),
                         "survival": survival})


def _step(km: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """The Kaplan-Meier step function evaluated at ``grid`` (1 before the first event)."""
    idx = np.searchsorted(km["time"].to_numpy(), grid, side="right")
    values = np.concatenate([[1.0], km["survival"].to_numpy()])
    return values[idx]


def survival_check(fit, times=None, *, prob: float = 0.95, draws: int | None = 400,
                   seed: int | None = None) -> pd.DataFrame:
    """Observed Kaplan-Meier survival against the posterior predictive survival curves.

    Each posterior draw simulates one event time per row (no censoring); its survival curve
    is the share of simulated times above ``t``. Where the model fits, the Kaplan-Meier curve
    of the observed (censored) data lies within the band.

    Parameters
    ----------
    fit : Fit
        A posterior fit (censored or not).
    times : array-like, optional
        Where to evaluate the curves; 50 points from 0 to the largest recorded time if None.
    prob : float
        Probability of the predictive band (equal-tailed).
    draws, seed : int, optional
        Passed to :func:`bayesglmm.predictive.posterior_predictive`.

    Returns
    -------
    pandas.DataFrame
        ``time``, ``observed`` (Kaplan-Meier), ``median``, ``lower``, ``upper`` (posterior
        predictive survival), ``outside`` (the observed curve is outside the band);
        ``attrs["prob"]``.

    Examples
    --------
    >>> tab = survival_check(fit, seed=1)  # doctest: +SKIP
    >>> tab["outside"].mean()  # doctest: +SKIP
    0.0
    """
    from bayesglmm.predictive import _flat, observed, posterior_predictive
    from bayesglmm.summary import interval_bounds

    y = observed(fit).astype(float)
    cens = right_censored(fit.spec)
    km = kaplan_meier(y, cens)
    grid = np.linspace(0.0, float(y.max()), 50) if times is None else np.asarray(times, dtype=float)
    rep = _flat(posterior_predictive(fit, draws, seed)).astype(float)
    curves = (rep[:, :, None] > grid[None, None, :]).mean(axis=1)  # (draws, times)
    bounds = np.array([interval_bounds(curves[:, j], prob) for j in range(len(grid))]).reshape(-1, 2)
    obs = _step(km, grid)
    table = pd.DataFrame({"time": grid, "observed": obs, "median": np.median(curves, axis=0),
                          "lower": bounds[:, 0], "upper": bounds[:, 1]})
    table["outside"] = (obs < table["lower"] - 1e-12) | (obs > table["upper"] + 1e-12)
    table.attrs["prob"] = prob
    return table


__all__ = ["STATUS_LABELS", "attach_log_likelihood", "censored_log_likelihood", "check_status", "kaplan_meier", "right_censored", "survival_check"]
