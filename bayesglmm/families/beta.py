"""Beta response: proportions strictly between 0 and 1 (mean ``mu``, precision ``kappa``).

Registered as ``"beta"``; Bambi's ``beta`` likelihood, ``Beta(mu * kappa, (1 - mu) * kappa)``,
variance ``mu (1 - mu) / (1 + kappa)``. Links logit (default), probit, cloglog.

Choices, each a deliberate one:

* ``exp(coefficient)`` on the logit link is an odds ratio of the mean proportion
  (``mu / (1 - mu)``), named so: it is not the odds ratio of an event.
* Default priors: coefficients, intercept and group SDs autoscaled on the link scale
  (``s_y = 1``), the intercept centred at ``link(mean(y))``; ``kappa`` ~ HalfCauchy(s) with
  ``s = mean (1 - mean) / var - 1``, the moment estimate of the precision ignoring the
  predictors and groups (a lower bound of the conditional precision), at least 1. Bambi's
  own HalfCauchy(1) puts half its mass below kappa = 1, U-shaped distributions.
* Response check: every value strictly between 0 and 1; exact 0s and 1s have no density
  (transform them, e.g. ``(y (n - 1) + 0.5) / n`` of Smithson & Verkuilen 2006,
  doi:10.1037/1082-989X.11.1.54, or model them apart).
* ICC: not defined. The beta's residual variance depends on the mean and has no standard
  latent-scale counterpart (Nakagawa et al. 2017 give none); compare group SDs on the link scale.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from bayesglmm.families.base import Family, check_open_interval_response, moment_scale, no_icc, totals

_NO_ICC = ("a beta response's residual variance mu (1 - mu) / (1 + kappa) depends on the mean and has no "
           "standard latent-scale counterpart (Nakagawa, Johnson & Schielzeth 2017 give none). Compare the "
           "group SDs (fit.varcorr()) on the link scale instead.")


def beta_precision_scale(p: np.ndarray) -> float:
    """HalfCauchy scale of ``kappa``: the moment estimate ``m (1 - m) / v - 1`` of proportions ``p``, at least 1."""
    p = np.asarray(p, dtype=float)
    m, v = p.mean(), p.var()
    return moment_scale(m * (1 - m) / v - 1 if v > 0 else np.inf)


class Beta(Family):
    """Proportions in (0, 1) with mean ``g^-1(eta)`` and precision ``kappa``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("beta")
    >>> fam.default_link, fam.ratio_name("logit"), fam.aux_parameters
    ('logit', 'odds ratio of the mean proportion', ('kappa',))
    >>> y = fam.simulate(np.zeros((1, 100000)), {"kappa": np.array([[4.0]])}, rng=np.random.default_rng(1))
    >>> round(float(y.mean()), 2), round(float(y.var()), 3)  # 0.5 and 0.25 / 5
    (0.5, 0.05)
    """

    name = "beta"
    bambi_name = "beta"
    links = ("logit", "probit", "cloglog")
    response = "real"
    ratio_label = {"logit": "odds ratio of the mean proportion"}
    aux_parameters = ("kappa",)
    discrete = False

    def check_response(self, frame, pf):
        return check_open_interval_response(
            frame, pf.response, self, upper=1.0,
            hint=" Exact 0s and 1s have no beta density: transform them (e.g. (y * (n - 1) + 0.5) / n) or "
                 "model them apart; for successes out of trials use family='binomial' or 'beta_binomial'.")

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        return float(self.link_function(link)(np.clip(np.mean(np.asarray(y, dtype=float)), 0.01, 0.99)))

    def extra_priors(self, response, link: str) -> dict:
        from bambi import Prior

        return {"kappa": Prior("HalfCauchy", beta=beta_precision_scale(response))}

    def row_information(self, y, trials):
        # Information about logit(mu) per row ~ (1 + kappa) mu (1 - mu) at the moment estimate.
        m = np.clip(y.mean(), 0.01, 0.99)
        kappa = m * (1 - m) / max(y.var(), 1e-6) - 1
        return np.full(len(y), max(kappa, 1.0) * m * (1 - m))

    def level_means(self, y, trials, exposure, index, n_levels):
        total = totals(index, n_levels)
        return special.logit(np.clip(total(y) / np.maximum(total(np.ones(len(y))), 1), 0.01, 0.99))

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        raise no_icc(self, _NO_ICC)

    def _simulate_mean(self, mu, params, trials, rng):
        kappa = np.broadcast_to(params["kappa"], mu.shape)
        mu = np.clip(mu, 1e-12, 1 - 1e-12)
        return np.clip(rng.beta(mu * kappa, (1 - mu) * kappa), 1e-12, 1 - 1e-12)  # stays a valid response

    def response_moments(self, mean, params, trials):
        return mean, mean * (1 - mean) / (1 + params["kappa"])
