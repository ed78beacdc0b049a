"""The course's modelling questions as functions: each answers with a verdict and its evidence.

* :func:`random_effects_needed` - GLM against GLMM: cross-validated elpd (:func:`bayesglmm.compare`)
  and the group SD's posterior against its prior.
* :func:`fixed_effect_needed` - a model with and without one term: elpd, the posterior
  probability of the effect's sign, and of a region of practical equivalence (ROPE).

Decision rule (the same constants drive the code)
-------------------------------------------------
Let ``d`` be the elpd of the larger model minus that of the smaller one and ``se`` the
standard error of that difference (paired over rows), and ``z = d / se``.

* The larger model is **clearly better** when ``z > 4`` and ``d > 4``: four standard
  errors, and not a small difference in absolute terms (below 4 the difference is small
  whatever its SE, and the normal approximation behind the SE is poor; Sivula et al. 2025,
  arXiv:2008.10296, and the loo package's FAQ).
* The models **predict alike** when ``z <= 2`` (the difference is within two standard
  errors, either way) or ``d <= 4``; the larger model is **worse** when ``z < -2``.
* Otherwise (``2 < z <= 4`` and ``d > 4``) the comparison is **not conclusive**.

Fixed effect: *needed* when clearly better; *not needed* when alike or worse (keep the
simpler model); *unclear* otherwise. The effect's posterior probabilities are reported
alongside but do not change the decision.

Random effects: the cross-validation is read together with the group SD, because
between-group variation that is clearly not negligible is evidence for the GLMM by
itself (the GLM assumes it is zero). With ``P(SD > sd_min)`` the posterior probability
that a group SD exceeds ``sd_min`` (default 0.1 on the link scale) and "clearly
positive" meaning that probability is at least 0.95 for some group SD:

* *needed* when the GLMM is clearly better, or when it is better by more than 2 SE
  (``z > 2``, ``d > 4``) and a group SD is clearly positive;
* *not needed* when the GLMM is not better by more than 2 SE (or by more than 4 in elpd)
  and no group SD is clearly positive, or when the GLMM is worse (``z < -2``);
* *unclear* otherwise.

On the course's multicentre data (22 binomial rows, 11 centres) the GLMM's elpd is higher
by about 30 with an SE of about 14 (2.1 SE; most of the SE comes from a few centres the
GLM cannot fit), and the centre SD is about 1.2 with P(SD > 0.1) = 1: random effects are
needed. The treatment term changes the elpd by less than 2 SE: it is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesglmm.compare import Comparison, compare
from bayesglmm.errors import SettingsError, TermError
from bayesglmm.summary import _elements, interval_bounds

# Decision thresholds (see the module docstring).
CLEAR_SE = 4.0  # |d| above this many SEs of the difference: a clear difference
SIMILAR_SE = 2.0  # |d| within this many SEs: no detectable difference
SMALL_ELPD = 4.0  # |d| at or below this: a small difference whatever its SE
SD_PROB = 0.95  # P(SD > sd_min) at or above this: the group SD is clearly positive
DEFAULT_SD_MIN = 0.1  # on the link scale


@dataclass
class Answer:
    """The answer to one modelling question.

    Attributes
    ----------
    question : str
        The question asked, in words.
    decision : str
        ``"needed"``, ``"not needed"`` or ``"unclear"`` (see the module's decision rule).
    verdict : str
        One line in plain language, with the numbers behind the decision.
    elpd_diff : float
        elpd of the larger model minus that of the smaller one.
    dse : float
        Standard error of ``elpd_diff``.
    table : pandas.DataFrame
        The evidence besides cross-validation: group SDs against their priors, or the
        effect's interval and probabilities.
    comparison : Comparison
        The full cross-validation result (``comparison.table``).

    Examples
    --------
    >>> ans = random_effects_needed(glm, glmm)  # doctest: +SKIP
    >>> ans.decision, ans.z  # doctest: +SKIP
    ('needed', 2.1...)
    >>> print(ans)  # doctest: +SKIP
    """

    question: str
    decision: str
    verdict: str
    elpd_diff: float
    dse: float
    table: pd.DataFrame
    comparison: Comparison

    @property
    def z(self) -> float:
        """``elpd_diff / dse`` (infinite when the SE is 0 and the difference is not).

        Examples
        --------
        >>> fixed_effect_needed(glmm, null, "treat").z  # doctest: +SKIP
        -1.7...
        """
        if self.dse > 0:
            return self.elpd_diff / self.dse
        return 0.0 if self.elpd_diff == 0 else float(np.sign(self.elpd_diff) * np.inf)

    def __str__(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            return "\n".join([
                f"Question: {self.question}",
                f"Verdict: {self.verdict}",
                "",
                str(self.comparison),
                "",
                self.table.to_string(float_format=lambda v: f"{v:.3f}"),
            ])

    def __repr__(self) -> str:
        return self.__str__()


def loo_reading(d: float, se: float) -> str:
    """Read an elpd difference (larger minus smaller model) by the rule of the module docstring.

    Parameters
    ----------
    d, se : float
        elpd of the larger model minus that of the smaller one, and its standard error.

    Returns
    -------
    str
        ``"better"`` (the larger model clearly predicts better), ``"alike"``, ``"worse"``
        or ``"leaning"`` (better by more than 2 SE but not clearly).

    Examples
    --------
    >>> loo_reading(50.0, 5.0), loo_reading(3.9, 0.1), loo_reading(-9.0, 3.0), loo_reading(30.0, 10.0)
    ('better', 'alike', 'worse', 'leaning')
    """
    z = d / se if se > 0 else (0.0 if d == 0 else np.sign(d) * np.inf)
    if z > CLEAR_SE and d > SMALL_ELPD:
        return "better"
    if z < -SIMILAR_SE:
        return "worse"
    if z <= SIMILAR_SE or d <= SMALL_ELPD:
        return "alike"
    return "leaning"


def _diff_text(subject: str, d: float, se: float) -> str:
    """``"<subject> is higher by 29.5 (SE 13.9, 2.1 SE)"``."""
    z = d / se if se > 0 else float("inf")
    direction = "higher" if d >= 0 else "lower"
    return f"{subject} is {direction} by {abs(d):.1f} (SE {se:.1f}, {abs(z):.1f} SE)"


def _prior_draws(prior, n: int = 20000, seed: int = 0) -> np.ndarray:
    """Draws of a Bambi prior (a number is a fixed value); shape (n, elements)."""
    import pymc as pm
    from bambi import Prior

    if not isinstance(prior, Prior):
        return np.full((n, 1), float(prior))
    dist = getattr(pm, prior.name).dist(**prior.args)
    draws = np.asarray(pm.draw(dist, draws=n, random_seed=seed), dtype=float)
    return draws.reshape(n, -1)


def _link_scale_sd_min(spec, sd_min):
    if sd_min is not None:
        return float(sd_min)
    if spec.link == "identity":
        y = spec.data.frame[spec.formula.response].to_numpy(dtype=float)
        return DEFAULT_SD_MIN * float(np.std(y))
    return DEFAULT_SD_MIN


def group_sd_table(fit, sd_min: float | None = None, prob: float = 0.95) -> pd.DataFrame:
    """Each group-level SD's posterior against its prior, and P(SD > sd_min) under both.

    Parameters
    ----------
    fit : Fit
        A GLMM.
    sd_min : float, optional
        The "negligible" SD; 0.1 on the link scale by default (0.1 x SD of the response
        for the identity link).
    prob : float
        Interval probability (equal-tailed).

    Returns
    -------
    pandas.DataFrame
        Index the SD's name (``1|centre_sigma``); columns ``group``, ``effect``,
        ``median``, ``lower``, ``upper``, ``p_above`` (posterior), ``prior``,
        ``prior_median``, ``prior_lower``, ``prior_upper``, ``prior_p_above``, ``sd_min``.

    Examples
    --------
    >>> group_sd_table(glmm)[["median", "p_above", "prior_p_above"]]  # doctest: +SKIP
    """
    from bayesglmm.priors import describe

    spec = fit.spec
    sd_min = _link_scale_sd_min(spec, sd_min)
    bm = spec.bambi_model
    terms = bm.parameters[bm.family.likelihood.parent].group_specific_terms
    rows = []
    for name in terms:
        effect, group = name.split("|")
        hyper = spec.priors[name].args.get("sigma") if name in spec.priors else None
        prior_draws = _prior_draws(hyper) if hyper is not None else None
        for i, (suffix, _, values) in enumerate(_elements(fit.draws[f"{name}_sigma"])):
            lo, hi = interval_bounds(values, prob)
            row = {"sd": f"{name}_sigma{suffix}", "group": group, "effect": effect + suffix,
                   "median": float(np.median(values)), "lower": lo, "upper": hi,
                   "p_above": float(np.mean(values > sd_min))}
            if prior_draws is not None:
                pd_i = prior_draws[:, min(i, prior_draws.shape[1] - 1)]
                plo, phi = interval_bounds(pd_i, prob)
                row.update(prior=describe(hyper), prior_median=float(np.median(pd_i)), prior_lower=plo,
                           prior_upper=phi, prior_p_above=float(np.mean(pd_i > sd_min)))
            row["sd_min"] = sd_min
            rows.append(row)
    return pd.DataFrame(rows).set_index("sd")


def _sd_names(fit) -> set:
    """Names of the group-level SD variables of a fit (``1|centre_sigma``); empty for a GLM."""
    return {str(name) for name in fit.draws.data_vars if str(name).endswith("_sigma") and "|" in str(name)}


def random_effects_needed(glm_fit, glmm_fit, *, sd_min: float | None = None, prob: float = 0.95,
                          **compare_kwargs) -> Answer:
    """Are the random effects needed? GLM against GLMM by cross-validation and the group SD.

    Decision (module docstring): *needed* when the GLMM's elpd is clearly higher
    (> 4 SE of the difference and > 4), or higher by more than 2 SE (and > 4) while a
    group SD is clearly positive (P(SD > sd_min) >= 0.95); *not needed* when the GLMM is
    not better by more than 2 SE and no group SD is clearly positive, or when it is worse;
    *unclear* otherwise.

    Parameters
    ----------
    glm_fit, glmm_fit : Fit
        The model without and with the group-level effects, on the same data. ``glm_fit``
        may have group terms of its own (hospital, against hospital + doctor): then only
        the SDs of the terms it lacks are read.
    sd_min : float, optional
        A negligible group SD: 0.1 on the link scale by default.
    prob : float
        Interval probability for the SD table.
    **compare_kwargs
        Passed to :func:`bayesglmm.compare` (``cv``, ``group``, ``k``, ``seed``,
        ``allow_unconverged``, ``refit_settings``, ...).

    Returns
    -------
    Answer
        ``table``: :func:`group_sd_table` of the GLMM.

    Examples
    --------
    >>> ans = random_effects_needed(glm, glmm)  # doctest: +SKIP
    >>> print(ans.verdict)  # doctest: +SKIP
    Random effects are needed: the GLMM's elpd is higher by 29.5 (SE 13.9, 2.1 SE) and ...
    """
    if not glmm_fit.spec.formula.blocks:
        raise TermError(f"glmm_fit has no group-level effects ({glmm_fit.spec.formula.original!r}).")
    # Only the SDs of the group terms the smaller model lacks speak for adding them.
    added = _sd_names(glmm_fit) - _sd_names(glm_fit)
    if not added:
        raise TermError(f"glmm_fit ({glmm_fit.spec.formula.original!r}) has no group term that glm_fit "
                         f"({glm_fit.spec.formula.original!r}) lacks.")
    comparison = compare({"GLM": glm_fit, "GLMM": glmm_fit}, **compare_kwargs)
    d, se = comparison.difference("GLMM", "GLM")
    sds = group_sd_table(glmm_fit, sd_min, prob)
    sds = sds[[name[:name.rfind("_sigma") + len("_sigma")] in added for name in sds.index]]
    clear_sd = bool((sds["p_above"] >= SD_PROB).any())
    reading = loo_reading(d, se)
    z = d / se if se > 0 else np.inf
    # The decision rule of the module docstring.
    if reading == "better" or (clear_sd and z > SIMILAR_SE and d > SMALL_ELPD):
        decision = "needed"
    elif reading == "worse" or (reading == "alike" and not clear_sd):
        decision = "not needed"
    else:
        decision = "unclear"
    top = sds.sort_values("p_above", ascending=False).iloc[0]
    sd_text = (f"{top['group']} SD {top['median']:.2f} [{top['lower']:.2f}, {top['upper']:.2f}], "
               f"P(SD > {top['sd_min']:.2g}) = {top['p_above']:.2f}")
    loo_text = _diff_text("the GLMM's elpd", d, se)
    if decision == "needed":
        verdict = f"Random effects are needed: {loo_text}; {sd_text}."
    elif decision == "not needed":
        verdict = f"Random effects are not needed: {loo_text}; {sd_text}."
    else:
        verdict = f"Unclear whether random effects are needed: {loo_text}; {sd_text}."
    return Answer("Are the random effects needed (GLM vs GLMM)?", decision, verdict, d, se, sds, comparison)


def _term_elements(fit, term: str):
    """(label, draws) for each element of fixed term ``term`` (``treat`` or ``treat[drug]``)."""
    bm = fit.spec.bambi_model
    comp = bm.parameters[bm.family.likelihood.parent]
    names = (["Intercept"] if comp.intercept_term is not None else []) + list(comp.common_terms)
    base = term.split("[")[0]
    if base not in names:
        raise TermError(f"No fixed term {term!r} in {fit.spec.formula.original!r}; fixed terms: {', '.join(names)}.")
    out = [(base + suffix, values) for suffix, _, values in _elements(fit.draws[base])]
    if "[" in term:
        out = [(label, values) for label, values in out if label == term]
        if not out:
            raise TermError(f"No coefficient {term!r}; coefficients of {base!r}: "
                             f"{', '.join(label for label, _ in _term_elements(fit, base))}.")
    return base, out


def fixed_effect_needed(with_fit, without_fit, term: str, rope=(0.9, 1.1), *, rope_coef=None,
                        prob: float = 0.95, **compare_kwargs) -> Answer:
    """Is a fixed term needed? The model with and without it, and the effect's posterior.

    Decision (module docstring): *needed* when the elpd with the term is higher by more
    than 4 SE of the difference (and by more than 4); *not needed* when the difference is
    within 2 SE (or at most 4), or the model with the term predicts worse; *unclear*
    otherwise. The table gives, per coefficient, the posterior median and interval, the
    probabilities of each sign, and the probability of the region of practical
    equivalence: ``exp(coef)`` within ``rope`` for logit and log links (odds or rate
    ratios), or the coefficient within ``rope_coef``.

    Parameters
    ----------
    with_fit, without_fit : Fit
        The models with and without ``term``, on the same data.
    term : str
        The term (``"treat"``) or one of its coefficients (``"treat[drug]"``).
    rope : tuple of float
        Region of practical equivalence for the ratio ``exp(coef)`` (logit/log links).
    rope_coef : tuple of float, optional
        Region of practical equivalence on the coefficient's scale; required for links
        without a ratio meaning (identity, probit, cloglog), and used instead of ``rope``
        when given.
    prob : float
        Interval probability.
    **compare_kwargs
        Passed to :func:`bayesglmm.compare`.

    Returns
    -------
    Answer
        ``table``: one row per coefficient.

    Examples
    --------
    >>> ans = fixed_effect_needed(glmm, null, "treat")  # doctest: +SKIP
    >>> ans.decision  # doctest: +SKIP
    'not needed'
    """
    spec = with_fit.spec
    base, elements = _term_elements(with_fit, term)
    try:
        _term_elements(without_fit, base)
    except ValueError:
        pass
    else:
        raise TermError(f"without_fit also has the term {base!r} ({without_fit.spec.formula.original!r}).")
    ratio_label = spec.family.ratio_label.get(spec.link)
    if rope_coef is None and ratio_label is None:
        raise SettingsError(
            f"exp(coefficient) has no ratio meaning with the {spec.link} link: give the region of practical "
            "equivalence on the coefficient's scale, rope_coef=(low, high)."
        )
    use_ratio = rope_coef is None
    lo_rope, hi_rope = (rope if use_ratio else rope_coef)
    if not lo_rope < hi_rope:
        raise SettingsError(f"The region of practical equivalence must be (low, high) with low < high; got {(lo_rope, hi_rope)}.")

    comparison = compare({f"with {base}": with_fit, f"without {base}": without_fit}, **compare_kwargs)
    d, se = comparison.difference(f"with {base}", f"without {base}")
    rows = []
    for label, values in elements:
        lo, hi = interval_bounds(values, prob)
        row = {"coefficient": label, "median": float(np.median(values)), "lower": lo, "upper": hi,
               "p_positive": float(np.mean(values > 0)), "p_negative": float(np.mean(values < 0))}
        if ratio_label is not None:
            r = np.exp(values)
            rlo, rhi = interval_bounds(r, prob)
            row.update(ratio=float(np.median(r)), ratio_lower=rlo, ratio_upper=rhi)
        scale = np.exp(values) if use_ratio else values
        row["p_rope"] = float(np.mean((scale > lo_rope) & (scale < hi_rope)))
        row["rope"] = f"{ratio_label if use_ratio else 'coefficient'} in [{lo_rope:g}, {hi_rope:g}]"
        rows.append(row)
    table = pd.DataFrame(rows).set_index("coefficient")

    reading = loo_reading(d, se)
    # The decision rule of the module docstring.
    decision = {"better": "needed", "alike": "not needed", "worse": "not needed"}.get(reading, "unclear")
    what = ratio_label if use_ratio else "coefficient"
    above = 1.0 if use_ratio else 0.0
    probs = "; ".join(
        f"{label}: P({what} > {above:g}) = {row['p_positive']:.2f}, "
        f"P({what} in [{lo_rope:g}, {hi_rope:g}]) = {row['p_rope']:.2f}"
        for label, row in table.iterrows()
    )
    loo_text = _diff_text(f"with {base!r} the elpd", d, se)
    head = {"needed": f"The term {base!r} is needed", "not needed": f"The term {base!r} is not needed",
            "unclear": f"Unclear whether the term {base!r} is needed"}[decision]
    verdict = f"{head}: {loo_text}; {probs}."
    return Answer(f"Is the fixed term {base!r} needed?", decision, verdict, d, se, table, comparison)


__all__ = ["Answer", "fixed_effect_needed", "group_sd_table", "loo_reading", "random_effects_needed"]
