"""Hurdle Poisson counts: zero with probability ``1 - psi``, else a zero-truncated Poisson.

Registered as ``"hurdle_poisson"``; Bambi's likelihood of that name (PyMC's
``HurdlePoisson``). ``psi = P(y > 0)``, one value for all rows; the positive counts are a
Poisson with rate ``mu`` truncated at zero, so ``E y = psi mu / (1 - exp(-mu))``. Log link
on ``mu``.

Choices, each a deliberate one:

* ``exp(coefficient)`` is a rate ratio of the untruncated count process ``mu`` (not of
  ``E y``; :func:`bayesglmm.predict.population_averaged_ratio` gives the ratio of means).
* Default priors: Poisson's autoscaled coefficients and group SDs; the intercept centred at
  ``log(lambda)``, the rate whose truncated mean matches the positive counts' mean;
  ``psi`` ~ Beta(1 + 2q, 1 + 2(1 - q)) with ``q`` the share of positive counts.
* Response check: non-negative whole numbers with at least one zero and one positive value.
* Predictions on the response scale are ``E y`` (zeros included); ``scale="link"`` gives
  ``log(mu)``.
* ICC: not defined (two processes, no single latent scale).
* The likelihood is PyMC's hurdle Poisson density written with ``log(1 - exp(-mu))``
  (:class:`StableHurdlePoisson`): PyMC's own takes ``log(1 - Poisson CDF(0))`` through the
  regularised incomplete gamma function, whose gradient is NaN for ``mu`` above about 800,
  and nutpie's initial points (jittered by up to 2 on every unconstrained coordinate) hit
  that region often enough that every one failed on a 300-row test data set.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesglmm.families.base import FamilyDensity, no_icc
from bayesglmm.families.poisson import Poisson
from bayesglmm.families.zero_inflated_poisson import (NO_ICC_MIXTURE, check_counts_with_zeros, psi_prior,
                                                      truncated_poisson_rate)


def _hurdle_poisson_logp(value, psi, mu):
    import pymc as pm
    import pytensor.tensor as pt

    positive = value > 0
    safe_mu = pt.switch(positive, mu, 1.0)  # the zero rows' unused branch: no 0 * inf in the gradient
    count = pt.log(psi) + pm.logp(pm.Poisson.dist(mu=safe_mu), value) - pt.log1mexp(-safe_mu)
    return pt.switch(positive, count, pt.log1p(-psi))


def _hurdle_poisson_random(psi, mu, rng=None, size=None):
    rng = np.random.default_rng(rng)
    mu = np.broadcast_to(mu, size if size is not None else np.broadcast_shapes(np.shape(psi), np.shape(mu)))
    p0 = np.exp(-mu)
    u = p0 + rng.random(mu.shape) * (1 - p0)
    positive = np.maximum(np.nan_to_num(stats.poisson.ppf(np.minimum(u, 1 - 1e-16), mu), posinf=1.0), 1.0)
    return (positive * (rng.random(mu.shape) < psi)).astype(np.int64)


class StableHurdlePoisson(FamilyDensity):
    """PyMC's ``HurdlePoisson`` with a log-density whose gradient stays finite for any ``mu``.

    Called as Bambi calls a likelihood: ``StableHurdlePoisson(name, psi=..., mu=..., observed=...)``
    inside a model, ``StableHurdlePoisson.dist(psi=..., mu=...)`` for the log-likelihood.
    PyMC is imported only when it is called (families stay plain Python).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> d = StableHurdlePoisson.dist(psi=0.6, mu=np.array([2.0, 2.0, 900.0]))
    >>> lp = pm.logp(d, np.array([0, 3, 900])).eval()
    >>> bool(np.allclose(lp[:2], [np.log(0.4), np.log(0.6) + (3 * np.log(2) - 2 - np.log(6))
    ...                                                    - np.log(1 - np.exp(-2))]))
    True
    """

    params = ("psi", "mu")
    logp = staticmethod(_hurdle_poisson_logp)
    random = staticmethod(_hurdle_poisson_random)


class HurdlePoisson(Poisson):
    """Counts whose zeros have their own probability: ``P(y > 0) = psi``, positives a truncated Poisson.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("hurdle_poisson")
    >>> y = fam.simulate(np.log([[2.0]] * 100000), {"psi": np.array([[0.7]])}, rng=np.random.default_rng(1))
    >>> round(float((y == 0).mean()), 2), round(float(y.mean()), 2)  # 0.3; 0.7 * 2 / (1 - exp(-2))
    (0.3, 1.62)
    """

    name = "hurdle_poisson"
    bambi_name = "hurdle_poisson"
    aliases = ()
    aux_parameters = ("psi",)
    mean_parameters = ("psi",)
    ratio_label = {"log": "rate ratio of the untruncated count process"}
    dispersion_remedy = "Try family='hurdle_negativebinomial'."

    def ppc_statistics(self) -> tuple[str, ...]:
        """The share of zeros first: the feature this family models beyond the counts' mean."""
        return ("zeros", "mean", "sd", "max")

    def check_response(self, frame, pf):
        return check_counts_with_zeros(frame, pf.response, self)

    def likelihood_dist(self):
        return StableHurdlePoisson

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        y = np.asarray(y, dtype=float)
        positive = y > 0
        lam = truncated_poisson_rate(float(y[positive].mean())) if positive.any() else 0.5
        shift = float(np.mean(offset)) if offset is not None else 0.0
        return float(np.log(max(lam, 1e-3))) - shift

    def extra_priors(self, response, link: str) -> dict:
        return {"psi": psi_prior(float(np.mean(np.asarray(response, dtype=float) > 0)))}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        raise no_icc(self, NO_ICC_MIXTURE)

    dpar_links = {"psi": "logit"}

    def dpar_location(self, name, y) -> float:
        """``psi ~ x``: its intercept's prior is centred at the logit of the share of positive counts."""
        if name != "psi":
            return super().dpar_location(name, y)
        return float(np.clip(np.mean(np.asarray(y, dtype=float) > 0), 0.05, 0.95))

    def _zero_probability(self, mu, params):
        """P(count = 0) of the untruncated count distribution."""
        return np.exp(-mu)

    def _truncated_draw(self, u, mu, params):
        """Inverse CDF of the untruncated count distribution at ``u``."""
        return stats.poisson.ppf(u, mu)

    def mean_given(self, mu, params):
        positive = np.maximum(1 - self._zero_probability(mu, params), 1e-300)
        return params["psi"] * mu / positive

    def _simulate_mean(self, mu, params, trials, rng):
        p0 = self._zero_probability(mu, params)
        u = p0 + rng.random(mu.shape) * (1 - p0)  # uniform above the zero's probability
        positive = np.maximum(np.nan_to_num(self._truncated_draw(np.minimum(u, 1 - 1e-16), mu, params),
                                            posinf=1.0), 1.0)
        return positive * (rng.random(mu.shape) < params["psi"])

    def _second_moment_untruncated(self, mu, params):
        return mu + mu**2

    def response_moments(self, mean, params, trials):
        positive = np.maximum(1 - self._zero_probability(mean, params), 1e-300)
        m1 = params["psi"] * mean / positive
        m2 = params["psi"] * self._second_moment_untruncated(mean, params) / positive
        return m1, m2 - m1**2
