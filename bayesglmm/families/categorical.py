"""Unordered categories, multinomial logit: one linear predictor per non-reference category."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.errors import DataError, FamilyError
from bayesglmm.families.base import Family, no_icc, totals

#: Most distinct numeric codes a categorical response may have (more looks like a measurement).
MAX_CATEGORICAL_CODES = 20


def softmax_with_reference(eta) -> np.ndarray:
    """``P(y = k)`` from the non-reference linear predictors (..., K - 1): the reference gets 0.

    Examples
    --------
    >>> np.round(softmax_with_reference(np.array([[0.0, np.log(2.0)]])), 4).tolist()
    [[0.25, 0.25, 0.5]]
    """
    eta = np.asarray(eta, dtype=float)
    full = np.concatenate([np.zeros(eta.shape[:-1] + (1,)), eta], axis=-1)
    return special.softmax(full, axis=-1)


def log_ratio_to_reference(p) -> np.ndarray:
    """``log(P(y = k) / P(y = reference))`` for k = 1..K-1 (the inverse of :func:`softmax_with_reference`).

    Examples
    --------
    >>> np.round(log_ratio_to_reference(np.array([0.25, 0.25, 0.5])), 4).tolist()
    [0.0, 0.6931]
    """
    p = np.asarray(p, dtype=float)
    return np.log(p[..., 1:]) - np.log(p[..., :1])


class Categorical(Family):
    """Unordered categories (Bambi's and brms's ``categorical``): a multinomial logit model.

    With K categories, the first (the reference, as in brms and Bambi) has linear
    predictor 0 and every other category ``k`` its own, ``eta_k = x' beta_k + z' u_k``:
    ``P(y = k) = exp(eta_k) / sum_j exp(eta_j)``. Every coefficient and group effect has a
    category dimension (Bambi's ``{response}_reduced_dim``: the non-reference categories),
    and the group effects of each category have their own SD. ``exp(beta_k)`` is the odds
    ratio of category ``k`` against the reference (a relative-risk ratio in Stata's words).

    Default priors, on the log-odds against the reference: each category's intercept
    Normal(log(share_k / share_reference), 2.5), slopes Normal(0, 2.5 / sd(x)), group SDs
    HalfNormal(2.5). Predictions give one probability per category
    (``scale="probability"``) or the log-odds against the reference (``scale="link"``).
    The ICC is refused (one group SD per category, no single latent residual; see
    :meth:`icc_residual_variance`). The posterior predictive check compares the share of
    each category.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> fam = get_family("multinomial")
    >>> fam.name, fam.ratio_name("softmax")
    ('categorical', 'odds ratio vs the reference category')
    >>> np.round(fam.category_probabilities(np.zeros((1, 1, 2)))[0, 0], 3).tolist()
    [0.333, 0.333, 0.333]
    """

    name = "categorical"
    bambi_name = "categorical"
    links = ("softmax",)
    aliases = ("multinomial", "nominal", "multinomial_logit")
    response = "nominal"
    ratio_label = {"softmax": "odds ratio vs the reference category"}
    per_category_predictor = True
    no_dispersion_reason = "a categorical response's variance follows from its category probabilities"

    # -- links: eta (..., K - 1) <-> probabilities (..., K) ----------------------------
    def check_link(self, link):
        if link is None or link == "softmax":
            return "softmax"
        raise FamilyError(f"Link {link!r} is not available for family 'categorical'; choose softmax "
                          "(the multinomial logit, the only link Bambi and brms offer for it).")

    def link_function(self, link=None):
        self.check_link(link)
        return log_ratio_to_reference

    def inverse_link(self, link=None):
        self.check_link(link)
        return softmax_with_reference

    def latent_variance(self, link):
        return None

    def predictor_dim(self, response_name: str) -> str | None:
        return f"{response_name}_reduced_dim"

    # -- data --------------------------------------------------------------------------
    def check_response(self, frame, pf):
        from bayesglmm.validate import _first_bad, empty_categories

        col = pf.response
        y = frame[col]
        hint = (f"Declare the categories, first the reference: data[{col!r}] = pd.Categorical(data[{col!r}], "
                "categories=[...]).")
        if pd.api.types.is_bool_dtype(y):
            raise DataError(f"Column {col!r} is the response of a categorical model and is True/False: two "
                            "categories. A two-category response is a bernoulli model (family='bernoulli').")
        if isinstance(y.dtype, pd.CategoricalDtype):
            empty = empty_categories(y)
            if empty:
                raise DataError(
                    f"Categorical response {col!r} has categories with no rows: {', '.join(empty)}. Their "
                    "coefficients are not identified (the likelihood pushes them to minus infinity): remove them "
                    f"(data[{col!r}] = data[{col!r}].cat.remove_unused_categories()) or merge them.")
            categories = list(y.cat.categories)
        elif pd.api.types.is_numeric_dtype(y):
            values = y.astype(float)
            fractional = ~np.isfinite(values) | (values != np.round(values))
            if fractional.any():
                raise DataError(
                    f"Column {col!r} is the response of a categorical model and holds numbers that are not whole "
                    f"category codes ({_first_bad(y, fractional)}): a continuous response needs family='gaussian' "
                    f"(or 'student_t'), not one category per value. {hint}")
            if y.nunique() > MAX_CATEGORICAL_CODES:
                raise DataError(
                    f"Categorical response {col!r} has {y.nunique()} distinct numeric values (more than "
                    f"{MAX_CATEGORICAL_CODES}): a count or measurement needs another family (poisson, gaussian). "
                    f"{hint}")
            categories = sorted(y.unique())
        else:
            text = y.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            if text.any() and not text.all():
                raise DataError(
                    f"Column {col!r} is the response of a categorical model and mixes text with other values "
                    f"({_first_bad(y, ~text)}), probably an entry error. If those are categories too, convert "
                    f"the column explicitly: data[{col!r}] = data[{col!r}].astype(str).")
            categories = sorted(y.astype(str).unique())
            y = y.astype(str)
        if len(categories) < 3:
            shown = ", ".join(map(repr, categories))
            raise DataError(
                f"Categorical response {col!r} has {len(categories)} categor{'y' if len(categories) == 1 else 'ies'} "
                f"({shown}): the categorical family needs at least 3. Two categories are a bernoulli model "
                "(family='bernoulli' with a 0/1 response).")
        # Ordered, so that formulae keeps the given order: the first category is the reference.
        frame[col] = pd.Categorical(y, categories=categories, ordered=True)
        return frame

    def response_array(self, series):
        return series  # categorical: the priors and the parameterisation rule read its codes

    def category_labels(self, response) -> list[str]:
        """The categories in order, the reference first, as text.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("categorical").category_labels(pd.Series(pd.Categorical(["b", "a", "c"], ["c", "a", "b"])))
        ['c', 'a', 'b']
        """
        series = pd.Series(response)
        if isinstance(series.dtype, pd.CategoricalDtype):
            return [str(c) for c in series.cat.categories]
        return [str(c) for c in sorted(series.dropna().unique())]

    # -- default priors ----------------------------------------------------------------
    @staticmethod
    def _shares(y) -> np.ndarray:
        codes = np.asarray(pd.Series(y).cat.codes)
        k = len(pd.Series(y).cat.categories)
        return (np.bincount(codes, minlength=k) + 0.5) / (len(codes) + 0.5 * k)

    def intercept_location(self, link, y, trials=None, offset=None):
        """Per non-reference category: ``log(share_k / share_reference)``, half a row added to each category.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> y = pd.Series(pd.Categorical(list("aabbbbcc")))
        >>> get_family("categorical").intercept_location("softmax", y).tolist()  # log(4.5 / 2.5), log(2.5 / 2.5)
        [0.588, 0.0]
        """
        return np.round(log_ratio_to_reference(self._shares(y)), 3)

    # -- parameterisation rule: "not the reference" as a binary response --------------
    def information_response(self, y):
        return (np.asarray(pd.Series(y).cat.codes) > 0).astype(float)

    def row_information(self, y, trials):
        p = np.clip(np.mean(y), 0.01, 0.99)
        return np.full(len(y), p * (1 - p))

    def level_means(self, y, trials, exposure, index, n_levels):
        total = totals(index, n_levels)
        return special.logit((total(y) + 0.5) / (total(np.ones(len(y))) + 1.0))

    # -- ICC -------------------------------------------------------------------------------
    def icc_residual_variance(self, link, draws, fixed_mean, total_group_var):
        """Refused: no single ICC.

        A latent-utility reading gives each non-reference category ``k`` the share
        ``sigma_k^2 / (sigma_k^2 + pi^2/3)`` of its contrast with the reference, but those are
        K - 1 numbers per grouping factor that change with the choice of reference (the
        group variance of ``b vs c`` is not either of them), and :func:`bayesglmm.icc`
        reports one ICC per factor. The message says how to compute the per-category share.
        """
        raise no_icc(self, "each non-reference category has its own group SD (one linear predictor per category, "
                           "compared with the reference), so there is no single between-group share of variance. "
                           "For category k against the reference, the latent-scale share is "
                           f"sigma_k^2 / (sigma_k^2 + pi^2/3) (pi^2/3 = {math.pi ** 2 / 3:.3f}, the variance of the "
                           "difference of two Gumbel errors), computable from the draws of the group SDs "
                           "('1|g_sigma', one per category).")

    # -- predictions and replicated data ----------------------------------------------
    def check_prediction_scale(self, scale: str) -> None:
        if scale == "response":
            raise FamilyError(
                "A categorical response has no single expected value: use scale='probability' (the posterior "
                "mean and interval of P(y = k) per category) or scale='link' (the log-odds of each category "
                "against the reference).")

    #: Gauss-Hermite nodes per category of the population average (product rule; see category_probabilities).
    _AVERAGE_NODES = 12

    def category_probabilities(self, eta, params=None, *, link=None, var=None):
        """P(y = k) per draw, row and category: the softmax of ``(0, eta_1, ..., eta_{K-1})``.

        Parameters
        ----------
        eta : numpy.ndarray
            (samples, rows, K - 1): the linear predictor of each non-reference category.
        params : dict, optional
            Not used (the family has no parameters besides the linear predictors).
        link : str, optional
            ``"softmax"``.
        var : numpy.ndarray, optional
            (samples, rows, K - 1) variances of independent normal group parts, one per
            category (Bambi's group effects are independent across categories), to average
            over: population-averaged probabilities, by a product Gauss-Hermite rule
            (12 nodes per category, at most 4 non-reference categories).

        Returns
        -------
        numpy.ndarray
            (samples, rows, K); sums to 1 over the last axis.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> p = get_family("categorical").category_probabilities(np.array([[[np.log(2.0), 0.0]]]))
        >>> p[0, 0].round(3).tolist()
        [0.25, 0.5, 0.25]
        """
        self.check_link(link)
        eta = np.asarray(eta, dtype=float)
        if var is None or not np.any(np.asarray(var) > 0):
            return softmax_with_reference(eta)
        m = eta.shape[-1]
        if m > 4:
            raise FamilyError(f"Population-averaged probabilities of a categorical model are computed for at most 5 "
                              f"categories (the product rule grows as 12^(K - 1)); this one has {m + 1}. Use "
                              "kind='typical' or kind='new_group'.")
        z, w = np.polynomial.hermite_e.hermegauss(self._AVERAGE_NODES)
        w = w / w.sum()
        sd = np.sqrt(np.asarray(var, dtype=float))
        out = 0.0
        for nodes in np.ndindex(*(len(z),) * m):
            weight = np.prod(w[list(nodes)])
            out = out + weight * softmax_with_reference(eta + sd * z[list(nodes)])
        return out

    def simulate(self, eta, params=None, *, link=None, trials=None, rng):
        """Category codes 0..K-1 drawn with the softmax probabilities; ``eta`` is (samples, rows, K - 1).

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> eta = np.broadcast_to(np.array([0.0, np.log(2.0)]), (1, 40000, 2))
        >>> y = get_family("categorical").simulate(eta, rng=np.random.default_rng(1))
        >>> np.round(np.bincount(y[0].astype(int)) / 40000, 2).tolist()
        [0.25, 0.25, 0.5]
        """
        eta = np.asarray(eta, dtype=float)
        if eta.ndim != 3:
            raise FamilyError("Simulating a categorical response needs one linear predictor per non-reference "
                              f"category: eta of shape (samples, rows, K - 1); got shape {eta.shape}.")
        cum = np.cumsum(softmax_with_reference(eta), axis=-1)
        u = rng.uniform(size=eta.shape[:-1] + (1,))
        return np.minimum((u > cum).sum(axis=-1), eta.shape[-1]).astype(float)

    def ppc_statistics(self) -> tuple[str, ...]:
        """The share of each category (one statistic per category).

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("categorical").ppc_statistics()
        ('shares',)
        """
        return ("shares",)

    def averaged_ratio(self, link: str):
        raise FamilyError("Population-averaged ratios compare two probabilities of a binary outcome; a categorical "
                          "model has one per category: compare predict(..., scale='probability') for the two "
                          "predictor values.")
