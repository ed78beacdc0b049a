"""Student-t response: a gaussian model with heavier tails, for outlying observations.

Registered as ``"student_t"`` (alias ``"t"``, Bambi's name). Links identity (default) and
log; parameters ``sigma`` (scale) and ``nu`` (degrees of freedom).

Choices, each a deliberate one:

* Default priors: coefficients, intercept and group SDs autoscaled as gaussian's
  (``s_y = sd(y)``); ``sigma`` keeps Bambi's HalfStudentT(4, sd(y)) as gaussian does;
  ``nu`` ~ Gamma(alpha=2, beta=0.1) (mean 20, 5% below 3.6), which is both Bambi's default
  and brms's (Juárez & Steel 2010, doi:10.1198/jbes.2009.07113). bayesglmm sets it
  explicitly, so the prior table shows it and a change of Bambi's default cannot move it.
* ICC (identity link only): the latent residual variance is the t's variance,
  ``sigma^2 * nu / (nu - 2)``, per draw. A draw with ``nu <= 2`` has infinite residual
  variance: its ICC is 0 (the limit), and the definition says how many such draws there
  were. Not ``sigma^2`` alone: that would overstate the ICC whenever the tails are heavy.
* Predictions on the response scale are the location ``g^-1(eta)``, the mean for
  ``nu > 1``; predictive draws are ``mu + sigma * t_nu``.
* ``exp(coefficient)`` has no ratio name on the identity link; on the log link it is a
  ratio of means (of locations), as for gaussian.
* No Residual SD row in the variance components: ``sigma`` is a scale, not an SD; it and
  ``nu`` are reported with the family parameters (``fit.family_params()``).
"""

from __future__ import annotations

import numpy as np

from bayesglmm.families.gaussian import Gaussian


class StudentT(Gaussian):
    """Student-t response: gaussian's links, checks and autoscaled priors, plus ``nu``.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("t")
    >>> fam.name, fam.bambi_name, fam.default_link, fam.ratio_name("identity")
    ('student_t', 't', 'identity', None)
    """

    name = "student_t"
    bambi_name = "t"
    integrable_link = None  # a Student-t response has no closed-form marginal
    aliases = ("t",)
    aux_parameters = ("sigma", "nu")
    residual_sd = None

    def extra_priors(self, response, link: str) -> dict:
        from bambi import Prior

        return {"nu": Prior("Gamma", alpha=2.0, beta=0.1)}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        sigma2 = self._residual_variance(link, draws)
        nu = draws["nu"].transpose("chain", "draw").values.reshape(-1)
        with np.errstate(divide="ignore"):
            variance = np.where(nu > 2, sigma2 * nu / np.maximum(nu - 2, 1e-300), np.inf)
        heavy = int(np.sum(nu <= 2))
        note = (f"; {heavy} of {nu.size} draws have nu <= 2 (infinite variance, ICC 0)" if heavy else "")
        return variance, f"sigma_d^2 = sigma^2 * nu / (nu - 2), the Student-t residual variance (per draw){note}"

    def _simulate_mean(self, mu, params, trials, rng):
        nu = np.broadcast_to(params["nu"], mu.shape)
        return mu + params["sigma"] * rng.standard_t(nu)
