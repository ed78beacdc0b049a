"""Binomial response, successes out of trials ``p(y, n)``: logit (default), probit or cloglog link."""

from __future__ import annotations

import numpy as np
from scipy import special

from bayesglmm.errors import DataError, FamilyError
from bayesglmm.families.bernoulli import Bernoulli
from bayesglmm.families.base import FamilyDensity, check_count_response


def _logit_binomial_logp(value, eta, n):
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import binomln

    return binomln(n, value) + value * eta - n * pt.softplus(eta)


def _logit_binomial_random(eta, n, rng=None, size=None):
    return np.random.default_rng(rng).binomial(np.asarray(n).astype(np.int64), special.expit(eta), size=size)


class LogitBinomial(FamilyDensity):
    """PyMC's Binomial on the logit scale: ``log C(n, y) + y eta - n log(1 + exp(eta))``.

    The density of ``pm.Binomial(n, p=inverse_logit(eta))`` read from the linear predictor
    (see :class:`~bayesglmm.families.bernoulli.LogitBernoulli`, which explains why).
    Counts and trials are checked before any sampling (:meth:`Binomial.check_response`).

    Examples
    --------
    >>> import pymc as pm
    >>> from scipy import stats
    >>> lp = pm.logp(LogitBinomial.dist(eta=np.array([0.3]), n=np.array([7])), np.array([4])).eval()
    >>> bool(np.allclose(lp, stats.binom.logpmf(4, 7, 1 / (1 + np.exp(-0.3)))))
    True
    """

    params = ("eta", "n")
    logp = staticmethod(_logit_binomial_logp)
    random = staticmethod(_logit_binomial_random)


class Binomial(Bernoulli):
    """Successes out of trials; a bernoulli per trial, so links, ICC and level means are bernoulli's.

    Its dispersion can be checked (Pearson statistic of the proportions) and an
    observation-level effect ``(1|obs)`` is its remedy.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("binomial").needs_trials
    True
    """

    name = "binomial"
    bambi_name = "binomial"
    aliases = ()
    response = "trials"
    observation_level_effect = True
    dispersion_remedy = "Try an observation-level effect (1|obs)."

    def linear_predictor_likelihood(self, link):
        """:class:`LogitBinomial` on the logit link (the same density, faster); Bambi's otherwise."""
        return LogitBinomial if link == "logit" else None

    def check_response(self, frame, pf):
        from bayesglmm.validate import _check_finite, _first_bad, _numeric, _rows

        col = pf.response
        frame = check_count_response(frame, col, self)
        if pf.trials is None:
            raise DataError(
                f"A binomial model needs the number of trials: write the response as "
                f"p({col}, n_column), e.g. 'p(y, n) ~ treat'."
            )
        n = _numeric(frame[pf.trials], pf.trials, "the number of trials")
        _check_finite(n, pf.trials)
        bad = (n < 1) | (n != np.round(n))
        if bad.any():
            raise DataError(
                f"Column {pf.trials!r} holds the number of trials and must be whole numbers of at "
                f"least 1; found {_first_bad(frame[pf.trials], bad)}."
            )
        over = frame[col].to_numpy() > n.to_numpy()
        if over.any():
            first = np.flatnonzero(over)[0]
            raise DataError(
                f"Successes exceed trials: column {col!r} = {frame[col].iloc[first]} > column "
                f"{pf.trials!r} = {frame[pf.trials].iloc[first]} at {_rows(frame.index[over])}."
            )
        frame[pf.trials] = n.astype(np.int64)
        return frame

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        p = np.asarray(y, dtype=float).sum() / np.asarray(trials, dtype=float).sum()
        return float(self.link_function(link)(np.clip(p, 0.01, 0.99)))

    def row_information(self, y, trials):
        p = np.clip(y.sum() / trials.sum(), 0.01, 0.99)
        return trials * p * (1 - p)

    def can_simulate(self, trials) -> bool:
        return trials is not None

    def _simulate_mean(self, mu, params, trials, rng):
        if trials is None:
            raise FamilyError("Simulating a binomial response needs the trials of each row (trials=...).")
        return rng.binomial(np.broadcast_to(trials.astype(np.int64), mu.shape), np.clip(mu, 0, 1)).astype(float)

    def response_moments(self, mean, params, trials):
        p = np.clip(mean, 1e-12, 1 - 1e-12)
        return trials * p, trials * p * (1 - p)
