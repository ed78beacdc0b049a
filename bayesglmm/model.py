"""Formula + data + family + priors -> a built Bambi model with a PyMC graph.

:func:`build_model` is the first public step of :func:`bayesglmm.fit` (like lme4's
``glFormula``): it checks everything, sets the priors and builds the graph, and samples
nothing. The returned :class:`ModelSpec` is what every later step works from.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import warnings
from dataclasses import dataclass, field
from typing import Literal

import bambi as bmb
import numpy as np
import pandas as pd

from bayesglmm import bambi_speedups, censoring, formulae_speedups, marginal
from bayesglmm import dpars as dpar_tools
from bayesglmm.backend import (GLMMBackend, intercept_absorber, nested_parent, nesting_depth, parent_levels,
                               qr_applicable)
from bayesglmm.errors import FamilyError, FormulaError, PriorError, SettingsError
from bayesglmm.families import Family, get_family
from bayesglmm.request import ModelRequest
from bayesglmm.formula import ParsedFormula, parse_formula
from bayesglmm.parameterization import PARTIAL, as_choice, centred_around, centred_label
from bayesglmm.priors import (DEFAULT_LKJ_ETA, check_prior_names, check_prior_shapes, check_prior_values, default_priors,
                              describe, valid_prior_names)
from bayesglmm.validate import PreparedData, SeparationWarning, prepare_data, separated_columns

logging.getLogger("bambi").setLevel(logging.WARNING)


@dataclass
class ModelSpec:
    """Everything that defines a model, before any sampling.

    Attributes
    ----------
    formula : ParsedFormula
        The formula as read (``formula.original`` is the user's text).
    family : Family
        The response family.
    link : str
        The link function.
    data : PreparedData
        The checked model frame and notes on what was done to it.
    bambi_model : bambi.Model
        The built Bambi model; ``bambi_model.backend.model`` is the PyMC model.
    priors : dict
        Term name -> the prior used.
    prior_sources : dict
        Term name -> ``"default"`` or ``"user"``.
    lkj_eta : dict
        Grouping factor -> LKJ shape of its correlated block.
    parameterization : dict
        Group term -> ``"centred"`` or ``"non-centred"``, with how a centred term is sampled:
        ``"centred (LKJ)"``, ``"centred (around 1|a)"``, ``"centred (around the intercept)"``,
        ``"partially centred (around the intercept)"`` (:mod:`bayesglmm.parameterization`).
    level_information : dict
        Group term -> :class:`LevelInformation` (information, between-level SD, score).
    fixed_design : str
        ``"qr"`` (fixed effects sampled on the QR decomposition of the centred design) or
        ``"plain"`` (as Bambi samples them).
    fixed_design_reason : str
        Why: the default, the user's choice, or what prevented QR.
    request : ModelRequest
        What was asked (:mod:`bayesglmm.request`): every rebuild of this model starts from it.
    compiled : dict
        This process's compiled forms of the model (:func:`bayesglmm.engine.compiled_for`).
    weights : str or None
        The column of observation (frequency) weights, kept in ``data.frame``; None without.
    dpars : dict
        Family parameter -> the right side of its own formula (``{"sigma": "x"}``); empty
        when every family parameter is one constant (:mod:`bayesglmm.dpars`).
    """

    formula: ParsedFormula
    family: Family
    link: str
    data: PreparedData
    bambi_model: bmb.Model
    priors: dict
    prior_sources: dict
    lkj_eta: dict = field(default_factory=dict)
    parameterization: dict = field(default_factory=dict)
    level_information: dict = field(default_factory=dict)
    fixed_design: str = "plain"
    fixed_design_reason: str = ""
    request: ModelRequest | None = None
    compiled: dict = field(default_factory=dict, repr=False, compare=False)
    weights: str | None = None
    dpars: dict = field(default_factory=dict)

    @property
    def weight_values(self) -> np.ndarray | None:
        """The rows' observation weights (None without a weights column)."""
        return None if self.weights is None else self.data.frame[self.weights].to_numpy(dtype=float)

    @property
    def pymc_model(self):
        """The PyMC model (built by :mod:`bayesglmm.backend`)."""
        return self.bambi_model.backend.model

    @property
    def n_obs(self) -> int:
        """Number of rows used in the fit."""
        return len(self.data.frame)

    def parameterization_choice(self) -> dict:
        """Group term -> ``"centred"``, ``"non-centred"``, ...: the choice made, as ``build_model`` takes it.

        Rebuilding with this dict gives the same parameterisation on any data (the ``auto``
        rule may choose otherwise on other rows); how a centred term is sampled (around its
        parent, in an LKJ block) follows from the model and is not part of the choice.

        Examples
        --------
        >>> spec.parameterization_choice()  # doctest: +SKIP
        {'1|centre': 'centred'}
        """
        return {term: as_choice(label) for term, label in self.parameterization.items()}

    @property
    def marginalised(self) -> str | None:
        """The group term integrated out of the sampled model (:mod:`bayesglmm.marginal`), or None."""
        return next((term for term, label in self.parameterization.items() if label == marginal.LABEL), None)

    def group_levels(self) -> dict:
        """Grouping expression (``a``, ``a:b``) -> number of levels in the data.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "g": list("aabb")})
        >>> build_model("y ~ 1 + (1|g)", df, family="bernoulli").group_levels()
        {'g': 2}
        """
        out = {}
        for block in self.formula.blocks:
            cols = block.factor.split(":")
            out[block.factor] = int(self.data.frame[cols].drop_duplicates().shape[0])
        return out

    @property
    def centred_parameters(self) -> list[str]:
        """Family parameters in the intercept's place sampled at the fixed-effect columns' means.

        The ordinal cut-points of a model with fixed effects (see
        :class:`bayesglmm.backend.GLMMBackend`): their prior applies there; they are
        reported at zero predictors.
        """
        from bayesglmm.backend import CENTRED_SUFFIX

        return [name for name in self.family.intercept_parameters
                if f"{name}{CENTRED_SUFFIX}" in self.pymc_model.named_vars]

    def prior_table(self) -> pd.DataFrame:
        """One row per term: the prior and whether it is the default or the user's."""
        from bayesglmm.dpars import coefficient_names

        centred = self.centred_parameters
        aux = coefficient_names(self.bambi_model, self.dpars)
        rows = [
            {"term": name, "source": self.prior_sources.get(name, "default"),
             "prior": describe(prior) + (" at the means of the fixed-effect columns" if name in centred else "")
             + (f" on the {self.family.dpar_links[aux[name][0]]} scale of {aux[name][0]}" if name in aux else "")}
            for name, prior in self.priors.items()
        ]
        if self.family.per_category_predictor:  # one coefficient (group SD) per non-reference category
            labels = self.family.category_labels(self.data.frame[self.formula.response])
            terms = self.bambi_model.parameters[self.bambi_model.family.likelihood.parent].terms
            for row in rows:
                if row["term"] in terms:
                    row["prior"] += f", per category ({', '.join(labels[1:])}; reference {labels[0]})"
        for factor, eta in self.lkj_eta.items():
            rows.append({"term": f"{factor}_corr", "prior": f"LKJCorr(eta={eta:g})",
                         "source": self.prior_sources.get(f"{factor}_corr", "default")})
        return pd.DataFrame(rows, columns=["term", "prior", "source"])


def _response_arrays(pd_frame: pd.DataFrame, pf: ParsedFormula, family: Family):
    y = family.response_array(pd_frame[pf.response])
    trials = pd_frame[pf.trials].to_numpy(dtype=float) if pf.trials else None
    return y, trials


# Centred group effects sample better when each level's data pin its effect down relative
# to the spread of the effects (the likelihood dominates the prior), non-centred ones when
# they do not (Betancourt & Girolami 2015, arXiv:1312.0906). The rule, for group
# intercepts: centred when (median information per level) x (between-level variance)
# >= CENTRED_MIN_SCORE, both estimated from the data before sampling: the information is
# the Fisher information about a level's linear predictor at the overall mean, and the
# between-level variance is a method-of-moments estimate from the levels' link-scale means.
# Slopes and correlated blocks stay non-centred. Measured by benchmarks/parameterization.py
# (4 chains x 1000, low-rank mass matrix): multicentre (score 13.9) min bulk ESS 2650-3068
# centred vs 556-701 non-centred; betablocker (score 10.8) 2624-3180 vs 667-675; cbpp's herd
# effect beside an observation-level effect (score 3.6: its between-level SD estimate
# includes the observation-level noise) failed centred (R-hat 1.014, ESS
# 247, a divergence) and converged non-centred (ESS 454-646).
# Nesting found in the data counts as written nesting (issue 16): lme4's grouseticks,
# (1|BROOD) + (1|INDEX) + (1|LOCATION) with every brood in one location, was scored as
# three crossed factors (location 20.9 and brood 9.6, both centred around zero: location
# SD bulk ESS 8-140 at the first attempt, 0 of 10 seeds converged after the ladder); as
# nested terms the location's score (1.15, its broods' spread counted as noise) makes it
# non-centred and the broods (5.5) are sampled around their location (10 of 10 converged).
CENTRED_MIN_SCORE = 5.0

Parameterization = Literal["auto", "centred", "non-centred", "marginalised"]


@dataclass(frozen=True)
class LevelInformation:
    """How well the data inform a group term's levels (see :func:`level_information`).

    Attributes
    ----------
    information : float
        Median over levels of the information about a level's effect on the link scale:
        the inverse of the noise variance of its mean (sampling noise plus, for a parent
        factor, its nested levels' spread).
    between_sd : float
        Method-of-moments estimate of the SD of the level effects (link scale).
    score : float
        ``information * between_sd**2``; centred when at least ``CENTRED_MIN_SCORE``.
    """

    information: float
    between_sd: float
    score: float


def level_information(term, family: str | Family, y, trials=None, exposure=None, parent_index=None,
                      child: tuple | None = None) -> LevelInformation:
    """Information per level, between-level SD and the score the "auto" rule uses.

    The family gives each row's information (:meth:`~bayesglmm.families.Family.row_information`,
    divided by its :meth:`~bayesglmm.families.Family.information_scale`) and the levels'
    link-scale means (:meth:`~bayesglmm.families.Family.level_means`).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [3, 5, 2, 8], "n": [10, 10, 10, 10], "g": list("aabb")})
    >>> spec = build_model("p(y, n) ~ 1 + (1|g)", df, family="binomial")
    >>> spec.level_information["1|g"].information
    4.95
    """
    y = np.asarray(y, dtype=float)
    trials = None if trials is None else np.asarray(trials, dtype=float)
    exposure = np.ones(len(y)) if exposure is None else np.asarray(exposure, dtype=float)
    index = term.group_index
    n_levels = int(index.max()) + 1
    family = get_family(family)
    row_info = family.row_information(y, trials) / family.information_scale(y, index, n_levels)
    info = np.bincount(index, weights=row_info, minlength=n_levels)
    means = family.level_means(y, trials, exposure, index, n_levels)
    noise = 1.0 / info
    if child is not None:
        # A parent's level mean also averages its nested levels' effects (a hospital's
        # mean, its doctors'; a brood's, its observation-level effects): their variance over
        # the number of nested levels is noise.
        child_sd, child_index = child
        children = np.bincount(np.unique(np.c_[index, child_index], axis=0)[:, 0], minlength=n_levels)
        noise = noise + child_sd**2 / np.maximum(children, 1)
    if parent_index is not None:
        # A nested level's mean holds its parent's effect too (a doctor's, its hospital's):
        # measure the spread of the nested levels around their siblings' mean, pooled over
        # the parents with two or more (a parent's only level says nothing of the spread:
        # counting it as a zero deviation cut grouseticks' brood SD estimate from 1.02 to 0.71).
        parent_of = parent_levels(index, parent_index)
        siblings = np.bincount(parent_of)
        sibling_mean = np.bincount(parent_of, weights=means) / np.maximum(siblings, 1)
        shared = siblings[parent_of] > 1
        df = float(np.sum(siblings[siblings > 1] - 1))
        within = float(np.sum((means - sibling_mean[parent_of])[shared] ** 2)) / df if df else 0.0
        between = max(within - float(np.mean(noise[shared])), 0.0) if df else 0.0
    else:
        between = max(float(np.var(means, ddof=1)) - float(np.mean(noise)), 0.0) if n_levels > 1 else 0.0
    median_info = float(np.median(1.0 / noise))  # the information the level's mean carries
    return LevelInformation(round(median_info, 3), round(between**0.5, 3), round(median_info * between, 3))


def _set_parameterization(bm, chosen, pf, family, y, trials, choice, user_priors, *, link, dpars, weights,
                          per_category=False):
    """Mark each group term centred, non-centred or marginalised; return (labels, information)."""
    comp = bm.parameters[bm.family.likelihood.parent]
    correlated = {name for b in pf.correlated_blocks for name in b.term_names}
    offsets = [t.data.squeeze() for t in comp.offset_terms.values()]
    exposure = np.exp(sum(offsets)) if offsets else None
    y = family.information_response(y)
    labels, info = {}, {}
    terms = comp.group_specific_terms
    parents = {}
    for name in terms:
        expr, factor = name.split("|")
        parent = f"{expr}|{factor.rsplit(':', 1)[0]}" if ":" in factor else None
        if parent in terms:
            parents[name] = parent
        elif (found := nested_parent(name, terms)) is not None:  # found in the data: (1|brood) + (1|location)
            parents[name] = found
    # Nested (child) terms first: a parent's estimate needs its child's spread.
    for name in sorted(terms, key=lambda n: (-nesting_depth(n, terms), -n.count(":"))):
        term = terms[name]
        parent = parents.get(name)
        child = next(((info[c].between_sd, terms[c].group_index) for c, p in parents.items() if p == name), None)
        info[name] = level_information(term, family, y, trials, exposure,
                                       terms[parent].group_index if parent else None, child)
    info = {name: info[name] for name in terms}
    wanted = {name: choice.get(name, "auto") if isinstance(choice, dict) else choice for name in terms}
    for name, value in wanted.items():
        if value not in ("auto", "centred", "non-centred", PARTIAL, marginal.LABEL):
            raise SettingsError(f"parameterization for {name!r} must be 'auto', 'centred', 'non-centred', "
                                f"'{PARTIAL}' or '{marginal.LABEL}'; got {value!r}.")
        if value == PARTIAL and (name in correlated or per_category or terms[name].kind != "intercept"):
            raise SettingsError(f"parameterization for {name!r}: '{PARTIAL}' is for group intercepts outside a "
                                "correlated block, in families with one linear predictor; "
                                "choose 'centred' or 'non-centred'.")
    reasons = {name: marginal.refusal(term, family, link, prior=chosen[name], dpars=dpars, weights=weights,
                                      censored=pf.censored, correlated=name in correlated,
                                      is_parent=name in parents.values(),
                                      set_by_prior=name in user_priors and user_priors[name].noncentered is not None)
               for name, term in terms.items()}
    integrated = marginal.choose(terms, reasons, wanted)
    for name, term in terms.items():
        if name == integrated:  # sampled nowhere: integrated out, then drawn from its conditional (bayesglmm.marginal)
            chosen[name].noncentered = False
            labels[name] = marginal.LABEL
            continue
        if name in correlated:
            block = next(b for b in pf.correlated_blocks if name in b.term_names)
            lead = next((n for n in block.term_names if terms[n].kind == "intercept"), None)
            if wanted[name] == "auto":
                centred = lead is not None and info[lead].score >= CENTRED_MIN_SCORE
            else:
                centred = wanted[name] == "centred"
            chosen[name].noncentered = not centred
            labels[name] = "centred (LKJ)" if centred else "non-centred (LKJ)"
            continue
        if name in user_priors and user_priors[name].noncentered is not None and wanted[name] == "auto":
            centred = not user_priors[name].noncentered
        elif wanted[name] == "auto":
            centred = term.kind == "intercept" and info[name].score >= CENTRED_MIN_SCORE
        else:
            centred = wanted[name] in ("centred", PARTIAL)
        chosen[name].noncentered = not centred  # a partially centred term is built by bayesglmm.backend, not Bambi
        labels[name] = centred_label(partial=wanted[name] == PARTIAL) if centred else "non-centred"
    for name, parent in parents.items():
        # A centred nested intercept is sampled around its parent's (bayesglmm.backend).
        if labels[name] in ("centred", PARTIAL) and terms[name].kind == "intercept" \
                and terms[parent].kind == "intercept":
            labels[name] = centred_label(parent, partial=labels[name] == PARTIAL)
    return labels, info


def _label_intercept_absorber(bm, pf, labels) -> None:
    """Say which centred group intercept is sampled around the model's intercept (bayesglmm.backend)."""
    comp = bm.parameters[bm.family.likelihood.parent]
    correlated = {name for b in pf.correlated_blocks for name in b.term_names}
    integrated = next((name for name, label in labels.items() if label == marginal.LABEL), None)
    absorber = intercept_absorber(comp.group_specific_terms, comp.intercept_term is not None, correlated, integrated)
    if absorber is not None:
        parent = centred_around(labels[absorber])
        around = f"{parent} and the intercept" if parent else "the intercept"
        labels[absorber] = centred_label(around, partial=labels[absorber].startswith(PARTIAL))


def _warn_separation(bm, y, trials, priors) -> None:
    """Warn, before sampling, about predictors that separate the outcomes perfectly."""
    comp = bm.parameters[bm.family.likelihood.parent]
    design, prior_of = {}, {}
    for name, term in comp.common_terms.items():
        data = term.data if term.data.ndim == 2 else term.data[:, None]
        levels = list(getattr(term, "levels", None) or [])
        for j in range(data.shape[1]):
            if len(levels) == data.shape[1] and (data.shape[1] > 1 or getattr(term, "categorical", False)):
                label = f"{name}[{levels[j]}]"
            else:
                label = name if data.shape[1] == 1 else f"{name}[{j}]"
            design[label] = data[:, j]
            sigma = np.atleast_1d(priors[name].args.get("sigma", np.nan))
            prior_of[label] = f"Normal(0, {float(sigma[min(j, sigma.size - 1)]):.3g})"
    for found in separated_columns(design, y, trials):
        label = found.split(" (")[0]
        warnings.warn(
            f"Perfect separation: {found}. The likelihood alone pushes this coefficient to "
            f"infinity; its estimate stays finite only because of its prior, {prior_of[label]}, "
            "so its interval reflects the prior. Report it with that caveat, or state a prior "
            "you can defend (priors={...}).",
            SeparationWarning,
            stacklevel=4,
        )


def _text_as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns (``object`` or pandas' ``str``) as categoricals, as Bambi converts them.

    Bambi finds them with ``select_dtypes("object")``, which pandas 3 deprecates for ``str``
    columns (a ``Pandas4Warning``; pandas 4 will leave them out); converting them first gives
    Bambi the same frame it would have made, whatever pandas does.

    Examples
    --------
    >>> _text_as_categories(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})).dtypes.astype(str).tolist()
    ['category', 'int64']
    """
    text = [name for name, dtype in frame.dtypes.items() if dtype == object or isinstance(dtype, pd.StringDtype)]
    if not text:
        return frame
    frame = frame.copy()
    frame[text] = frame[text].apply(lambda column: column.astype("category"))
    return frame


def check_weights(data: pd.DataFrame, column, *, dropna: bool = False) -> tuple[pd.DataFrame, list]:
    """Check the observation-weights column; return ``(data, dropped row labels)``.

    The weights must be numbers, finite and non-negative, and not all zero. With
    ``dropna=True`` rows with a missing weight are dropped (their labels are returned);
    otherwise a missing weight is an error, as a missing value in any model column is.

    Raises
    ------
    DataError
        Naming the column, the first bad value and its rows.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "w": [1, -2]})
    >>> check_weights(df, "w")
    Traceback (most recent call last):
    ...
    bayesglmm.errors.DataError: Column 'w' holds the observation weights, which must be non-negative; found value -2 at row 1.
    """
    from bayesglmm.errors import DataError
    from bayesglmm.validate import _first_bad, _numeric

    if not isinstance(column, str) or column not in data.columns:
        known = ", ".join(map(str, data.columns))
        raise DataError(f"weights must name a column of the data; got {column!r}. Columns are: {known}.")
    raw = data[column]
    if pd.api.types.is_bool_dtype(raw):
        raise DataError(f"Column {column!r} holds the observation weights and must be numeric; it is boolean "
                        "(True/False). Convert it to numbers if 1/0 weights are meant.")
    dropped: list = []
    if raw.isna().any():
        if not dropna:
            raise DataError(f"Column {column!r} holds the observation weights and has missing values: "
                            f"{_first_bad(raw, raw.isna())}. Fill them in or pass dropna=True.")
        dropped = list(data.index[raw.isna()])
        data = data.loc[raw.notna()]
        raw = data[column]
    w = _numeric(raw, column, "the observation weights")
    for bad, what in ((~np.isfinite(w.to_numpy()), "finite"), (w.to_numpy() < 0, "non-negative")):
        if bad.any():
            raise DataError(f"Column {column!r} holds the observation weights, which must be {what}; "
                            f"found {_first_bad(raw, bad)}.")
    if len(w) and not (w > 0).any():
        raise DataError(f"Column {column!r} holds the observation weights and every one is zero: "
                        "no row would count in the likelihood.")
    return data, dropped


def _correlate_factor_blocks(pf: ParsedFormula, bm) -> ParsedFormula:
    """``pf`` with each single-term block of two or more columns, ``(0 + f | g)``, made correlated.

    lme4 and brms give the levels of a factor slope written alone one covariance matrix
    (``(0 + f | g)``: one SD per level and their correlations); only ``||`` keeps them
    independent. The width is known once Bambi has built the design.
    """
    terms = bm.parameters[bm.family.likelihood.parent].group_specific_terms
    blocks = []
    for block in pf.blocks:
        wide = (len(block.term_names) == 1 and block.term_names[0] in terms
                and np.ndim(terms[block.term_names[0]].predictor) == 2
                and terms[block.term_names[0]].predictor.shape[1] > 1)
        if wide and not block.correlated and not block.uncorrelated:
            block = dataclasses.replace(block, correlated=True)
        blocks.append(block)
    return dataclasses.replace(pf, blocks=tuple(blocks))


def build_model(formula: str, data, family: str = "gaussian", *, link: str | None = None,
                priors: dict | None = None, dropna: bool = False,
                parameterization: Parameterization | dict = "auto", fixed_design: str = "auto",
                weights: str | None = None, dpars: dict | None = None) -> ModelSpec:
    """Check the inputs, set the priors and build the PyMC model; sample nothing.

    Parameters
    ----------
    formula : str
        lme4/Bambi formula, e.g. ``"p(y, n) ~ treat + (1|centre)"``. ``(1 + x | g)`` is a
        correlated block, ``(1 + x || g)`` uncorrelated, ``(1|a/b)`` nested. Column names
        that are not Python identifiers (``ID.doctor``) may be written bare.
    data : pandas.DataFrame
        The data.
    family : str
        One of :data:`bayesglmm.families.FAMILIES`.
    link : str, optional
        The link; the family's default (logit, log, identity) if None.
    priors : dict, optional
        Term name -> ``bg.Prior`` to override a default, e.g.
        ``{"treat": bg.Prior("Normal", mu=0, sigma=1)}``; ``"g_corr"`` -> a number sets the
        LKJ shape of factor g's correlated block.
    dropna : bool
        Drop rows with missing values in the model's columns (the count is recorded)
        instead of raising.
    parameterization : {"auto", "centred", "non-centred", "partially centred", "marginalised"} or dict
        Of the group effects, for all terms or per term (``{"1|g": "centred"}``). "auto"
        picks centred for a group intercept when (median information per level) x
        (estimated between-level variance) >= ``CENTRED_MIN_SCORE`` (5); slopes and
        correlated blocks are non-centred. A centred intercept nested in another, written
        ``(1|a/b)`` or found in the data (``(1|b) + (1|a)`` with every level of b in one
        level of a: :func:`bayesglmm.backend.nested_parent`), is sampled around its
        parent's effect (label ``"centred (around 1|a)"``); the model is the same.
        ``"partially centred"`` samples a group intercept outside a correlated block between
        the two, by a weight that moves with its SD and its levels' information
        (:func:`bayesglmm.backend.build_partial_total`); the retry ladder uses it for a
        diverging non-centred parent of nested terms (:func:`bayesglmm.fit.parameterization_for`).
        ``"marginalised"`` (one term) integrates a group intercept out of a gaussian
        identity-link model and draws its effects afterwards from their exact conditional
        posterior (:mod:`bayesglmm.marginal`); "auto" does this for the intercept term with
        the most levels where it can (no weights, no ``sigma`` formula, not censored, not a
        slope, not in a correlated block, no term nested in it, a Normal(0, sd) prior).
    fixed_design : {"auto", "qr", "plain"}
        How the sampler sees the fixed effects. "auto" (default) samples them on the QR
        decomposition of the centred design, which makes their posterior close to
        uncorrelated and unit-scale whatever the predictors' units (a predictor in the
        thousands and its square: R-hat 1.00 instead of a failed fit); the priors, the
        model and every result stay on the user's scale. It uses "plain" (Bambi's:
        centred columns) when a fixed-effect prior is not a Normal with fixed arguments
        or the design is rank deficient, and says so in ``fixed_design_reason``.
    weights : str, optional
        Column of frequency weights (brms's ``y | weights(w)``, lme4's ``weights=``): each
        row's log-likelihood is multiplied by its weight, so a row of weight 3 counts as
        three identical rows. Numbers, finite and non-negative, not all zero (DataError
        naming the column, value and row otherwise). The pointwise log-likelihood stored for
        LOO is the weighted one (see :func:`bayesglmm.fit.add_log_likelihood`).
    dpars : dict, optional
        Family parameter -> its own formula (brms's ``bf(y ~ x, sigma ~ x)``, glmmTMB's
        ``dispformula``/``ziformula``): ``{"sigma": "~ x"}`` for the gaussian, Student-t or
        lognormal residual SD (log link), ``{"psi": "~ x"}`` for the zero-inflated and hurdle
        families' probability of the count process (logit link). Fixed effects only; the
        same allow-list of calls as ``formula``. The coefficients are ``sigma_Intercept``,
        ``sigma_x`` (priors by those names; defaults in :mod:`bayesglmm.dpars`).

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [2, 3, 5, 1], "n": [5, 5, 6, 4], "g": list("aabb")})
    >>> spec = build_model("p(y, n) ~ 1 + (1|g)", df, family="binomial")
    >>> spec.link, spec.n_obs
    ('logit', 4)
    >>> het = pd.DataFrame({"y": [1.0, 2.5, 0.3, 4.1, 2.2, 0.9], "x": [0.0, 1.0, 0.0, 2.0, 1.0, 0.5]})
    >>> spec = build_model("y ~ x", het, dpars={"sigma": "~ x"})  # log(sigma) = a + b x
    >>> spec.dpars, [t for t in spec.prior_table()["term"] if t.startswith("sigma_")]
    ({'sigma': 'x'}, ['sigma_Intercept', 'sigma_x'])
    """
    fam = get_family(family)
    link = fam.check_link(link)
    if not isinstance(data, pd.DataFrame):
        from bayesglmm.errors import DataError

        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    pf = parse_formula(formula, data.columns)
    dpars = dpar_tools.normalise_dpars(dpars, fam, data.columns)
    if dpars:  # the auxiliary formulas' columns are checked, converted and kept with the model frame
        extra = [c for c in dpar_tools.dpar_columns(dpars, data.columns) if c not in pf.columns]
        pf = dataclasses.replace(pf, columns=tuple(pf.columns) + tuple(extra))
    if fam.needs_trials and pf.trials is None:
        raise FormulaError(f"A binomial model's response is written p(successes, trials), e.g. 'p(y, n) ~ x'; got {formula!r}.")
    no_weight = []
    if weights is not None:
        data, no_weight = check_weights(data, weights, dropna=dropna)
    prepared = prepare_data(data, pf, fam, dropna=dropna)
    prepared.frame = censoring.check_status(prepared.frame, pf, fam)  # censored(time, status): Bambi's labels
    weight_values = None
    if weights is not None:
        column = data[weights] if len(prepared.frame) == len(data) else data.loc[prepared.frame.index, weights]
        weight_values = pd.to_numeric(column).to_numpy(dtype=float)
        if not (weight_values > 0).any():
            from bayesglmm.errors import DataError

            raise DataError(f"Column {weights!r} holds the observation weights and every used row's is zero.")
        if weights not in prepared.frame.columns:
            prepared.frame[weights] = weight_values  # kept with the model frame: saved and reloaded with the fit
        if no_weight:
            prepared.dropped_rows = list(no_weight) + list(prepared.dropped_rows)
            prepared.notes.append(f"{len(no_weight)} row(s) with a missing weight ({weights!r}) were dropped")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            with formulae_speedups.patched():  # grouping factors as level codes, in this model only
                model_formula = bmb.Formula(pf.bambi, *dpar_tools.bambi_formulas(dpars, data.columns)) if dpars \
                    else pf.bambi
                bm = bmb.Model(model_formula, _text_as_categories(prepared.frame), family=fam.bambi_name, link=link,
                               dropna=False)
        except (ValueError, TypeError, KeyError) as err:
            raise FormulaError(f"Bambi could not build {formula!r} with family {fam.name!r}: {err}") from err
    if fam.likelihood_dist() is not None:  # the family's numerically safer copy of Bambi's PyMC distribution
        bm.family.likelihood.dist = fam.likelihood_dist()
    censoring.attach_log_likelihood(bm)  # censored rows: log S(t) in the stored log-likelihood, as in sampling
    pf = _correlate_factor_blocks(pf, bm)
    if fam.per_category_predictor and pf.correlated_blocks:
        block = pf.correlated_blocks[0]
        raise FormulaError(
            f"({block.lhs} | {block.factor}) is a correlated block, which the {fam.name} family does not take: "
            "each non-reference category has its own linear predictor, and Bambi 0.21 gives the group effects of "
            f"each category independent normal priors. Write ({block.lhs} || {block.factor}) for independent "
            "effects (one SD per term and category).")
    if priors is not None and not isinstance(priors, dict):  # dict() would read a list of pairs silently
        raise PriorError(f"priors must be a dict of term -> bg.Prior, e.g. {{'x': bg.Prior('Normal', mu=0, sigma=1)}}; "
                         f"got {type(priors).__name__}.")
    user = dict(priors or {})
    etas = {b.factor: DEFAULT_LKJ_ETA for b in pf.correlated_blocks}
    for key in [k for k in user if k.endswith("_corr")]:
        factor = key[: -len("_corr")]
        if factor not in etas:
            raise PriorError(f"{key!r}: the formula has no correlated block on {factor!r}; correlated factors: {', '.join(etas) or 'none'}.")
        value = user.pop(key)
        eta = value.args.get("eta") if isinstance(value, bmb.Prior) else value
        if not np.isscalar(eta) or float(eta) <= 0:
            raise PriorError(f"{key!r} takes the LKJ shape eta > 0 (a number or bg.Prior('LKJCorr', eta=2)); got {value!r}.")
        etas[factor] = float(eta)

    aux_names = dpar_tools.coefficient_names(bm, dpars)
    check_prior_names(user, [n for n in valid_prior_names(bm, pf.blocks) if n not in dpars] + list(aux_names))
    check_prior_values(user)
    check_prior_shapes(user, bm)
    y, trials = _response_arrays(prepared.frame, pf, fam)
    defaults = {name: prior for name, prior in default_priors(bm, fam, link, y, trials).items() if name not in dpars}
    defaults.update(dpar_tools.default_priors(bm, fam, y, dpars))
    chosen = {**defaults, **user}
    if isinstance(parameterization, dict):
        unknown = [k for k in parameterization if k not in bm.parameters[bm.family.likelihood.parent].group_specific_terms]
        if unknown:
            raise PriorError(f"parameterization names unknown group terms: {', '.join(unknown)}.")
    labels, info = _set_parameterization(bm, chosen, pf, fam, y, trials, parameterization, user, link=link,
                                         dpars=dpars, weights=weight_values, per_category=fam.per_category_predictor)
    if fam.can_separate:
        _warn_separation(bm, y, trials, chosen)
    bm.set_priors(priors=dpar_tools.nest_priors(chosen, aux_names))
    if fam.per_category_predictor:  # Bambi's own group effects (bayesglmm.backend): none centred around another
        labels = {name: label.split(" (")[0] for name, label in labels.items()}
    else:
        _label_intercept_absorber(bm, pf, labels)
    sources = {name: ("user" if name in user or f"{name}_corr" in (priors or {}) else "default") for name in chosen}
    for factor in etas:
        sources[f"{factor}_corr"] = "user" if f"{factor}_corr" in (priors or {}) else "default"
    # Family parameters that keep Bambi's default (gaussian sigma, negative binomial alpha).
    for name, comp in bm.parameters.items():
        if name != bm.family.likelihood.parent and name not in chosen and name not in dpars and hasattr(comp, "prior"):
            chosen[name] = comp.prior
            sources[name] = "default"
    design, reason = _fixed_design(bm, fixed_design, centred=bool(fam.intercept_parameters),
                                   per_category=fam.per_category_predictor)
    bm.backend = GLMMBackend(pf.blocks, etas, design, weights=weight_values, intercept_parameters=fam.intercept_parameters,
                             per_category=fam.per_category_predictor,
                             marginalised=next((t for t, lab in labels.items() if lab == marginal.LABEL), None),
                             partial={t: info[t].information for t, lab in labels.items() if lab.startswith(PARTIAL)},
                             likelihood=fam.linear_predictor_likelihood(link))
    bm.backend.build(bm)
    bm.built = True
    bambi_speedups.apply(bm)  # the fast group-effect product, on this model's components only
    request = ModelRequest(formula, fam.name, link, dict(priors or {}), bool(dropna),
                           copy.deepcopy(parameterization), fixed_design, weights, dict(dpars))
    return ModelSpec(pf, fam, link, prepared, bm, chosen, sources, etas, labels, info, design, reason, request,
                     weights=weights, dpars=dict(dpars))


#: Why a family with one linear predictor per category (categorical) samples Bambi's plain design.
PER_CATEGORY_DESIGN = ("QR not used: one linear predictor per non-reference category (coefficients with a category "
                       "dimension); the QR parameterisation is written for a single linear predictor")


def _fixed_design(bm, wanted: str, centred: bool = False, per_category: bool = False) -> tuple[str, str]:
    """``("qr" or "plain", reason)`` for the model's fixed effects.

    The design is checked as the backend uses it: centred where there is an intercept or
    a family parameter in its place (``centred``). A family with one linear predictor per
    category (``per_category``) takes the plain design (:data:`PER_CATEGORY_DESIGN`).
    """
    if wanted not in ("auto", "qr", "plain"):
        raise SettingsError(f"fixed_design must be 'auto', 'qr' or 'plain'; got {wanted!r}.")
    if wanted == "plain":
        return "plain", "requested"
    if per_category:
        if wanted == "qr":
            raise SettingsError(f"fixed_design='qr' is not possible here: {PER_CATEGORY_DESIGN[len('QR not used: '):]}.")
        return "plain", PER_CATEGORY_DESIGN
    comp = bm.parameters[bm.family.likelihood.parent]
    terms = comp.common_terms
    if not terms:
        return "plain", "no fixed-effect columns besides the intercept"
    x = np.column_stack([t.data for t in terms.values()]).astype(float)
    if comp.intercept_term is not None or centred:
        x = x - x.mean(0)
    problem = qr_applicable(terms, x)
    if problem is None:
        return "qr", "requested" if wanted == "qr" else "default"
    if wanted == "qr":
        raise SettingsError(f"fixed_design='qr' is not possible here: {problem}.")
    return "plain", f"QR not used: {problem}"


def family_of(spec: ModelSpec) -> str:
    """Family and link as text, e.g. ``binomial (logit link)``."""
    return f"{spec.family.name} ({spec.link} link)"


__all__ = ["ModelSpec", "build_model", "FamilyError"]
