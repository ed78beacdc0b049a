"""Ordinal response, cumulative model: logit (default), probit or cloglog link, ordered cut-points."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import SCALE, Family, standardised_level_means, threshold_latent_variance


class Cumulative(Family):
    """Ordered categories (Bambi's ``cumulative``): ``P(y <= k) = g^-1(threshold_k - eta)``.

    Default priors: the cut-points get Normal(link(cumulative share of each category), 2.5),
    ordered. ICC on the latent scale as for a binary response. Response-scale predictions
    (one probability per category) are not implemented; :meth:`simulate` draws category
    codes 0..K-1 from the latent predictor and the cut-points.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> get_family("ordinal").name, get_family("cumulative").ratio_name("logit")
    ('cumulative', 'cumulative odds ratio')
    """

    name = "cumulative"
    bambi_name = "cumulative"
    links = ("logit", "probit", "cloglog")
    aliases = ("ordinal",)
    response = "ordinal"
    ratio_label = {"logit": "cumulative odds ratio"}

    def check_response(self, frame, pf):
        from bayesglmm.validate import _check_ordinal

        return _check_ordinal(frame, pf.response)

    def response_array(self, series):
        return series  # categorical: the cut-point priors read its categories

    def intercept_location(self, link, y, trials=None, offset=None) -> float:
        return 0.0  # the cut-points take the intercept's place (Bambi drops it)

    def extra_priors(self, response, link: str) -> dict:
        return {"threshold": self._threshold_prior(response, link)}

    def _threshold_prior(self, response, link: str):
        import pymc as pm  # the ordered transform lives in PyMC
        from bambi import Prior

        codes = (pd.Series(response).cat.codes.to_numpy()
                 if isinstance(getattr(response, "dtype", None), pd.CategoricalDtype) else np.asarray(response))
        counts = np.bincount(codes - codes.min())
        cum = np.cumsum(counts)[:-1] / counts.sum()
        mu = np.round(self.link_function(link)(np.clip(cum, 0.01, 0.99)), 3)
        mu = mu + np.arange(mu.size) * 1e-3  # strictly increasing start for the ordered transform
        return Prior("Normal", mu=mu, sigma=SCALE, transform=pm.distributions.transforms.ordered)

    def information_response(self, y):
        return np.asarray(pd.Series(y).cat.codes, dtype=float)

    def row_information(self, y, trials):
        return np.full(len(y), 0.25)

    def level_means(self, y, trials, exposure, index, n_levels):
        return standardised_level_means(y, index, n_levels)

    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        return threshold_latent_variance(self, link)

    @property
    def simulation_parameters(self) -> tuple[str, ...]:
        return ("threshold",)

    def simulate(self, eta, params=None, *, link=None, trials=None, rng):
        """Category codes 0..K-1 with ``P(y <= k) = F(threshold_k - eta)``, ``F = g^-1``.

        As a latent variable: ``z = eta + e`` with ``e ~ F`` (logistic for logit, normal
        for probit, minimum-Gumbel for cloglog, drawn as ``g(U)``, ``U`` uniform) and ``y``
        the number of cut-points below ``z``. For sorted cut-points this is exactly the
        cumulative model (Bambi's parameterisation); unsorted ones (PyMC's forward
        sampling of an ordered prior) still give a valid category.

        ``params["threshold"]`` holds the cut-points, (samples, K - 1); ``eta`` the latent
        linear predictor without them, (samples, rows).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> cut = {"threshold": np.array([[-1.0, 0.0, 1.0]])}
        >>> y = get_family("cumulative").simulate(np.zeros((1, 20000)), cut, rng=np.random.default_rng(1))
        >>> np.round(np.bincount(y[0].astype(int)) / 20000, 2).tolist()  # expit(-1), 0.5 - expit(-1), ...
        [0.27, 0.23, 0.23, 0.27]
        """
        if params is None or "threshold" not in params:
            raise FamilyError("Simulating a cumulative (ordinal) response needs the cut-points: "
                              "params={'threshold': array (samples, K - 1)}.")
        eta = np.asarray(eta, dtype=float)
        threshold = np.asarray(params["threshold"], dtype=float)
        latent = eta + self.link_function(link)(rng.uniform(size=eta.shape))
        y = np.zeros(eta.shape)
        for k in range(threshold.shape[-1]):  # one cut-point at a time: no (samples, rows, K) array
            y += latent > threshold[..., k : k + 1]
        return y

    def check_prediction_scale(self, scale: str) -> None:
        if scale == "response":
            raise FamilyError(
                "Response-scale predictions of cumulative (ordinal) models, one probability per category, are not "
                "implemented; scale='link' gives the latent linear predictor (without the cut-points)."
            )

    def averaged_ratio(self, link: str):
        raise FamilyError(f"Population-averaged ratios are for logit (odds) or log (rate) links; this model is "
                          f"{self.name} with the {link} link.")
