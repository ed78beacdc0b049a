"""Beta-binomial response: successes out of trials ``p(y, n)`` with overdispersion ``kappa``.

Registered as ``"beta_binomial"`` (alias ``"betabinomial"``); Bambi's ``beta_binomial``
likelihood: each row's success probability is ``Beta(mu * kappa, (1 - mu) * kappa)``, so
``E y = n mu`` and ``Var y = n mu (1 - mu) (1 + (n - 1) / (kappa + 1))``. Links logit
(default), probit, cloglog.

Choices, each a deliberate one:

* The response needs its trials: ``p(successes, trials)``, checked as binomial's
  (whole numbers, successes at most trials).
* ``exp(coefficient)`` on the logit link is an odds ratio of the mean probability.
* Default priors: binomial's autoscaled coefficients and intercept (logit of total
  successes over total trials); ``kappa`` ~ HalfCauchy(s) with ``s`` the beta's moment
  estimate of the precision from the row proportions (at least 1).
* ICC: not defined (the beta-binomial's extra-binomial variance is on the probability
  scale and has no standard latent-scale counterpart); compare group SDs instead.
* No observation-level effect: ``kappa`` already models the extra-binomial variation.
"""

from __future__ import annotations

import numpy as np

from bayesglmm.families.base import no_icc
from bayesglmm.families.beta import beta_precision_scale
from bayesglmm.families.binomial import Binomial

_NO_ICC = ("the beta-binomial's extra-binomial variance lies on the probability scale and has no standard "
           "latent-scale counterpart. Compare the group SDs (fit.varcorr()) on the link scale, or fit "
           "family='binomial' with an observation-level effect (1|obs), whose ICC is defined.")


class BetaBinomial(Binomial):
    """Successes out of trials with a beta-distributed success probability per row.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("betabinomial")
    >>> fam.name, fam.needs_trials, fam.aux_parameters
    ('beta_binomial', True, ('kappa',))
    >>> y = fam.simulate(np.zeros((1, 100000)), {"kappa": np.array([[4.0]])}, trials=np.full(100000, 10),
    ...                  rng=np.random.default_rng(1))
    >>> round(float(y.mean()), 1), round(float(y.var()), 0)  # 5 and 10 * 0.25 * (1 + 9 / 5)
    (5.0, 7.0)
    """

    name = "beta_binomial"
    bambi_name = "beta_binomial"
    aliases = ("betabinomial",)
    ratio_label = {"logit": "odds ratio of the mean probability"}
    aux_parameters = ("kappa",)
    observation_level_effect = False
    dispersion_remedy = "Look for missing predictors or group effects, or outliers."

    def family_priors(self, response, link: str, trials=None) -> dict:
        from bambi import Prior

        if trials is None:
            return {}
        p = np.asarray(response, dtype=float) / np.asarray(trials, dtype=float)
        return {"kappa": Prior("HalfCauchy", beta=beta_precision_scale(p))}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        raise no_icc(self, _NO_ICC)

    def _simulate_mean(self, mu, params, trials, rng):
        if trials is None:
            return super()._simulate_mean(mu, params, trials, rng)  # the FamilyError naming the trials
        kappa = np.broadcast_to(params["kappa"], mu.shape)
        mu = np.clip(mu, 1e-12, 1 - 1e-12)
        p = rng.beta(mu * kappa, (1 - mu) * kappa)
        return rng.binomial(np.broadcast_to(trials.astype(np.int64), mu.shape), p).astype(float)

    def response_moments(self, mean, params, trials):
        p = np.clip(mean, 1e-12, 1 - 1e-12)
        return trials * p, trials * p * (1 - p) * (1 + (trials - 1) / (params["kappa"] + 1))
