"""Course Exercise 1: the Beitler & Landis multicentre trial, items 1-9, as a Bayesian GLMM.

22 rows: for each of 11 centres and 2 treatments (control, drug), ``y`` of ``n`` patients
responded. The course fits ``glmer(obs ~ 1 + treat + (1|centre), family = "binomial",
weights = n)``; here the same model is ``p(y, n) ~ treat + (1|centre)`` (binomial counts),
sampled by NUTS, and every question is answered with a posterior instead of a test.

Each ``step_*`` function answers one item of the exercise (it adds its tables, figures and
one-line answer to the :class:`~bayesglmm.course.Analysis`); :data:`STEPS` lists them in
the course's order and :func:`run` runs them all.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``random_effects`` and ``treatment`` (``decision``, ``elpd_diff``, ``dse``), ``p_drug``,
``odds_ratio``, ``centre_sd`` and ``icc`` (median, lower, upper), ``shapiro`` (W, p),
``predicted`` (posterior mean per row) and ``predicted_gap``.

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.checks import ranef_normality
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import glm_against_glmm, reference, runner, step
from bayesglmm.plots import plot_prior_posterior, plot_ranef_qq
from bayesglmm.predict import population_averaged_ratio, predict, predict_draws
from bayesglmm.questions import fixed_effect_needed

DESCRIPTION = "Course Exercise 1: multicentre trial (11 centres x 2 treatments), items 1-9"
TITLE = "Multicentre trial (course Exercise 1): a Bayesian GLMM, step by step"
FORMULAS = {"GLM": "p(y, n) ~ treat", "GLMM": "p(y, n) ~ treat + (1|centre)",
            "GLMM without treat": "p(y, n) ~ 1 + (1|centre)"}
COLORS = {"control": "#F8766D", "drug": "#00BFC4"}  # ggplot2's two default hues
# The course's printed numbers, each with its source (lme4 1.1-31 reproduces them): reference/multicentre.json.
COURSE = reference("multicentre")
# Step 9 for centres 1, 2, 3: as printed by the course, and by lme4 1.1-31 (= plogis(fixef + ranef)).
COURSE_PRED = {"course printout": list(COURSE["predicted_course"]), "lme4 1.1-31": list(COURSE["predicted_lme4"])}


def proportion_plot(data: pd.DataFrame, predicted: pd.DataFrame | None = None, *, prop: str = "obs",
                    group: str = "centre", hue: str = "treat", xlabel: str = "Observed probability"):
    """The course's descriptive plot: observed proportion per group, coloured by treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per group and treatment, with the columns named below.
    predicted : pandas.DataFrame, optional
        Output of :func:`bayesglmm.predict.predict` for the same rows: its posterior mean
        is drawn as black asterisks with 95% intervals (the course's step 9).
    prop, group, hue : str
        Columns of the proportion (x axis), the group (y axis) and the treatment (colour).
    xlabel : str
        Label of the x axis.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = proportion_plot(bg.datasets.load("multicentre"))  # doctest: +SKIP
    """
    fig, ax = plt.subplots(figsize=(7, 0.3 * data[group].nunique() + 2))
    levels = list(data[group].cat.categories)
    y = data[group].cat.codes.to_numpy()
    treatments = list(data[hue].cat.categories)
    for k, (treat, color) in enumerate(zip(treatments, COLORS.values())):
        rows = (data[hue] == treat).to_numpy()
        offset = 0.0 if predicted is None else (0.12 if k else -0.12)
        ax.scatter(data[prop][rows], y[rows] + offset, color=color, s=30, label=treat, zorder=3)
        if predicted is not None:
            ax.hlines(y[rows] + offset, predicted["lower"][rows], predicted["upper"][rows], color="#555555", lw=0.7)
            ax.scatter(predicted["mean"][rows], y[rows] + offset, marker="*", color="black", s=60, zorder=4,
                       label="predicted (95% interval)" if k else None)
    ax.set_yticks(range(len(levels)), levels)
    ax.set_xlabel("Prob" if predicted is not None else xlabel)
    ax.set_ylabel(group.capitalize())
    ax.grid(alpha=0.3)
    ax.legend(title=hue, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


def level_means(data: pd.DataFrame, factor: str) -> pd.Series:
    """Mean observed proportion ``obs`` per level of ``factor`` (the points of R's ``plot.design``).

    Examples
    --------
    >>> level_means(pd.DataFrame({"treat": ["a", "a", "b"], "obs": [0.2, 0.4, 0.5]}), "treat").round(2).to_dict()
    {'a': 0.3, 'b': 0.5}
    """
    return data.groupby(factor, observed=True)["obs"].mean()


def design_plot(data: pd.DataFrame):
    """R's ``plot.design(obs ~ treat + centre)``: mean proportion per level of each factor.

    Parameters
    ----------
    data : pandas.DataFrame
        The multicentre data (``treat``, ``centre``, ``obs``).

    Returns
    -------
    matplotlib.figure.Figure
        One vertical axis per factor with a tick at each level's mean ``obs``, and the
        overall mean as a horizontal line.

    Examples
    --------
    >>> fig = design_plot(bg.datasets.load("multicentre"))  # doctest: +SKIP
    """
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for x, factor in enumerate(["treat", "centre"], start=1):
        means = level_means(data, factor)
        ax.vlines(x, means.min(), means.max(), color="black", lw=1)
        ax.hlines(means.to_numpy(), x - 0.04, x + 0.04, color="black", lw=1)
        for level, m in means.items():
            ax.annotate(str(level), (x + 0.06, m), va="center", fontsize=8)
    ax.axhline(data["obs"].mean(), color="#777777", lw=1)
    ax.set_xticks([1, 2], ["treat", "centre"])
    ax.set_xlim(0.5, 2.6)
    ax.set_xlabel("Factors")
    ax.set_ylabel("mean of obs")
    ax.set_title("Average observed probability per level of treat and centre", fontsize=10)
    return fig


# ----------------------------------------------------------------------------- steps
@step
def step_describe(a: Analysis) -> None:
    """1. Load the data and plot the observed proportion per centre by treatment."""
    a.report.table(a.data, "The data (obs = y / n)")
    a.report.figure(proportion_plot(a.data), "Observed probability of a positive response per centre and treatment")
    by_centre = level_means(a.data, "centre")
    a.answer("1. Descriptive plot", f"observed proportions range from {a.data['obs'].min():.2f} to "
             f"{a.data['obs'].max():.2f}; centre means from {by_centre.min():.2f} (centre {by_centre.idxmin()}) to "
             f"{by_centre.max():.2f} (centre {by_centre.idxmax()}): systematic differences between centres.")


@step
def step_design(a: Analysis) -> None:
    """2. Fixed or random? The design plot compares the spread of treat and centre means."""
    a.report.figure(design_plot(a.data), "Average observed probabilities for each level of treat and centre")
    treat, centre = level_means(a.data, "treat"), level_means(a.data, "centre")
    a.answer("2. Fixed or random", f"treat fixed, centre random; level means of treat span "
             f"{treat.max() - treat.min():.3f} (control {treat['control']:.3f}, drug {treat['drug']:.3f}), "
             f"of centre {centre.max() - centre.min():.3f}: centres vary far more than treatments.")


@step
def step_fit(a: Analysis) -> None:
    """3. Write the model and fit it (with the GLM and the model without treat, for steps 4-5)."""
    for key, formula in FORMULAS.items():
        a.fit(key, formula, "binomial")
    glmm = a.fits["GLMM"]
    fe, vc = glmm.fixef(), glmm.varcorr()
    b0, b1, sd = fe.loc["Intercept", "median"], fe.loc["treat[drug]", "median"], vc["median"].iloc[0]
    equation = (
        "y_ij | u_i ~ Binomial(n_ij, pi_ij),   i = 1, ..., 11 (centres),  j = 1, 2 (treatments)\n"
        "logit(pi_ij) = beta_0 + beta_1 x_ij + u_i,   u_i ~ Normal(0, sigma_u^2)\n"
        "x_ij = 1 for the active drug, 0 for control; priors: see the table below.\n\n"
        f"Fitted (posterior medians): logit(pi_ij) = {b0:.3f} + {b1:.3f} x_ij + u_i,   sigma_u = {sd:.3f}"
    )
    a.report.text("The course writes i = 1, ..., 10; the data have 11 centres.")
    a.report.code(equation)
    a.report.code(str(glmm.summary()))
    a.report.table(glmm.prior_summary(), "Priors (weakly informative, scaled to the data)")
    a.answer("3. Model equation", f"logit(pi_ij) = {b0:.3f} + {b1:.3f} x_ij + u_i, u_i ~ N(0, {sd:.3f}^2) "
             f"(course: treatdrug {COURSE['treatdrug']}, centre SD {COURSE['sd'][0]:.2f} in the model without treat).")


@step
def step_random_effects(a: Analysis) -> None:
    """4. Are the random effects needed? GLM against GLMM by cross-validation and the centre SD."""
    a.report.text("Instead of a likelihood-ratio test we ask which model predicts new rows better "
                  "(cross-validated expected log predictive density, elpd; rows whose PSIS-LOO is unreliable are "
                  "refitted exactly), and whether the centre SD's posterior is clearly away from zero.")
    ans = glm_against_glmm(a, "centre", "observed proportions against 95% intervals of replicated ones, per row")
    aic = COURSE["aic"]
    a.answer("4. Random effects needed?", f"{ans.verdict} (course: LRT p = {COURSE['lrt_p_random']:.1e}, "
             f"AIC {aic[0]:.1f} -> {aic[1]:.1f}).")


@step
def step_treatment(a: Analysis) -> None:
    """5. Is the treatment effect needed? The GLMM with and without treat."""
    ans = fixed_effect_needed(a.fits["GLMM"], a.fits["GLMM without treat"], "treat", seed=a.seed,
                              allow_unconverged=True)
    a.report.table(ans.comparison.table, "Cross-validation: with and without treat")
    a.report.table(ans.table, "The treatment coefficient: interval, sign and practical equivalence (odds ratio in "
                              "[0.9, 1.1])")
    diff = ans.comparison.elpd["with treat"].elpd_i - ans.comparison.elpd["without treat"].elpd_i
    diff = pd.Series(np.asarray(diff).ravel(), index=a.data.index)
    worst = a.data.loc[diff.idxmin()]
    obs = a.data[a.data["centre"] == worst["centre"]].set_index("treat")["obs"]
    a.report.text(f"The rows that decide it: the elpd difference (with minus without treat) is "
                  f"{diff.min():+.1f} for centre {worst['centre']}, {worst['treat']} (observed drug {obs['drug']:.2f}, "
                  f"control {obs['control']:.2f}); a row held out is predicted from its centre's other row, and "
                  "a common treatment effect helps that prediction only where the centre's own difference "
                  "goes the common way.")
    a.best = "GLMM" if ans.decision == "needed" else "GLMM without treat"
    a.report.text(f"The model used for steps 7 to 9 (the course's 'best model'): {FORMULAS[a.best]}.")
    a.values["treatment"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.answer("5. Treatment effect needed?",
             f"{ans.verdict} (course: LRT p = {COURSE['lrt_p_treat']}, not significant).")


@step
def step_drug_probability(a: Analysis) -> None:
    """6. P(positive response) in the drug group for u = 0, and the odds ratio, with 95% intervals."""
    glmm = a.fits["GLMM"]
    new = pd.DataFrame({"treat": ["control", "drug"], "n": [1, 1]})
    typical = predict(glmm, new, kind="typical")
    a.report.table(typical[["treat", "mean", "median", "lower", "upper"]],
                   "P(positive response) for a centre with u_i = 0 (posterior mean, median, 95% interval)")
    ratios = population_averaged_ratio(glmm, "treat")
    a.report.table(ratios, "Odds ratio drug vs control: within a centre (exp(beta_1)) and averaged over centres")
    p_drug = predict_draws(glmm, new.iloc[[1]], kind="typical")["mean"].values.ravel()
    odds = ratios.attrs["draws"]["conditional"]
    a.report.figure(posterior_figure([(p_drug, "P(positive response | drug, u = 0)", COURSE["p_drug"]),
                                      (odds, "odds ratio drug / control", COURSE["odds_ratio"])]),
                    "Posteriors of the drug group's probability at u = 0 and of the odds ratio, with the course's "
                    "estimates and 95% confidence intervals")
    drug = typical.iloc[1]
    cond = ratios.loc["conditional"]
    a.values["p_drug"] = (drug["median"], drug["lower"], drug["upper"])
    a.values["odds_ratio"] = (cond["ratio"], cond["lower"], cond["upper"])
    holds_1 = cond["lower"] < 1 < cond["upper"]
    reading = ("its interval contains 1: no difference in the odds between drug and control is plausible, as in "
               "the course" if holds_1 else "its interval excludes 1")
    a.report.text(f"Odds ratio: the odds of a positive response on the drug are exp(beta_1) times those on control, "
                  f"within a centre; {reading}.")
    a.report.text(f"P(odds ratio > 1) = {np.mean(odds > 1):.2f}. The probability's interval is wider than the "
                  "course's Wald interval: at u = 0 it rests on the intercept, whose uncertainty grows with the "
                  "centre SD, and the SD's posterior is right-skewed (step 8); no normal approximation is made.")
    odds_text = interval_text(cond["ratio"], cond["lower"], cond["upper"], 2)
    a.answer("6. Drug group at u = 0, odds ratio",
             f"P(response | drug, u = 0) = {interval_text(drug['median'], drug['lower'], drug['upper'])} "
             f"(course {interval_text(*COURSE['p_drug'])}); odds ratio {odds_text} "
             f"(course {interval_text(*COURSE['odds_ratio'], 2)}); {'contains 1' if holds_1 else 'excludes 1'}.")


@step
def step_normality(a: Analysis) -> None:
    """7. Are the centre effects normal? Shapiro-Wilk on posterior means, and a QQ plot with a band."""
    best = a.fits[a.best]
    res = ranef_normality(best)
    a.report.table(res.table, "Shapiro-Wilk test of the posterior means of the centre effects")
    a.report.text(res.note)
    a.report.figure(plot_ranef_qq(best), "Normal QQ plot of the centre effects; the band shows their posterior "
                                         "uncertainty")
    row = res.table.iloc[0]
    a.values["shapiro"] = (row["W"], row["p_value"])
    a.answer("7. Random effects normal?", f"Shapiro-Wilk W = {row['W']:.4f}, p = {row['p_value']:.3f} on the "
             f"posterior means (course W = {COURSE['W']}, p = {COURSE['W_p']}): no evidence against normality "
             "(11 levels: weak test).")


@step
def step_variance(a: Analysis) -> None:
    """8. The centre SD and the intra-class correlation, with their posteriors."""
    best = a.fits[a.best]
    vc = best.varcorr()
    icc = best.icc()
    a.report.table(vc.drop(columns=["label"]), "Centre SD (posterior)")
    a.report.code(str(icc))
    sd_draws = best.draws["1|centre_sigma"].values.ravel()
    a.report.figure(posterior_figure([(sd_draws, "centre SD sigma_u", COURSE["sd"]),
                                      (icc.draws["centre"].values.ravel(), "ICC = sigma_u^2 / (sigma_u^2 + pi^2/3)",
                                       (COURSE["icc"],))]),
                    "Posteriors of the centre SD (with lme4's estimate and profile interval) and of the ICC")
    a.report.figure(plot_prior_posterior(best, seed=a.seed), "Prior and posterior of the centre SD")
    a.report.text("The posterior median of the SD is above lme4's maximum-likelihood estimate: with 11 centres "
                  "the likelihood of an SD is right-skewed, ML estimates of variances are biased low, and the "
                  "posterior median and interval take the whole skewed distribution into account.")
    sd, c = vc.iloc[0], icc.loc["centre"]
    a.values["centre_sd"] = (sd["median"], sd["lower"], sd["upper"])
    a.values["icc"] = (c["median"], c["lower"], c["upper"])
    a.answer("8. Centre SD and ICC", f"centre SD {interval_text(sd['median'], sd['lower'], sd['upper'], 2)} "
             f"(course {COURSE['sd'][0]}, profile CI {COURSE['sd'][1]:.2f}-{COURSE['sd'][2]:.2f}); ICC "
             f"{interval_text(c['median'], c['lower'], c['upper'])} (course {COURSE['icc']}): about {c['median']:.0%} "
             "of the latent variability is between centres.")


def _plogis_fixef_ranef(fit, data: pd.DataFrame) -> np.ndarray:
    """Posterior mean of plogis(fixed effects + centre effect) per row, computed from the draws directly."""
    ds = fit.draws
    eta = np.repeat(ds["Intercept"].values.reshape(-1, 1), len(data), axis=1)
    if "treat" in ds:
        eta = eta + ds["treat"].values.reshape(-1, 1) * (data["treat"] == "drug").to_numpy()
    u = ds["1|centre"]
    levels = [str(v) for v in u["centre__factor_dim"].values]
    u = u.values.reshape(-1, len(levels))
    eta = eta + u[:, [levels.index(str(c)) for c in data["centre"]]]
    return special.expit(eta).mean(axis=0)


@step
def step_predict(a: Analysis) -> None:
    """9. Predicted probability of every row (its own centre effect), added to the descriptive plot."""
    best = a.fits[a.best]
    pred = predict(best, a.data, kind="conditional")
    a.report.table(pred[["centre", "treat", "y", "n", "obs", "mean", "lower", "upper"]],
                   "Observed and predicted probability per row (posterior mean and 95% interval)")
    direct = _plogis_fixef_ranef(best, a.data)
    gap = float(np.max(np.abs(direct - pred["mean"].to_numpy())))
    first = pred.drop_duplicates("centre").head(3)
    check = pd.DataFrame({"centre": first["centre"].astype(str).to_list(), **COURSE_PRED,
                          "this fit (posterior mean)": first["mean"].to_list()}).set_index("centre")
    a.report.table(check, "Step 9 for centres 1-3: the course's printout, lme4 1.1-31 and this fit")
    printed, lme4 = (", ".join(f"{v:.3f}" for v in COURSE[key]) for key in ("predicted_course", "predicted_lme4"))
    a.report.text(f"The course's printed predictions ({printed}) come from an lme4 version issue with "
                  f"predict(newdata =): lme4 1.1-31 on the same fitted model gives {lme4}, which equal "
                  "plogis(fixef + ranef) (see SOURCES.md of the course data, multicentre, 'Does not match'). Ours "
                  "are plogis(fixed effects + centre effect) per posterior draw, averaged: computed directly from "
                  f"the draws they differ from predict() by at most {gap:.1e}.")
    a.report.figure(proportion_plot(a.data, pred), "Observed (dots) and predicted (asterisks, with 95% intervals) "
                                                   "probabilities of a positive response per centre")
    a.answer("9. Predicted probabilities", f"centres 1-3: {', '.join(f'{v:.3f}' for v in first['mean'])} "
             f"(lme4 1.1-31: {lme4}; the course's printout {printed} is an lme4 version "
             f"issue); equal to plogis(fixef + ranef) per draw (max difference {gap:.1e}).")
    a.values["predicted"] = pred["mean"].to_numpy()
    a.values["predicted_gap"] = gap


STEPS = [step_describe, step_design, step_fit, step_random_effects, step_treatment, step_drug_probability,
         step_normality, step_variance, step_predict]


run = runner(__name__)
