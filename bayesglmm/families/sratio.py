"""Ordinal response, sequential (stopping-ratio) model: ``P(y = k | y >= k) = g^-1(threshold_k - eta)``."""

from __future__ import annotations

import numpy as np

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import SCALE
from bayesglmm.families.cumulative import Cumulative, category_counts


class StoppingRatio(Cumulative):
    """Ordered categories reached one step at a time (Bambi's ``sratio``, brms's ``sratio``).

    The response stops at category ``k`` with probability ``F(threshold_k - eta)`` once it
    has reached ``k`` (``F = g^-1``): ``P(y = k) = F(t_k - eta) prod_{j<k} (1 - F(t_j - eta))``
    and the last category takes what is left. Suited to counts of stages passed (years of
    schooling, stages of a disease). Unlike the cumulative model the cut-points need not be
    ordered. Default priors: the cut-points get Normal(link(conditional stopping share of
    each category), 2.5), sampled at the means of the fixed-effect columns as the
    cumulative model's are. A positive coefficient makes stopping less likely at every step:
    ``exp(beta)`` is the odds ratio of going on past a category (continuation odds ratio).

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("sratio").name, get_family("stopping_ratio").ratio_name("logit")
    ('sratio', 'continuation odds ratio')
    """

    name = "sratio"
    bambi_name = "sratio"
    aliases = ("stopping_ratio", "sequential")
    ratio_label = {"logit": "continuation odds ratio"}

    def _threshold_prior(self, response, link: str):
        from bambi import Prior

        counts = category_counts(response).astype(float)
        at_risk = np.cumsum(counts[::-1])[::-1][:-1]  # rows reaching category k, k = 0..K-2
        share = counts[:-1] / np.maximum(at_risk, 1.0)
        mu = np.round(self.link_function(link)(np.clip(share, 0.01, 0.99)), 3)
        return Prior("Normal", mu=mu, sigma=SCALE)

    def simulate(self, eta, params=None, *, link=None, trials=None, rng):
        """Category codes 0..K-1: at each step ``k`` stop with probability ``F(threshold_k - eta)``.

        ``params["threshold"]`` holds the cut-points, (samples, K - 1); ``eta`` the latent
        linear predictor without them, (samples, rows).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> cut = {"threshold": np.array([[0.0, 0.0]])}
        >>> y = get_family("sratio").simulate(np.zeros((1, 40000)), cut, rng=np.random.default_rng(1))
        >>> np.round(np.bincount(y[0].astype(int)) / 40000, 2).tolist()  # 1/2, 1/4, 1/4
        [0.5, 0.25, 0.25]
        """
        if params is None or "threshold" not in params:
            raise FamilyError("Simulating a sequential (sratio) response needs the cut-points: "
                              "params={'threshold': array (samples, K - 1)}.")
        eta = np.asarray(eta, dtype=float)
        threshold = np.asarray(params["threshold"], dtype=float)
        inv = self.inverse_link(link)
        y = np.full(eta.shape, float(threshold.shape[-1]))
        going = np.ones(eta.shape, dtype=bool)
        for k in range(threshold.shape[-1]):  # one step at a time: no (samples, rows, K) array
            stop = going & (rng.uniform(size=eta.shape) < inv(threshold[..., k : k + 1] - eta))
            y[stop] = k
            going &= ~stop
        return y

    def _probabilities_at(self, eta, cut, inv):
        """P(y = k) = ``F(t_k - eta) prod_{j<k} (1 - F(t_j - eta))``, the last category what is left.

        The public :meth:`category_probabilities` (the cumulative model's, which averages this
        over a normal group part for population-averaged probabilities) calls it.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> p = get_family("sratio").category_probabilities(np.zeros((1, 1)), {"threshold": np.array([[0.0, 0.0]])})
        >>> p[0, 0].tolist()
        [0.5, 0.25, 0.25]
        """
        stop = inv(cut - eta[..., None])  # (samples, rows, K - 1)
        reach = np.cumprod(np.concatenate([np.ones(stop.shape[:-1] + (1,)), 1 - stop], axis=-1), axis=-1)
        return np.concatenate([stop, np.ones(stop.shape[:-1] + (1,))], axis=-1) * reach
