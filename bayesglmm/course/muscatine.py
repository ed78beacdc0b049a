"""McLain's GLMM notes, section 3: obesity of children in the Muscatine Coronary Risk Factor Study.

The notes read the wide table ``MCRS.csv`` (16 rows: gender x obesity pattern in 1977,
1979 and 1981, with counts per age cohort), pivot it twice and ``uncount`` it to one row
per child and year (:func:`bayesglmm.datasets.uncount_muscatine`: 5310 rows, 1770 children),
then fit::

    glmer(OB_ind ~ log(Age_k) + factor(Cohort) + log(Age_k)*factor(Cohort) + (1|ID),
          nAGQ = 10, family = binomial)

and print its ``anova`` (sequential Wald sums of squares 4.475, 36.597, 11.804) after a
convergence warning. The ``ID`` that ``uncount(.id = "ID")`` writes is the copy number
within a (gender, cohort, pattern) cell, not a child: ``ID == 1`` is 40 different children.
The model the notes mean, a random intercept per child, needs one level per child, the
``child`` column; this analysis fits that model (the same formula with ``(1|child)``) and
shows lme4's numbers for both. The fixed part is the notes' formula, term for term.

Questions answered: are the child effects needed (GLM against GLMM), is the cohort by age
interaction needed (both by cross-validation), what are the fitted obesity curves.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``n_rows``, ``n_children``, ``per_cohort`` (rows per cohort), ``fixef`` (term -> (median,
sd) of the GLMM), ``child_sd`` and ``icc`` (median, lower, upper), ``wald`` (term ->
posterior sequential Wald statistic), ``random_effects`` and ``interaction`` (``decision``,
``elpd_diff``, ``dse``) and ``prediction_gap`` (largest difference between the observed and
the population-averaged fitted share obese over cohort and age).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm import datasets
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import reference, runner, step
from bayesglmm.plots import plot_ppc, plot_ranef_qq
from bayesglmm.predict import predict
from bayesglmm.questions import fixed_effect_needed, random_effects_needed

DESCRIPTION = "McLain's notes section 3: Muscatine obesity (1770 children x 3 years), uncounted, child intercepts"
TITLE = "Obesity in the Muscatine study (GLMM notes, section 3): a Bayesian logistic mixed model"
FIXED = "OB_ind ~ log(Age_k) + Cohort + log(Age_k):Cohort"
FORMULAS = {"GLM": FIXED, "GLMM": FIXED + " + (1|child)",
            "GLMM without interaction": "OB_ind ~ log(Age_k) + Cohort + (1|child)"}
TERMS = ["log(Age_k)", "Cohort", "log(Age_k):Cohort"]
# The notes' printout (fit with (1|ID)): anova sums of squares, and the rows and counts it prints; lme4 1.1-31
# (R 4.2) on the uncounted table, nAGQ = 10, where both fits warn "failed to converge" (max|grad| 1.85 with
# (1|ID), 0.80 with (1|child)). Each with its source: reference/muscatine.json.
_NOTES = reference("muscatine")
COURSE_ANOVA, COURSE_ROWS, LME4_ID_ANOVA = _NOTES["COURSE_ANOVA"], _NOTES["COURSE_ROWS"], _NOTES["LME4_ID_ANOVA"]
LME4_CHILD, LME4_CHILD_ANOVA, LME4_CHILD_SD = _NOTES["LME4_CHILD"], _NOTES["LME4_CHILD_ANOVA"], _NOTES["LME4_CHILD_SD"]
REFITS = {"draws": 250, "tune": 250, "chains": 2}  # per k-fold refit: 5 folds x 2 models on 5310 rows
FOLDS = 5


def sequential_wald(fit, terms=TERMS) -> pd.Series:
    """Posterior counterpart of lme4's ``anova(glmerMod)``: sequential Wald statistics per term.

    lme4 takes the upper Cholesky factor R of the fixed effects' precision and sums the
    squares of ``R @ beta`` over each term's columns (in formula order, so each term is
    adjusted for the terms before it). Here ``beta`` is the posterior mean and the
    precision the inverse of the posterior covariance.

    Parameters
    ----------
    fit : Fit
        A fit whose fixed terms include ``terms``.
    terms : list of str
        Fixed terms in formula order (the intercept comes first, implicitly).

    Returns
    -------
    pandas.Series
        Term -> statistic (lme4 prints it as "Sum Sq"; with one column, F = Sum Sq / npar).

    Examples
    --------
    >>> sequential_wald(glmm)  # doctest: +SKIP
    """
    fe = fit.fixef()
    draws = np.column_stack([_coef_draws(fit, label) for label in fe.index])
    precision = np.linalg.inv(np.cov(draws, rowvar=False))
    upper = np.linalg.cholesky(precision).T
    effects = upper @ draws.mean(axis=0)
    owner = [next((t for t in sorted(terms, key=len, reverse=True) if label.split("[")[0] == t), "Intercept")
             for label in fe.index]
    sums = pd.Series(effects**2, index=owner).groupby(level=0, sort=False).sum()
    return sums.reindex(list(terms))


def _coef_draws(fit, label: str) -> np.ndarray:
    base = label.split("[")[0]
    da = fit.draws[base]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return da.values.ravel()
    level = label[len(base) + 1:-1]
    return da.sel({extra[0]: level}).values.ravel()


def proportion_plot(long: pd.DataFrame, predicted: pd.DataFrame | None = None):
    """Observed share of obese children by age, one line per cohort (with fitted curves if given).

    Parameters
    ----------
    long : pandas.DataFrame
        :func:`bayesglmm.datasets.uncount_muscatine` output.
    predicted : pandas.DataFrame, optional
        Columns ``Cohort``, ``Age_k``, ``mean``, ``lower``, ``upper`` (fitted probabilities).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> long = datasets.uncount_muscatine(datasets.load("muscatine"))
    >>> len(proportion_plot(long).axes)
    1
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, 5))
    share = long.groupby(["Cohort", "Age_k"], observed=True)["OB_ind"].agg(["mean", "size"]).reset_index()
    for color, (cohort, rows) in zip(colors, share.groupby("Cohort", observed=True)):
        ax.plot(rows["Age_k"], rows["mean"], marker="o", color=color, lw=1 if predicted is not None else 1.5,
                ls=":" if predicted is not None else "-", label=f"cohort {cohort} (observed)")
        if predicted is not None:
            p = predicted[predicted["Cohort"] == cohort]
            ax.plot(p["Age_k"], p["mean"], color=color, lw=2, label=f"cohort {cohort} (fitted)")
            ax.fill_between(p["Age_k"], p["lower"], p["upper"], color=color, alpha=0.15)
    ax.set_xlabel("Age_k (cohort's mid age in 1977 + years since 1977)")
    ax.set_ylabel("share obese")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return fig


# ----------------------------------------------------------------------------- steps
@step(check=('a.data.shape, a.values["n_children"]', '((5310, 7), 1770)'))
def step_data(a: Analysis) -> None:
    """1. The wide table, uncounted to one row per child and year, as the notes do.

    The step replaces ``a.data`` by the uncounted table.
    """
    wide = a.data
    a.report.table(wide, "The wide table (the notes' MCRS_wide): Gender, obesity in 1977/79/81, counts per cohort")
    long = datasets.uncount_muscatine(wide)
    a.data = long
    a.report.table(pd.concat([long.head(10), long.tail(10)]),
                   "Head and tail of the uncounted table (the notes print the same rows; the tail's ID runs to 91)")
    per_cohort = long.groupby("Cohort", observed=True).size()
    a.report.table(pd.DataFrame({"rows": per_cohort, "children": per_cohort // 3}), "Rows and children per cohort")
    a.report.text("ID is uncount's copy number within a (Gender, Cohort, pattern) cell, so ID = 1 names "
                  f"{int((long['ID'] == '1').sum() // 3)} different children: the notes' (1|ID) pools unrelated "
                  "children and does not give each child its own intercept. The column child numbers the "
                  f"{long['child'].nunique()} children; the models below use (1|child). Age_k is the cohort's mid "
                  "age in 1977 (6, 8, ..., 14) plus the years since 1977 (the notes' definition is cut off; "
                  "this reading is an inference).")
    a.report.figure(proportion_plot(long), "Observed share of obese children by age, per cohort")
    a.values.update(n_rows=len(long), n_children=int(long["child"].nunique()), per_cohort=per_cohort.to_dict())
    a.answer("1. The data", f"{len(long)} rows = {long['child'].nunique()} children x 3 years (notes' MCRS_longest; "
             f"tail ID {int(long['ID'].astype(int).iloc[-1])}, notes 91); rows per cohort "
             f"{', '.join(str(v) for v in per_cohort)}; {long['OB_ind'].mean():.1%} of child-years obese; "
             f"{long['ID'].nunique()} ID values for {long['child'].nunique()} children.")


@step(after=("step_data",))
def step_fit(a: Analysis) -> None:
    """2-3. The notes' model with a child intercept; the notes' and lme4's numbers beside the posterior."""
    a.report.code("OB_ij | u_j ~ Bernoulli(pi_ij),  child j, year i\n"
                  "logit(pi_ij) = b0 + b1 log(Age_ij) + g_c(j) + d_c(j) log(Age_ij) + u_j,  u_j ~ Normal(0, sigma^2)\n"
                  "c(j) = the child's cohort (g_1 = d_1 = 0): one intercept and one log-age slope per cohort")
    glmm = a.fit("GLMM", FORMULAS["GLMM"], "bernoulli")
    a.best = "GLMM"
    a.report.code(str(glmm.summary()))
    fe = glmm.fixef()
    table = fe[["median", "sd", "lower", "upper", "r_hat", "ess_bulk"]]
    table.insert(0, "lme4 SE", [LME4_CHILD[t][1] for t in table.index])
    table.insert(0, "lme4 (1|child)", [LME4_CHILD[t][0] for t in table.index])
    a.report.table(table, "Fixed effects: lme4 1.1-31 with (1|child) (it also warns 'failed to converge') and the "
                          "posterior (95% intervals)")
    wald = sequential_wald(glmm)
    a.report.table(pd.DataFrame({"notes (1|ID)": COURSE_ANOVA, "lme4 1.1-31 (1|ID)": LME4_ID_ANOVA,
                                 "lme4 1.1-31 (1|child)": LME4_CHILD_ANOVA, "posterior (1|child)": wald}),
                   "anova's sequential Wald statistics ('Sum Sq'): the notes, lme4 on this table with the notes' ID "
                   "and with one intercept per child, and the same statistic from the posterior mean and covariance")
    a.report.text("The notes' printout is reproduced by lme4 with the notes' ID "
                  f"({', '.join(f'{v:.2f}' for v in LME4_ID_ANOVA.values())}; the fit does "
                  "not converge in either run). With one intercept per child the terms' statistics change: the "
                  "pooled ID effects absorbed little of the children's persistent obesity, which the child "
                  "intercepts now carry. We answer the notes' implicit question (does obesity change with age, "
                  "differently by cohort?) below by cross-validation rather than by these Wald statistics.")
    a.values["fixef"] = {t: (float(r["median"]), float(r["sd"])) for t, r in fe.iterrows()}
    a.values["wald"] = wald.to_dict()
    slope = fe.loc["log(Age_k)"]
    lme4_ss, notes_ss = (", ".join(f"{v:.1f}" for v in ref.values()) for ref in (LME4_CHILD_ANOVA, COURSE_ANOVA))
    a.answer("2. The model", f"log(Age_k) slope in cohort 1 "
             f"{interval_text(slope['median'], slope['lower'], slope['upper'], 2)}"
             f" (lme4 (1|child) {LME4_CHILD['log(Age_k)'][0]:.2f}, SE {LME4_CHILD['log(Age_k)'][1]:.2f}); posterior "
             f"Wald statistics {', '.join(f'{v:.1f}' for v in wald)} (lme4 (1|child) {lme4_ss}; the notes' "
             f"(1|ID) {notes_ss}).")


@step(after=("step_data", "step_fit"))
def step_child_sd(a: Analysis) -> None:
    """3. The child SD and the intra-class correlation."""
    glmm = a.fits["GLMM"]
    vc = glmm.varcorr().iloc[0]
    icc = glmm.icc()
    a.report.code(str(icc))
    a.report.figure(posterior_figure([(glmm.draws["1|child_sigma"].values.ravel(), "child SD", (LME4_CHILD_SD,)),
                                      (icc.draws["child"].values.ravel(), "ICC = sigma^2 / (sigma^2 + pi^2/3)",
                                       (LME4_CHILD_SD**2 / (LME4_CHILD_SD**2 + np.pi**2 / 3),))],
                                     reference_label="lme4 (1|child)"),
                    "Posteriors of the child SD and of the ICC with lme4's estimates")
    c = icc.loc["child"]
    a.values["child_sd"] = (float(vc["median"]), float(vc["lower"]), float(vc["upper"]))
    a.values["icc"] = (float(c["median"]), float(c["lower"]), float(c["upper"]))
    a.answer("3. Child SD and ICC", f"child SD {interval_text(*a.values['child_sd'], 2)} (lme4 {LME4_CHILD_SD:.2f}); "
             f"ICC {interval_text(*a.values['icc'], 2)}: obesity persists strongly within a child.")


@step(after=("step_data", "step_fit"))
def step_random_effects(a: Analysis) -> None:
    """4. Are the child intercepts needed? GLM against GLMM by k-fold cross-validation."""
    a.fit("GLM", FORMULAS["GLM"], "bernoulli")
    ans = random_effects_needed(a.fits["GLM"], a.fits["GLMM"], seed=a.seed, allow_unconverged=True, k=FOLDS,
                                reloo_max=0, refit_settings=REFITS)
    a.report.text(f"With three rows per child, PSIS-LOO fails for many rows of the GLMM, so both models are "
                  f"cross-validated by {FOLDS}-fold on the same random folds of rows (each refit {REFITS['chains']} "
                  f"chains x {REFITS['draws']} draws: 5310 rows make refits the costly part).")
    a.report.table(ans.comparison.table, "Cross-validation: GLM vs GLMM")
    a.report.table(ans.table, "Child SD: posterior against prior")
    for note in ans.comparison.notes:
        a.report.text(f"Note: {note}")
    a.report.figure(plot_ppc(a.fits["GLM"], kind="groups", group=a.data["Cohort"].astype(str) + "/" +
                             a.data["Year"].astype(str), seed=a.seed),
                    "Posterior predictive check of the GLM: share obese per cohort and year")
    a.values["random_effects"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.answer("4. Child effects needed?", ans.verdict)


@step(after=("step_data", "step_fit"))
def step_interaction(a: Analysis) -> None:
    """5. Is the cohort by age interaction needed?"""
    a.fit("GLMM without interaction", FORMULAS["GLMM without interaction"], "bernoulli")
    ans = fixed_effect_needed(a.fits["GLMM"], a.fits["GLMM without interaction"], "log(Age_k):Cohort",
                              seed=a.seed, allow_unconverged=True, k=FOLDS, reloo_max=0, refit_settings=REFITS)
    a.report.table(ans.comparison.table, "Cross-validation: with and without the interaction")
    a.report.table(ans.table, "The interaction coefficients: intervals, sign and practical equivalence (odds "
                              "ratio per unit log-age in [0.9, 1.1])")
    a.values["interaction"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.answer("5. Interaction needed?", f"{ans.verdict} (notes: Wald Sum Sq "
             f"{COURSE_ANOVA['log(Age_k):Cohort']:.1f} on 4 df).")


@step(after=("step_data", "step_fit"))
def step_checks(a: Analysis) -> None:
    """6. Checks: predictive checks per cohort and year, and normality of the child effects."""
    glmm = a.fits["GLMM"]
    cells = a.data["Cohort"].astype(str) + "/" + a.data["Year"].astype(str)
    a.report.figure(plot_ppc(glmm, kind="groups", group=cells, seed=a.seed),
                    "Posterior predictive check of the GLMM: share obese per cohort/year against 95% intervals")
    a.report.figure(plot_ranef_qq(glmm), "Normal QQ plot of the child intercepts (posterior means, with bands). "
                                         "Children with the same data share one point pattern: with 3 binary "
                                         "observations each, the effects are shrunk strongly and take few values")
    patterns = a.data.groupby("child", observed=True)["OB_ind"].sum().value_counts().sort_index()
    a.report.table(pd.DataFrame({"children": patterns}).rename_axis("years obese (of 3)"),
                   "Children by number of obese years: 0 and 3 dominate, which is what a large child SD means")
    a.answer("6. Checks", f"children obese in 0/1/2/3 years: {', '.join(str(v) for v in patterns)}; the GLMM "
             "reproduces the share obese in every cohort and year (figure).")


@step(after=("step_data", "step_fit"))
def step_predict(a: Analysis) -> None:
    """7. Fitted obesity curves over age per cohort: a typical child and the population average."""
    glmm = a.fits["GLMM"]
    grid = a.data.drop_duplicates(["Cohort", "Age_k"])[["Cohort", "Age_k"]].reset_index(drop=True)
    grid["child"] = a.data["child"].cat.categories[0]
    marginal = predict(glmm, grid, kind="marginal", seed=a.seed)
    typical = predict(glmm, grid, kind="typical", seed=a.seed)
    observed = a.data.groupby(["Cohort", "Age_k"], observed=True)["OB_ind"].mean().to_numpy()
    a.report.figure(proportion_plot(a.data, marginal), "Observed share obese (dotted) and the population-averaged "
                    "fitted probability (solid, 95% interval) per cohort")
    table = marginal[["Cohort", "Age_k", "mean", "lower", "upper"]].assign(observed=observed,
                                                                           typical_child=typical["mean"].to_numpy())
    a.report.table(table, "Population-averaged and typical-child (u = 0) probability of obesity")
    a.report.text("A typical child (u = 0) has a far lower probability than the population average: with a child "
                  "SD above 3 most of the obese child-years come from children with large positive effects.")
    gap = float(np.max(np.abs(table["mean"] - table["observed"])))
    a.values["prediction_gap"] = gap
    a.answer("7. Predictions", f"population-averaged probabilities follow the observed shares within {gap:.3f}; "
             f"typical child {typical['mean'].min():.3f}-{typical['mean'].max():.3f} against population "
             f"{marginal['mean'].min():.3f}-{marginal['mean'].max():.3f}.")


STEPS = [step_data, step_fit, step_child_sd, step_random_effects, step_interaction, step_checks, step_predict]


run = runner(__name__)
