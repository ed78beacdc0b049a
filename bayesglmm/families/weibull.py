"""Weibull response (positive: survival-type times without censoring): log link on the mean, shape ``alpha``.

Registered as ``"weibull"``; Bambi's ``weibull`` likelihood, parameterised by the mean ``mu``
and the shape ``alpha`` (scale ``mu / Gamma(1 + 1/alpha)``).

Choices, each a deliberate one (as :mod:`bayesglmm.families.gamma` where not said):

* Link: log only; ``exp(coefficient)`` is a ratio of means (and, the shape being one for
  all rows, of medians and of any quantile).
* Default priors: log-scale autoscaling, the intercept at ``log(mean(y))``; ``alpha`` ~
  HalfCauchy(s) with ``s = pi / sqrt(6 var(log y))``, the moment estimate of the shape
  (``Var log y = pi^2 / (6 alpha^2)``) ignoring the predictors and groups, at least 1.
* ICC (log link): ``sigma_d^2 = pi^2 / (6 alpha^2)``, the exact variance of ``log(y)`` (a
  Gumbel variable scaled by ``1 / alpha``), per draw.
* Response check: every value strictly positive. Right-censoring: ``censored(time, status)``
  (status 1 = right-censored, 0 = event observed; see :mod:`bayesglmm.censoring`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from bayesglmm.families.base import moment_scale
from bayesglmm.families.gamma import Gamma


class Weibull(Gamma):
    """Positive response with mean ``exp(eta)`` and Weibull shape ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("weibull")
    >>> y = fam.simulate(np.log([[2.0]] * 200000), {"alpha": np.array([[1.5]])}, rng=np.random.default_rng(2))
    >>> round(float(y.mean()), 2), round(float(np.log(y).var()), 2)  # 2; pi^2 / (6 * 1.5^2)
    (2.0, 0.73)
    """

    name = "weibull"
    bambi_name = "weibull"
    aliases = ()
    aux_parameters = ("alpha",)

    def extra_priors(self, response, link: str) -> dict:
        from bambi import Prior

        v = float(np.var(np.log(np.asarray(response, dtype=float))))
        return {"alpha": Prior("HalfCauchy", beta=moment_scale(math.pi / math.sqrt(6 * v) if v > 0 else np.inf))}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        alpha = draws["alpha"].transpose("chain", "draw").values.reshape(-1)
        return math.pi**2 / (6 * alpha**2), (
            "sigma_d^2 = pi^2 / (6 alpha^2), the variance of log(y) for a Weibull response with shape alpha, per draw")

    def _scale(self, mu, alpha):
        return mu / special.gamma(1 + 1 / alpha)

    def _simulate_mean(self, mu, params, trials, rng):
        alpha = np.broadcast_to(params["alpha"], mu.shape)
        return np.maximum(self._scale(mu, alpha) * rng.weibull(alpha), np.finfo(float).tiny)

    def response_moments(self, mean, params, trials):
        alpha = params["alpha"]
        return mean, self._scale(mean, alpha) ** 2 * special.gamma(1 + 2 / alpha) - mean**2
