"""Gamma response (positive, right-skewed: costs, times, concentrations): log link, shape ``alpha``.

Registered as ``"gamma"``; Bambi's ``gamma`` likelihood with ``mu`` the mean and ``alpha``
the shape (variance ``mu^2 / alpha``, coefficient of variation ``1 / sqrt(alpha)``).

Choices, each a deliberate one:

* Link: log only (Bambi's default is the inverse link, whose coefficients have no simple
  meaning and whose mean can turn negative); ``exp(coefficient)`` is a ratio of means.
* Default priors: coefficients, intercept and group SDs autoscaled on the log scale
  (``s_y = 1``), the intercept centred at ``log(mean(y))``; ``alpha`` ~ HalfCauchy(s) with
  ``s = mean(y)^2 / var(y)`` (the moment estimate of the shape ignoring the predictors and
  groups, hence a lower bound of the conditional shape), at least 1. Bambi's own default,
  HalfCauchy(1), puts its median at a coefficient of variation of 1 whatever the data.
* Response check: every value strictly positive (a zero has zero density).
* ICC (log link): ``sigma_d^2 = trigamma(alpha)``, the exact variance of ``log(y)`` for a
  gamma variable, per draw (the trigamma form in Nakagawa, Johnson & Schielzeth 2017,
  doi:10.1098/rsif.2017.0213, table 1).
* Right-censoring: ``censored(time, status)`` (status 1 = right-censored, 0 = event observed;
  see :mod:`bayesglmm.censoring`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from bayesglmm.families.base import Family, check_open_interval_response, moment_scale, totals


class Gamma(Family):
    """Positive real response with mean ``exp(eta)`` and shape ``alpha``.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("gamma")
    >>> fam.default_link, fam.ratio_name("log"), fam.aux_parameters
    ('log', 'ratio of means', ('alpha',))
    """

    name = "gamma"
    censorable = True  # censored(time, status): right-censored rows give log S(t) (bayesglmm.censoring)
    bambi_name = "gamma"
    links = ("log",)
    response = "real"
    ratio_label = {"log": "ratio of means"}
    aux_parameters = ("alpha",)
    discrete = False

    def check_response(self, frame, pf):
        hint = (" Zeros have no density here: model them apart (a bernoulli model of y > 0 and a "
                f"{self.name} model of the positive values).")
        return check_open_interval_response(frame, pf.response, self, hint=hint)

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        return float(np.log(np.mean(np.asarray(y, dtype=float))))

    def extra_priors(self, response, link: str) -> dict:
        from bambi import Prior

        y = np.asarray(response, dtype=float)
        return {"alpha": Prior("HalfCauchy", beta=moment_scale(y.mean() ** 2 / max(y.var(), 1e-300)))}

    def information_response(self, y):
        return np.log(np.asarray(y, dtype=float))

    def row_information(self, y, trials):
        # Fisher information about log(mu) per row is alpha; alpha from log-scale moments,
        # alpha ~ 1 / var(log y) for a CV below 1.
        return np.full(len(y), 1.0 / max(float(np.var(y)), 1e-3))

    def level_means(self, y, trials, exposure, index, n_levels):
        total = totals(index, n_levels)
        return total(y) / np.maximum(total(np.ones(len(y))), 1)  # y is log(y) here

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        alpha = draws["alpha"].transpose("chain", "draw").values.reshape(-1)
        return special.polygamma(1, alpha), (
            "sigma_d^2 = trigamma(alpha), the variance of log(y) for a gamma response with shape alpha "
            "(Nakagawa, Johnson & Schielzeth 2017), per draw"
        )

    def _simulate_mean(self, mu, params, trials, rng):
        alpha = np.broadcast_to(params["alpha"], mu.shape)
        return np.maximum(rng.gamma(alpha, mu / alpha), np.finfo(float).tiny)

    def response_moments(self, mean, params, trials):
        return mean, mean**2 / params["alpha"]
