"""Zero-inflated Poisson counts: a Poisson count with probability ``psi``, a structural zero otherwise.

Registered as ``"zero_inflated_poisson"`` (alias ``"zip"``); Bambi's likelihood of that name
(PyMC's ``ZeroInflatedPoisson``): ``P(0) = 1 - psi + psi exp(-mu)``, ``E y = psi mu``,
``Var y = psi mu (1 + (1 - psi) mu)``. ``psi`` is the probability of the *count process*
(not of the extra zero), one value for all rows. Log link.

Choices, each a deliberate one:

* ``exp(coefficient)`` is a rate ratio of the count process; with one ``psi`` for all rows
  it is also the ratio of the expected counts ``psi mu``.
* Default priors: Poisson's autoscaled coefficients and group SDs; the intercept centred at
  the log of the count process's mean, ``log(mean(y) / q)``; ``psi`` ~ Beta(1 + 2q, 1 + 2(1 - q))
  (weight of 4 observations, Bambi's Beta(2, 2) when q = 1/2), with ``q`` the moment
  estimate of the count process's share: ``(1 - share of zeros) / (1 - exp(-lambda))``,
  ``lambda`` matched to the mean of the positive counts, clipped to [0.05, 0.95].
* Response check: non-negative whole numbers with at least one zero (without zeros there
  is nothing to inflate: use poisson).
* Predictions on the response scale are ``psi mu`` (zeros included); ``scale="link"``
  gives ``log(mu)`` of the count process.
* ICC: not defined (a mixture of two processes has no single latent scale).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from bayesglmm.errors import DataError
from bayesglmm.families.base import check_count_response, no_icc
from bayesglmm.families.poisson import Poisson

NO_ICC_MIXTURE = ("its zeros come from two processes (a structural zero and the count), so the response has no "
                  "single latent scale with a standard residual variance (Nakagawa, Johnson & Schielzeth 2017 "
                  "give none for zero-inflated or hurdle models). Compare the group SDs (fit.varcorr()) on the "
                  "log scale of the count process instead.")


def truncated_poisson_rate(mean_positive: float) -> float:
    """``lambda`` whose zero-truncated Poisson has mean ``mean_positive`` (``lambda / (1 - exp(-lambda))``).

    Examples
    --------
    >>> lam = truncated_poisson_rate(2.0)
    >>> round(float(lam / (1 - np.exp(-lam))), 6)
    2.0
    """
    if not mean_positive > 1.0:
        return 1e-3
    return float(optimize.brentq(lambda lam: lam / -np.expm1(-lam) - mean_positive, 1e-9, mean_positive + 1.0))


def psi_prior(q: float):
    """Beta(1 + 2q, 1 + 2(1 - q)): a probability near ``q`` with the weight of 4 observations."""
    from bambi import Prior

    q = float(np.clip(q, 0.05, 0.95))
    return Prior("Beta", alpha=round(1 + 2 * q, 3), beta=round(1 + 2 * (1 - q), 3))


def check_counts_with_zeros(frame, col: str, family):
    """Counts (non-negative whole numbers) with at least one zero and one positive value."""
    frame = check_count_response(frame, col, family)
    y = frame[col].to_numpy()
    if not (y == 0).any():
        raise DataError(f"Column {col!r} is the response of a {family.name} model but has no zeros "
                        f"({len(y)} rows, smallest value {int(y.min())}): there is nothing to inflate. "
                        "Use family='poisson' or 'negativebinomial'.")
    if not (y > 0).any():
        raise DataError(f"Column {col!r} is the response of a {family.name} model but every value is 0: "
                        "the count process cannot be estimated.")
    return frame


class ZeroInflatedPoisson(Poisson):
    """Counts with extra zeros: mean ``psi exp(eta)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("zip")
    >>> fam.name, fam.aux_parameters, fam.ratio_name("log")
    ('zero_inflated_poisson', ('psi',), 'rate ratio')
    >>> y = fam.simulate(np.log([[3.0]] * 100000), {"psi": np.array([[0.6]])}, rng=np.random.default_rng(1))
    >>> round(float(y.mean()), 1), round(float((y == 0).mean()), 2)  # 0.6 * 3; 0.4 + 0.6 exp(-3)
    (1.8, 0.43)
    """

    name = "zero_inflated_poisson"
    bambi_name = "zero_inflated_poisson"
    aliases = ("zip",)
    aux_parameters = ("psi",)
    mean_parameters = ("psi",)
    ratio_label = {"log": "rate ratio"}
    dispersion_remedy = "Try family='zero_inflated_negativebinomial'."

    def ppc_statistics(self) -> tuple[str, ...]:
        """The share of zeros first: the feature this family models beyond the counts' mean."""
        return ("zeros", "mean", "sd", "max")

    def check_response(self, frame, pf):
        return check_counts_with_zeros(frame, pf.response, self)

    def count_share(self, y) -> float:
        """Moment estimate of ``psi``, the share of rows from the count process, in [0.05, 0.95]."""
        y = np.asarray(y, dtype=float)
        positive = y > 0
        if not positive.any():
            return 0.05
        lam = truncated_poisson_rate(float(y[positive].mean()))
        return float(np.clip(positive.mean() / -np.expm1(-lam), 0.05, 0.95))

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        return super().intercept_location(link, y, trials, offset) - float(np.log(self.count_share(y)))

    def extra_priors(self, response, link: str) -> dict:
        return {"psi": psi_prior(self.count_share(response))}

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        raise no_icc(self, NO_ICC_MIXTURE)

    dpar_links = {"psi": "logit"}

    def dpar_location(self, name, y) -> float:
        """``psi ~ x``: its intercept's prior is centred at the logit of :meth:`count_share`."""
        if name != "psi":
            return super().dpar_location(name, y)
        return self.count_share(y)

    def mean_given(self, mu, params):
        return params["psi"] * mu

    def _counts(self, mu, params, rng):
        """The count process's draws: the Poisson family's own."""
        return super()._simulate_mean(mu, params, None, rng)

    def _simulate_mean(self, mu, params, trials, rng):
        keep = rng.random(mu.shape) < params["psi"]
        return self._counts(mu, params, rng) * keep

    def response_moments(self, mean, params, trials):
        psi = params["psi"]
        return psi * mean, psi * mean * (1 + (1 - psi) * mean)
