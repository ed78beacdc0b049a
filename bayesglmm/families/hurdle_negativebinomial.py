"""Hurdle negative binomial counts: hurdle Poisson's structure with a zero-truncated NB for positives.

Registered as ``"hurdle_negativebinomial"``; Bambi's likelihood of that name: ``P(y > 0) = psi``
and the positive counts a negative binomial (mean ``mu``, variance ``mu + mu^2 / alpha``)
truncated at zero. Choices as :mod:`bayesglmm.families.hurdle_poisson`; ``alpha`` keeps
Bambi's HalfCauchy(1), as the negative binomial family does.

The likelihood is PyMC's hurdle negative binomial density written out
(:class:`StableHurdleNegativeBinomial`), with ``log(1 - P(0)) = log1mexp(-alpha log(1 + mu / alpha))``
and the zero rows kept out of the count branch: PyMC's own, built over the response as a
data input (as :func:`bayesglmm.engine.inputs_model` compiles every model), gave NaN
gradients at every initial point of a 300-row test data set, so nutpie could not start.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesglmm.families.base import FamilyDensity
from bayesglmm.families.hurdle_poisson import HurdlePoisson


def _hurdle_nb_logp(value, psi, mu, alpha):
    import pymc as pm
    import pytensor.tensor as pt

    positive = value > 0
    safe_mu = pt.switch(positive, mu, 1.0)  # the zero rows' unused branch stays finite, gradient included
    safe_value = pt.switch(positive, value, 1)
    log_p0 = -alpha * pt.log1p(safe_mu / alpha)
    count = (pt.log(psi) + pm.logp(pm.NegativeBinomial.dist(mu=safe_mu, alpha=alpha), safe_value)
             - pt.log1mexp(log_p0))
    return pt.switch(positive, count, pt.log1p(-psi))


def _hurdle_nb_random(psi, mu, alpha, rng=None, size=None):
    rng = np.random.default_rng(rng)
    shape = size if size is not None else np.broadcast_shapes(np.shape(psi), np.shape(mu), np.shape(alpha))
    mu, alpha = np.broadcast_to(mu, shape), np.broadcast_to(alpha, shape)
    p0 = (alpha / (alpha + mu)) ** alpha
    u = np.minimum(p0 + rng.random(shape) * (1 - p0), 1 - 1e-16)
    positive = np.maximum(np.nan_to_num(stats.nbinom.ppf(u, alpha, alpha / (alpha + mu)), posinf=1.0), 1.0)
    return (positive * (rng.random(shape) < psi)).astype(np.int64)


class StableHurdleNegativeBinomial(FamilyDensity):
    """PyMC's ``HurdleNegativeBinomial`` with finite gradients whether the response is a constant or an input.

    Called as Bambi calls a likelihood (``StableHurdleNegativeBinomial(name, psi=, mu=, alpha=, observed=)``,
    ``.dist(psi=, mu=, alpha=)``); PyMC is imported only when it is called.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from scipy import stats
    >>> d = StableHurdleNegativeBinomial.dist(psi=0.6, mu=np.array([2.0, 2.0]), alpha=3.0)
    >>> lp = pm.logp(d, np.array([0, 4])).eval()
    >>> p = 3.0 / 5.0  # alpha / (alpha + mu)
    >>> bool(np.allclose(lp, [np.log(0.4), np.log(0.6) + stats.nbinom.logpmf(4, 3.0, p) - np.log(1 - p**3)]))
    True
    """

    params = ("psi", "mu", "alpha")
    logp = staticmethod(_hurdle_nb_logp)
    random = staticmethod(_hurdle_nb_random)


class HurdleNegativeBinomial(HurdlePoisson):
    """Hurdle counts with overdispersed positives (NB dispersion ``alpha``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("hurdle_negativebinomial")
    >>> y = fam.simulate(np.log([[3.0]] * 100000), {"alpha": np.array([[1.0]]), "psi": np.array([[0.5]])},
    ...                  rng=np.random.default_rng(1))
    >>> round(float((y == 0).mean()), 2), round(float(y.mean()), 1)  # 0.5; 0.5 * 3 / (1 - 1/4)
    (0.5, 2.0)
    """

    name = "hurdle_negativebinomial"
    bambi_name = "hurdle_negativebinomial"
    aliases = ("hurdle_negbinomial",)
    aux_parameters = ("alpha", "psi")
    dispersion_remedy = "Look for missing predictors or group effects, or outliers."

    def likelihood_dist(self):
        return StableHurdleNegativeBinomial

    def _zero_probability(self, mu, params):
        alpha = params["alpha"]
        return (alpha / (alpha + mu)) ** alpha

    def _truncated_draw(self, u, mu, params):
        alpha = np.broadcast_to(params["alpha"], mu.shape)
        return stats.nbinom.ppf(u, alpha, alpha / (alpha + mu))

    def _second_moment_untruncated(self, mu, params):
        return mu + mu**2 / params["alpha"] + mu**2
