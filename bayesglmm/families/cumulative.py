"""Ordinal response, cumulative model: logit (default), probit or cloglog link, ordered cut-points."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import SCALE, Family, standardised_level_means, threshold_latent_variance


def category_counts(response) -> np.ndarray:
    """Rows per category, in order (codes of a categorical response, else its integer values).

    Examples
    --------
    >>> category_counts(pd.Series(pd.Categorical(["b", "a", "b"], ["a", "b"], ordered=True))).tolist()
    [1, 2]
    """
    codes = (pd.Series(response).cat.codes.to_numpy()
             if isinstance(getattr(response, "dtype", None), pd.CategoricalDtype) else np.asarray(response))
    return np.bincount(codes - codes.min())


class Cumulative(Family):
    """Ordered categories (Bambi's ``cumulative``): ``P(y <= k) = g^-1(threshold_k - eta)``.

    Default priors: the cut-points get Normal(link(cumulative share of each category), 2.5),
    ordered, where they are sampled: at the means of the fixed-effect columns (as an
    intercept is), which is where the marginal shares describe them; they are reported at
    zero, as brms reports its ``Intercept[k]``. ICC on the latent scale as for a binary response. Predictions give one
    probability per category (:meth:`category_probabilities`, ``scale="probability"``);
    :meth:`simulate` draws category codes 0..K-1 from the latent predictor and the cut-points.

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
    intercept_parameters = ("threshold",)

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

        counts = category_counts(response)
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
                "An ordinal response has no single expected value: use scale='probability' (one posterior mean "
                "and interval of P(y = k) per category) or scale='link' (the latent linear predictor, without "
                "the cut-points)."
            )

    #: Gauss-Hermite nodes of the population average over the group effects (see category_probabilities).
    _AVERAGE_NODES = 40

    def category_probabilities(self, eta, params=None, *, link=None, var=None):
        """P(y = k) per draw, row and category: differences of ``F(threshold_k - eta)``, ``F = g^-1``.

        ``P(y = 0) = F(t_1 - eta)``, ``P(y = k) = F(t_{k+1} - eta) - F(t_k - eta)``,
        ``P(y = K-1) = 1 - F(t_{K-1} - eta)``: they sum to 1 for every draw and row.

        Parameters
        ----------
        eta : numpy.ndarray
            Latent linear predictor without the cut-points, (samples, rows).
        params : dict
            ``{"threshold": (samples, K - 1)}`` (:meth:`parameter_draws`).
        link : str, optional
            The model's link (logit if None).
        var : numpy.ndarray, optional
            (samples, rows) variance of a normal group part ``b`` to average over
            (population-averaged probabilities ``E_b P(y = k | eta + b)``), by 40-point
            Gauss-Hermite quadrature.

        Returns
        -------
        numpy.ndarray
            (samples, rows, K).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> p = get_family("cumulative").category_probabilities(np.zeros((1, 1)), {"threshold": np.array([[-1.0, 1.0]])})
        >>> np.round(p[0, 0], 4).tolist()  # expit(-1), expit(1) - expit(-1), 1 - expit(1)
        [0.2689, 0.4621, 0.2689]
        """
        if params is None or "threshold" not in params:
            raise FamilyError(f"Category probabilities of a {self.name} (ordinal) model need the cut-points: "
                              "params={'threshold': array (samples, K - 1)}.")
        eta = np.asarray(eta, dtype=float)
        cut = np.asarray(params["threshold"], dtype=float)[:, None, :]  # (samples, 1, K - 1)
        inv = self.inverse_link(link)
        if var is None or not np.any(np.asarray(var) > 0):
            return self._probabilities_at(eta, cut, inv)
        z, w = np.polynomial.hermite_e.hermegauss(self._AVERAGE_NODES)
        sd = np.sqrt(np.asarray(var, dtype=float))
        return sum(wi / w.sum() * self._probabilities_at(eta + sd * zi, cut, inv) for zi, wi in zip(z, w))

    def _probabilities_at(self, eta, cut, inv):
        """P(y = k) for latent predictor ``eta`` (samples, rows) and cut-points ``cut`` (samples, 1, K - 1)."""
        cdf = inv(cut - eta[..., None])
        ones = np.ones(cdf.shape[:-1] + (1,))
        return np.diff(np.concatenate([0 * ones, cdf, ones], axis=-1), axis=-1)

    def category_labels(self, response) -> list[str]:
        """The categories in order (the response column's categories), as text.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesglmm.families import get_family
        >>> get_family("cumulative").category_labels(pd.Series(pd.Categorical(["b", "a"], ["a", "b"], ordered=True)))
        ['a', 'b']
        """
        series = pd.Series(response)
        if isinstance(series.dtype, pd.CategoricalDtype):
            return [str(c) for c in series.cat.categories]
        return [str(c) for c in sorted(series.dropna().unique())]

    def averaged_ratio(self, link: str):
        raise FamilyError(f"Population-averaged ratios are for logit (odds) or log (rate) links; this model is "
                          f"{self.name} with the {link} link.")
