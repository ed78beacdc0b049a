"""The :class:`Family` interface: everything bayesglmm knows about one response family.

Every module asks the family object (``spec.family``) instead of branching on its name:
the links and their NumPy functions, the response checks, the default-prior scale, the
information score of the parameterisation rule, the ICC's latent residual variance, the
simulation of new responses and which checks apply. A new family is one file with one
subclass (see :mod:`bayesglmm.families.student_t`) registered in
:mod:`bayesglmm.families`.

Plain Python and NumPy at import: Bambi builds the likelihood from :attr:`Family.bambi_name`.
Where a family has its own density (:meth:`Family.likelihood_dist`, and
:meth:`Family.linear_predictor_likelihood` for one read from the linear predictor), its
class imports PyMC only when it is called.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable

import numpy as np
from scipy import special

from bayesglmm.errors import FamilyError

#: Scale of the autoscaled default priors (rstanarm's 2.5; see :mod:`bayesglmm.priors`).
SCALE = 2.5


def _cloglog(p):
    return np.log(-np.log1p(-p))


def _inv_cloglog(x):
    return -np.expm1(-np.exp(x))


def _identity(x):
    return x


#: Link name -> (link, inverse link) as NumPy functions.
LINKS: dict[str, tuple[Callable, Callable]] = {
    "identity": (_identity, _identity),
    "log": (np.log, np.exp),
    "logit": (special.logit, special.expit),
    "probit": (special.ndtri, special.ndtr),
    "cloglog": (_cloglog, _inv_cloglog),
}

#: Latent residual variance of the threshold (binary, binomial, ordinal) models, per link.
_THRESHOLD_VARIANCE = {
    "logit": (math.pi**2 / 3, "pi^2/3, the variance of the standard logistic distribution"),
    "probit": (1.0, "1, the variance of the standard normal distribution"),
    "cloglog": (math.pi**2 / 6, "pi^2/6, the variance of the standard Gumbel distribution"),
}


def link_functions(link: str) -> tuple[Callable, Callable]:
    """``(link, inverse link)`` as NumPy functions, or FamilyError naming the known links.

    Examples
    --------
    >>> g, g_inv = link_functions("logit")
    >>> float(g_inv(g(0.25)))
    0.25
    """
    if link not in LINKS:
        raise FamilyError(f"Unknown link {link!r}; links: {', '.join(LINKS)}.")
    return LINKS[link]


class Family(ABC):
    """One response family (subclass it, set the class attributes, override what differs).

    The four abstract methods (the response check, the intercept's prior location, the
    information per row and the level means) must be written for every family, so a
    family cannot silently fall back on another's behaviour.

    Attributes
    ----------
    name : str
        bayesglmm's name, the registry key (``"negativebinomial"``, ``"student_t"``).
    bambi_name : str
        The name Bambi knows it by (``"t"`` for Student-t).
    links : tuple of str
        Allowed links; the first is the default.
    aliases : tuple of str
        Other names :func:`bayesglmm.families.get_family` accepts.
    response : str
        The kind of response: ``"real"``, ``"binary"``, ``"count"``, ``"trials"``
        (successes out of trials, ``p(y, n)``), ``"ordinal"`` or ``"nominal"`` (unordered
        categories); plots and PPC tables pick their layout by it.
    ratio_label : dict
        Link -> name of ``exp(coefficient)`` (``"odds ratio"`` for logit); links without
        an entry have no ratio.
    aux_parameters : tuple of str
        Bambi's names of the family's parameters besides the mean (``("sigma",)``), as
        the posterior stores them; :meth:`simulate` receives them.
    residual_sd : str or None
        The parameter reported as the ``Residual`` SD beside the group SDs (gaussian's
        ``sigma``), None when the family has none.
    discrete : bool
        The response takes whole values (predictive quantiles stay whole).
    observation_level_effect : bool
        An effect with one level per row is identified (overdispersed counts).
    dispersion_remedy : str or None
        What to try when the Pearson dispersion check finds overdispersion; None when the
        check does not apply (see :attr:`no_dispersion_reason`).
    no_dispersion_reason : str
        Why the dispersion check does not apply.
    refused_links : dict
        Link -> why it is refused and what to do instead, appended to the error of
        :meth:`check_link` (the log link of binary responses).
    intercept_parameters : tuple of str
        Family parameters that take the intercept's place (Bambi drops the intercept): the
        ordinal cut-points. They are sampled, with their prior, at the means of the
        fixed-effect columns, as an intercept is, and reported at zero (see
        :class:`bayesglmm.backend.GLMMBackend`).
    censorable : bool
        The response may be right-censored, ``censored(time, status)`` (Bambi's
        ``pm.Censored`` likelihood: a censored row contributes ``log S(t)``); see
        :mod:`bayesglmm.censoring`.
    per_category_predictor : bool
        One linear predictor per non-reference category (the categorical family): Bambi
        gives every coefficient and group effect a category dimension
        (:meth:`predictor_dim`), and the linear predictor is (samples, rows, K - 1). The
        QR design, correlated blocks and the centring of group intercepts around the
        intercept are written for one linear predictor and are not used (see
        :func:`bayesglmm.model.build_model`).
    dpar_links : dict
        Parameter -> link of the parameters that may take their own formula
        (``dpars={"sigma": "~ x"}``, :mod:`bayesglmm.dpars`): gaussian's ``{"sigma": "log"}``,
        the zero-inflated and hurdle families' ``{"psi": "logit"}``; empty for none.
    integrable_link : str or None
        The link under which a group intercept integrates out in closed form
        (:mod:`bayesglmm.marginal`): gaussian's ``"identity"``; None for none.
    """

    name: str = ""
    bambi_name: str = ""
    links: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    response: str = "real"
    ratio_label: dict = {}
    aux_parameters: tuple[str, ...] = ()
    residual_sd: str | None = None
    discrete: bool = True
    observation_level_effect: bool = False
    dispersion_remedy: str | None = None
    no_dispersion_reason: str = "it is defined for count families"
    refused_links: dict = {}
    intercept_parameters: tuple[str, ...] = ()
    censorable: bool = False
    per_category_predictor: bool = False
    dpar_links: dict = {}
    integrable_link: str | None = None

    def dpar_location(self, name: str, y) -> float:
        """A moment estimate of parameter ``name`` (on its own scale): where its formula's intercept prior is centred.

        Only for the parameters of :attr:`dpar_links` (see :mod:`bayesglmm.dpars`).
        """
        raise FamilyError(f"The {self.name} family has no parameter {name!r} that can take a formula.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, links={self.links!r})"

    def __reduce__(self):  # pickles (executors, saved fits) as a registry lookup
        from bayesglmm.families import get_family

        return (get_family, (self.name,))

    # -- links -------------------------------------------------------------------------
    @property
    def default_link(self) -> str:
        """The link used when none is given."""
        return self.links[0]

    @property
    def needs_trials(self) -> bool:
        """The response is written ``p(successes, trials)``."""
        return self.response == "trials"

    @property
    def can_separate(self) -> bool:
        """A predictor can separate the outcomes perfectly (0/1 or successes out of trials)."""
        return self.response in ("binary", "trials")

    def check_link(self, link: str | None) -> str:
        """Return the link to use, or raise FamilyError naming the valid ones.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("binomial").check_link(None)
        'logit'
        """
        if link is None:
            return self.default_link
        if link not in self.links:
            why = self.refused_links.get(link)
            raise FamilyError(
                f"Link {link!r} is not available for family {self.name!r}; "
                f"choose one of {', '.join(self.links)}." + (f" {why}" if why else "")
            )
        return link

    def link_function(self, link: str | None = None) -> Callable:
        """The link ``g`` (mean -> linear predictor) as a NumPy function.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> float(get_family("poisson").link_function()(1.0))
        0.0
        """
        return link_functions(self.check_link(link))[0]

    def inverse_link(self, link: str | None = None) -> Callable:
        """The inverse link ``g^-1`` (linear predictor -> mean) as a NumPy function.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> float(get_family("bernoulli").inverse_link("logit")(0.0))
        0.5
        """
        return link_functions(self.check_link(link))[1]

    def latent_variance(self, link: str) -> float | None:
        """Residual variance on the latent scale for logit/probit/cloglog links, else None.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> round(get_family("bernoulli").latent_variance("logit"), 4)
        3.2899
        """
        return _THRESHOLD_VARIANCE.get(link, (None,))[0]

    def predictor_dim(self, response_name: str) -> str | None:
        """Bambi's name of the category dimension of the linear predictor, None for one predictor.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("poisson").predictor_dim("y") is None, get_family("categorical").predictor_dim("y")
        (True, 'y_reduced_dim')
        """
        return None

    def ratio_name(self, link: str) -> str | None:
        """Name of ``exp(coefficient)`` with this link (``"odds ratio"``), None when it has none."""
        return self.ratio_label.get(link)

    # -- data --------------------------------------------------------------------------
    @abstractmethod
    def check_response(self, frame, pf):
        """Check the response (and trials) column; return the frame with it converted.

        Raises DataError naming the column, the first bad value and its rows.
        """
        raise NotImplementedError

    def response_array(self, series) -> np.ndarray:
        """The checked response as the arrays the priors and the parameterisation rule read."""
        return series.to_numpy(dtype=float)

    # -- default priors ----------------------------------------------------------------
    def response_scale(self, y) -> float:
        """``s_y`` of the autoscaled priors: 1 on a link scale; the family's own SD otherwise."""
        return 1.0

    @abstractmethod
    def intercept_location(self, link: str, y, trials=None, offset=None) -> float:
        """Prior mean of the intercept: the link of the overall mean response."""
        raise NotImplementedError

    def extra_priors(self, response, link: str) -> dict:
        """Priors of family parameters that bayesglmm sets itself (ordinal cut-points); else Bambi's."""
        return {}

    def likelihood_dist(self):
        """A replacement for the PyMC distribution of Bambi's likelihood, or None to keep Bambi's.

        :func:`bayesglmm.build_model` sets it on the model's own Bambi family object (no
        other model is touched). Used where PyMC's density is numerically fragile (the
        hurdle Poisson's gradient).

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("poisson").likelihood_dist() is None
        True
        """
        return None

    def linear_predictor_likelihood(self, link: str):
        """A likelihood that reads the linear predictor ``eta`` instead of the mean, or None for Bambi's.

        Called as Bambi calls a likelihood, with ``eta=`` in place of the mean parameter
        (:func:`bayesglmm.backend.build_linear_predictor_response`). It must be the same
        density as Bambi's: only its cost and its numerical range may differ (bernoulli and
        binomial on the logit link, where Bambi's clipped mean costs more per row).

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("bernoulli").linear_predictor_likelihood("logit").__name__
        'LogitBernoulli'
        >>> get_family("bernoulli").linear_predictor_likelihood("probit") is None
        True
        """
        return None

    def family_priors(self, response, link: str, trials=None) -> dict:
        """The priors of the family's own parameters, given the response and (binomial-like) trials.

        :func:`bayesglmm.priors.default_priors` calls this; it is :meth:`extra_priors` unless a
        family needs the trials too (the beta-binomial's ``kappa``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> get_family("poisson").family_priors(np.array([1, 2]), "log")
        {}
        """
        return self.extra_priors(response, link)

    # -- parameterisation rule (bayesglmm.model.level_information) --------------------
    def information_response(self, y) -> np.ndarray:
        """The response as numbers for :meth:`row_information` and :meth:`level_means`."""
        return np.asarray(y, dtype=float)

    @abstractmethod
    def row_information(self, y: np.ndarray, trials) -> np.ndarray:
        """Fisher information of each row about its linear predictor, at the overall mean."""
        raise NotImplementedError

    def information_scale(self, y: np.ndarray, index: np.ndarray, n_levels: int) -> float:
        """Divisor of :meth:`row_information` (a residual variance, in the response's SD units)."""
        return 1.0

    @abstractmethod
    def level_means(self, y, trials, exposure, index, n_levels) -> np.ndarray:
        """Each level's mean response on the link scale (empirical, lightly regularised)."""
        raise NotImplementedError

    # -- ICC -------------------------------------------------------------------------------
    def icc_residual_variance(self, link: str, draws, fixed_mean: Callable, total_group_var):
        """Latent-scale residual variance ``sigma_d^2`` of the ICC and its description.

        Parameters
        ----------
        link : str
        draws : xarray.Dataset
            Posterior draws (``chain``, ``draw``).
        fixed_mean : callable
            ``fixed_mean()`` -> mean over the fit's rows of the fixed-effect linear predictor
            (offsets included), one value per draw.
        total_group_var : numpy.ndarray
            Sum of the group intercept variances, per draw.

        Returns
        -------
        (float or numpy.ndarray, str)
            The variance (constant or per draw) and one line saying what it is.

        Raises
        ------
        FamilyError
            When the ICC is not defined for this family and link (the message says why).
        """
        raise FamilyError(f"The ICC is not defined here for the {self.name} family with the {link} link.")

    # -- predictions and replicated data ----------------------------------------------
    def check_prediction_scale(self, scale: str) -> None:
        """Raise FamilyError when predictions on ``scale`` are not available for this family."""
        if scale == "probability":
            raise FamilyError(f"scale='probability' (one probability per category) is for ordinal responses; "
                              f"for the {self.name} family use scale='response' (the expected response) or 'link'.")

    def category_probabilities(self, eta, params: dict | None = None, *, link: str | None = None,
                               var=None) -> np.ndarray:
        """P(y = k) per draw, row and category (samples, rows, K); ordinal families only.

        Raises FamilyError for families without categories (see :mod:`bayesglmm.families.cumulative`).
        """
        self.check_prediction_scale("probability")
        raise FamilyError(f"Category probabilities are not defined for the {self.name} family.")

    def category_labels(self, response) -> list[str]:
        """The response's categories in order, as text (ordinal families; FamilyError otherwise)."""
        self.check_prediction_scale("probability")
        raise FamilyError(f"The {self.name} family's response has no categories.")

    #: Parameters besides the linear predictor that the expected response needs (the
    #: zero-inflation ``psi``, lognormal's ``sigma``); empty when it is ``g^-1(eta)``.
    mean_parameters: tuple[str, ...] = ()

    def mean_given(self, mu: np.ndarray, params: dict) -> np.ndarray:
        """Expected response given Bambi's mean parameter ``mu = g^-1(eta)`` and :attr:`mean_parameters`.

        The identity for most families; ``psi * mu`` for zero-inflated counts,
        ``exp(mu + sigma^2 / 2)`` for the lognormal.
        """
        return mu

    def response_mean(self, eta, params: dict | None = None, *, link: str | None = None, var=None) -> np.ndarray:
        """Expected response per draw and row, given the linear predictor (response-scale predictions).

        Parameters
        ----------
        eta : numpy.ndarray
            Linear predictor (samples, rows).
        params : dict, optional
            :meth:`parameter_draws` of the fit (needed when :attr:`mean_parameters` is not empty).
        link : str, optional
            The model's link (the family's default if None).
        var : numpy.ndarray, optional
            Variance of a normal group part to average over (population-averaged means);
            averaged by 20-point Gauss-Hermite quadrature.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> float(get_family("poisson").response_mean(np.log([[2.0]]))[0, 0])
        2.0
        >>> m = get_family("poisson").response_mean(np.zeros((1, 1)), var=np.full((1, 1), 0.5))
        >>> round(float(m[0, 0]), 6) == round(float(np.exp(0.25)), 6)  # E exp(b), b ~ N(0, 0.5)
        True
        """
        eta = np.asarray(eta, dtype=float)
        params = {} if params is None else params
        inv = self.inverse_link(link)
        if var is None or not np.any(np.asarray(var) > 0):
            return self.mean_given(inv(eta), params)
        z, w = np.polynomial.hermite_e.hermegauss(20)
        sd = np.sqrt(var)
        return sum(wi / w.sum() * self.mean_given(inv(eta + sd * zi), params) for zi, wi in zip(z, w))

    def can_simulate(self, trials) -> bool:
        """Whether :meth:`simulate` has what it needs (binomial: the rows' trials)."""
        return True

    @property
    def simulation_parameters(self) -> tuple[str, ...]:
        """Names of the draws :meth:`simulate` needs besides the linear predictor (Bambi's names).

        The family's :attr:`aux_parameters` (``sigma``, ``alpha``, ``nu``), and the
        cut-points ``threshold`` of the cumulative family.
        """
        return self.aux_parameters

    def parameter_draws(self, draws, idx=None) -> dict:
        """The draws of :attr:`simulation_parameters` in the layout :meth:`simulate` takes.

        Parameters
        ----------
        draws : xarray.Dataset
            Posterior (or prior) draws with dims ``chain`` and ``draw``.
        idx : numpy.ndarray, optional
            Keep only these samples (positions in the chain-major flattening).

        Returns
        -------
        dict
            Name -> array (samples, width): width 1 for a scalar parameter (``sigma``),
            one column per cut-point for ``threshold``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from bayesglmm.families import get_family
        >>> ds = xr.Dataset({"sigma": (("chain", "draw"), np.ones((2, 3)))})
        >>> get_family("gaussian").parameter_draws(ds)["sigma"].shape
        (6, 1)
        """
        out = {}
        for name in self.simulation_parameters:
            da = draws[name]
            other = [d for d in da.dims if d not in ("chain", "draw")]
            arr = da.transpose("chain", "draw", *other).values
            arr = arr.reshape(arr.shape[0] * arr.shape[1], -1)
            out[name] = arr if idx is None else arr[idx]
        return out

    def simulate(self, eta, params: dict | None = None, *, link: str | None = None, trials=None,
                 rng: np.random.Generator) -> np.ndarray:
        """New responses, one per draw and row, given the linear predictor: the package's one way.

        Posterior and prior predictive checks, predictions and SBC all simulate through this
        method.

        Parameters
        ----------
        eta : numpy.ndarray
            Linear predictor (offsets included), (samples, rows); the mean is
            ``g^-1(eta)``. For the cumulative family the latent predictor without the
            cut-points.
        params : dict, optional
            :attr:`simulation_parameters` -> draws shaped (samples, 1) (``sigma``,
            ``alpha``, ``nu``) or (samples, K - 1) (``threshold``), as
            :meth:`parameter_draws` returns them; broadcast against ``eta``.
        link : str, optional
            The model's link (the family's default if None).
        trials : numpy.ndarray, optional
            Trials per row (binomial).
        rng : numpy.random.Generator
            Source of the randomness (keyword only, required): the same generator state
            gives the same responses.

        Returns
        -------
        numpy.ndarray
            (samples, rows), floats: 0/1, counts, successes, real values or category codes
            0..K-1.

        Raises
        ------
        FamilyError
            When the family cannot simulate (binomial without trials).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesglmm.families import get_family
        >>> y = get_family("poisson").simulate(np.log([[2.0, 5.0]] * 4000), rng=np.random.default_rng(1))
        >>> y.shape, np.round(y.mean(axis=0)).tolist()
        ((4000, 2), [2.0, 5.0])
        """
        eta = np.asarray(eta, dtype=float)
        params = {} if params is None else params
        return self._simulate_mean(self.inverse_link(link)(eta), params, trials, rng)

    def _simulate_mean(self, mu: np.ndarray, params: dict, trials, rng: np.random.Generator) -> np.ndarray:
        """Draw responses given the mean ``mu`` (samples, rows); the families with a mean override this."""
        raise FamilyError(f"Simulating responses is not implemented for the {self.name} family.")

    def response_moments(self, mean: np.ndarray, params: dict, trials) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the response given the likelihood's mean parameter (dispersion check).

        ``mean`` is the posterior of Bambi's mean parameter (``mu``; binomial: ``p``).
        """
        raise FamilyError(f"{self.name!r}: {self.no_dispersion_reason}.")

    def ppc_statistics(self) -> tuple[str, ...]:
        """The test statistics :func:`bayesglmm.ppc.ppc_pvalues` checks by default, most telling first.

        Statistics that do not apply to the response kind are skipped there; zero-inflated
        and hurdle families put the share of zeros first.

        Examples
        --------
        >>> from bayesglmm.families import get_family
        >>> get_family("hurdle_poisson").ppc_statistics()[0]
        'zeros'
        """
        return ("mean", "sd", "zeros", "max")

    def averaged_ratio(self, link: str) -> Callable:
        """``(mean0, mean1) -> ratio`` of population-averaged means: odds (logit) or mean ratio (log).

        Raises FamilyError for other links.
        """
        if link == "logit":
            return lambda p0, p1: (p1 / (1 - p1)) / (p0 / (1 - p0))
        if link == "log":
            return lambda p0, p1: p1 / p0
        raise FamilyError(f"Population-averaged ratios are for logit (odds) or log (rate) links; this model is "
                          f"{self.name} with the {link} link.")


# ----------------------------------------------------------------------------- shared helpers
class FamilyDensity:
    """A family's own PyMC density (a ``pm.CustomDist``), called as Bambi calls a likelihood.

    ``Density(name, **params, observed=..., dims=...)`` inside a model, ``Density.dist(**params)``
    outside one; the parameters may also be given positionally, in :attr:`params`' order, which is
    the order ``logp(value, *params)`` and ``random(*params, rng=, size=)`` take them. A subclass
    sets ``params``, ``logp`` and ``random`` (static methods) and, if not integer, ``dtype``;
    ``class_name`` is the subclass's name. PyMC is imported only when it is called, so families
    stay plain Python at import.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> class Shifted(FamilyDensity):
    ...     params = ("mu",)
    ...     logp = staticmethod(lambda value, mu: -0.5 * (value - mu) ** 2)
    ...     random = staticmethod(lambda mu, rng=None, size=None: np.random.default_rng(rng).normal(mu, size=size))
    ...     dtype = "float64"
    >>> float(pm.logp(Shifted.dist(mu=1.0), 3.0).eval())
    -2.0
    """

    params: tuple[str, ...] = ()
    dtype = "int64"

    def __new__(cls, name, *args, **kwargs):
        import pymc as pm

        parameters = cls._parameters(args, kwargs)
        return pm.CustomDist(name, *parameters, **cls._options(), **kwargs)

    @classmethod
    def dist(cls, *args, **kwargs):
        import pymc as pm

        parameters = cls._parameters(args, kwargs)
        return pm.CustomDist.dist(*parameters, **cls._options(), **kwargs)

    @classmethod
    def _parameters(cls, args, kwargs) -> list:
        """The parameters in :attr:`params`' order: ``args`` first, the rest taken out of ``kwargs``."""
        return [*args, *(kwargs.pop(name) for name in cls.params[len(args):])]

    @classmethod
    def _options(cls) -> dict:
        return {"logp": cls.logp, "random": cls.random, "dtype": cls.dtype, "class_name": cls.__name__}


def threshold_latent_variance(family: Family, link: str) -> tuple[float, str]:
    """``sigma_d^2`` of a logit/probit/cloglog model (latent threshold scale) and its description."""
    if link not in _THRESHOLD_VARIANCE:
        raise FamilyError(f"No latent-scale variance is defined for {family.name} with the {link} link.")
    v, what = _THRESHOLD_VARIANCE[link]
    return v, f"sigma_d^2 = {what} ({v:.3f}): the latent {link} scale"


def totals(index: np.ndarray, n_levels: int) -> Callable:
    """``w -> per-level sums of w``."""
    return lambda w: np.bincount(index, weights=w, minlength=n_levels)


def standardised_level_means(y, index, n_levels) -> np.ndarray:
    """Level means of ``y / sd(y)`` (a real response or ordinal codes)."""
    total = totals(index, n_levels)
    sd = y.std() or 1.0
    return total(y / sd) / np.maximum(total(np.ones(len(y))), 1)


def check_real_response(frame, col: str):
    """A finite real response: numbers, no infinities (names column, value and rows)."""
    from bayesglmm import validate

    y = validate._numeric(frame[col], col, "the response")
    validate._check_finite(y, col)
    return y


def check_count_response(frame, col: str, family: Family):
    """Non-negative whole numbers; the column converted to integers."""
    from bayesglmm import validate
    from bayesglmm.errors import DataError

    y = check_real_response(frame, col)
    bad = (y < 0) | (y != np.round(y))
    if bad.any():
        raise DataError(
            f"Column {col!r} is the response of a {family.name} model and must hold "
            f"non-negative whole numbers; found {validate._first_bad(frame[col], bad)}."
        )
    frame[col] = y.astype(np.int64)
    return frame


def check_open_interval_response(frame, col: str, family: Family, *, upper: float | None = None, hint: str = ""):
    """A real response above 0 (and below ``upper`` when given); names column, value and rows."""
    from bayesglmm import validate
    from bayesglmm.errors import DataError

    y = check_real_response(frame, col)
    bad = (y <= 0) if upper is None else ((y <= 0) | (y >= upper))
    if bad.any():
        where = "strictly positive" if upper is None else f"strictly between 0 and {upper:g}"
        raise DataError(
            f"Column {col!r} is the response of a {family.name} model and must be {where}; "
            f"found {validate._first_bad(frame[col], bad)}.{hint}"
        )
    frame[col] = y
    return frame


def moment_scale(estimate: float, floor: float = 1.0) -> float:
    """A HalfCauchy scale from a crude moment estimate: at least ``floor``, 3 significant digits."""
    if not np.isfinite(estimate):
        return floor
    return float(f"{max(float(estimate), floor):.3g}")


def no_icc(family: Family, why: str) -> FamilyError:
    """FamilyError: the ICC is not defined for ``family``, and why."""
    return FamilyError(f"The ICC is not defined for the {family.name} family: {why}")
