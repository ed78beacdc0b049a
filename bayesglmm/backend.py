"""Bambi's PyMC backend, extended with correlated group-level effects.

Bambi 0.21 builds ``(1 + x | g)`` as independent intercepts and slopes (its LKJ code is
commented out, bambinos/bambi#702). Here the effects of one correlated block get a
multivariate normal prior, non-centred through the Cholesky factor of their covariance:

    u_g = z_g @ L.T,   z_g ~ Normal(0, 1),   L L' = diag(sd) R diag(sd),   R ~ LKJ(eta)

The block's effects keep Bambi's names and dimensions (``1|g``, ``x|g`` and their
``_sigma``), so Bambi's prediction and log-likelihood code use them unchanged; the
correlation matrix is stored as ``{factor}_corr``.

The fixed effects are sampled on a QR decomposition of the centred design (rstanarm's
``QR = TRUE``; Stan User's Guide, "QR reparameterization"): with ``X - mean(X) = Q* R*``,
``Q* = Q sqrt(n - 1)``, the sampler moves ``theta = R* beta``, whose coordinates are
uncorrelated and of unit scale whatever the predictors' units, and ``beta = R*^-1 theta``
is stored under each term's own name. The Normal prior on ``beta`` becomes the exact
multivariate normal prior it implies on ``theta``, so the model is unchanged; only the
geometry the sampler sees is. Everything else is Bambi's.
This is the only module (with :mod:`bayesglmm.sampling`) that builds PyMC graphs.
"""

from __future__ import annotations

import copy

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from bambi.backend.model_components import DistributionalComponent
from bambi.backend.pymc import PyMCModel
from bambi.backend.terms import CommonTerm, GroupSpecificTerm, InterceptTerm
from bambi.backend.utils import get_distribution_from_prior, get_linkinv, noncentered_default_for
from bambi.backend.model_components import ConstantComponent, ResponseComponent

from bambi import Prior

from bayesglmm.errors import PriorError, SettingsError
from bayesglmm.parameterization import PARTIAL_SUFFIX


def corr_dims(label: str) -> tuple[str, str]:
    """Names of the two dimensions of a block's correlation matrix ``{label}_corr``."""
    return f"{label}__effect", f"{label}__effect_bis"


def correlated_labels(blocks) -> list:
    """``[(block, label)]`` for the correlated blocks: ``label`` names ``{label}_corr``.

    The first correlated block on a factor is labelled by the factor, a later one on the
    same factor gets a number (``g_1``): every module that reads the draws uses this.

    Examples
    --------
    >>> from bayesglmm.formula import GroupBlock
    >>> b1 = GroupBlock("1 + x", "g", True, ("1|g", "x|g"))
    >>> b2 = GroupBlock("0 + f", "g", True, ("f|g",))
    >>> [label for _, label in correlated_labels([b1, b2])]
    ['g', 'g_1']
    """
    out, labels = [], set()
    for block in blocks:
        if not block.correlated:
            continue
        label = block.factor if block.factor not in labels else f"{block.factor}_{len(labels)}"
        labels.add(label)
        out.append((block, label))
    return out


def _has_columns(term) -> bool:
    """Whether Bambi gives the term an effect dimension (``{expr}__expr_dim``): a factor slope.

    A factor's slope keeps that dimension even with one column (a two-level factor beside
    the intercept, ``(f|g)``: coefficients (levels, 1), predictor (rows, 1)).
    """
    return term.predictor.ndim == 2


def _width(term) -> int:
    return 1 if term.predictor.ndim == 1 else term.predictor.shape[1]


def _effect_labels(term) -> list[str]:
    """One label per column of the term: ``x`` for a numeric slope, ``f[hi]`` per factor level.

    Examples
    --------
    >>> import numpy as np
    >>> class T:
    ...     name, categorical, predictor = "f|g", True, np.zeros((4, 1))
    ...     term = type("E", (), {"expr": type("L", (), {"levels": ["hi"]})()})()
    >>> _effect_labels(T())
    ['f[hi]']
    """
    expr = term.name.split("|")[0]
    if not _has_columns(term):
        return [expr]
    levels = term.term.expr.levels if term.categorical else range(_width(term))
    return [f"{expr}[{level}]" for level in levels]


def _stacked_sd_dist(terms, k: int, name: str | None = None):
    """One PyMC distribution for the block's SDs, from the terms' own hyperpriors.

    Unnamed (``.dist``, for ``LKJCholeskyCov``'s ``sd_dist``), or a model variable ``name``.
    """
    hyper = [t.prior.args["sigma"] for t in terms]
    kinds = {h.name for h in hyper}
    if len(kinds) != 1:
        raise PriorError(
            "The SD priors of a correlated block must be of one kind; got "
            + ", ".join(f"{t.name}: {h.name}" for t, h in zip(terms, hyper))
        )
    args = {}
    for key in hyper[0].args:
        args[key] = np.concatenate(
            [np.broadcast_to(np.asarray(h.args[key], dtype=float), (_width(t),)) for t, h in zip(terms, hyper)]
        )
    dist = get_distribution_from_prior(hyper[0])
    return dist.dist(**args, shape=k) if name is None else dist(name, **args, shape=k)


def block_covariance(label: str, terms, k: int, eta: float):
    """``(chol, corr, sds)`` of a correlated block: its covariance's Cholesky factor, correlations, SDs.

    With ``eta > 1`` (the default LKJ(2)) the SDs (``{label}_sds``) and the correlations'
    Cholesky factor (``{label}_corr_chol``, ``pm.LKJCorr``) are sampled as two variables;
    with ``eta <= 1`` PyMC's packed covariance factor (``{label}_chol_cov``,
    ``pm.LKJCholeskyCov``) is. The prior is the same; the geometry is not. On the course's
    hr_slopes model (24 patients x 5 binary visits, the slope SD weakly informed) the packed
    factor mixed the slope SD slowly: its first attempt passed for 3 of 10 seeds (2 of 10
    with LKJ(2)); the two variables with LKJ(2) passed for 10 of 10, with the same posterior
    (4 x 4000 draws: slope SD median 1.79 against 1.78, correlation 95% interval -0.77 to 0.84
    against -0.77 to 0.82). Under LKJ(1) the separate correlation factor let a chain stick at
    a correlation of 1 (seed 2, R-hat 1.127), so the uniform prior keeps the packed factor.

    Examples
    --------
    >>> chol, corr, sds = block_covariance("g", terms, 2, 2.0)  # doctest: +SKIP
    """
    if eta > 1:
        sds = _stacked_sd_dist(terms, k, name=f"{label}_sds")
        chol_corr = pm.LKJCorr(f"{label}_corr_chol", n=k, eta=eta)
        return sds[:, None] * chol_corr, chol_corr @ chol_corr.T, sds
    return pm.LKJCholeskyCov(f"{label}_chol_cov", n=k, eta=eta, sd_dist=_stacked_sd_dist(terms, k),
                             compute_corr=True, store_in_trace=False)


def build_correlated_block(backend, terms, eta: float, label: str) -> dict:
    """Add one correlated block to the model; return ``{term name: coefficient tensor}``.

    ``label`` names the block's variables (``{label}_corr``); it is the grouping factor.

    Each coefficient has Bambi's shape for that term: ``(levels,)`` or ``(levels, columns)``.
    """
    k = sum(_width(t) for t in terms)
    n_levels = len(terms[0].groups)
    labels = [lab for t in terms for lab in _effect_labels(t)]
    dim_a, dim_b = corr_dims(label)
    backend.model.add_coords({dim_a: labels, dim_b: labels})
    chol, corr, sds = block_covariance(label, terms, k, eta)
    pm.Deterministic(f"{label}_corr", corr, dims=(dim_a, dim_b))
    if all(t.prior.noncentered is False for t in terms):
        coefs = pm.MvNormal(f"{label}_effects", mu=np.zeros(k), chol=chol, shape=(n_levels, k))
    else:
        z = pm.Normal(f"{label}_z_offset", mu=0.0, sigma=1.0, shape=(n_levels, k))
        coefs = (z[:, None, :] * chol[None, :, :]).sum(axis=-1)  # z @ chol.T, see elementwise_dot
    out, start = {}, 0
    for term in terms:
        width = _width(term)
        term_coords = GroupSpecificTerm(term, True).coords
        for dim, values in term_coords.items():
            if dim not in backend.model.coords:
                backend.model.add_coords({dim: values})
        dims = list(term_coords)
        if not _has_columns(term):
            coef, sd = coefs[:, start], sds[start]
        else:
            coef, sd = coefs[:, start : start + width], sds[start : start + width]
        out[term.name] = pm.Deterministic(term.name, coef, dims=dims)
        pm.Deterministic(f"{term.name}_sigma", sd, dims=[d for d in dims if not d.endswith("__factor_dim")])
        start += width
    return out


def nested_parent(name: str, terms) -> str | None:
    """The plain group intercept that the group intercept ``name`` is nested in, or None.

    Written nesting first: ``"1|a"`` for ``"1|a:b"`` (``(1|a/b)``). Otherwise nesting found in
    the data (:func:`implicit_parent`): ``(1|brood) + (1|location)`` where every brood lies in
    one location is the same model as ``(1|location/brood)``, and its levels are sampled as
    the written form's are.

    Examples
    --------
    >>> class T:
    ...     kind = "intercept"
    >>> nested_parent("1|a:b", {"1|a": T(), "1|a:b": T()})
    '1|a'
    """
    expr, factor = name.split("|", 1)
    if expr != "1" or terms[name].kind != "intercept":
        return None
    parent = f"1|{factor.rsplit(':', 1)[0]}" if ":" in factor else None
    if parent in terms and terms[parent].kind == "intercept":
        return parent
    return implicit_parent(name, terms)


def _levels_within(child, parent) -> bool:
    """Whether every level of ``child`` (per-row level indices) lies in one level of ``parent``, with fewer levels.

    Linear in the rows (a model build asks this dozens of times: 48 for three crossed
    factors; sorting the (child, parent) pairs took 1.5 s a call at 1,000,000 rows).
    """
    child, parent = np.asarray(child, dtype=np.intp), np.asarray(parent, dtype=np.intp)
    n_child, n_parent = np.count_nonzero(np.bincount(child)), np.count_nonzero(np.bincount(parent))
    if n_parent < 2 or n_parent >= n_child:
        return False
    parent_of = np.empty(int(child.max()) + 1, dtype=np.intp)
    parent_of[child] = parent  # one parent per child level if nested: every row then agrees with it
    return bool(np.array_equal(parent_of[child], parent))


def implicit_parent(name: str, terms) -> str | None:
    """The group intercept that ``name``'s levels are nested in, found in the data, or None.

    A candidate is a plain group intercept (``1|a``) with fewer levels, at least two, such
    that each level of ``name`` occurs in one level of it only. The parent is the candidate
    with the most levels when the candidates form a chain (each nested in the next: an
    observation in a brood in a location); with crossed candidates (an observation-level
    effect beside crossed subjects and items) there is none.

    Examples
    --------
    >>> class T:
    ...     kind = "intercept"
    ...     def __init__(self, codes): self.group_index = np.array(codes)
    >>> terms = {"1|loc": T([0, 0, 0, 1, 1, 1]), "1|brood": T([0, 0, 1, 2, 2, 2]), "1|obs": T(range(6))}
    >>> implicit_parent("1|brood", terms), implicit_parent("1|obs", terms), implicit_parent("1|loc", terms)
    ('1|loc', '1|brood', None)
    >>> terms["1|brood"] = T([0, 1, 0, 1, 0, 1])  # crossed with loc: obs has no single parent
    >>> implicit_parent("1|obs", terms) is None
    True
    """
    index = getattr(terms[name], "group_index", None)
    if index is None or name.split("|", 1)[0] != "1":
        return None
    candidates = [other for other, term in terms.items()
                  if other != name and other.split("|", 1)[0] == "1" and term.kind == "intercept"
                  and getattr(term, "group_index", None) is not None
                  and _levels_within(np.asarray(index), np.asarray(term.group_index))]
    if not candidates:
        return None
    candidates.sort(key=lambda other: -len(np.unique(terms[other].group_index)))
    closest = np.asarray(terms[candidates[0]].group_index)
    if all(_levels_within(closest, np.asarray(terms[other].group_index)) for other in candidates[1:]):
        return candidates[0]
    return None


def nesting_depth(name: str, terms) -> int:
    """How many group intercepts ``name`` is nested in (0 for a top-level term)."""
    depth, parent = 0, nested_parent(name, terms)
    while parent is not None and depth < len(terms):
        depth, parent = depth + 1, nested_parent(parent, terms)
    return depth


def intercept_absorber(terms, has_intercept: bool, correlated=(), marginalised: str | None = None) -> str | None:
    """The centred group intercept sampled around the model's intercept, or None.

    With centred group intercepts ``u ~ Normal(0, sd)`` the data pin down ``Intercept + u``, so
    when the levels are well informed the intercept and every level move against each other:
    at 4 times the patients data (hospital and doctor both centred) the first attempt failed
    on the intercept alone (R-hat 1.016, bulk ESS 136). Sampling ``w = Intercept + u ~
    Normal(Intercept, sd)`` instead removes that ridge (hierarchical centring one level up).
    Used only where it was measured to be needed: a top-level centred intercept ``1|a`` with a
    centred nested term ``1|a:b`` below it, and no other centred top. Not for a doctor term
    under a non-centred hospital (patients as they are: the hospital SD's ESS fell from 670 to
    465), nor, unmeasured, for a single ``(1|g)``.

    Examples
    --------
    >>> class T:
    ...     kind = "intercept"
    ...     def __init__(self, centred): self.prior = type("P", (), {"noncentered": not centred})()
    >>> intercept_absorber({"1|a": T(True), "1|a:b": T(True)}, True)
    '1|a'
    >>> intercept_absorber({"1|a": T(False), "1|a:b": T(True)}, True) is None
    True
    >>> intercept_absorber({"1|a": T(True)}, True) is None
    True

    Beside a term integrated out (``marginalised``, :mod:`bayesglmm.marginal`), the centred
    intercept with the most levels absorbs the intercept, nested or not (a nested one is then
    sampled around its parent's effect plus the intercept). The integrated term no longer
    competes with the intercept, so the next ridge is this term's: lme4's InstEval,
    ``(1|s) + (1|d) + (1|dept)`` with students integrated out and instructors centred around
    their department, failed its first attempt on the intercept alone (R-hat 1.025, bulk ESS
    134; 37 leapfrog steps per draw).
    """
    if not has_intercept:
        return None
    centred = {name for name, term in terms.items() if term.kind == "intercept" and term.prior.noncentered is False
               and name not in correlated and name != marginalised}
    tops = [name for name in centred if nested_parent(name, terms) not in centred]
    if (len(tops) == 1 and nested_parent(tops[0], terms) is None
            and any(nested_parent(name, terms) == tops[0] for name in centred)):
        return tops[0]
    if marginalised is not None and centred:
        return max(centred, key=lambda name: (int(terms[name].group_index.max()) + 1, name))
    return None


def mean_shifted_terms(terms, intercept_term, bmb_model, correlated=(), marginalised=None) -> list[str]:
    """The non-centred group intercepts whose mean the intercept is sampled with (see :func:`build_intercept_at_mean`).

    Every uncorrelated, non-centred group intercept that is neither nested nor a parent of a
    nested term and has more than one row per level on average, where the model's intercept
    has a location prior (``mu``) of fixed values, the family is univariate and no centred
    term absorbs the intercept (:func:`intercept_absorber`); else ``[]``. Left out, as
    measured (issue 16, first attempts with the defaults): an observation-level effect (one
    level per row; with it in, cbpp_obs's herd SD missed R-hat 1.01 for 3 of 10 seeds,
    1.0105-1.011, without it for none) and a parent of nested terms (patients' hospital above
    its centred doctors: 2 of 3 seeds diverged at the first attempt, min bulk ESS 437-654
    after 869-1,835).

    Examples
    --------
    >>> mean_shifted_terms(bm.parameters["mu"].group_specific_terms, bm.parameters["mu"].intercept_term, bm)  # doctest: +SKIP
    ['1|g']
    """
    from bambi.families.multivariate import MultivariateFamily
    from bambi.families.univariate import Categorical

    prior = intercept_term.prior
    if (isinstance(bmb_model.family, (MultivariateFamily, Categorical)) or not isinstance(prior, Prior)
            or "mu" not in prior.args or any(isinstance(v, Prior) for v in prior.args.values())
            or intercept_absorber(terms, True, correlated, marginalised) is not None):
        return []
    return [name for name, term in terms.items()
            if term.kind == "intercept" and name not in correlated and term.prior.noncentered is not False
            and nested_parent(name, terms) is None and not any(nested_parent(n, terms) == name for n in terms)
            and int(term.group_index.max()) + 1 < len(term.group_index)]


#: Suffix of the intercept sampled at the mean linear predictor (:func:`build_intercept_at_mean`).
AT_MEAN_SUFFIX = "_at_mean"


def build_intercept_at_mean(intercept_term, shift):
    """The intercept sampled where the data pin it: ``a = Intercept + shift``; returns ``Intercept`` (shape (1,)).

    With non-centred effects ``u = sd * z`` of few, well-informed levels the data pin down
    ``Intercept + mean(u)``, not the intercept: on the ridge ``Intercept = c - sd * mean(z)``
    the intercept's spread grows with the SD, and nutpie diverged in the SD's upper tail
    (five_groups, issue 16: the divergent draws at the SD's 95th-100th percentile, the
    intercept at its 0-3rd or 97-99th). Sampling ``a ~ Normal(mu + shift, sigma)`` (the
    intercept's own prior family and arguments, its location shifted) and storing
    ``Intercept = a - shift`` is a shift by a function of variables sampled before, with
    unit Jacobian: the model is unchanged (the intercept's prior is its prior at
    ``a - shift``), only the sampler's coordinates move. ``shift`` is the mean over rows
    of the contributions of :func:`mean_shifted_terms`. ``a`` is stored as
    ``Intercept_at_mean``.
    """
    prior = intercept_term.prior
    label = intercept_term.alias or intercept_term.name
    args = dict(prior.args)
    args["mu"] = args["mu"] + shift
    at_mean = get_distribution_from_prior(prior)(f"{label}{AT_MEAN_SUFFIX}", **args)
    return pt.atleast_1d(pm.Deterministic(label, at_mean - shift))


def parent_levels(index: np.ndarray, parent_index: np.ndarray) -> np.ndarray:
    """For each level of a nested factor, its parent's level, from the two per-row level indices.

    Examples
    --------
    >>> parent_levels(np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]))
    array([0, 0, 1])
    """
    out = np.zeros(int(index.max()) + 1, dtype=int)
    out[index] = parent_index
    return out


def build_centred_total(gst, mean, information: float | None = None):
    """A centred group intercept sampled as its total ``w ~ Normal(mean, sd)``; returns ``(u, w)``.

    ``u = w - mean`` is stored under the term's own name and ``w`` as ``{term}_total``. Given
    ``mean`` (built from variables sampled before) this is a shift with unit Jacobian, so the
    model is unchanged; only the sampler's coordinates move (hierarchical centring, Gelfand,
    Sahu & Carlin 1995, Biometrika 82:479). For a nested ``(1|a/b)`` the mean is the parent's
    effect: the data pin down each b-level's ``u_a + u_ab``, and sampling ``u_ab`` alone made
    every doctor move against its hospital (patients: hospital SD bulk ESS 161 of 4,000). The
    term of :func:`intercept_absorber` and its nested terms include the intercept as well.
    With ``information`` (a level's, :func:`bayesglmm.model.level_information`) the term is
    sampled partially centred instead (:func:`build_partial_total`).
    """
    term = gst.term
    label = gst.name
    dims = list(gst.coords)
    sd_prior = term.prior.args["sigma"]
    sd_label = f"{label}_{term.hyperprior_alias.get('sigma', 'sigma')}"
    sigma = get_distribution_from_prior(sd_prior)(sd_label, **sd_prior.args)
    if information is not None:
        return build_partial_total(label, mean, sigma, information, dims)
    total = pm.Normal(f"{label}_total", mu=mean, sigma=sigma, dims=dims)
    return pm.Deterministic(label, total - mean, dims=dims), total


def centring_weight(sigma, information: float):
    """How centred a partially centred term is at SD ``sigma``: ``I sd^2 / (1 + I sd^2)``, in [0, 1].

    The share of a level's variance that is the effects' spread rather than the noise of its
    data (``1 / I``): the weight that makes the Gibbs sampler of a normal hierarchical model
    mix best (Papaspiliopoulos, Roberts & Skold 2003, "Non-centered parameterisations for
    hierarchical models and data augmentation", Bayesian Statistics 7). Near 0 (non-centred)
    where the SD is small beside the data's noise, near 1 (centred) where it is large.

    Examples
    --------
    >>> [round(float(centring_weight(sd, 20.0)), 3) for sd in (0.01, 0.2236, 2.0)]
    [0.002, 0.5, 0.988]
    """
    return 1.0 - 1.0 / (1.0 + information * sigma**2)


def build_partial_total(label: str, mean, sigma, information: float, dims):
    """A group intercept sampled partially centred; returns ``(u, mean + u)``.

    With ``w = centring_weight(sigma, information)``, ``v ~ Normal(w * mean, sigma**w)`` is
    sampled (as ``{label}_partial``) and ``u = sigma**(1 - w) * (v - w * mean)`` stored under
    the term's name. Given the SD, ``v -> u`` is affine, so ``u ~ Normal(0, sigma)`` whatever
    ``w``: the model is unchanged, only the sampler's coordinates move. ``w = 1`` is the
    centred total ``mean + u`` (:func:`build_centred_total`), ``w = 0`` the non-centred
    ``u = sigma * z`` (partial non-centring, Papaspiliopoulos, Roberts & Skold 2007,
    Statistical Science 22:59; in this form Gorinova, Moore & Hoffman 2020, ICML). The weight
    moves with the SD, so each part of the SD's posterior gets the parameterisation that
    suits it.

    Why: a term with few levels, such as lme4's Arabidopsis ``(1|reg)`` (3 regions, other
    terms nested in it), has an SD whose posterior spans orders of magnitude. Sampled centred
    it diverges in the funnel's neck (small SD); non-centred, in the SD's upper tail, where
    the data pin down each level's total; with any one fixed weight, at one end or the other
    (issue 16, ``benchmarks/PARTIAL_CENTRING.md``).

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model(coords={"g": ["a", "b", "c"]}) as m:
    ...     sd = pm.HalfNormal("g_sigma", 1.0)
    ...     u, total = build_partial_total("1|g", pm.Normal("Intercept", 0, 1), sd, 20.0, ["g"])
    >>> sorted(v.name for v in m.free_RVs)
    ['1|g_partial', 'Intercept', 'g_sigma']
    """
    weight = centring_weight(sigma, information)
    partial = pm.Normal(f"{label}{PARTIAL_SUFFIX}", mu=weight * mean, sigma=sigma**weight, dims=dims)
    effect = pm.Deterministic(label, sigma ** (1.0 - weight) * (partial - weight * mean), dims=dims)
    return effect, mean + effect


def is_unit(predictor: np.ndarray) -> bool:
    """Whether a group term's predictor is all ones (an intercept's), so multiplying by it changes nothing.

    Examples
    --------
    >>> is_unit(np.ones((3, 1))), is_unit(np.array([1.0, 2.0]))
    (True, False)
    """
    return bool(np.all(np.asarray(predictor) == 1.0))


def elementwise_dot(matrix: np.ndarray, vector):
    """``matrix @ vector`` as a broadcast product summed over columns.

    PyTensor turns a matrix-vector ``pt.dot`` into a matrix-matrix product, and numba
    compiling its BLAS gemm took about 4 s of every fresh process (hr_slopes, schizo;
    ``benchmarks/course_models.py``). The broadcast product fuses into one elementwise loop
    and reduction, which numba compiles in a fraction of that.
    """
    return (pt.as_tensor_variable(matrix) * vector[None, :]).sum(axis=1)


#: Largest share of the rows that the distinct rows of a design may be for :func:`design_product`
#: to compute the product on the distinct rows (a design of factors and a few numeric values).
DISTINCT_ROWS_SHARE = 0.25


def design_product(x: np.ndarray, r: np.ndarray, q: np.ndarray, theta):
    """``q @ theta`` with ``q = x @ inv(r)``, on the distinct rows of ``x`` where they are few.

    A design of factors (and of numeric columns with few values) repeats its rows: InstEval's
    73,421 rows have 48 distinct ones. The product is then taken on the distinct rows and
    gathered, one pass over the rows instead of one per column, forward and in the gradient:
    a log density and gradient of the InstEval model took 0.58 ms instead of 0.99 ms
    (``benchmarks/gradient_cost.py``, one run). With more distinct rows than
    :data:`DISTINCT_ROWS_SHARE` of the rows (a continuous covariate), ``q`` is used as it is.

    Examples
    --------
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    >>> q, r = qr_factors(x - x.mean(0))
    >>> theta = np.array([0.5, -2.0])
    >>> bool(np.allclose(design_product(x - x.mean(0), r, q, pt.as_tensor(theta)).eval(), q @ theta))
    True
    """
    distinct, pattern = np.unique(x, axis=0, return_inverse=True)
    if len(distinct) > DISTINCT_ROWS_SHARE * x.shape[0]:
        return elementwise_dot(q, theta)
    return elementwise_dot(distinct @ np.linalg.inv(r), theta)[pattern.reshape(-1)]


#: Name of the sampled QR coordinates of the fixed effects (and of their dimension).
QR_NAME = "fixed_qr"


def qr_factors(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin, scaled QR factors ``(Q*, R*)`` of a design with ``x = Q* R*`` and ``diag(R*) > 0``.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 7.0]])
    >>> q, r = qr_factors(x - x.mean(0))
    >>> bool(np.allclose(q @ r, x - x.mean(0))), bool(np.all(np.diag(r) > 0))
    (True, True)
    """
    q, r = np.linalg.qr(x)
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    scale = np.sqrt(max(x.shape[0] - 1, 1))
    return q * signs * scale, (r * signs[:, None]) / scale


def qr_normal(name: str, r: np.ndarray, mu: np.ndarray, sigma: np.ndarray, **kwargs):
    """``theta = R* beta`` with ``beta ~ Normal(mu, sigma)`` independently: the prior this implies on ``theta``.

    That prior is ``MvNormal(R* mu, R* diag(sigma^2) R*')``. Its log density is written as
    ``beta``'s Normal log density at ``beta = R*^-1 theta`` minus ``log det R*`` (the sum of
    the logs of the triangular ``R*``'s diagonal): equal values, but no Cholesky factor or
    triangular solve of a data matrix at every gradient, as PyMC's ``MvNormal`` has: numba
    compiles those LAPACK kernels slowly. The patients model's first compile took 13.1 s
    instead of 19.1 s (paired runs of ``benchmarks/course_models.py --models patients``,
    compile column, ``benchmarks/course_models_notes.md``). Draws are ``R* mu + R* (sigma z)``, ``z``
    standard normal; the initial point is ``R* mu``, the MvNormal's. ``kwargs`` go to
    ``pm.CustomDist`` (``dims``).

    Examples
    --------
    >>> r = np.array([[2.0, 0.5], [0.0, 1.0]])
    >>> with pm.Model():
    ...     theta = qr_normal("theta", r, np.zeros(2), np.ones(2))
    ...     value = np.array([1.0, -1.0])
    ...     exact = pm.logp(pm.MvNormal.dist(np.zeros(2), r @ r.T), value).eval()
    ...     bool(np.isclose(pm.logp(theta, value).eval(), exact))
    True
    """
    r = np.asarray(r, dtype=float)
    log_det = float(np.log(np.diag(r)).sum())
    return pm.CustomDist(name, r @ mu, r, np.linalg.inv(r), np.asarray(mu, dtype=float),
                         np.asarray(sigma, dtype=float), log_det, dist=_qr_normal_draw, logp=_qr_normal_logp,
                         support_point=_qr_normal_start, signature="(k),(k,k),(k,k),(k),(k),()->(k)",
                         class_name="QRNormal", **kwargs)


def _qr_normal_draw(center, r, r_inverse, mu, sigma, log_det, size):
    from pymc.distributions.shape_utils import rv_size_is_none

    shape = center.shape if rv_size_is_none(size) else pt.concatenate([pt.as_tensor(size), center.shape[-1:]])
    z = pm.Normal.dist(0.0, 1.0, shape=shape)
    return center + (r * (sigma * z)[..., None, :]).sum(axis=-1)


def _qr_normal_logp(value, center, r, r_inverse, mu, sigma, log_det):
    beta = (r_inverse * value[..., None, :]).sum(axis=-1)
    z = (beta - mu) / sigma
    return (-0.5 * z**2 - pt.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(axis=-1) - log_det


def _qr_normal_start(rv, size, center, *_):
    return pt.broadcast_to(center, rv.shape)


def qr_applicable(terms, x: np.ndarray) -> str | None:
    """Why the QR reparameterisation cannot be used for these common terms, or None.

    It needs Normal priors with fixed arguments (the defaults, and most users' priors) and
    a design of full column rank.
    """
    for name, term in terms.items():
        prior = term.prior
        if not isinstance(prior, Prior) or prior.name != "Normal" or set(prior.args) != {"mu", "sigma"} or any(
            isinstance(v, Prior) for v in prior.args.values()
        ):
            return f"the prior of {name!r} is not a Normal with fixed mu and sigma"
    if x.shape[0] <= x.shape[1]:
        return "fewer rows than fixed-effect columns"
    sv = np.linalg.svd(x, compute_uv=False)
    if sv[-1] <= 1e-8 * sv[0]:
        return "the fixed-effect design is rank deficient (collinear columns)"
    return None


class GLMMComponent(DistributionalComponent):
    """Bambi's distributional component with QR fixed effects and correlated blocks.

    The common terms are built on the QR decomposition of the centred design (see the
    module docstring) when ``fixed_design="qr"``, as Bambi builds them otherwise; the
    correlated group blocks are built jointly. Multivariate responses are not supported
    here (bayesglmm's families are all univariate).
    """

    def __init__(self, component, blocks, etas, fixed_design="qr", centre_design=False, per_category=False,
                 marginalised=None, partial=None):
        super().__init__(component)
        self.marginalised = marginalised  # built plainly centred, Normal(0, sd): the engine integrates it out
        self.partial = dict(partial or {})  # term -> its levels' information (build_partial_total)
        self.per_category = per_category  # one linear predictor per non-reference category: Bambi's own build
        self.blocks = blocks
        self.etas = etas
        self.fixed_design = fixed_design
        self.centre_design = centre_design  # centre without an intercept (the cut-points take its place)
        self.design_centred = False  # whether self.output holds (x - mean(x)) beta rather than x beta

    def build_intercept(self, bmb_model):
        """Bambi's intercept, kept as ``self.intercept`` (None without one) for :func:`intercept_absorber`.

        Where :func:`mean_shifted_terms` names terms, the intercept is built after them, at
        the end of :meth:`build_group_specific_terms` (:func:`build_intercept_at_mean`).
        """
        self.intercept = None
        self.mean_shifted = []
        if not self.has_intercept:
            return
        correlated = {name for block, _ in correlated_labels(self.blocks) for name in block.term_names}
        self.mean_shifted = mean_shifted_terms(self.component.group_specific_terms, self.component.intercept_term,
                                               bmb_model, correlated, self.marginalised)
        if not self.mean_shifted:
            self.intercept = InterceptTerm(self.component.intercept_term).build(bmb_model)
            self.output += self.intercept

    def build_common_terms(self, pymc_backend, bmb_model):
        terms = self.component.common_terms
        # An auxiliary parameter's formula (sigma ~ x, bayesglmm.dpars) keeps Bambi's plain design:
        # its priors may be any, and its few columns need no QR.
        auxiliary = self.component.name != bmb_model.family.likelihood.parent
        if self.fixed_design != "qr" or not terms or auxiliary:
            return super().build_common_terms(pymc_backend, bmb_model)
        x = np.column_stack([t.data for t in terms.values()]).astype(float)
        if self.has_intercept and bmb_model.center_predictors:
            self.design_matrix_without_intercept = x
            x = x - x.mean(0)
        elif self.centre_design:
            x = x - x.mean(0)
            self.design_centred = True
        q, r = qr_factors(x)
        parent = bmb_model.family.likelihood.parent
        qr_name = QR_NAME if self.component.name == parent else f"{self.component.name}_{QR_NAME}"
        mu, sigma, slices, start = [], [], [], 0
        for term in terms.values():
            width = 1 if term.data.ndim == 1 else term.data.shape[1]
            mu.append(np.broadcast_to(np.asarray(term.prior.args["mu"], dtype=float), (width,)))
            sigma.append(np.broadcast_to(np.asarray(term.prior.args["sigma"], dtype=float), (width,)))
            slices.append(slice(start, start + width))
            start += width
        mu, sigma = np.concatenate(mu), np.concatenate(sigma)
        pymc_backend.model.add_coords({f"{qr_name}_dim": [f"q{j + 1}" for j in range(x.shape[1])]})
        theta = qr_normal(qr_name, r, mu, sigma, dims=f"{qr_name}_dim")
        beta = elementwise_dot(np.linalg.inv(r), theta)
        for term, cols in zip(terms.values(), slices):
            common = CommonTerm(term)
            for dim, values in common.coords.items():
                pymc_backend.model.add_coords({dim: values})
            dims = list(common.coords)
            value = beta[cols] if dims else beta[cols.start]
            pm.Deterministic(common.name, value, dims=dims or None)
        self.output += design_product(x, r, q, theta)

    def build_group_specific_terms(self, pymc_backend, bmb_model):
        terms = self.component.group_specific_terms
        if not terms:
            return
        if self.per_category:
            # The categorical family: every group effect has a category dimension, (levels, K - 1),
            # which Bambi's own product handles. The LKJ blocks and the centring around the intercept
            # or a parent below are written for one linear predictor; build_model refuses correlated
            # blocks for such a family and labels the terms plainly centred or non-centred.
            if any(block.correlated for block in self.blocks):
                raise PriorError("Correlated group blocks are not available with one linear predictor per "
                                 "category; write (1 + x || g) for independent effects.")
            return super().build_group_specific_terms(pymc_backend, bmb_model)
        noncentered = noncentered_default_for(bmb_model, self.component.name)
        coefs = {}
        for block, label in correlated_labels(self.blocks):
            members = [terms[name] for name in block.term_names]
            coefs.update(build_correlated_block(pymc_backend, members, self.etas.get(block.factor, 1.0), label))
        absorber = intercept_absorber(terms, self.has_intercept, correlated=set(coefs), marginalised=self.marginalised)
        totals = {}  # centred terms sampled as totals that include the intercept
        shifted = []  # contributions of self.mean_shifted's terms
        contribution = 0
        # Parents before their nested terms (a before a:b, a location before its broods), so a nested
        # term can be centred around its parent.
        order = sorted(terms, key=lambda name: (nesting_depth(name, terms), name.split("|", 1)[1].count(":")))
        for name, term in ((name, terms[name]) for name in order):
            gst = GroupSpecificTerm(term, noncentered)
            for dim, values in gst.coords.items():
                if dim not in pymc_backend.model.coords:
                    pymc_backend.model.add_coords({dim: values})
            parent = nested_parent(name, terms)
            centred = term.prior.noncentered is False
            if name in coefs:
                coef = coefs[name]
            elif name == absorber:
                around = self.intercept
                if parent in coefs:  # nested below a term sampled apart: around the parent's effect too
                    around = around + coefs[parent][parent_levels(term.group_index, terms[parent].group_index)]
                coef, totals[name] = build_centred_total(gst, around, self.partial.get(name))
            elif centred and parent in coefs and name != self.marginalised:
                # Around the parent's total where it includes the intercept, else around its effect.
                around = totals.get(parent, coefs[parent])
                coef, total = build_centred_total(gst, around[parent_levels(term.group_index, terms[parent].group_index)],
                                                  self.partial.get(name))
                if parent in totals:
                    totals[name] = total
            elif name in self.partial:  # partially centred around zero
                coef, _ = build_centred_total(gst, 0.0, self.partial[name])
            else:
                coef = gst.build(bmb_model)
            coefs[name] = coef
            term_contribution = coef[term.group_index]
            if not is_unit(term.predictor):  # a group intercept's predictor is ones: no pass over the rows
                term_contribution = term_contribution * term.predictor
            if term.predictor.ndim > 1:
                term_contribution = term_contribution.sum(axis=1)
            contribution += term_contribution
            if name in self.mean_shifted:
                shifted.append(term_contribution)
        self.output += contribution
        if self.mean_shifted:
            self.output += build_intercept_at_mean(self.component.intercept_term, pt.mean(sum(shifted)))


#: Suffix of a family parameter sampled at the means of the fixed-effect columns.
CENTRED_SUFFIX = "_centred"


def column_shift(model, terms):
    """``mean(x) @ beta``: the linear predictor of the common terms at their columns' means.

    ``terms`` are Bambi's common terms; each coefficient is read from ``model`` under the
    term's name (an RV, or the Deterministic of the QR parameterisation).

    Examples
    --------
    >>> import pymc as pm
    >>> class T: data = np.array([[1.0, 0.0], [3.0, 1.0]])
    >>> with pm.Model() as m:
    ...     b = pm.Normal("x", shape=2)
    >>> float(column_shift(m, {"x": T()}).eval({b: np.array([2.0, 4.0])}))  # 2 * 2 + 0.5 * 4
    6.0
    """
    shift = 0.0
    for name, term in terms.items():
        means = np.asarray(term.data, dtype=float).reshape(len(term.data), -1).mean(0)
        shift = shift + pt.dot(means, pt.flatten(model[name]))
    return shift


def build_centred_parameter(pymc_backend, bmb_model, component):
    """A family parameter in the intercept's place, sampled as ``{name}_centred``; returns its builder.

    Built as Bambi's :class:`ConstantComponent` builds it (same prior, transform and
    dimension values), under the name ``{name}_centred``: the parameter at the means of the
    fixed-effect columns, where its default prior (the marginal shares of the categories)
    describes it. :meth:`GLMMBackend.build` then adds the parameter at zero, under its
    own name.

    Examples
    --------
    >>> built = build_centred_parameter(backend, bmb_model, bmb_model.parameters["threshold"])  # doctest: +SKIP
    >>> built.output.name  # doctest: +SKIP
    'threshold_centred'
    """
    renamed = copy.copy(component)
    renamed.alias = (component.alias or component.name) + CENTRED_SUFFIX
    built = ConstantComponent(renamed)
    built.build(pymc_backend, bmb_model)
    return built


#: Name of the potential that turns the likelihood into the weighted one.
WEIGHTS_POTENTIAL = "bayesglmm_weights_loglik"


def add_weights(model, weights: np.ndarray):
    """Make the model's likelihood ``sum_i w_i log p(y_i | theta)``: frequency weights.

    Bambi's ``weighted(y, w)`` response does this for its own formula syntax, but it cannot
    be combined with ``p(y, n)`` (one response term) and Bambi's ``compute_log_likelihood``
    ignores it (the pointwise values stay unweighted). Here the response keeps Bambi's
    distribution, and the potential ``sum_i (w_i - 1) log p(y_i)`` adds what the weights
    add; every family gets it, and the pointwise log-likelihood is weighted in
    :func:`bayesglmm.fit.add_log_likelihood`.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu")
    ...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.0]))
    >>> _ = add_weights(m, np.array([2.0, 0.0]))
    >>> logp = m.compile_logp()({"mu": 0.0})
    >>> bool(np.isclose(logp, pm.logp(pm.Normal.dist(), 0.0).eval() + 2 * pm.logp(pm.Normal.dist(), 0.5).eval()))
    True
    """
    with model:
        response = model.observed_RVs[0]
        loglik = model.logp(vars=[response], sum=False)[0]
        return pm.Potential(WEIGHTS_POTENTIAL, ((np.asarray(weights, dtype=float) - 1.0) * loglik).sum())


def build_linear_predictor_response(backend, spec, likelihood):
    """The response's likelihood reading the linear predictor, where Bambi's reads the mean.

    ``likelihood`` is the family's (:meth:`bayesglmm.families.base.Family.linear_predictor_likelihood`),
    called as Bambi calls its own with ``eta=`` in place of the mean. Bambi's per-row mean
    is still added under its own name (``p``), so the model's variables are Bambi's; the
    sampler's log density no longer passes through it. Only a plain response takes this
    path (:func:`takes_linear_predictor`).

    Examples
    --------
    >>> build_linear_predictor_response(backend, spec, LogitBernoulli)  # doctest: +SKIP
    """
    term = spec.response_term
    parent = spec.family.likelihood.parent
    eta = backend.components[parent].output
    linkinv = get_linkinv(spec.family.link[parent], backend.INVLINKS)
    pm.Deterministic(spec.parameters[parent].alias or parent, linkinv(eta), dims=("__obs__",))
    kwargs = {"observed": np.squeeze(term.data), "dims": ("__obs__",)}
    if hasattr(spec.family, "transform_backend_kwargs"):  # binomial: observed -> successes, trials n
        kwargs = spec.family.transform_backend_kwargs(kwargs)
    return likelihood(term.alias or term.name, eta=eta, **kwargs)


def takes_linear_predictor(spec, components) -> bool:
    """Whether the response can take a likelihood on the linear predictor: one plain predictor.

    Not for a censored, truncated, constrained or Bambi-weighted response (Bambi wraps its
    likelihood for those), nor with more than the mean's component.

    Examples
    --------
    >>> takes_linear_predictor(spec, backend.components)  # doctest: +SKIP
    True
    """
    term = spec.response_term
    special = term.is_censored or term.is_truncated or term.is_constrained or term.is_weighted
    return not special and list(components) == [spec.family.likelihood.parent]


class GLMMBackend(PyMCModel):
    """Bambi's PyMC backend with :class:`GLMMComponent` for the model's linear predictors.

    Parameters
    ----------
    blocks : sequence of bayesglmm.formula.GroupBlock
        The formula's group blocks; correlated ones get an LKJ prior.
    etas : dict
        LKJ shape per grouping factor (default 1).
    fixed_design : {"qr", "plain"}
        Fixed effects sampled on the QR decomposition of the centred design, or as Bambi
        samples them (centred columns, each coefficient on its own scale).
    weights : numpy.ndarray, optional
        Frequency weights, one per row: the log density gets ``sum_i w_i log p(y_i)``
        (:func:`add_weights`).
    per_category : bool
        One linear predictor per non-reference category (the categorical family): the group
        effects are built as Bambi builds them (``fixed_design`` must be ``"plain"``).
    marginalised : str, optional
        The group term the engine integrates out (built plainly centred).
    partial : dict, optional
        Partially centred group term -> its levels' information (:func:`build_partial_total`).
    likelihood : optional
        The family's likelihood on the linear predictor (:func:`build_linear_predictor_response`);
        None: Bambi's response.

    Examples
    --------
    >>> import bambi as bmb, pandas as pd
    >>> from bayesglmm.formula import parse_formula
    >>> df = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 0.5, 1.7], "x": [0, 1, 2, 3, 0, 1],
    ...                    "g": pd.Categorical(list("aabbcc"))})
    >>> pf = parse_formula("y ~ x + (1 + x | g)", df.columns)
    >>> m = bmb.Model(pf.bambi, df)
    >>> m.backend = GLMMBackend(pf.blocks, {}); m.backend.build(m); m.built = True
    >>> "g_corr" in m.backend.model.named_vars
    True
    """

    def __init__(self, blocks, etas, fixed_design="qr", weights=None, intercept_parameters=(), per_category=False,
                 marginalised=None, partial=None, likelihood=None):
        super().__init__()
        self.likelihood = likelihood
        self.marginalised = marginalised
        self.partial = dict(partial or {})
        self.per_category = bool(per_category)
        if self.per_category and fixed_design == "qr":
            raise SettingsError("The QR design is written for one linear predictor; a categorical model (one per "
                                "category) takes fixed_design='plain'.")
        self.blocks = tuple(blocks)
        self.etas = dict(etas)
        self.fixed_design = fixed_design
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        self.intercept_parameters = tuple(intercept_parameters)

    def build(self, spec):
        """Build the PyMC model as Bambi does, with correlated blocks."""
        self.model = pm.Model()
        self.components = {}
        for name, values in spec.response_term.coords.items():
            if name not in self.model.coords:
                self.model.add_coords({name: values})
        parent = spec.parameters[spec.family.likelihood.parent]
        # Cut-points in the intercept's place are sampled at the columns' means, as an intercept is:
        # there the default prior describes them, and they are not correlated with the slopes.
        centred = [name for name in self.intercept_parameters if name in spec.marginal_parameters
                   and parent.common_terms and not isinstance(spec.marginal_parameters[name].prior, (int, float))]
        with self.model:
            for name, component in spec.marginal_parameters.items():
                if name in centred:
                    self.components[name] = build_centred_parameter(self, spec, component)
                else:
                    self.components[name] = ConstantComponent(component)
                    self.components[name].build(self, spec)
            for name, component in spec.conditional_parameters.items():
                self.components[name] = GLMMComponent(component, self.blocks, self.etas, self.fixed_design,
                                                      centre_design=bool(centred), per_category=self.per_category,
                                                      marginalised=self.marginalised, partial=self.partial)
                self.components[name].build(self, spec)
            for name in centred:
                self._add_at_zero(name, spec)
            if self.likelihood is not None and takes_linear_predictor(spec, self.components):
                build_linear_predictor_response(self, spec, self.likelihood)
            else:
                self.response_component = ResponseComponent(spec.response_term)
                self.response_component.build(self, spec)
            if self.weights is not None:
                add_weights(self.model, self.weights)
            self.build_potentials(spec)
        self.spec = spec

    def _add_at_zero(self, name, spec):
        """The centred parameter ``name`` at zero predictors: ``{name} = {name}_centred + mean(x) @ beta``.

        The likelihood reads ``threshold - x beta``. Where the QR design is centred its
        linear predictor is ``(x - mean(x)) beta`` and takes the centred parameter itself;
        Bambi's plain design is not centred and takes the one at zero. Both are the same
        ``threshold_centred - (x - mean(x)) beta``.
        """
        component = self.components[name]
        conditional = self.components[spec.family.likelihood.parent]
        label = spec.marginal_parameters[name].alias or name
        shift = column_shift(self.model, spec.parameters[spec.family.likelihood.parent].common_terms)
        self.model.add_coords({f"{label}_dim": self.model.coords[f"{label}{CENTRED_SUFFIX}_dim"]})
        at_zero = pm.Deterministic(label, component.output + shift, dims=f"{label}_dim")
        if not conditional.design_centred:
            component.output = at_zero
