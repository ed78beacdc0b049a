"""Exponential response (positive: waiting times without censoring): log link on the mean, no other parameter.

Registered as ``"exponential"``; Bambi's ``exponential`` likelihood (rate ``1 / mu``).

Choices, each a deliberate one (as :mod:`bayesglmm.families.gamma` where not said):

* Link: log only; ``exp(coefficient)`` is a ratio of means.
* Default priors: log-scale autoscaling, the intercept at ``log(mean(y))``; no family parameter.
* ICC (log link): ``sigma_d^2 = pi^2 / 6``, the exact variance of ``log(y)`` for an
  exponential variable (a Gumbel), constant.
* Response check: every value strictly positive. Right-censoring: ``censored(time, status)``
  (status 1 = right-censored, 0 = event observed; see :mod:`bayesglmm.censoring`).
"""

from __future__ import annotations

import math

import numpy as np

from bayesglmm.families.gamma import Gamma


class Exponential(Gamma):
    """Positive response with mean ``exp(eta)``; variance ``mu^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("exponential")
    >>> y = fam.simulate(np.log([[3.0]] * 200000), rng=np.random.default_rng(1))
    >>> round(float(y.mean()), 1), round(float(np.log(y).var()), 2)  # 3; pi^2 / 6
    (3.0, 1.64)
    """

    name = "exponential"
    bambi_name = "exponential"
    aliases = ()
    aux_parameters = ()

    def extra_priors(self, response, link: str) -> dict:
        return {}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        return math.pi**2 / 6, "sigma_d^2 = pi^2/6 (1.645), the variance of log(y) for an exponential response"

    def _simulate_mean(self, mu, params, trials, rng):
        return np.maximum(rng.exponential(mu), np.finfo(float).tiny)

    def response_moments(self, mean, params, trials):
        return mean, mean**2
