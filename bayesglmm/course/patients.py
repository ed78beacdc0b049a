"""Course Exercise 2: lung-cancer remission of 8,525 patients of 407 doctors in 35 hospitals, items 1-8.

The data (UCLA IDRE's simulated ``hdp`` study, as the course's ``patients.txt``): for each
patient, ``remission`` (0/1) after treatment, patient-level predictors (``Age``, ``IL6``,
``CRP``, ``LengthofStay``, ``CancerStage`` I-IV, ``Smoking``), and the doctor
(``ID.doctor``) and hospital (``ID.hospital``) that treated them; doctors are nested in
hospitals. ``Smoking`` carries the course's labels (its ``levels<-`` swaps "never" and
"current", see ``SOURCES.md``); the baselines are Smoking "never" and CancerStage "I".

The course gives R code for items 1-2 and leaves items 3-8 to the student, printing no
result. Here they are answered with the Bayesian logistic GLMM
``remission ~ ... + (1|ID.hospital/ID.doctor)`` sampled by NUTS: random effects and fixed
effects by cross-validation and the posteriors (:func:`bayesglmm.random_effects_needed`,
:func:`bayesglmm.fixed_effect_needed`), checks by posterior predictive distributions,
results as odds ratios, and predictions for doctor 2 of hospital 1. For comparison,
:data:`LME4` holds lme4 1.1-31's fit of the model with every predictor (``glmer``, Laplace;
by ``benchmarks/r/lme4_patients_motorins.R``; the course prints none).

Candidate models are few, because each three-level fit of 8,525 rows takes minutes: three
random-effect structures (none, hospital, hospital + doctor within hospital) with every
predictor, then :data:`ROUNDS` rounds of backward elimination in which the term whose
coefficients are least clearly away from zero is dropped when cross-validation finds the
model without it predicts as well.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``structure``, ``random_effects`` (``"hospital"``, ``"doctor"``: ``decision``, ``elpd_diff``,
``dse``), ``sd_hospital`` and ``sd_doctor`` (median, lower, upper; model with every
predictor), ``fixed_effects`` (tested term -> ``decision``, ``elpd_diff``, ``dse``),
``final_terms``, ``final_key``, ``final_formula``, ``icc`` (name -> (median, lower, upper)),
``odds_ratios``, ``or_stage_iv``, ``lme4_check`` (table), ``ppc``, ``calibration_flagged``,
``shapiro`` and ``predicted`` (the table of step 8).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.checks import ppc_pvalues, ranef_normality
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import lme4_equivalent, reference, runner, step
from bayesglmm.plots import plot_caterpillar, plot_ppc, plot_ranef_qq, plot_trace
from bayesglmm.predict import population_averaged_ratio, predict
from bayesglmm.questions import fixed_effect_needed, random_effects_needed

DESCRIPTION = ("Course Exercise 2: lung-cancer remission (8,525 patients, 407 doctors, 35 hospitals), "
               "items 1-8")
TITLE = "Lung-cancer remission (course Exercise 2): a three-level Bayesian logistic GLMM, step by step"
RESPONSE = "remission"
#: The candidate fixed effects, in the course's order of the variables.
PREDICTORS = ["Age", "IL6", "CRP", "LengthofStay", "CancerStage", "Smoking"]
CONTINUOUS = ["Age", "IL6", "CRP", "LengthofStay"]
#: Random-effect structures compared in step 3: key -> formula part.
RANDOM = {"no random effects": "", "hospital": "(1|ID.hospital)", "hospital + doctor": "(1|ID.hospital/ID.doctor)"}
#: Rounds of backward elimination in step 4 (each fits the three-level model once more).
ROUNDS = 2
#: Sampler settings of the exact refits of rows PSIS-LOO cannot approximate, in full runs (a
#: refit estimates one row's elpd; it needs fewer draws than the fit).
REFITS = {"draws": 500, "tune": 500}
DOCTOR, HOSPITAL = "2", "1"  # step 8: ID.doctor = 2 in ID.hospital = 1
SMOKING_COLORS = {"never": "#F8766D", "former": "#00BA38", "current": "#619CFF"}  # ggplot2's three hues
NO_COURSE_OUTPUT = "the course prints no result for this item"
#: lme4 1.1-31, glmer(remission ~ Age + IL6 + CRP + LengthofStay + CancerStage + Smoking +
#: (1|ID.hospital/ID.doctor), binomial): odds ratios (Wald 95% CI), SDs and latent-scale ICCs;
#: anova() against the hospital-only model and the GLM gives p < 2.2e-16 for both steps
#: (source: reference/patients.json).
LME4 = reference("patients")["LME4"]
#: lme4 1.1-31's drop1() p-values of the terms with every predictor in (source: reference/patients.json).
DROP1_P = reference("patients")["DROP1_P"]


def formula(terms, random: str = "") -> str:
    """The model formula with fixed ``terms`` and a random part.

    Parameters
    ----------
    terms : list of str
        Fixed effects (an empty list gives the intercept only).
    random : str
        The random part, e.g. ``"(1|ID.hospital/ID.doctor)"``, or ``""``.

    Returns
    -------
    str

    Examples
    --------
    >>> formula(["Age", "CancerStage"], "(1|ID.hospital)")
    'remission ~ Age + CancerStage + (1|ID.hospital)'
    >>> formula([])
    'remission ~ 1'
    """
    parts = list(terms) or ["1"]
    if random:
        parts.append(random)
    return f"{RESPONSE} ~ " + " + ".join(parts)


def sign_probability(draws) -> float:
    """How clearly a term's coefficients are away from zero: the largest P(coef > 0) or P(coef < 0).

    Parameters
    ----------
    draws : xarray.DataArray
        The term's posterior draws (``fit.draws[term]``), dims ``chain, draw`` and, for a
        factor, its levels.

    Returns
    -------
    float
        Over the term's coefficients, the largest posterior probability of a sign (0.5 for a
        coefficient centred on zero, 1 for one clearly away from it).

    Examples
    --------
    >>> import xarray as xr
    >>> d = xr.DataArray(np.array([[[-1.0, 0.5], [1.0, 0.5], [2.0, 0.5], [3.0, -0.5]]]),
    ...                  dims=("chain", "draw", "level"))
    >>> sign_probability(d)
    0.75
    """
    flat = np.asarray(draws.transpose("chain", "draw", ...).values).reshape(
        draws.sizes["chain"] * draws.sizes["draw"], -1)
    positive = (flat > 0).mean(axis=0)
    return float(np.max(np.maximum(positive, 1 - positive)))


def _cv(a: Analysis) -> dict:
    """Keyword arguments of the cross-validation of this analysis (see :data:`REFITS`)."""
    return {"seed": a.seed, "allow_unconverged": True, "refit_settings": None if a.quick else REFITS}


# ----------------------------------------------------------------------------- figures
def logistic_curve(x, y, grid) -> np.ndarray:
    """Fitted probabilities of a one-predictor logistic regression (maximum likelihood) on ``grid``.

    The analogue of ggplot2's ``stat_smooth(method = "glm", method.args = list(family = binomial))``.

    Examples
    --------
    >>> x = np.array([1., 2., 3., 4., 5., 6.]); y = np.array([0, 0, 1, 0, 1, 1])
    >>> np.round(logistic_curve(x, y, [3.5]), 3)
    array([0.5])
    """
    x, y, grid = (np.asarray(v, dtype=float) for v in (x, y, grid))
    centre, scale = x.mean(), x.std() or 1.0
    X = np.column_stack([np.ones_like(x), (x - centre) / scale])
    beta = np.zeros(2)
    for _ in range(50):
        p = special.expit(X @ beta)
        w = p * (1 - p) + 1e-12
        step = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return special.expit(beta[0] + beta[1] * (grid - centre) / scale)


def scatter_matrix_figure(data: pd.DataFrame):
    """R's ``plot(patients[, c("Age", "IL6", "CRP", "LengthofStay")])``: pairwise scatter plots.

    Examples
    --------
    >>> fig = scatter_matrix_figure(bg.datasets.load("patients"))  # doctest: +SKIP
    """
    cols = CONTINUOUS
    fig, axes = plt.subplots(len(cols), len(cols), figsize=(9, 9))
    for i, yc in enumerate(cols):
        for j, xc in enumerate(cols):
            ax = axes[i, j]
            if i == j:
                ax.hist(data[xc], bins=30, color="#777777")
                ax.text(0.5, 0.85, xc, transform=ax.transAxes, ha="center", fontsize=11, weight="bold")
            else:
                ax.scatter(data[xc], data[yc], s=1, alpha=0.15, color="black", rasterized=True)
            if i < len(cols) - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel(xc)
            if j > 0:
                ax.set_yticklabels([])
            else:
                ax.set_ylabel(yc)
    fig.tight_layout()
    return fig


def stage_stay_figure(data: pd.DataFrame):
    """ggplot's ``stat_sum``: number of patients at each CancerStage and LengthofStay.

    Examples
    --------
    >>> fig = stage_stay_figure(bg.datasets.load("patients"))  # doctest: +SKIP
    """
    counts = data.groupby(["CancerStage", "LengthofStay"], observed=True).size().rename("n").reset_index()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = counts["CancerStage"].cat.codes
    ax.scatter(x, counts["LengthofStay"], s=counts["n"] / counts["n"].max() * 600, color="black", alpha=0.8)
    for n in (100, 500, 1000):
        ax.scatter([], [], s=n / counts["n"].max() * 600, color="black", label=str(n))
    ax.set_xticks(range(4), data["CancerStage"].cat.categories)
    ax.set_xlabel("CancerStage")
    ax.set_ylabel("LengthofStay")
    ax.legend(title="n", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), labelspacing=1.5)
    ax.grid(alpha=0.3)
    return fig


def markers_by_remission_figure(data: pd.DataFrame):
    """Boxplots of IL6 and CRP by remission (the course's ``facet_wrap(~variable)``).

    Examples
    --------
    >>> fig = markers_by_remission_figure(bg.datasets.load("patients"))  # doctest: +SKIP
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, var in zip(axes, ("IL6", "CRP")):
        groups = [data.loc[data[RESPONSE] == v, var] for v in (0, 1)]
        box = ax.boxplot(groups, patch_artist=True, widths=0.6, flierprops={"markersize": 2, "alpha": 0.4})
        for patch, color in zip(box["boxes"], ("#F8766D", "#00BFC4")):
            patch.set_facecolor(color)
        ax.set_xticks([1, 2], ["0", "1"])
        ax.set_xlabel("remission")
        ax.set_title(var)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("value")
    fig.tight_layout()
    return fig


def remission_age_figure(data: pd.DataFrame):
    """Remission against Age by Smoking, one panel per CancerStage, with logistic curves.

    The course's ``stat_smooth(method = "glm")`` inherits ``color = Smoking`` as its grouping,
    so it draws one curve per smoking group; here they keep the group's colour.

    Examples
    --------
    >>> fig = remission_age_figure(bg.datasets.load("patients"))  # doctest: +SKIP
    """
    rng = np.random.default_rng(1)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True)
    grid = np.linspace(data["Age"].min(), data["Age"].max(), 100)
    for ax, (stage, sub) in zip(axes.ravel(), data.groupby("CancerStage", observed=True)):
        for smoking, color in SMOKING_COLORS.items():
            rows = sub[sub["Smoking"] == smoking]
            if rows.empty:
                continue
            jitter = rng.uniform(-0.04, 0.04, len(rows))
            ax.scatter(rows["Age"], rows[RESPONSE] + jitter, s=3, alpha=0.25, color=color, rasterized=True)
            if rows[RESPONSE].nunique() == 2:
                ax.plot(grid, logistic_curve(rows["Age"], rows[RESPONSE], grid), color=color, lw=2,
                        label=smoking)
        ax.set_title(f"CancerStage {stage}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("Age")
    for ax in axes[:, 0]:
        ax.set_ylabel("remission")
    axes[0, 1].legend(title="Smoking", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Lung cancer remission after treatment by age and cancer stage")
    fig.tight_layout()
    return fig


def forest_figure(table: pd.DataFrame, xlabel: str, reference: float = 1.0):
    """Ratios with intervals, one line per row of ``table`` (``ratio``, ``lower``, ``upper``), log x axis.

    Examples
    --------
    >>> fig = forest_figure(pd.DataFrame({"ratio": [0.5], "lower": [0.3], "upper": [0.8]}, index=["x"]), "OR")
    >>> len(fig.axes)
    1
    """
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.5))
    y = np.arange(len(table))[::-1]
    ax.hlines(y, table["lower"], table["upper"], color="#3b75af", lw=2)
    ax.scatter(table["ratio"], y, color="#3b75af", zorder=3)
    ax.axvline(reference, color="black", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(y, [str(i) for i in table.index])
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def linear_predictor_text(fit, digits: int = 3) -> str:
    """The fixed part of the linear predictor with the posterior medians, as text.

    Factor levels are written as indicators, e.g. ``- 0.537*[CancerStage = II]``.

    Examples
    --------
    >>> linear_predictor_text(fit)  # doctest: +SKIP
    '0.357 - 0.00693*Age - 0.0585*IL6 ...'
    """
    fe = fit.fixef()["median"]
    parts = []
    for term, value in fe.items():
        if term == "Intercept":
            parts.append(f"{value:.{digits}g}")
            continue
        label = term
        if term.endswith("]") and "[" in term:
            name, level = term[:-1].split("[", 1)
            label = f"[{name} = {level}]"
        sign = "-" if value < 0 else "+"
        text = f"{abs(value):.{digits}g}*{label}"
        parts.append(f"{sign} {text}" if parts else f"{'-' if value < 0 else ''}{text}")
    return " ".join(parts)


# ----------------------------------------------------------------------------- steps
@step
def step_describe(a: Analysis) -> None:
    """1. Load the data (IDs as factors, the course's Smoking labels) and describe its structure."""
    data = a.data
    a.report.table(data.head(6), "The first rows (the course's head(patients))")
    rows = {}
    for col in data.columns:
        s = data[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = list(s.cat.categories)
            shown = ", ".join(map(str, cats[:4])) + (", ..." if len(cats) > 4 else "")
            rows[col] = {"type": f"factor, {len(cats)} levels", "values": shown}
        else:
            rows[col] = {"type": str(s.dtype), "values": f"{s.min():g} to {s.max():g} (median {s.median():g})"}
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"), "str(patients): 8525 obs. of 9 variables")
    a.report.text("The course relabels Smoking by position; this swaps the file's 'never' and 'current' (SOURCES.md). "
                  "The labels here are the course's, so the course's coefficient names and baseline ('never') hold.")
    a.report.table(data["Smoking"].value_counts().rename("patients").to_frame(), "Smoking (course labels)")
    doctors_per_hospital = data.groupby("ID.hospital", observed=True)["ID.doctor"].nunique()
    patients_per_doctor = data.groupby("ID.doctor", observed=True).size()
    nested = bool((data.groupby("ID.doctor", observed=True)["ID.hospital"].nunique() == 1).all())
    a.values["structure"] = {"patients": len(data), "doctors": int(data["ID.doctor"].nunique()),
                             "hospitals": int(data["ID.hospital"].nunique()), "nested": nested}
    a.answer("1. The data", f"{len(data)} patients, {data['ID.doctor'].nunique()} doctors "
             f"({patients_per_doctor.min()}-{patients_per_doctor.max()} patients each), "
             f"{data['ID.hospital'].nunique()} hospitals ({doctors_per_hospital.min()}-{doctors_per_hospital.max()} "
             f"doctors each); every doctor works in one hospital: {'nested' if nested else 'NOT nested'}; "
             f"remission rate {data[RESPONSE].mean():.3f}. str() matches the course's.")


@step
def step_plots(a: Analysis) -> None:
    """2. The course's four descriptive plots."""
    data = a.data
    a.report.figure(scatter_matrix_figure(data), "Explanatory continuous variables: pairwise scatter plots")
    a.report.figure(stage_stay_figure(data), "Number of patients by CancerStage and LengthofStay")
    a.report.figure(markers_by_remission_figure(data), "IL6 and CRP by remission")
    a.report.figure(remission_age_figure(data), "Remission against Age by Smoking, per CancerStage, with logistic "
                                                "regression curves (one per smoking group)")
    corr = data[CONTINUOUS].corr()
    a.report.table(corr, "Correlations of the continuous predictors")
    stage = data.groupby("CancerStage", observed=True)[RESPONSE].mean()
    stay = data.groupby("CancerStage", observed=True)["LengthofStay"].mean()
    a.report.table(pd.DataFrame({"remission rate": stage, "mean LengthofStay": stay,
                                 "patients": data["CancerStage"].value_counts().sort_index()}),
                   "Remission and length of stay by cancer stage")
    means = data.groupby(RESPONSE)[["IL6", "CRP"]].median()
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    top = pairs.abs().idxmax()
    rest = pairs.drop(index=top).abs().max()
    a.answer("2. Descriptive plots", f"remission falls with stage (I {stage['I']:.2f}, II {stage['II']:.2f}, "
             f"III {stage['III']:.2f}, IV {stage['IV']:.2f}) while the stay lengthens ({stay['I']:.1f} to "
             f"{stay['IV']:.1f}); median IL6 {means.loc[0, 'IL6']:.2f} vs {means.loc[1, 'IL6']:.2f} and CRP "
             f"{means.loc[0, 'CRP']:.2f} vs {means.loc[1, 'CRP']:.2f} (no remission vs remission); among the "
             f"continuous predictors only {top[0]} and {top[1]} are correlated (r = {pairs[top]:.2f}; others "
             f"|r| <= {rest:.2f}).")


@step
def step_random_effects(a: Analysis) -> None:
    """3. Are random effects needed? None against hospital, hospital against hospital + doctor."""
    a.report.text("Every model has every candidate predictor, so the group terms are judged with the patients' "
                  "differences accounted for. Each level is added in turn, as in lme4's sequence of likelihood-ratio "
                  "tests: the hospital effect to the GLM, then the doctor-within-hospital effect to the hospital "
                  "model. Decision rule (bayesglmm.questions): needed when the elpd with the term is higher by more "
                  "than 4 SE (and 4), or by more than 2 SE while the term's SD is clearly positive.")
    fits = {key: a.fit(key, formula(PREDICTORS, random), "bernoulli") for key, random in RANDOM.items()}
    answers = {"hospital": random_effects_needed(fits["no random effects"], fits["hospital"], **_cv(a)),
               "doctor": random_effects_needed(fits["hospital"], fits["hospital + doctor"], **_cv(a))}
    for label, ans in answers.items():
        what = "hospital vs no random effects" if label == "hospital" else "hospital + doctor vs hospital"
        a.report.table(ans.comparison.table, f"Cross-validation: {what}")
        a.report.table(ans.table[["group", "median", "lower", "upper", "p_above", "prior", "prior_p_above"]],
                       "The added SD (logit scale): posterior, P(SD > 0.1), and the prior")
        for note in ans.comparison.notes:
            a.report.text(f"Note: {note}")
        a.report.text(f"Answer ({what}): {ans.verdict}")
    both = fits["hospital + doctor"]
    sds = both.varcorr().set_index("group")
    h, d = sds.loc["ID.hospital"], sds.loc["ID.hospital:ID.doctor"]
    a.report.figure(posterior_figure([(both.draws["1|ID.hospital_sigma"].values, "hospital SD",
                                       (LME4["sd_hospital"],)),
                                      (both.draws["1|ID.hospital:ID.doctor_sigma"].values,
                                       "doctor-within-hospital SD", (LME4["sd_doctor"],))],
                                     reference_label="lme4 1.1-31"),
                    "Posteriors of the hospital and doctor SDs (model with both), with lme4's estimates")
    a.report.figure(plot_ppc(fits["no random effects"], kind="groups", group=a.data["ID.hospital"], seed=a.seed),
                    "Posterior predictive check of the model without random effects: remission rate per hospital "
                    "against the 95% interval of replicated rates")
    kept = [k for k, ans in answers.items() if ans.decision != "not needed"]
    a.best = "hospital + doctor" if "doctor" in kept else ("hospital" if "hospital" in kept else "no random effects")
    a.report.text(f"The random part used from here on: {RANDOM[a.best] or 'none'}. The hospital SD is small next to "
                  "the doctors' (most of the variation between hospitals is variation between their doctors), but "
                  "doctors are sampled within hospitals and the course asks for the ICC of both levels, so the "
                  "hospital level stays as part of the design.")
    a.values["random_effects"] = {k: {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
                                  for k, ans in answers.items()}
    a.values["sd_hospital"] = (h["median"], h["lower"], h["upper"])
    a.values["sd_doctor"] = (d["median"], d["lower"], d["upper"])
    ah, ad = answers["hospital"], answers["doctor"]
    a.answer("3. Random effects needed?",
             f"hospital {ah.decision} (elpd {ah.elpd_diff:+.1f}, SE {ah.dse:.1f}); doctor within hospital "
             f"{ad.decision} (elpd {ad.elpd_diff:+.1f}, SE {ad.dse:.1f}); SDs hospital "
             f"{interval_text(*a.values['sd_hospital'], 2)}, doctor {interval_text(*a.values['sd_doctor'], 2)} "
             f"(lme4 1.1-31: {LME4['sd_hospital']:.2f} and {LME4['sd_doctor']:.2f}, LRT p < 2.2e-16 for both; "
             f"{NO_COURSE_OUTPUT}).")


@step
def step_fixed_effects(a: Analysis) -> None:
    """4. Which fixed effects are needed? Backward elimination, least clear term first, by cross-validation."""
    random = RANDOM[a.best]
    a.report.text(f"Backward elimination from the model with every predictor (random part: {random or 'none'}), "
                  f"at most {ROUNDS} rounds (each refits the three-level model of 8,525 rows). Each round tests the "
                  "term whose coefficients are least clearly away from zero (the smallest posterior probability of "
                  "a sign, over its coefficients); it is dropped when the model without it predicts held-out "
                  "patients as well (elpd within 2 SE, or within 4), and elimination stops at the first term that "
                  "is needed or unclear.")
    terms, key, rows = list(PREDICTORS), a.best, {}
    for _ in range(ROUNDS):
        fit = a.fits[key]
        evidence = {t: sign_probability(fit.draws[t]) for t in terms}
        term = min(evidence, key=evidence.get)
        smaller_terms = [t for t in terms if t != term]
        smaller_key = f"{a.best} without {', '.join(t for t in PREDICTORS if t not in smaller_terms)}"
        smaller = a.fit(smaller_key, formula(smaller_terms, random), "bernoulli")
        ans = fixed_effect_needed(fit, smaller, term, **_cv(a))
        a.report.table(ans.comparison.table, f"Cross-validation: with and without {term}")
        a.report.table(ans.table, f"The {term} coefficients: interval, sign and practical equivalence")
        for note in ans.comparison.notes:
            a.report.text(f"Note: {note}")
        rows[term] = {"P(sign)": evidence[term], "elpd_diff": ans.elpd_diff, "dse": ans.dse, "decision": ans.decision}
        a.report.text(f"Round {len(rows)}: {ans.verdict}")
        if ans.decision != "not needed":
            break
        terms, key = smaller_terms, smaller_key
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"),
                   "Each tested term: posterior probability of its coefficients' sign in the larger model, elpd of "
                   "the model with it minus that without it (SE), and the decision")
    untested = {t: p for t, p in evidence.items() if t not in rows}
    a.report.text("Not tested, and kept (posterior probability of a sign in the last larger model): "
                  + ", ".join(f"{t} {p:.4f}" for t, p in untested.items()) + ".")
    a.values["fixed_effects"] = {t: {k: r[k] for k in ("decision", "elpd_diff", "dse")} for t, r in rows.items()}
    a.values["final_terms"] = terms
    a.values["final_key"] = key
    dropped = [t for t in PREDICTORS if t not in terms]
    a.answer("4. Fixed effects needed?", "; ".join(
        f"{t} {r['decision']} (elpd {r['elpd_diff']:+.1f}, SE {r['dse']:.1f})" for t, r in rows.items())
        + f"; final model: {' + '.join(terms)}{' (drops ' + ', '.join(dropped) + ')' if dropped else ''} "
        f"(lme4 1.1-31 drop1: Age p = {DROP1_P['Age']}, CRP p = {DROP1_P['CRP']}, the others < 1e-4; "
        f"{NO_COURSE_OUTPUT}).")


@step
def step_final_model(a: Analysis) -> None:
    """5. The final model, its equation with the fitted numbers, and the ICCs of hospitals and doctors."""
    key = a.values["final_key"]
    final = a.fits[key]
    if not final.ok and not a.quick:
        # The hospital SD mixes slowly (35 hospitals, each seen through its doctors): twice the draws.
        a.report.text(f"The final model did not converge ({final.diagnostics.verdict()}); it is refitted with twice "
                      "the warm-up and draws, and that fit is used from here on.")
        key = f"{key} (2x draws)"
        final = a.fit(key, final.formula, "bernoulli", scale=2)
        a.values["final_key"] = key
    a.values["final_formula"] = final.formula
    lme4_equivalent(a, f"final <- glmer({final.formula}, family = binomial)\nsummary(final)\n"
                       "performance::icc(final, by_group = TRUE)",
                    f'final = bg.fit("{final.formula}", pt, "bernoulli", seed=1)\nprint(final.summary())\nfinal.icc()')
    lp = linear_predictor_text(final)
    nested = [b.factor for b in final.spec.formula.blocks]
    effects = {"ID.hospital": " + u_j", "ID.hospital:ID.doctor": " + v_jk"}
    parts = "".join(effects[f] for f in nested if f in effects)
    vc = final.varcorr().set_index("group")
    lines = ["remission_ijk | u_j, v_jk ~ Bernoulli(pi_ijk): patient i of doctor k in hospital j",
             f"logit(pi_ijk) = x_ijk' beta{parts}"]
    fitted = []
    if "ID.hospital" in nested:
        lines.append("u_j ~ Normal(0, sigma_h^2) (hospital)")
        fitted.append(f"sigma_h = {vc.loc['ID.hospital', 'median']:.3f}")
    if "ID.hospital:ID.doctor" in nested:
        lines.append("v_jk ~ Normal(0, sigma_d^2) (doctor within hospital), independent of u_j")
        fitted.append(f"sigma_d = {vc.loc['ID.hospital:ID.doctor', 'median']:.3f}")
    lines += ["", "Fitted (posterior medians):", f"logit(pi_ijk) = {lp}{parts}", ", ".join(fitted)]
    a.report.code("\n".join(lines))
    a.report.code(str(final.summary()))
    icc_text = "no random effects, no ICC"
    if nested:
        icc = final.icc()
        a.report.code(str(icc))
        refs = {"ID.hospital": (LME4["icc_hospital"],), "ID.hospital:ID.doctor": (LME4["icc_doctor"],)}
        a.report.figure(posterior_figure([(icc.draws[name].values, f"ICC: {name}", refs.get(name))
                                          for name in icc.index], reference_label="lme4, every predictor"),
                        "Posteriors of the intra-class correlations (latent logit scale)")
        a.values["icc"] = {name: (icc.loc[name, "median"], icc.loc[name, "lower"], icc.loc[name, "upper"])
                           for name in icc.index}
        a.report.text("Reading: the hospital ICC is the correlation of the latent remission propensities of two "
                      "patients of the same hospital but different doctors; the 'same doctor' ICC that of two "
                      "patients of the same doctor (who share the hospital too). Both are conditional on the fixed "
                      "effects.")
        icc_text = "; ".join(f"{name} {interval_text(*v)}" for name, v in a.values["icc"].items())
    a.answer("5. Final model and ICCs", f"logit(pi_ijk) = {lp}{parts} ({', '.join(fitted) or 'no random effects'})"
             f"; ICC {icc_text} (lme4, every predictor: hospital {LME4['icc_hospital']:.3f}, doctor "
             f"{LME4['icc_doctor']:.3f}; {NO_COURSE_OUTPUT}).")


def calibration_table(fit, bins: int = 10, seed: int | None = None) -> pd.DataFrame:
    """Remission rate by deciles of the predicted probability, against replicated data.

    Patients are grouped by deciles of their posterior mean probability (with their own
    doctor's and hospital's effects); each decile's observed rate is compared with the rates
    of data replicated from the posterior (:func:`bayesglmm.checks.ppc_pvalues`).

    Returns
    -------
    pandas.DataFrame
        Index ``decile``; columns ``n``, ``predicted`` (mean predicted probability),
        ``observed``, ``lower``/``upper`` (95% interval of the replicated rate), ``p_value``
        and ``flag``.

    Examples
    --------
    >>> calibration_table(final)  # doctest: +SKIP
    """
    pred = predict(fit, kind="conditional")["mean"].to_numpy()
    cut = pd.qcut(pred, bins, labels=False, duplicates="drop")
    labels = pd.Series([f"{int(c) + 1:02d}" for c in cut], index=fit.spec.data.frame.index, name="decile")
    tab = ppc_pvalues(fit, stats=("mean",), by_group=labels, seed=seed)
    tab = tab[tab["group"] != ""].set_index("level")
    out = pd.DataFrame({"n": labels.value_counts().sort_index(),
                        "predicted": pd.Series(pred, index=labels.index).groupby(labels).mean()})
    out = out.join(tab[["observed", "lower", "upper", "p_value", "flag"]])
    out.index.name = "decile"
    return out


@step
def step_checks(a: Analysis) -> None:
    """6. Model checks: replicated rates by hospital, doctor and predicted risk; effects' QQ plots; traces."""
    final = a.fits[a.values["final_key"]]
    a.report.text("A binary response has no dispersion of its own to check; what can fail is the mean structure (by "
                  "group and by predicted risk) and the normality of the group effects.")
    a.report.figure(plot_ppc(final, kind="groups", group=a.data["ID.hospital"], seed=a.seed),
                    "Posterior predictive check of the final model: remission rate per hospital against the 95% "
                    "interval of replicated rates")
    flagged = {}
    for g in ("ID.hospital", "ID.doctor"):
        tab = ppc_pvalues(final, stats=("mean",), by_group=a.data[g], seed=a.seed)
        per_group = tab[tab["group"] != ""]
        flagged[g] = (int(per_group["flag"].sum()), len(per_group))
    a.report.table(pd.DataFrame({g: {"outside": f, "groups": n, "expected by chance (5%)": 0.05 * n}
                                 for g, (f, n) in flagged.items()}).T,
                   "Groups whose remission rate falls outside the 95% interval of replicated rates")
    calib = calibration_table(final, seed=a.seed)
    a.report.table(calib, "Calibration by deciles of the predicted probability: observed rate against the 95% "
                          "interval of replicated rates")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.vlines(calib["predicted"], calib["lower"], calib["upper"], color="#3b75af", lw=3, alpha=0.5,
              label="replicated 95% interval")
    ax.scatter(calib["predicted"], calib["observed"], color="black", zorder=3, s=15, label="observed")
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("remission rate")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    a.report.figure(fig, "Calibration of the final model by deciles of the predicted probability")
    by_doctor = a.data.groupby("ID.doctor", observed=True)[RESPONSE].sum()
    none = int((by_doctor == 0).sum())
    normality = ranef_normality(final)
    a.report.table(normality.table, "Shapiro-Wilk tests of the posterior means of the group effects")
    a.report.text(normality.note)
    a.report.figure(plot_ranef_qq(final), "Normal QQ plots of the hospital and doctor effects, with posterior bands")
    a.report.figure(plot_caterpillar(final, group="ID.hospital"), "Hospital effects with 95% intervals")
    a.report.text(f"{none} of the {len(by_doctor)} doctors saw no remission among their patients: the data bound "
                  "their effects only from above, so their posterior means pile up where the normal distribution "
                  "pulls them, a flat lower tail that Shapiro-Wilk on 407 posterior means reads as non-normality. "
                  "The QQ band, which carries each effect's uncertainty, is the fairer check.")
    a.report.figure(plot_trace(final), "Trace plots of the fixed effects and group SDs of the final model")
    d = final.diagnostics
    a.values["ppc"] = flagged
    a.values["calibration_flagged"] = int(calib["flag"].sum())
    a.values["shapiro"] = {r["term"]: (r["W"], r["p_value"]) for _, r in normality.table.iterrows()}
    a.values["doctors_without_remission"] = none
    flag_text = ", ".join(f"{f} of {n} {g.removeprefix('ID.')}s" for g, (f, n) in flagged.items())
    sw = "; ".join(f"{t} W = {w:.3f} (p = {p:.2g})" for t, (w, p) in a.values["shapiro"].items())
    a.answer("6. Model checks", f"rates outside their replicated 95% interval: {flag_text} (5% expected by chance); "
             f"{int(calib['flag'].sum())} of {len(calib)} deciles of predicted risk outside; Shapiro-Wilk {sw} "
             f"({none} doctors without any remission make the lower tail flat); "
             f"{'converged' if d.ok else 'NOT converged'} (max R-hat {d.max_rhat:.3f}, min bulk ESS "
             f"{d.min_ess_bulk:.0f}) ({NO_COURSE_OUTPUT}).")


@step
def step_results(a: Analysis) -> None:
    """7. The results as odds ratios (per unit and per SD of the continuous predictors), against lme4's."""
    final = a.fits[a.values["final_key"]]
    table = final.ratios()[["ratio", "lower", "upper", "p_above_1"]]
    a.report.table(table, "Odds ratios exp(beta) of the final model (posterior median, 95% interval, P(OR > 1)); "
                          "continuous predictors per unit; baselines Smoking 'never', CancerStage 'I'")
    per_sd = {}
    for term in CONTINUOUS:
        if term in table.index:
            sd = float(a.data[term].std())
            values = np.exp(final.draws[term].values.ravel() * sd)
            lo, hi = np.quantile(values, [0.025, 0.975])
            per_sd[f"{term} (per SD = {sd:.3g})"] = {"ratio": float(np.median(values)), "lower": lo, "upper": hi,
                                                     "p_above_1": float(np.mean(values > 1))}
    per_sd = pd.DataFrame.from_dict(per_sd, orient="index")
    shown = pd.concat([per_sd, table.drop(index=[t for t in CONTINUOUS if t in table.index])])
    a.report.table(per_sd, "Odds ratios of the continuous predictors per standard deviation (comparable sizes)")
    a.report.figure(forest_figure(shown, "odds ratio of remission (log scale)"),
                    "Odds ratios with 95% intervals (continuous predictors per SD)")
    full = a.fits[a.best].ratios()
    check = pd.DataFrame({"this fit (every predictor)": full["ratio"],
                          "lower": full["lower"], "upper": full["upper"]}).join(
        pd.DataFrame(LME4["OR"], index=["lme4 1.1-31", "lme4 lower", "lme4 upper"]).T, how="inner")
    a.report.table(check, "The model with every predictor (step 3) against lme4's glmer: posterior median and 95% "
                          "interval against the maximum-likelihood estimate and Wald interval")
    sub = a.data.sample(n=min(400, len(a.data)), random_state=a.seed)
    pa = population_averaged_ratio(final, "CancerStage[IV]", data=sub)
    a.report.table(pa[["ratio", "lower", "upper", "kind", "contrast"]],
                   "Stage IV vs I: odds ratio within a doctor (conditional) and averaged over hospitals and doctors "
                   "(population-averaged, over 400 randomly chosen patients' other characteristics)")
    a.report.text("The conditional odds ratio compares two patients of the same doctor; the population-averaged one "
                  "compares remission rates over all doctors and hospitals, and is closer to 1 because the doctor "
                  "effects (SD about 2) flatten the averaged probabilities. With the course's relabelling, Smoking "
                  "'current' is the file's never-smokers (SOURCES.md).")
    iv = table.loc["CancerStage[IV]"]
    a.values["odds_ratios"] = shown
    a.values["or_stage_iv"] = (iv["ratio"], iv["lower"], iv["upper"])
    a.values["lme4_check"] = check
    parts = [f"{t} {interval_text(r['ratio'], r['lower'], r['upper'], 2)}" for t, r in shown.iterrows()]
    a.answer("7. Odds ratios", "; ".join(parts) + " (baselines CancerStage I, Smoking 'never'; lme4 with every "
             f"predictor: stage IV {interval_text(*LME4['OR']['CancerStage[IV]'])}, current smoking "
             f"{interval_text(*LME4['OR']['Smoking[current]'], 2)}; {NO_COURSE_OUTPUT}).")


def prediction_grid(data: pd.DataFrame, doctor: str = DOCTOR, hospital: str = HOSPITAL) -> pd.DataFrame:
    """Patients of ``doctor`` in ``hospital``: every CancerStage x Smoking, other predictors at their medians.

    Examples
    --------
    >>> from bayesglmm import datasets
    >>> grid = prediction_grid(datasets.load("patients"))
    >>> grid.shape, float(grid["Age"].iloc[0]), grid["ID.doctor"].unique().tolist()
    ((12, 8), 51.0, ['2'])
    """
    stages = list(data["CancerStage"].cat.categories)
    smoking = list(data["Smoking"].cat.categories)
    rows = [{"CancerStage": s, "Smoking": k} for s in stages for k in smoking]
    grid = pd.DataFrame(rows)
    for col in CONTINUOUS:
        grid[col] = float(data[col].median())
    grid["ID.hospital"] = hospital
    grid["ID.doctor"] = doctor
    grid["CancerStage"] = pd.Categorical(grid["CancerStage"], categories=stages)
    grid["Smoking"] = pd.Categorical(grid["Smoking"], categories=smoking)
    return grid


@step
def step_predict(a: Analysis) -> None:
    """8. Predicted remission probabilities for patients of doctor 2 in hospital 1."""
    final = a.fits[a.values["final_key"]]
    grid = prediction_grid(a.data)
    mine = a.data[(a.data["ID.doctor"] == DOCTOR) & (a.data["ID.hospital"] == HOSPITAL)]
    cond = predict(final, grid, kind="conditional", seed=a.seed)
    typical = predict(final, grid, kind="typical", seed=a.seed)
    shown = grid[["CancerStage", "Smoking"]].copy()
    for c in ("mean", "lower", "upper"):
        shown[f"doctor 2 {c}"] = cond[c].to_numpy()
    for c in ("mean", "lower", "upper"):
        shown[f"typical doctor {c}"] = typical[c].to_numpy()
    medians = ", ".join(f"{c} {grid[c].iloc[0]:g}" for c in CONTINUOUS if c in final.formula)
    a.report.text(f"Doctor 2 of hospital 1 treated {len(mine)} patients in the data (remission rate "
                  f"{mine[RESPONSE].mean():.2f}). The grid crosses CancerStage and Smoking at the median "
                  f"{medians}. kind='conditional' uses the estimated effects of hospital 1 and of doctor 2 in it (the "
                  "question is about this doctor); kind='typical' (both effects 0) is shown for comparison.")
    a.report.table(shown, "Predicted probability of remission (posterior mean and 95% interval)")
    ranef = final.ranef()
    doc = ranef[(ranef["group"] == "ID.hospital:ID.doctor") & (ranef["level"] == f"{HOSPITAL}:{DOCTOR}")]
    hosp = ranef[(ranef["group"] == "ID.hospital") & (ranef["level"] == HOSPITAL)]
    effects = pd.concat([hosp, doc])[["group", "level", "median", "lower", "upper"]]
    a.report.table(effects, "The effects of hospital 1 and of doctor 2 in it (logit scale)")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    stages = list(grid["CancerStage"].cat.categories)
    for k, (smoking, color) in enumerate(SMOKING_COLORS.items()):
        rows = (grid["Smoking"] == smoking).to_numpy()
        x = np.arange(len(stages)) + (k - 1) * 0.18
        ax.errorbar(x, cond["mean"][rows], yerr=[cond["mean"][rows] - cond["lower"][rows],
                                                 cond["upper"][rows] - cond["mean"][rows]],
                    fmt="o-", color=color, capsize=3, label=f"{smoking} (doctor 2)")
        ax.plot(x, typical["mean"][rows], ls=":", marker="x", color=color, alpha=0.7,
                label=f"{smoking} (typical doctor)")
    ax.set_xticks(range(len(stages)), [f"Stage {s}" for s in stages])
    ax.set_ylabel("P(remission)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"Doctor {DOCTOR}, hospital {HOSPITAL}: predicted remission (95% intervals)", fontsize=10)
    fig.tight_layout()
    a.report.figure(fig, "Predicted probability of remission by stage and smoking for doctor 2's patients (points, "
                         "95% intervals) and for a typical doctor in a typical hospital (crosses)")
    a.values["predicted"] = shown
    best = shown.loc[shown["doctor 2 mean"].idxmax()]
    worst = shown.loc[shown["doctor 2 mean"].idxmin()]
    a.answer("8. Predicted probabilities (doctor 2, hospital 1)",
             f"from {interval_text(best['doctor 2 mean'], best['doctor 2 lower'], best['doctor 2 upper'])} "
             f"(stage {best['CancerStage']}, {best['Smoking']}) down to "
             f"{interval_text(worst['doctor 2 mean'], worst['doctor 2 lower'], worst['doctor 2 upper'])} "
             f"(stage {worst['CancerStage']}, {worst['Smoking']}); doctor 2's effect "
             f"{interval_text(doc['median'].iloc[0], doc['lower'].iloc[0], doc['upper'].iloc[0], 2)} on the logit "
             f"scale ({NO_COURSE_OUTPUT}).")


STEPS = [step_describe, step_plots, step_random_effects, step_fixed_effects, step_final_model, step_checks,
         step_results, step_predict]


run = runner(__name__)
