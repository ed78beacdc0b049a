"""Bernoulli (0/1) response: logit (default), probit or cloglog link."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.errors import DataError
from bayesglmm.families.base import Family, FamilyDensity, threshold_latent_variance, totals


def _logit_bernoulli_logp(value, eta):
    import pytensor.tensor as pt

    return value * eta - pt.softplus(eta)


def _logit_bernoulli_random(eta, rng=None, size=None):
    return np.random.default_rng(rng).binomial(1, special.expit(eta), size=size)


class LogitBernoulli(FamilyDensity):
    """PyMC's Bernoulli on the logit scale: ``log p(y | eta) = y eta - log(1 + exp(eta))``.

    The density of ``pm.Bernoulli(p=inverse_logit(eta))`` read from the linear predictor
    ``eta`` (:meth:`Family.linear_predictor_likelihood`). Bambi hands its likelihood the
    mean, clipped into ``[eps, 1 - eps]``, and PyMC's density takes ``log p`` or
    ``log(1 - p)`` of it: that costs more per row, and the clip makes the gradient zero
    where ``|eta| > 36``. The response is checked to be 0/1 before any sampling
    (:meth:`Bernoulli.check_response`), so the density does not check it again.
    Called as Bambi calls a likelihood, ``LogitBernoulli(name, eta=..., observed=...)``
    inside a model; ``LogitBernoulli.dist(eta=...)`` outside one.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> lp = pm.logp(LogitBernoulli.dist(eta=np.array([0.5, -40.0])), np.array([1, 1])).eval()
    >>> bool(np.allclose(lp, [np.log(1 / (1 + np.exp(-0.5))), -40.0]))
    True
    """

    params = ("eta",)
    logp = staticmethod(_logit_bernoulli_logp)
    random = staticmethod(_logit_bernoulli_random)


class Bernoulli(Family):
    """A 0/1 (or True/False) response; ``exp(coefficient)`` is an odds ratio on the logit link.

    ICC on the latent scale: pi^2/3 (logit), 1 (probit), pi^2/6 (cloglog). No dispersion
    check: a binary response's variance follows from its mean.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("logistic").name, get_family("bernoulli").ratio_name("logit")
    ('bernoulli', 'odds ratio')
    """

    name = "bernoulli"
    bambi_name = "bernoulli"
    links = ("logit", "probit", "cloglog")
    aliases = ("logistic",)
    response = "binary"
    ratio_label = {"logit": "odds ratio"}
    #: The log link (risk ratios) is refused: Bambi 0.21 rejects it for bernoulli and binomial, and
    #: nothing keeps exp(eta) below 1 (PyMC's likelihood is -inf there, which the sampler sees as
    #: divergences, and predictions would exceed 1).
    refused_links = {"log": (
        "The log link (risk ratios) is refused: exp(linear predictor) can exceed 1, where the likelihood is "
        "undefined (Bambi does not offer it; the sampler would reject those points as divergences). For risk "
        "ratios, fit the logit model and use bg.comparisons(fit, 'x', contrast='ratio', kind='marginal').")}
    no_dispersion_reason = "a binary response has no dispersion to check (its variance follows from its mean)"

    def linear_predictor_likelihood(self, link):
        """:class:`LogitBernoulli` on the logit link (the same density, faster); Bambi's otherwise."""
        return LogitBernoulli if link == "logit" else None

    def check_response(self, frame, pf):
        from bayesglmm.validate import _first_bad

        col = pf.response
        y = frame[col]
        if pd.api.types.is_bool_dtype(y):
            frame[col] = y.astype(int)
            return frame
        if not pd.api.types.is_numeric_dtype(y):
            raise DataError(
                f"Column {col!r} is the response of a bernoulli model and must be 0/1 or True/False; "
                f"it holds text ({_first_bad(y, np.ones(len(y), bool))}). Convert it explicitly, "
                f"e.g. data[{col!r}] = (data[{col!r}] == 'yes').astype(int)."
            )
        bad = ~y.isin([0, 1])
        if bad.any():
            raise DataError(
                f"Column {col!r} is the response of a bernoulli model and must be 0 or 1; "
                f"found {_first_bad(y, bad)}. For counts out of trials use family='binomial' "
                "with p(successes, trials)."
            )
        return frame

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        p = np.asarray(y, dtype=float).mean()
        return float(self.link_function(link)(np.clip(p, 0.01, 0.99)))

    def row_information(self, y, trials):
        p = np.clip(y.mean(), 0.01, 0.99)
        return np.full(len(y), p * (1 - p))

    def level_means(self, y, trials, exposure, index, n_levels):
        total = totals(index, n_levels)
        n = trials if trials is not None else np.ones(len(y))
        return special.logit((total(y) + 0.5) / (total(n) + 1.0))

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        return threshold_latent_variance(self, link)

    def _simulate_mean(self, mu, params, trials, rng):
        return rng.binomial(1, np.clip(mu, 0, 1)).astype(float)
