"""Gaussian (normal) response: identity (default) or log link, residual SD ``sigma``."""

from __future__ import annotations

import numpy as np

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import Family, check_real_response, standardised_level_means


def within_variance(y, index, n_levels) -> float:
    """Pooled within-level variance of a real response, in units of its overall variance.

    The residual variance is what limits the information about a level's mean; the overall
    variance of ``y`` also holds the between-level spread (and the fixed effects'), and
    using it instead undercounted the information of a correlated-slopes model by 3x.
    """
    ys = y / (y.std() or 1.0)
    counts = np.bincount(index, minlength=n_levels)
    means = np.bincount(index, weights=ys, minlength=n_levels) / np.maximum(counts, 1)
    dof = len(ys) - int(np.count_nonzero(counts))
    if dof < 1:
        return 1.0
    return float(max(((ys - means[index]) ** 2).sum() / dof, 1e-3))


class Gaussian(Family):
    """Normal response with mean ``g^-1(eta)`` and residual SD ``sigma``.

    Default priors: coefficients autoscaled by ``s_y = sd(y)``; ``sigma`` keeps Bambi's
    HalfStudentT(4, sd(y)). ICC: identity link only, ``sigma_d^2 = sigma^2`` per draw.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("normal").name, get_family("gaussian").ratio_name("identity")
    ('gaussian', None)
    """

    name = "gaussian"
    bambi_name = "gaussian"
    links = ("identity", "log")
    aliases = ("normal",)
    response = "real"
    ratio_label = {"log": "ratio of means"}
    aux_parameters = ("sigma",)
    residual_sd = "sigma"
    discrete = False
    dpar_links = {"sigma": "log"}
    integrable_link = "identity"

    def dpar_location(self, name, y) -> float:
        """``sigma ~ x``: its intercept's prior is centred at the log of :meth:`response_scale` (``sd(y)``)."""
        if name != "sigma":
            return super().dpar_location(name, y)
        return self.response_scale(y)

    def check_response(self, frame, pf):
        check_real_response(frame, pf.response)
        return frame

    def response_scale(self, y) -> float:
        sd = float(np.std(np.asarray(y, dtype=float)))
        return sd if sd > 0 else 1.0

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        p = np.asarray(y, dtype=float).mean()
        if link == "log":
            return float(np.log(p)) if p > 0 else 0.0
        return float(p)

    def row_information(self, y, trials):
        return np.ones(len(y))  # in units of the response SD

    def information_scale(self, y, index, n_levels) -> float:
        return within_variance(y, index, n_levels)

    def level_means(self, y, trials, exposure, index, n_levels):
        return standardised_level_means(y, index, n_levels)

    def _residual_variance(self, link, draws):
        """sigma^2 per draw (identity link, one residual SD), or FamilyError."""
        if link != "identity":
            raise FamilyError(f"The ICC of a {self.name} model is defined for the identity link only; "
                              f"this model uses the {link} link.")
        if draws["sigma"].ndim != 2:
            raise FamilyError("The ICC needs a single residual SD; this model lets sigma vary.")
        return draws["sigma"].transpose("chain", "draw").values.reshape(-1) ** 2

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        return self._residual_variance(link, draws), "sigma_d^2 = sigma^2, the residual variance (per draw)"

    def _simulate_mean(self, mu, params, trials, rng):
        return rng.normal(mu, params["sigma"])
