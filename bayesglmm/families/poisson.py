"""Poisson counts: log link, offsets as ``offset(log(exposure))``."""

from __future__ import annotations

import numpy as np

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import Family, check_count_response, totals

_LAMBDA = ("lambda = exp(mean fixed-effect linear predictor over the fit's rows, offsets included, "
           "+ total group variance / 2), per draw")


class Poisson(Family):
    """Counts with mean ``exp(eta)``; ``exp(coefficient)`` is a rate ratio.

    ICC: the log-normal approximation ``sigma_d^2 = ln(1 + 1/lambda)`` of Nakagawa, Johnson
    & Schielzeth (2017, doi:10.1098/rsif.2017.0213).

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("Poisson").ratio_label["log"]
    'rate ratio'
    """

    name = "poisson"
    bambi_name = "poisson"
    links = ("log",)
    response = "count"
    ratio_label = {"log": "rate ratio"}
    observation_level_effect = True
    dispersion_remedy = "Try family='negativebinomial' or an observation-level effect (1|obs)."

    def check_response(self, frame, pf):
        return check_count_response(frame, pf.response, self)

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        y = np.asarray(y, dtype=float)
        exposure = np.exp(offset).sum() if offset is not None else len(y)
        return float(np.log(max(y.sum(), 0.5) / exposure))

    def row_information(self, y, trials):
        return np.maximum(y, 0.5)  # information about a log-rate ~ expected count

    def level_means(self, y, trials, exposure, index, n_levels):
        total = totals(index, n_levels)
        return np.log((total(y) + 0.5) / total(exposure))

    def _lambda(self, link, fixed_mean, total_group_var):
        if link != "log":
            raise FamilyError(f"The ICC is not defined here for the {self.name} family with the {link} link.")
        return np.exp(fixed_mean() + total_group_var / 2)

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        lam = self._lambda(link, fixed_mean, total_group_var)
        return np.log1p(1 / lam), (
            "sigma_d^2 = ln(1 + 1/lambda), the log-normal approximation for a Poisson response "
            f"(Nakagawa, Johnson & Schielzeth 2017),\n  {_LAMBDA}"
        )

    def _simulate_mean(self, mu, params, trials, rng):
        return rng.poisson(mu).astype(float)

    def response_moments(self, mean, params, trials):
        return mean, mean.copy()
