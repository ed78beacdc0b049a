"""Negative binomial counts: log link, dispersion ``alpha`` (Bambi's; variance mu + mu^2 / alpha)."""

from __future__ import annotations

import numpy as np

from bayesglmm.families.poisson import _LAMBDA, Poisson


class NegativeBinomial(Poisson):
    """Overdispersed counts: Poisson's links, checks and priors, plus Bambi's ``alpha`` (HalfCauchy(1) prior).

    ICC: ``sigma_d^2 = ln(1 + 1/lambda + 1/theta)`` with theta = alpha (Nakagawa, Johnson &
    Schielzeth 2017).

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("negbinomial").aux_parameters
    ('alpha',)
    """

    name = "negativebinomial"
    bambi_name = "negativebinomial"
    aliases = ("negbinomial",)
    aux_parameters = ("alpha",)
    dispersion_remedy = "Look for missing predictors or group effects, or outliers."

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        lam = self._lambda(link, fixed_mean, total_group_var)
        theta = draws["alpha"].transpose("chain", "draw").values.reshape(-1)
        return np.log1p(1 / lam + 1 / theta), (
            "sigma_d^2 = ln(1 + 1/lambda + 1/theta), the log-normal approximation for a negative binomial "
            f"response (Nakagawa, Johnson & Schielzeth 2017), theta = Bambi's alpha,\n  {_LAMBDA}"
        )

    def _simulate_mean(self, mu, params, trials, rng):
        alpha = np.broadcast_to(params["alpha"], mu.shape)
        return rng.negative_binomial(alpha, alpha / (alpha + mu)).astype(float)

    def response_moments(self, mean, params, trials):
        return mean, mean + mean**2 / params["alpha"]
