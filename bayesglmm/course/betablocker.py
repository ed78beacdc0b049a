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

Examples
--------
>>> from bayesglmm.course import betablocker
>>> result = betablocker.run(quick=True)        # doctest: +SKIP
>>> result.answers["5. Odds ratio of treatment"]  # doctest: +SKIP
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.multicentre import proportion_plot
from bayesglmm.plots import plot_caterpillar, plot_ppc, plot_ranef_qq
from bayesglmm.predict import population_averaged_ratio
from bayesglmm.questions import random_effects_needed

DESCRIPTION = "Lecture 8: beta-blocker meta-analysis (22 centres), GLM vs GLMM and the treatment odds ratio"
TITLE = "Beta-blocker meta-analysis (lecture 8): GLM and GLMM, the Bayesian way"
FORMULAS = {"GLM": "p(r, n) ~ treat", "GLMM": "p(r, n) ~ treat + (1|center)"}
# The lecture's printouts: estimate and standard error.
LECTURE = {"GLM": {"Intercept": (-2.19711, 0.03359), "treat[1]": (-0.25737, 0.04942)},
           "GLMM": {"Intercept": (-2.19618, 0.11292), "treat[1]": (-0.26091, 0.04982)}}
LECTURE_CENTRE_VARIANCE = 0.2362  # SD 0.486
LECTURE_OR = 0.77


def _with_lecture(fit, key: str) -> pd.DataFrame:
    table = fit.fixef()[["median", "sd", "lower", "upper", "r_hat", "ess_bulk"]]
    table.insert(0, "lecture SE", [LECTURE[key][t][1] for t in table.index])
    table.insert(0, "lecture estimate", [LECTURE[key][t][0] for t in table.index])
    return table


def step_describe(a: Analysis) -> None:
    """1. The data, and the observed death proportion per centre and treatment.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_describe(a)  # doctest: +SKIP
    """
    a.report.heading("1. The data")
    a.r_and_python("betablok <- read.table('betablok.dat'); names(betablok) <- c('r', 'n')\n"
                   "betablok$treat <- factor(gl(2,1), labels=c(0,1)); betablok$center <- gl(22,2)",
                   'bb = bg.datasets.load("betablocker")   # treat "0"/"1" and center already categorical')
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


def step_glm(a: Analysis) -> None:
    """2. The GLM that ignores the centres.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_glm(a)  # doctest: +SKIP
    """
    a.report.heading("2. Logistic model ignoring the centres (GLM)")
    a.r_and_python("betablok.glm <- glm(cbind(r, (n-r)) ~ treat, data = betablok, family = binomial)",
                   'glm = bg.fit("p(r, n) ~ treat", bb, family="binomial", seed=1)')
    glm = a.fit("GLM", FORMULAS["GLM"], "binomial")
    table = _with_lecture(glm, "GLM")
    a.report.table(table, "GLM coefficients: the lecture's estimates and SEs, and the posterior")
    t = table.loc["treat[1]"]
    a.answer("2. GLM", f"treat {interval_text(t['median'], t['lower'], t['upper'])} (lecture -0.25737, SE 0.04942).")


def step_glmm(a: Analysis) -> None:
    """3. The GLMM with a random intercept per centre.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_glmm(a)  # doctest: +SKIP
    """
    a.report.heading("3. Logistic mixed model with centre intercepts (GLMM)")
    a.r_and_python("betablok.glmer <- glmer(cbind(r, (n-r)) ~ treat + (1|center), data = betablok, family = binomial)",
                   'glmm = bg.fit("p(r, n) ~ treat + (1|center)", bb, family="binomial", seed=1)\n'
                   "print(glmm.summary())")
    glmm = a.fit("GLMM", FORMULAS["GLMM"], "binomial")
    a.report.code(str(glmm.summary()))
    a.report.table(_with_lecture(glmm, "GLMM"), "GLMM coefficients: the lecture's estimates and SEs, and the posterior")
    sd = glmm.varcorr().iloc[0]
    variance = glmm.draws["1|center_sigma"].values.ravel() ** 2
    var_lo, var_hi = np.quantile(variance, [0.025, 0.975])
    a.answer("3. GLMM", f"centre SD {interval_text(sd['median'], sd['lower'], sd['upper'])}, variance "
             f"{interval_text(np.median(variance), var_lo, var_hi)} (lecture: variance 0.2362, SD 0.486).")


def step_random_effects(a: Analysis) -> None:
    """4. Do the centres matter? GLM against GLMM by cross-validation and the centre SD.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_random_effects(a)  # doctest: +SKIP
    """
    a.report.heading("4. Are the centre effects needed?")
    a.r_and_python("AIC(betablok.glm); AIC(betablok.glmer)   # 527.19, 324.4",
                   "bg.random_effects_needed(glm, glmm)")
    ans = random_effects_needed(a.fits["GLM"], a.fits["GLMM"], seed=a.seed, allow_unconverged=True)
    a.report.table(ans.comparison.table, "Cross-validation: GLM vs GLMM")
    a.report.table(ans.table, "Centre SD: posterior against prior")
    for note in ans.comparison.notes:
        a.report.text(f"Note: {note}")
    for key in ("GLM", "GLMM"):
        group = a.data["center"] if key == "GLM" else None
        a.report.figure(plot_ppc(a.fits[key], kind="groups", group=group, seed=a.seed),
                        f"Posterior predictive check of the {key}: observed death proportions against 95% "
                        "intervals of replicated ones")
    a.values["random_effects"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.answer("4. Centre effects needed?", f"{ans.verdict} (lecture: AIC 527.19 -> 324.4).")


def step_odds_ratio(a: Analysis) -> None:
    """5. The treatment's odds ratio, within a centre and averaged over centres.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_odds_ratio(a)  # doctest: +SKIP
    """
    a.report.heading("5. The odds ratio of beta-blockers")
    a.r_and_python("exp(-0.26)   # 0.77: the odds of dying are reduced to 77% of the untreated value",
                   'glmm.ratios()\npopulation_averaged_ratio(glmm, "treat")   # from bayesglmm.predict')
    glmm = a.fits["GLMM"]
    ratios = population_averaged_ratio(glmm, "treat")
    a.report.table(ratios, "Odds ratio of death, beta-blocker vs control")
    odds = ratios.attrs["draws"]["conditional"]
    a.report.figure(posterior_figure([(odds, "odds ratio of death, beta-blocker / control", (LECTURE_OR,))],
                                     reference_label="lecture"),
                    "Posterior of the odds ratio, with the lecture's 0.77")
    c = ratios.loc["conditional"]
    a.values["odds_ratio"] = (c["ratio"], c["lower"], c["upper"])
    a.answer("5. Odds ratio of treatment", f"{interval_text(c['ratio'], c['lower'], c['upper'])} (lecture 0.77); "
             f"P(odds ratio < 1) = {np.mean(odds < 1):.3f}: beta-blockers reduce the odds of death.")


def step_compare_treatment(a: Analysis) -> None:
    """6. The lecture's point: did accounting for the centres change the treatment estimate?

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_compare_treatment(a)  # doctest: +SKIP
    """
    a.report.heading("6. Did accounting for the centres change the treatment effect?")
    a.r_and_python("# lecture: treat1 -0.25737 (GLM) and -0.26091 (GLMM): 'did not make much difference'",
                   'pd.concat({"GLM": glm.fixef().loc["treat[1]"], "GLMM": glmm.fixef().loc["treat[1]"]}, axis=1)')
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


def step_checks(a: Analysis) -> None:
    """7. The centre effects: normal QQ plot, caterpillar plot and ICC.

    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`); the step adds its tables, figures
        and one-line answer to it.

    Examples
    --------
    >>> a = start("betablocker", TITLE, quick=True)  # doctest: +SKIP
    >>> step_checks(a)  # doctest: +SKIP
    """
    a.report.heading("7. The centre effects")
    a.r_and_python("qqnorm(unlist(ranef(betablok.glmer)$center))",
                   "glmm.plot_ranef_qq(); plot_caterpillar(glmm); glmm.icc()")
    glmm = a.fits["GLMM"]
    a.report.figure(plot_ranef_qq(glmm), "Normal QQ plot of the centre effects, with their posterior band")
    a.report.figure(plot_caterpillar(glmm), "Centre effects with 95% intervals")
    icc = glmm.icc()
    a.report.code(str(icc))
    c = icc.loc["center"]
    a.answer("7. Centre effects", f"ICC {interval_text(c['median'], c['lower'], c['upper'])} on the latent scale "
             "(lecture's variance 0.2362 gives 0.067).")


STEPS = [step_describe, step_glm, step_glmm, step_random_effects, step_odds_ratio, step_compare_treatment, step_checks]


def run(data_dir=None, out=None, seed: int = 1, quick: bool = False):
    """Run the lecture's analysis end to end: every step, then the report.

    Parameters
    ----------
    data_dir : path, optional
        Folder holding ``betablocker.csv`` (or the lecture's ``betablok.dat``).
    out : path, optional
        Folder for ``report.html``; nothing is written when None.
    seed : int
        Seed of every fit.
    quick : bool
        Small fits (4 x 300 draws) for tests; the default is 4 chains x 1000 after 1000 warm-up.

    Returns
    -------
    CourseResult

    Examples
    --------
    >>> print(run(quick=True))  # doctest: +SKIP
    """
    a = start("betablocker", TITLE, data_dir=data_dir, seed=seed, quick=quick)
    a.report.text(DESCRIPTION + ". Each section shows the lecture's R code, the Python that replaces it, and the "
                  "answer with its number next to the lecture's.")
    a.run_steps(STEPS)
    return a.finish(out)
