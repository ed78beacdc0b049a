"""The Analysis Factor slides: cardiac incidents of patients in rehab centres, built bottom-up (steps 1-6).

The slides' data (1000 cardiac patients in 110 rehab centres; ``Incidents`` over 6 months,
patient-level ``Treatment`` and ``Gender``, centre-level ``Hours``) are not public, so
this analysis runs on :func:`bayesglmm.datasets.simulate_rehab`, whose true parameters are
the slides' printed estimates plus a random Treatment slope (SD 0.25) and no cross-level
interaction. The slides' bottom-up model building (Hox 2010), a Poisson GLMM at each step:

1. random intercepts only; 2. add the patient-level predictors; 3. add the centre-level
predictor; 4. random slopes, one variable at a time; 5. all relevant random slopes
together; 6. cross-level interactions with the variables whose slopes vary.

Every "is it needed?" is answered by cross-validation (:mod:`bayesglmm.questions`), not by
Wald or likelihood-ratio tests; every estimate is checked against the simulation's truth.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``truth`` (the simulation's parameters), ``random_effects``, ``needed`` (term -> decision
of steps 2-4 and 6), ``slopes`` (the random slopes kept in step 5), ``final_formula``,
``final_90`` (parameter -> (median, lower, upper), 90% intervals, of the final model),
``icc`` (median, lower, upper) and ``hours_sd_drop`` (centre SD of step 2 minus that of
step 3, posterior medians).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm.compare import compare
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import reference, runner, step
from bayesglmm.plots import plot_caterpillar, plot_ppc, plot_ranef_qq
from bayesglmm.predict import predict
from bayesglmm.questions import fixed_effect_needed, random_effects_needed

DESCRIPTION = ("The Analysis Factor slides: cardiac incidents in rehab centres (simulated), bottom-up model "
               "building steps 1-6")
TITLE = "Cardiac incidents in rehab centres (the slides' GLMM example): bottom-up model building, step by step"
BASE = "Incidents ~ Treatment + Gender + Hours"
FORMULAS = {"GLM null": "Incidents ~ 1", "step 1": "Incidents ~ 1 + (1|rehab)",
            "step 2": "Incidents ~ Treatment + Gender + (1|rehab)",
            "step 2 without Treatment": "Incidents ~ Gender + (1|rehab)",
            "step 2 without Gender": "Incidents ~ Treatment + (1|rehab)",
            "step 3": BASE + " + (1|rehab)",
            "step 4 Treatment slope": BASE + " + (1 + Treatment|rehab)",
            "step 4 Gender slope": BASE + " + (1 + Gender|rehab)"}
SLOPE_VARIABLES = ("Treatment", "Gender")
# The slides' lme4 estimates: slide 31-32 (Treatment + Gender) and slide 34 (with Hours): (estimate, SE), each
# with its source: reference/rehab.json.
_SLIDES = reference("rehab")
SLIDE_STEP2, SLIDE_STEP3 = _SLIDES["SLIDE_STEP2"], _SLIDES["SLIDE_STEP3"]
SLIDE_STEP2_VARIANCE = _SLIDES["SLIDE_STEP2_VARIANCE"]
ROPE_RATE = (0.95, 1.05)  # rate ratios within 5% of 1: practically no effect


def _fixef_table(fit, slide: dict, truth: dict) -> pd.DataFrame:
    """Posterior of the fixed effects beside the slides' estimates and the simulation's truth."""
    table = fit.fixef()[["median", "sd", "lower", "upper", "r_hat", "ess_bulk"]]
    table.insert(0, "truth", [truth.get(t, np.nan) for t in table.index])
    table.insert(0, "slides SE", [slide.get(t, (np.nan, np.nan))[1] for t in table.index])
    table.insert(0, "slides (lme4)", [slide.get(t, (np.nan, np.nan))[0] for t in table.index])
    return table


def _centre_sd(fit) -> pd.Series:
    return fit.varcorr().set_index("label").loc["1|rehab_sigma"]


def centre_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Per centre: patients, Hours and mean incidents (overall and by treatment).

    Examples
    --------
    >>> from bayesglmm import datasets
    >>> centre_summary(datasets.load("rehab")).shape
    (110, 5)
    """
    by = data.groupby("rehab", observed=True)
    out = pd.DataFrame({"patients": by.size(), "Hours": by["Hours"].first(), "mean incidents": by["Incidents"].mean()})
    means = data.groupby(["rehab", "Treatment"], observed=True)["Incidents"].mean().unstack("Treatment")
    out["mean, standard"] = means.get(0)
    out["mean, new"] = means.get(1)
    return out


# ----------------------------------------------------------------------------- steps
@step(check=('list(a.answers)', "['0. The data']"))
def step_describe(a: Analysis) -> None:
    """0. The simulated data: incidents per patient, centres, and the truth behind them."""
    data, truth = a.data, a.data.attrs["truth"]
    a.values["truth"] = dict(truth)
    a.report.text("The slides print lme4 output but no data. This simulation has their design (1000 patients "
                  "in 110 centres) and uses their printed estimates as true values; the random Treatment slope "
                  "(SD 0.25) and the absent cross-level interaction are our choices, so that every step of the "
                  "model building has something to find (see simulate_rehab's docstring). The truth is the "
                  "reference here.")
    a.report.table(data.head(8), "The first 8 of 1000 rows")
    a.report.table(pd.DataFrame({"true value": truth}), "The simulation's parameters")
    centres = centre_summary(data)
    a.report.table(centres.describe().T, "Centre-level summary (110 centres)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    top = int(data["Incidents"].quantile(0.99)) + 1
    for treat, color, label in ((0, "#F8766D", "standard"), (1, "#00BFC4", "new")):
        counts = data.loc[data["Treatment"] == treat, "Incidents"].clip(upper=top).value_counts().sort_index()
        axes[0].bar(counts.index + (0.2 if treat else -0.2), counts.to_numpy(), width=0.4, color=color,
                    label=f"{label} treatment")
    axes[0].set_xlabel(f"Incidents per patient over 6 months (>= {top} pooled)")
    axes[0].set_ylabel("patients")
    axes[0].legend(frameon=False)
    axes[1].scatter(centres["Hours"], np.log(centres["mean incidents"] + 0.1), s=8 * centres["patients"],
                    alpha=0.5, color="#3b75af")
    axes[1].set_xlabel("Hours open to cardiac patients per week (centre level)")
    axes[1].set_ylabel("log(mean incidents + 0.1) per centre")
    axes[1].set_title("Centres (point size = patients)", fontsize=9)
    fig.tight_layout()
    a.report.figure(fig, "Incidents per patient by treatment, and centre means against the centre's Hours")
    by_t = data.groupby("Treatment")["Incidents"].mean()
    a.answer("0. The data", f"{len(data)} patients in {data['rehab'].nunique()} centres "
             f"({int(centres['patients'].min())}-{int(centres['patients'].max())} per centre); mean incidents "
             f"{by_t[0]:.2f} (standard) vs {by_t[1]:.2f} (new treatment); centre means range "
             f"{centres['mean incidents'].min():.2f}-{centres['mean incidents'].max():.2f}.")


@step
def step_null(a: Analysis) -> None:
    """Step 1: random intercepts without predictors; are the centre effects needed?"""
    a.report.code("Incidents_ij ~ Poisson(mu_ij),  log(mu_ij) = beta_00 + u_0j,  u_0j ~ Normal(0, sigma_00^2)")
    a.fit("GLM null", FORMULAS["GLM null"], "poisson")
    null = a.fit("step 1", FORMULAS["step 1"], "poisson")
    ans = random_effects_needed(a.fits["GLM null"], null, seed=a.seed, allow_unconverged=True)
    a.report.table(ans.comparison.table, "Cross-validation: without and with centre intercepts")
    a.report.table(ans.table, "Centre SD: posterior against prior")
    for note in ans.comparison.notes:
        a.report.text(f"Note: {note}")
    icc = null.icc()
    a.report.code(str(icc))
    a.report.figure(posterior_figure([(icc.draws["rehab"].values.ravel(), "ICC of the null model (latent scale)",
                                       None)]),
                    "Posterior of the intra-class correlation of the null model (log-normal approximation of the "
                    "Poisson level-1 variance)")
    c = icc.loc["rehab"]
    a.values["random_effects"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.values["icc"] = (c["median"], c["lower"], c["upper"])
    a.answer("1. Null model", f"{ans.verdict} ICC {interval_text(c['median'], c['lower'], c['upper'])}.")


@step
def step_lower_level(a: Analysis) -> None:
    """Step 2: add the patient-level predictors (fixed); is each needed?"""
    truth = a.data.attrs["truth"]
    m2 = a.fit("step 2", FORMULAS["step 2"], "poisson")
    a.report.table(_fixef_table(m2, SLIDE_STEP2, truth), "Fixed effects: the slides' lme4 estimates, the "
                   "simulation's truth and the posterior (95% intervals). The slides' intercept 0.787 belongs to "
                   "a model without Hours; the truth's intercept -0.409 is at Hours = 0")
    a.report.table(m2.ratios(), "Rate ratios exp(beta), 95% intervals")
    needed = a.values.setdefault("needed", {})
    lines = []
    for term in ("Treatment", "Gender"):
        without = a.fit(f"step 2 without {term}", FORMULAS[f"step 2 without {term}"], "poisson")
        ans = fixed_effect_needed(m2, without, term, ROPE_RATE, seed=a.seed, allow_unconverged=True)
        a.report.table(ans.comparison.table, f"Cross-validation: with and without {term}")
        a.report.table(ans.table, f"{term}: interval, sign and practical equivalence (rate ratio in {ROPE_RATE})")
        needed[term] = ans.decision
        lines.append(f"{term} {ans.decision} (elpd {ans.elpd_diff:+.1f} +/- {ans.dse:.1f})")
    sd = _centre_sd(m2)
    fe = m2.fixef()
    a.answer("2. Patient-level predictors",
             f"Treatment {interval_text(*fe.loc['Treatment', ['median', 'lower', 'upper']])}"
             f" (slides {SLIDE_STEP2['Treatment'][0]:.3f}, truth {truth['Treatment']}), Gender "
             f"{interval_text(*fe.loc['Gender', ['median', 'lower', 'upper']])} (slides "
             f"{SLIDE_STEP2['Gender'][0]:.3f}, truth {truth['Gender']}); {'; '.join(lines)}; centre variance "
             f"{sd['median'] ** 2:.3f} (slides {SLIDE_STEP2_VARIANCE}).")


@step
def step_higher_level(a: Analysis) -> None:
    """Step 3: add the centre-level predictor Hours; does it explain centre variation?"""
    truth = a.data.attrs["truth"]
    m3 = a.fit("step 3", FORMULAS["step 3"], "poisson")
    a.report.table(_fixef_table(m3, SLIDE_STEP3, truth), "Fixed effects: the slides' lme4 estimates (= the truth "
                   "of the simulation) and the posterior (95% intervals)")
    ans = fixed_effect_needed(m3, a.fits["step 2"], "Hours", ROPE_RATE, seed=a.seed, allow_unconverged=True)
    a.report.table(ans.comparison.table, "Cross-validation: with and without Hours")
    a.report.table(ans.table, "Hours: interval, sign and practical equivalence")
    before, after = _centre_sd(a.fits["step 2"]), _centre_sd(m3)
    drop = float(before["median"] - after["median"])
    sd_draws = {k: a.fits[k].draws["1|rehab_sigma"].values.ravel() for k in ("step 2", "step 3")}
    a.report.figure(posterior_figure([(sd_draws["step 2"], "centre SD without Hours", None),
                                      (sd_draws["step 3"], "centre SD with Hours", (truth["1|rehab_sigma"],))],
                                     reference_label="truth"),
                    "The centre SD before and after adding Hours: Hours explains part of the centre variation")
    a.values.setdefault("needed", {})["Hours"] = ans.decision
    a.values["hours_sd_drop"] = drop
    h = m3.fixef().loc["Hours"]
    a.answer("3. Centre-level predictor", f"Hours {interval_text(h['median'], h['lower'], h['upper'])} (slides "
             f"{SLIDE_STEP3['Hours'][0]:.3f}, SE {SLIDE_STEP3['Hours'][1]:.3f} = truth); {ans.verdict} Centre SD "
             f"{before['median']:.3f} -> {after['median']:.3f}.")


@step
def step_random_slopes(a: Analysis) -> None:
    """Step 4: does the slope of each patient-level predictor vary between centres (one at a time)?"""
    truth = a.data.attrs["truth"]
    needed, lines = a.values.setdefault("needed", {}), []
    for var in SLOPE_VARIABLES:
        key = f"step 4 {var} slope"
        fit = a.fit(key, FORMULAS[key], "poisson")
        comparison = compare({"with slope": fit, "step 3": a.fits["step 3"]}, seed=a.seed, allow_unconverged=True)
        vc = fit.varcorr().set_index("label")
        a.report.table(comparison.table, f"Cross-validation: with and without a random {var} slope")
        a.report.table(vc.drop(columns=[c for c in ("group",) if c in vc.columns]),
                       f"Centre SDs and correlation with a random {var} slope (truth: Treatment slope SD "
                       f"{truth['Treatment|rehab_sigma']}, no Gender slope, no correlation)")
        sd = vc.loc[f"{var}|rehab_sigma"]
        d, se, decision = slope_decision(comparison.table)
        needed[f"{var}|rehab"] = decision
        lines.append(f"{var} slope SD {interval_text(sd['median'], sd['lower'], sd['upper'])}, elpd "
                     f"{d:+.1f} +/- {se:.1f}: {decision}")
    a.report.text("The random slope is judged by cross-validation only (the fixed part is the same in both models): "
                  "'needed' when it predicts clearly better, 'not needed' when the two predict alike.")
    panels = [(a.fits[f"step 4 {v} slope"].draws[f"{v}|rehab_sigma"].values.ravel(), f"SD of the {v} slopes",
               (truth.get(f"{v}|rehab_sigma", 0.0),)) for v in SLOPE_VARIABLES]
    a.report.figure(posterior_figure(panels, reference_label="truth"), "Posteriors of the slope SDs with the truth")
    a.answer("4. Random slopes", "; ".join(lines) + ".")


def slope_decision(table: pd.DataFrame) -> tuple:
    """Is a random slope needed? The rule of :mod:`bayesglmm.questions` on a comparison with and without it.

    Parameters
    ----------
    table : pandas.DataFrame
        ``Comparison.table`` of :func:`bayesglmm.compare` with rows ``"with slope"`` and
        ``"step 3"``.

    Returns
    -------
    tuple
        (elpd with minus without the slope, its SE, ``"needed"``, ``"not needed"`` or
        ``"unclear"``).

    Examples
    --------
    >>> t = pd.DataFrame({"elpd": [-100.0, -120.0], "dse": [0.0, 4.0]}, index=["with slope", "step 3"])
    >>> slope_decision(t)
    (20.0, 4.0, 'needed')
    """
    from bayesglmm.questions import CLEAR_SE, SIMILAR_SE, SMALL_ELPD

    d = float(table.loc["with slope", "elpd"] - table.loc["step 3", "elpd"])
    se = float(table["dse"].max())
    z = d / se if se > 0 else np.sign(d) * np.inf
    if z > CLEAR_SE and d > SMALL_ELPD:
        return d, se, "needed"
    if z <= SIMILAR_SE or d <= SMALL_ELPD:
        return d, se, "not needed"
    return d, se, "unclear"


def final_formula(slopes: list, interactions: list) -> str:
    """The step-5/6 formula: random slopes for ``slopes``, cross-level interactions with Hours.

    Examples
    --------
    >>> final_formula(["Treatment"], ["Treatment"])
    'Incidents ~ Treatment + Gender + Hours + Treatment:Hours + (1 + Treatment|rehab)'
    >>> final_formula([], [])
    'Incidents ~ Treatment + Gender + Hours + (1|rehab)'
    """
    fixed = BASE + "".join(f" + {v}:Hours" for v in interactions)
    return fixed + " + (" + " + ".join(["1", *slopes]) + "|rehab)"


@step
def step_combined_slopes(a: Analysis) -> None:
    """Step 5: the step-3 model with every random slope that step 4 did not reject."""
    needed = a.values["needed"]
    slopes = [v for v in SLOPE_VARIABLES if needed.get(f"{v}|rehab") != "not needed"]
    formula = final_formula(slopes, [])
    a.r_and_python("glmer(Incidents ~ Treatment + Gender + Hours + (1 + <relevant slopes>|rehab), family = poisson)",
                   f'm5 = bg.fit("{formula}", rehab, family="poisson", seed=1)')
    known = {f.formula: key for key, f in a.fits.items()}
    if formula in known:
        a.fits["step 5"] = a.fits[known[formula]]
        a.report.text(f"Step 4 kept {', '.join(slopes) or 'no slope'}: the step-5 model is the {known[formula]} "
                      "model, already fitted.")
    else:
        a.fit("step 5", formula, "poisson")
    a.values["slopes"] = slopes
    fit = a.fits["step 5"]
    a.report.code(str(fit.summary()))
    a.answer("5. Combined random slopes", f"random slopes kept: {', '.join(slopes) or 'none'}; model {formula!r}.")


@step
def step_cross_level(a: Analysis) -> None:
    """Step 6: cross-level interactions of Hours with the predictors whose slopes vary."""
    slopes = a.values["slopes"]
    inter = slopes or ["Treatment"]
    formula = final_formula(slopes, inter)
    a.r_and_python("# slide 24: (beta_00 + beta_01 Hours_j + u_0j) + (beta_10 + beta_11 Hours_j + u_1j) Treatment_ij\n"
                   "glmer(Incidents ~ Treatment*Hours + Gender + (1 + Treatment|rehab), family = poisson)",
                   f'm6 = bg.fit("{formula}", rehab, family="poisson", seed=1)\n'
                   'bg.fixed_effect_needed(m6, m5, "Treatment:Hours")')
    if not slopes:
        a.report.text("No slope varied in step 4, so there is no slope variation for Hours to explain; the "
                      "slides' own example, Treatment:Hours, is tested all the same.")
    truth = a.data.attrs["truth"]
    m6 = a.fit("step 6", formula, "poisson")
    a.best = "step 6"
    lines = []
    for var in inter:
        term = f"{var}:Hours"
        ans = fixed_effect_needed(m6, a.fits["step 5"], term, ROPE_RATE, seed=a.seed, allow_unconverged=True)
        a.report.table(ans.comparison.table, f"Cross-validation: with and without {term}")
        a.report.table(ans.table, f"{term}: interval, sign and practical equivalence")
        a.values["needed"][term] = ans.decision
        lines.append(ans.verdict)
    fe90, vc90 = m6.fixef(prob=0.9), m6.varcorr(prob=0.9).set_index("label")
    rows, final = {}, {}
    for name, value in truth.items():
        src = fe90 if name in fe90.index else vc90 if name in vc90.index else None
        if src is None:
            continue
        r = src.loc[name]
        final[name] = (float(r["median"]), float(r["lower"]), float(r["upper"]))
        rows[name] = {"truth": value, "median": r["median"], "lower 90%": r["lower"], "upper 90%": r["upper"],
                      "truth inside": r["lower"] <= value <= r["upper"]}
    a.values["final_formula"], a.values["final_90"] = formula, final
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"),
                   "The final model against the simulation's truth (90% intervals)")
    inside = sum(row["truth inside"] for row in rows.values())
    t = m6.fixef().loc[f"{inter[0]}:Hours"]
    a.answer("6. Cross-level interaction", f"{inter[0]}:Hours {interval_text(t['median'], t['lower'], t['upper'])} "
             f"(truth 0); {' '.join(lines)} Truth inside the 90% interval for {inside} of {len(rows)} parameters.")


@step
def step_diagnostics(a: Analysis) -> None:
    """Diagnostics (slides 40-41): forest plot of the centres, QQ plots, posterior predictive checks."""
    fit = a.fits[a.best]
    a.report.figure(plot_caterpillar(fit, "rehab"), "Forest plot: each centre's effects (posterior mean, 95% "
                    "interval), sorted; centres whose interval excludes 0 differ from the average centre")
    a.report.figure(plot_ranef_qq(fit), "Normal QQ plots of the centre effects with posterior bands")
    a.report.figure(plot_ppc(fit, kind="bars", seed=a.seed), "Posterior predictive check: counts of 0, 1, 2, ... "
                    "incidents, observed against replicated")
    a.report.figure(plot_ppc(fit, kind="groups", seed=a.seed), "Posterior predictive check per centre")
    re = fit.ranef().query("group == 'rehab'")
    true_u = a.data.attrs["random_effects"]["1|rehab"]
    intercepts = re[re["effect"] == "1"]
    excl = intercepts[(intercepts["lower"] > 0) | (intercepts["upper"] < 0)]
    corr = float(np.corrcoef([true_u[str(lv)] for lv in intercepts["level"]], intercepts["mean"])[0, 1])
    a.answer("7. Diagnostics", f"{len(excl)} of {len(intercepts)} centre intercepts exclude 0 (unusual centres); "
             f"estimated and true centre intercepts correlate at {corr:.2f}.")


@step
def step_predict(a: Analysis) -> None:
    """Prediction (slide 36): expected incidents against Hours, per treatment, for a typical centre."""
    fit = a.fits[a.best]
    hours = np.linspace(a.data["Hours"].min(), a.data["Hours"].max(), 25)
    grid = pd.DataFrame([(h, t, g) for t in (0, 1) for g in (0, 1) for h in hours],
                        columns=["Hours", "Treatment", "Gender"])
    grid["rehab"] = a.data["rehab"].cat.categories[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    tables = {}
    for ax, kind in zip(axes, ("typical", "marginal")):
        pred = predict(fit, grid, kind=kind, seed=a.seed)
        tables[kind] = pred
        for (t, g), rows in pred.groupby(["Treatment", "Gender"]):
            label = f"{'new' if t else 'standard'} treatment, {'male' if g else 'female'}"
            ax.plot(rows["Hours"], rows["mean"], lw=1.5, ls="-" if t else "--", label=label,
                    color="#00BFC4" if t else "#F8766D", alpha=1.0 if g else 0.55)
            ax.fill_between(rows["Hours"], rows["lower"], rows["upper"], alpha=0.1, color="#00BFC4" if t else "#F8766D")
        ax.set_xlabel("Hours")
        ax.set_title({"typical": "typical centre (u = 0)", "marginal": "averaged over centres"}[kind], fontsize=9)
    axes[0].set_ylabel("expected incidents over 6 months")
    axes[0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    a.report.figure(fig, "Expected incidents against Hours with 95% intervals: for a centre with u = 0 and averaged "
                         "over the centre distribution (higher: the log-normal mean exceeds the median)")
    at = tables["typical"]
    mid = at.iloc[(at["Hours"] - 4.15).abs().argsort()[:4]].sort_values(["Treatment", "Gender"])
    a.report.table(mid[["Hours", "Treatment", "Gender", "mean", "lower", "upper"]],
                   "Expected incidents for a typical centre at the mean Hours")
    std = mid[(mid["Treatment"] == 0) & (mid["Gender"] == 0)].iloc[0]
    new = mid[(mid["Treatment"] == 1) & (mid["Gender"] == 0)].iloc[0]
    a.answer("8. Predictions", f"typical centre at {std['Hours']:.1f} hours, female patients: "
             f"{interval_text(std['mean'], std['lower'], std['upper'], 2)} incidents on standard treatment, "
             f"{interval_text(new['mean'], new['lower'], new['upper'], 2)} on the new one.")


STEPS = [step_describe, step_null, step_lower_level, step_higher_level, step_random_slopes, step_combined_slopes,
         step_cross_level, step_diagnostics, step_predict]


run = runner(__name__)
