"""Zero-inflated negative binomial counts: zero-inflated Poisson's structure with NB's ``alpha``.

Registered as ``"zero_inflated_negativebinomial"`` (alias ``"zinb"``); Bambi's likelihood of
that name: a negative binomial count (mean ``mu``, variance ``mu + mu^2 / alpha``) with
probability ``psi``, a structural zero otherwise. ``E y = psi mu``.

Choices as :mod:`bayesglmm.families.zero_inflated_poisson` (priors, response check,
predictions, no ICC); ``alpha`` keeps Bambi's HalfCauchy(1), as the negative binomial family does.
"""

from __future__ import annotations

from bayesglmm.families.negativebinomial import NegativeBinomial
from bayesglmm.families.zero_inflated_poisson import ZeroInflatedPoisson


class ZeroInflatedNegativeBinomial(ZeroInflatedPoisson):
    """Overdispersed counts with extra zeros: mean ``psi exp(eta)``, NB dispersion ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("zinb")
    >>> y = fam.simulate(np.log([[4.0]] * 200000), {"alpha": np.array([[2.0]]), "psi": np.array([[0.5]])},
    ...                  rng=np.random.default_rng(1))
    >>> round(float(y.mean()), 1), round(float(y.var()), 0)  # 2; 0.5 (4 + 8) + 0.25 * 16
    (2.0, 10.0)
    """

    name = "zero_inflated_negativebinomial"
    bambi_name = "zero_inflated_negativebinomial"
    aliases = ("zinb", "zero_inflated_negbinomial")
    aux_parameters = ("alpha", "psi")
    dispersion_remedy = "Look for missing predictors or group effects, or outliers."

    def _counts(self, mu, params, rng):
        """The count process's draws: the negative binomial family's own."""
        return NegativeBinomial._simulate_mean(self, mu, params, None, rng)

    def response_moments(self, mean, params, trials):
        psi, alpha = params["psi"], params["alpha"]
        return psi * mean, psi * (mean + mean**2 / alpha) + psi * (1 - psi) * mean**2
