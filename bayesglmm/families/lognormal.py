"""Lognormal response: ``log(y)`` normal with location ``mu`` (identity link) and SD ``sigma``.

Registered as ``"lognormal"``; Bambi's ``lognormal`` likelihood, whose ``mu`` and ``sigma`` are
the mean and SD of ``log(y)``. The linear predictor is on the log scale with the identity
link (there is no other link).

Choices, each a deliberate one:

* Default priors: gaussian's autoscaling applied to ``log(y)``: ``s_y = sd(log y)``, the
  intercept centred at ``mean(log y)``, ``sigma`` ~ HalfStudentT(4, sd(log y)) (the gaussian
  family's choice, on the log scale; Bambi's HalfNormal(1) ignores the data's scale).
* ``exp(coefficient)`` is a ratio of means (``E y = exp(mu + sigma^2 / 2)`` with one
  ``sigma``, so it is also the ratio of medians and of geometric means).
* ICC: ``sigma_d^2 = sigma^2`` per draw, on the log scale (the gaussian ICC of ``log y``);
  ``sigma`` is the ``Residual`` SD beside the group SDs, all on the log scale.
* Predictions on the response scale are the mean ``exp(mu + sigma^2 / 2)``, not the
  median ``exp(mu)``; ``scale="link"`` gives ``mu``.
* Response check: every value strictly positive.
* Right-censoring: ``censored(time, status)`` (status 1 = right-censored, 0 = event observed;
  see :mod:`bayesglmm.censoring`).
"""

from __future__ import annotations

import numpy as np

from bayesglmm.families.base import check_open_interval_response
from bayesglmm.families.gaussian import Gaussian


class LogNormal(Gaussian):
    """Positive response whose logarithm is normal; the gaussian family on ``log(y)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("lognormal")
    >>> fam.default_link, fam.ratio_name("identity")
    ('identity', 'ratio of means')
    >>> round(float(fam.response_mean(np.zeros((1, 1)), {"sigma": np.array([[1.0]])})[0, 0]), 4)  # exp(1/2)
    1.6487
    """

    name = "lognormal"
    censorable = True  # censored(time, status): right-censored rows give log S(t) (bayesglmm.censoring)
    bambi_name = "lognormal"
    integrable_link = None  # not written for the log response (its Jacobian), though it would integrate
    links = ("identity",)
    aliases = ("log_normal",)
    ratio_label = {"identity": "ratio of means"}
    aux_parameters = ("sigma",)
    mean_parameters = ("sigma",)
    residual_sd = "sigma"  # the residual SD of log(y), beside the group SDs on the same scale

    def check_response(self, frame, pf):
        hint = (" Zeros have no logarithm: model them apart (a bernoulli model of y > 0 and a "
                "lognormal model of the positive values).")
        return check_open_interval_response(frame, pf.response, self, hint=hint)

    def _log(self, y):
        return np.log(np.asarray(y, dtype=float))

    def response_scale(self, y) -> float:
        return super().response_scale(self._log(y))

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        return float(self._log(y).mean())

    def extra_priors(self, response, link: str) -> dict:
        from bambi import Prior

        return {"sigma": Prior("HalfStudentT", nu=4, sigma=round(self.response_scale(response), 4))}

    def information_response(self, y):
        return self._log(y)

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        return (self._residual_variance(link, draws),
                "sigma_d^2 = sigma^2, the residual variance of log(y) (per draw)")

    def mean_given(self, mu, params):
        return np.exp(mu + params["sigma"] ** 2 / 2)

    def _simulate_mean(self, mu, params, trials, rng):
        return np.exp(rng.normal(mu, params["sigma"]))

    def response_moments(self, mean, params, trials):
        s2 = params["sigma"] ** 2
        m = np.exp(mean + s2 / 2)
        return m, np.expm1(s2) * m**2
