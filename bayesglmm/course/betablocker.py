"""Lecture 8: the beta-blocker meta-analysis, a GLM and a GLMM of mortality.

44 rows: for each of 22 centres, ``r`` of ``n`` patients died under control (``treat`` 0)
and under beta-blockers (``treat`` 1). The lecture fits ``glm(cbind(r, n - r) ~ treat)``,
then ``glmer(cbind(r, n - r) ~ treat + (1|center))``, and makes one point: accounting for
the centres changed the treatment estimate little here (-0.257 to -0.261), though it could
have. Here both models are ``p(r, n) ~ ...`` sampled by NUTS, and the point is checked on
the two posteriors of the treatment effect.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``random_effects`` (``decision``, ``elpd_diff``, ``dse``), ``odds_ratio``, ``treat_glm``
and ``treat_glmm`` (median, lower, upper).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import glm_against_glmm, reference, runner, step
from bayesglmm.course.multicentre import proportion_plot
from bayesglmm.plots import plot_caterpillar, plot_ranef_qq
from bayesglmm.predict import population_averaged_ratio

DESCRIPTION = "Lecture 8: beta-blocker meta-analysis (22 centres), GLM vs GLMM and the treatment odds ratio"
TITLE = "Beta-blocker meta-analysis (lecture 8): GLM and GLMM, the Bayesian way"
FORMULAS = {"GLM": "p(r, n) ~ treat", "GLMM": "p(r, n) ~ treat + (1|center)"}
# The lecture's printouts (estimate and standard error), each with its source: reference/betablocker.json.
_LECTURE = reference("betablocker")
LECTURE = {key: _LECTURE[key] for key in FORMULAS}
LECTURE_CENTRE_VARIANCE = _LECTURE["centre_variance"]  # SD 0.486
LECTURE_OR = _LECTURE["odds_ratio"]


def _with_lecture(fit, key: str) -> pd.DataFrame:
    table = fit.fixef()[["median", "sd", "lower", "upper", "r_hat", "ess_bulk"]]
    table.insert(0, "lecture SE", [LECTURE[key][t][1] for t in table.index])
    table.insert(0, "lecture estimate", [LECTURE[key][t][0] for t in table.index])
    return table


@step
def step_describe(a: Analysis) -> None:
    """1. The data, and the observed death proportion per centre and treatment."""
    data = a.data.assign(prop=a.data["r"] / a.data["n"])
    a.report.table(data, "The data: r deaths of n patients (prop = r / n)")
    a.report.figure(proportion_plot(data, prop="prop", group="center", hue="treat",
                                    xlabel="Observed proportion of deaths"),
                    "Observed death proportion per centre, control (0) and beta-blocker (1)")
    by = data.groupby("treat", observed=True)[["r", "n"]].sum()
    rates = by["r"] / by["n"]
    a.answer("1. The data", f"{len(data)} rows, {data['center'].nunique()} centres; pooled mortality "
             f"{rates['0']:.3f} under control and {rates['1']:.3f} under beta-blockers; centres range from "
             f"{data['prop'].min():.3f} to {data['prop'].max():.3f}.")


@step
def step_glm(a: Analysis) -> None:
    """2. The GLM that ignores the centres."""
    glm = a.fit("GLM", FORMULAS["GLM"], "binomial")
    table = _with_lecture(glm, "GLM")
    a.report.table(table, "GLM coefficients: the lecture's estimates and SEs, and the posterior")
    t = table.loc["treat[1]"]
    a.answer("2. GLM", f"treat {interval_text(t['median'], t['lower'], t['upper'])} "
             f"(lecture {LECTURE['GLM']['treat[1]'][0]}, SE {LECTURE['GLM']['treat[1]'][1]}).")


@step
def step_glmm(a: Analysis) -> None:
    """3. The GLMM with a random intercept per centre."""
    glmm = a.fit("GLMM", FORMULAS["GLMM"], "binomial")
    a.report.code(str(glmm.summary()))
    a.report.table(_with_lecture(glmm, "GLMM"), "GLMM coefficients: the lecture's estimates and SEs, and the posterior")
    sd = glmm.varcorr().iloc[0]
    variance = glmm.draws["1|center_sigma"].values.ravel() ** 2
    var_lo, var_hi = np.quantile(variance, [0.025, 0.975])
    a.answer("3. GLMM", f"centre SD {interval_text(sd['median'], sd['lower'], sd['upper'])}, variance "
             f"{interval_text(np.median(variance), var_lo, var_hi)} (lecture: variance {LECTURE_CENTRE_VARIANCE}, SD "
             f"{_LECTURE['centre_sd']}).")


@step
def step_random_effects(a: Analysis) -> None:
    """4. Do the centres matter? GLM against GLMM by cross-validation and the centre SD."""
    ans = glm_against_glmm(a, "center", "observed death proportions against 95% intervals of replicated ones")
    a.answer("4. Centre effects needed?", f"{ans.verdict} (lecture: AIC {_LECTURE['aic'][0]} -> "
             f"{_LECTURE['aic'][1]}).")


@step
def step_odds_ratio(a: Analysis) -> None:
    """5. The treatment's odds ratio, within a centre and averaged over centres."""
    glmm = a.fits["GLMM"]
    ratios = population_averaged_ratio(glmm, "treat")
    a.report.table(ratios, "Odds ratio of death, beta-blocker vs control")
    odds = ratios.attrs["draws"]["conditional"]
    a.report.figure(posterior_figure([(odds, "odds ratio of death, beta-blocker / control", (LECTURE_OR,))],
                                     reference_label="lecture"),
                    "Posterior of the odds ratio, with the lecture's 0.77")
    c = ratios.loc["conditional"]
    a.values["odds_ratio"] = (c["ratio"], c["lower"], c["upper"])
    a.answer("5. Odds ratio of treatment", f"{interval_text(c['ratio'], c['lower'], c['upper'])} "
             f"(lecture {LECTURE_OR}); "
             f"P(odds ratio < 1) = {np.mean(odds < 1):.3f}: beta-blockers reduce the odds of death.")


@step
def step_compare_treatment(a: Analysis) -> None:
    """6. The lecture's point: did accounting for the centres change the treatment estimate?"""
    rows = {key: a.fits[key].fixef().loc["treat[1]", ["median", "sd", "lower", "upper"]] for key in FORMULAS}
    table = pd.DataFrame(rows).T
    table.insert(0, "lecture estimate", [LECTURE[k]["treat[1]"][0] for k in table.index])
    a.report.table(table, "The treatment coefficient (log odds ratio) in both models")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for key, color in zip(FORMULAS, ("#e07b39", "#3b75af")):
        ax.hist(a.fits[key].draws["treat"].values.ravel(), bins=60, density=True, alpha=0.5, color=color,
                label=f"{key}: {FORMULAS[key]}")
        ax.axvline(LECTURE[key]["treat[1]"][0], color=color, ls="--", lw=1.2, label=f"lecture {key}")
    ax.set_xlabel("treat[1] (log odds ratio of death)")
    ax.set_ylabel("posterior density")
    ax.legend(frameon=False, fontsize=7)
    a.report.figure(fig, "Posterior of the treatment effect with and without centre effects")
    shift = table.loc["GLMM", "median"] - table.loc["GLM", "median"]
    in_sds = abs(shift) / table.loc["GLMM", "sd"]
    for key in FORMULAS:
        a.values[f"treat_{key.lower()}"] = tuple(table.loc[key, ["median", "lower", "upper"]])
    a.answer("6. GLM vs GLMM treatment", f"treat {table.loc['GLM', 'median']:.3f} (GLM) vs "
             f"{table.loc['GLMM', 'median']:.3f} (GLMM): changed by {shift:+.3f}, {in_sds:.2f} "
             "posterior SDs; as the lecture says, accounting for the centres changed it little here, "
             "while the intercept's uncertainty grew (see steps 2-3).")


@step
def step_checks(a: Analysis) -> None:
    """7. The centre effects: normal QQ plot, caterpillar plot and ICC."""
    glmm = a.fits["GLMM"]
    a.report.figure(plot_ranef_qq(glmm), "Normal QQ plot of the centre effects, with their posterior band")
    a.report.figure(plot_caterpillar(glmm), "Centre effects with 95% intervals")
    icc = glmm.icc()
    a.report.code(str(icc))
    c = icc.loc["center"]
    a.answer("7. Centre effects", f"ICC {interval_text(c['median'], c['lower'], c['upper'])} on the latent scale "
             f"(lecture's variance {LECTURE_CENTRE_VARIANCE} gives "
             f"{LECTURE_CENTRE_VARIANCE / (LECTURE_CENTRE_VARIANCE + np.pi ** 2 / 3):.3f}).")


STEPS = [step_describe, step_glm, step_glmm, step_random_effects, step_odds_ratio, step_compare_treatment, step_checks]


run = runner(__name__)
