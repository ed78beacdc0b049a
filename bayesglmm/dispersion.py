"""The dispersion check: the Pearson dispersion statistic of the data against that of replicated data.

For count and binomial fits: :func:`dispersion_check` returns a :class:`DispersionCheck`
(draws of the statistic, p-value, verdict and what to try). Replicated data come from the
family's simulation (:mod:`bayesglmm.predictive`); the flag thresholds are those of
:mod:`bayesglmm.ppc`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesglmm.errors import FamilyError
from bayesglmm.ppc import FLAG_HIGH, FLAG_LOW
from bayesglmm.predictive import _flat, _predict, _refuse_censored, _thin, observed, trials
from bayesglmm.dpars import parameter_draws
from bayesglmm.summary import describe_draws, interval_bounds


@dataclass
class DispersionCheck:
    """The Pearson dispersion statistic of the data against that of replicated data.

    For each posterior draw s, ``observed_draws[s] = sum((y - mu_s)^2 / V(mu_s)) / n`` and
    ``replicated_draws[s]`` is the same with replicated data ``y_rep,s`` in place of ``y``
    (a realized discrepancy, Gelman, Meng & Stern 1996). Under the model both are near 1;
    data more variable than the family allows (overdispersion) give larger observed values.

    Attributes
    ----------
    family : str
        The fit's family.
    observed_draws, replicated_draws : numpy.ndarray
        The statistic per draw, of the data and of the replicated data.
    p_value : float
        Share of draws with replicated >= observed.
    verdict : str
        ``"overdispersed"``, ``"underdispersed"`` or ``"consistent"``.
    message : str
        The verdict in a sentence, with the numbers and what to try.
    prob : float
        Probability of the intervals in :meth:`table`.
    """

    family: str
    observed_draws: np.ndarray
    replicated_draws: np.ndarray
    p_value: float
    verdict: str
    message: str
    prob: float = 0.95

    @property
    def ok(self) -> bool:
        """True when the data's dispersion is consistent with the model."""
        return self.verdict == "consistent"

    @property
    def observed(self) -> float:
        """Posterior median of the data's dispersion statistic."""
        return float(np.median(self.observed_draws))

    @property
    def replicated(self) -> float:
        """Posterior median of the replicated data's dispersion statistic."""
        return float(np.median(self.replicated_draws))

    @property
    def ratio(self) -> float:
        """Median over draws of observed / replicated (about 1 when the dispersion fits)."""
        return float(np.median(self.observed_draws / self.replicated_draws))

    def table(self) -> pd.DataFrame:
        """Observed and replicated statistic: rows ``observed``, ``replicated``, with median and interval."""
        rows = {name: describe_draws(values, self.prob)
                for name, values in (("observed", self.observed_draws), ("replicated", self.replicated_draws))}
        return pd.DataFrame(rows).T[["median", "lower", "upper"]]

    def __str__(self) -> str:
        return (f"Dispersion check ({self.family}): {self.verdict}. {self.message}")

    __repr__ = __str__


def dispersion_check(fit, *, prob: float = 0.95, draws: int | None = None, seed: int | None = None) -> DispersionCheck:
    """Pearson dispersion statistic, observed vs replicated, for count and binomial models.

    Parameters
    ----------
    fit : Fit
        A poisson, negativebinomial or binomial (``p(y, n)``) fit. Binomial residuals are
        those of the proportions, ``(y/n - p) / sqrt(p (1 - p) / n)``.
    prob : float
        Probability of the intervals reported.
    draws, seed : int, optional
        Posterior draws used and seed of the replicated data (see :func:`posterior_predictive`).

    Returns
    -------
    DispersionCheck
        ``p_value`` is the share of draws whose replicated statistic reaches the observed
        one; below 0.025 the verdict is ``"overdispersed"``, above 0.975 ``"underdispersed"``.

    Examples
    --------
    >>> dc = dispersion_check(poisson_fit, seed=1)  # doctest: +SKIP
    >>> dc.verdict, round(dc.observed, 1), round(dc.replicated, 1)  # doctest: +SKIP
    ('overdispersed', 3.1, 1.0)
    """
    from bayesglmm.families import FAMILIES

    family = fit.spec.family
    name = family.name
    if family.dispersion_remedy is None:  # the family says whether the check applies
        applies = [f.name for f in FAMILIES.values() if f.dispersion_remedy is not None]
        raise FamilyError(f"dispersion_check is for {', '.join(applies[:-1])} and {applies[-1]} fits; {name!r}: "
                          f"{family.no_dispersion_reason}. Use ppc_pvalues(fit) instead.")
    _refuse_censored(fit)
    yrep_da, eta = _predict(fit, draws, seed)
    yrep = _flat(yrep_da).astype(float)
    y = observed(fit).astype(float)[None, :]
    mean = family.inverse_link(fit.spec.link)(eta)  # Bambi's mean parameter mu (binomial: p)
    params = parameter_draws(fit.spec, _thin(fit.idata["posterior"].to_dataset(), draws))  # psi ~ x: per row
    mu, var = family.response_moments(mean, params, trials(fit))
    var = np.maximum(var, 1e-12)
    n = y.shape[1]
    obs_d = ((y - mu) ** 2 / var).sum(axis=1) / n
    rep_d = ((yrep - mu) ** 2 / var).sum(axis=1) / n
    p_value = float(np.mean(rep_d >= obs_d))
    o_lo, o_hi = interval_bounds(obs_d, prob)
    r_lo, r_hi = interval_bounds(rep_d, prob)
    numbers = (f"Observed dispersion {np.median(obs_d):.2f} [{o_lo:.2f}, {o_hi:.2f}] vs replicated "
               f"{np.median(rep_d):.2f} [{r_lo:.2f}, {r_hi:.2f}] ({prob:.0%} intervals), p = {p_value:.3f}.")
    remedy = family.dispersion_remedy
    if p_value < FLAG_LOW:
        verdict, msg = "overdispersed", f"The data vary more than the {name} model allows. {numbers} {remedy}"
    elif p_value > FLAG_HIGH:
        verdict, msg = "underdispersed", f"The data vary less than the {name} model expects. {numbers}"
    else:
        verdict, msg = "consistent", f"The data's dispersion is typical of the {name} model. {numbers}"
    return DispersionCheck(name, obs_d, rep_d, p_value, verdict, msg, prob)


__all__ = [
    "DispersionCheck",
    "dispersion_check",
]
