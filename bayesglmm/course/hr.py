"""McLain's GLMM notes, section 4: heart rates above baseline, random intercepts against random slopes.

120 rows: 24 patients (8 per drug a, b and placebo p), each measured at 5 times.
``HR_incr = 1`` when the heart rate is above the patient's base rate. The notes fit
``glmer(HR_incr ~ Time*Drug + (1|Patient), nAGQ = 20)``, then ``(1 + Time|Patient)``,
where lme4 reports an intercept-slope correlation of -1.00 (with a convergence warning):
a boundary estimate. Here both are sampled by NUTS (the slope model with an LKJ(1) prior
on the correlation, uniform on [-1, 1]); the correlation's posterior shows how little five
binary observations per patient say about it, and LOO compares the two models.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``correlation`` (median, lower, upper of the intercept-slope correlation) and ``loo``
(``elpd_diff`` of the slope model minus the intercept model, and its ``dse``).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bayesglmm.compare import compare
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import reference, runner, step
from bayesglmm.plots import plot_ppc, plot_ranef_qq

DESCRIPTION = "McLain's notes section 4: heart rates (24 patients x 5 times), random intercept vs random slope"
TITLE = "Heart rates above baseline (GLMM notes, section 4): random intercepts and slopes"
FORMULAS = {"random intercept": "HR_incr ~ Time*Drug + (1|Patient)",
            "random slope": "HR_incr ~ Time*Drug + (1 + Time|Patient)"}
# lme4's estimates in the notes (fm1HR with nAGQ = 20: estimate and SE; fm2HR: estimate only): reference/hr.json.
_NOTES = reference("hr")
LME4_FM1, LME4_FM2, LME4_FM2_VARCORR = _NOTES["LME4_FM1"], _NOTES["LME4_FM2"], _NOTES["LME4_FM2_VARCORR"]
COLORS = {"a": "#e07b39", "b": "#3b75af", "p": "#519e3e"}


@step
def step_describe(a: Analysis) -> None:
    """1. Heart rate relative to baseline over time, per patient and drug."""
    data = a.data
    a.report.table(data.head(10), "The first 10 of 120 rows")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    for ax, (drug, sub) in zip(axes, data.groupby("Drug", observed=True)):
        for _, rows in sub.groupby("Patient", observed=True):
            ax.plot(rows["Time"], rows["HR"] - rows["baseHR"], marker="o", ms=3, lw=1, color=COLORS[drug], alpha=0.7)
        ax.axhline(0, color="black", lw=1, ls="--")
        ax.set_title(f"Drug {drug} ({sub['Patient'].nunique()} patients)", fontsize=10)
        ax.set_xlabel("Time (min)")
    axes[0].set_ylabel("HR - baseHR (beats/min)")
    fig.tight_layout()
    a.report.figure(fig, "Heart rate minus the patient's base rate over time, one line per patient")
    share = data.groupby(["Drug", "Time"], observed=True)["HR_incr"].mean().unstack("Time")
    a.report.table(share, "Share of patients with HR above baseline, per drug and time")
    by_drug = data.groupby("Drug", observed=True)["HR_incr"].mean()
    drugs = ", ".join(f"{d} {v:.0%}" for d, v in by_drug.items())
    a.answer("1. The data", f"{len(data)} rows, {data['Patient'].nunique()} patients; HR above baseline in "
             f"{data['HR_incr'].mean():.0%} of rows, by drug {drugs}.")


@step
def step_random_intercept(a: Analysis) -> None:
    """2. Random intercept per patient."""
    fit = a.fit("random intercept", FORMULAS["random intercept"], "bernoulli")
    table = fit.fixef()[["median", "sd", "lower", "upper", "r_hat", "ess_bulk"]]
    table.insert(0, "lme4 SE", [LME4_FM1[t][1] for t in table.index])
    table.insert(0, "lme4 estimate", [LME4_FM1[t][0] for t in table.index])
    a.report.table(table, "Fixed effects: lme4 (nAGQ = 20) and the posterior")
    a.report.table(fit.varcorr().drop(columns=["label"]), "Patient SD")
    sd = fit.varcorr().iloc[0]
    zero_inside = ((table["lower"] < 0) & (table["upper"] > 0)).drop("Intercept")
    which = ("every fixed-effect interval contains 0" if zero_inside.all() else
             f"intervals excluding 0: {', '.join(zero_inside.index[~zero_inside])}")
    a.answer("2. Random intercept", f"patient SD {interval_text(sd['median'], sd['lower'], sd['upper'], 2)}; "
             f"{which} (lme4: every p > 0.19).")


@step
def step_random_slope(a: Analysis) -> None:
    """3. Correlated random intercept and slope: the correlation is not identified."""
    # The slope SD is weakly identified: at 4 x 1000 draws its R-hat was 1.02 (seed 1); twice the
    # draws and warm-up with target_accept 0.95 converged with seeds 1 and 2 (min bulk ESS ~900).
    fit = a.fit("random slope", FORMULAS["random slope"], "bernoulli", scale=2, target_accept=0.95)
    a.report.text("The slope SD is weakly identified, so this model is sampled with twice the draws and "
                  "warm-up and a target acceptance of 0.95 (with the defaults its R-hat was 1.02).")
    table = fit.fixef()[["median", "lower", "upper"]]
    table.insert(0, "lme4 estimate", [LME4_FM2[t] for t in table.index])
    a.report.table(table, "Fixed effects: lme4 and the posterior")
    vc = fit.varcorr()
    a.report.table(vc.drop(columns=["label"]), "Patient SDs and correlation (lme4: 2.4424, 0.4982, -1.00)")
    cor = fit.draws["Patient_corr"].values[..., 0, 1].ravel()
    slope_sd = fit.draws["Time|Patient_sigma"].values.ravel()
    fig = posterior_figure([(cor, "cor(Intercept, Time) between patients", (LME4_FM2_VARCORR["cor"],)),
                            (slope_sd, "SD of the Time slopes", (LME4_FM2_VARCORR["sd Time"],))],
                           reference_label="lme4")
    fig.axes[0].axhline(0.5, color="#777777", lw=1.5, label="prior: LKJ(1), uniform on [-1, 1]")
    fig.axes[0].legend(frameon=False, fontsize=7)
    a.report.figure(fig, "Posterior of the intercept-slope correlation against its uniform prior, and of the "
                         "slope SD, with lme4's estimates")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(slope_sd, cor, s=4, alpha=0.3, color="#3b75af")
    ax.set_xlabel("SD of the Time slopes")
    ax.set_ylabel("cor(Intercept, Time)")
    ax.set_title("Posterior draws: where the slopes barely vary, the correlation is the prior's", fontsize=9)
    a.report.figure(fig, "Correlation against slope SD, one point per posterior draw")
    lo, hi = np.quantile(cor, [0.025, 0.975])
    a.values["correlation"] = (float(np.median(cor)), float(lo), float(hi))
    lme4_cor = LME4_FM2_VARCORR["cor"]
    a.report.text(f"The posterior SD of the correlation is {np.std(cor):.2f}, against {1 / np.sqrt(3):.2f} under "
                  "its uniform prior: five binary observations per patient carry almost no information about it. "
                  f"lme4's {lme4_cor:.2f} is an estimate on the boundary of the parameter space, a sign that the model "
                  "is over-parameterised for these data rather than that the effects are perfectly correlated.")
    a.answer("3. Random slope: correlation", f"cor(Intercept, Time) {interval_text(np.median(cor), lo, hi, 2)}, "
             f"posterior SD {np.std(cor):.2f} vs prior {1 / np.sqrt(3):.2f}: not identified "
             f"(lme4: {lme4_cor:.2f}, a boundary estimate).")


@step
def step_compare(a: Analysis) -> None:
    """4. Random intercept or random slope? Compare by LOO."""
    res = compare(dict(a.fits), seed=a.seed, allow_unconverged=True)
    a.report.table(res.table, "Cross-validation (PSIS-LOO; exact refits of rows with high Pareto-k)")
    for note in res.notes:
        a.report.text(f"Note: {note}")
    d, se = res.difference("random slope", "random intercept")
    a.values["loo"] = {"elpd_diff": d, "dse": se}
    a.answer("4. LOO comparison", f"elpd(random slope) - elpd(random intercept) = {d:.1f} (SE {se:.1f}): "
             + ("the random slope does not predict better; keep the random intercept." if d < 2 * se else
                "the random slope predicts better."))


@step
def step_checks(a: Analysis) -> None:
    """5. Checks of the random-intercept model: predictive check per patient and QQ plot."""
    fit = a.fits["random intercept"]
    a.report.figure(plot_ppc(fit, kind="groups", seed=a.seed),
                    "Posterior predictive check: share of rows above baseline per patient against 95% intervals")
    a.report.figure(plot_ranef_qq(fit), "Normal QQ plot of the patient intercepts")
    icc = fit.icc()
    a.report.code(str(icc))
    c = icc.loc["Patient"]
    a.answer("5. Checks", f"ICC of patients {interval_text(c['median'], c['lower'], c['upper'], 2)} "
             "on the latent scale.")


STEPS = [step_describe, step_random_intercept, step_random_slope, step_compare, step_checks]


run = runner(__name__)
