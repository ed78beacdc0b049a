"""Tutorial: course Exercise 1 (the multicentre trial) as a Bayesian GLMM, step by step.

What the course does in R
-------------------------
Eleven centres each treat patients with an active drug or a control, and ``y`` of ``n``
respond. The course fits ``glmer(obs ~ 1 + treat + (1|centre), family = "binomial",
weights = n)`` with lme4 and answers nine questions with likelihood-ratio tests, AIC,
Wald and profile confidence intervals, ``shapiro.test`` and ``predict``.

What we do instead, and why
---------------------------
* The same model, ``p(y, n) ~ treat + (1|centre)`` (successes out of trials), sampled by
  NUTS (nutpie): every quantity the course estimates (the odds ratio, the probability of a
  response, the centre SD, the ICC) gets a whole posterior, so its 95% credible interval
  needs no normal approximation, and quantities derived from it (the ICC, a predicted
  probability) carry their uncertainty along.
* "Are the random effects needed?" and "Is the treatment needed?" are answered by
  cross-validation (expected log predictive density: which model predicts new rows
  better) and by the posterior of the parameter in question, instead of p-values. The
  decision rule is written out in ``bayesglmm.questions``.
* Random-effect normality is checked as in the course (Shapiro-Wilk on the estimated
  effects) and with a QQ plot whose band shows the effects' posterior uncertainty.

Each step below is one function of ``bayesglmm/course/multicentre.py``, the same code that
``bayesglmm course multicentre --out DIR`` runs; read a step's source to see how it is
answered. Each prints its one-line answer, with the course's number beside ours.

Run: ``python examples/multicentre.py [OUT_DIR] [--quick]`` (the report goes to
``OUT_DIR/report.html``, by default ``multicentre-report``).
"""

import sys

from bayesglmm.course import multicentre, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="multicentre-report", quick=False):
    """Run every step, printing each answer, and write ``out/report.html``.

    Parameters
    ----------
    out : str or path
        Folder of the report.
    quick : bool
        Small fits (4 chains x 300 draws), for a first look in under a minute.

    Returns
    -------
    bayesglmm.course.CourseResult

    Examples
    --------
    >>> result = main("multicentre-report", quick=True)  # doctest: +SKIP
    """
    # The course's data file, read and prepared as the course does (centre as a factor).
    a = start("multicentre", multicentre.TITLE, seed=1, quick=quick)

    # 1. Descriptive plot of the observed proportions, per centre and treatment (ggplot).
    multicentre.step_describe(a)
    _show(a)
    # 2. treat is fixed (the treatments of interest), centre random (a sample of centres);
    #    R's plot.design shows how much more the centres vary.
    multicentre.step_design(a)
    _show(a)
    # 3. The model, fitted three ways: the GLMM, the GLM without centres (for step 4) and
    #    the GLMM without treat (for step 5). Its equation is printed with the fitted numbers.
    multicentre.step_fit(a)
    _show(a)
    # 4. Random effects needed? R: a likelihood-ratio test of sigma_u = 0. Here: does the
    #    GLMM predict held-out rows better, and is the centre SD clearly above zero?
    multicentre.step_random_effects(a)
    _show(a)
    # 5. Treatment needed? R: anova(M1a, M1b). Here: cross-validation with and without
    #    treat, and the posterior probability that the odds ratio is near 1.
    multicentre.step_treatment(a)
    _show(a)
    # 6. P(response) for the drug group in a centre with u = 0, and the odds ratio, each with
    #    a 95% credible interval (course: 0.376 [0.220, 0.564]; OR 1.08 [0.77, 1.51]).
    multicentre.step_drug_probability(a)
    _show(a)
    # 7. Are the centre effects normal? Shapiro-Wilk and a QQ plot (course: W = 0.93053).
    multicentre.step_normality(a)
    _show(a)
    # 8. Centre SD and intra-class correlation (course: 1.1692 [0.71, 2.06]; ICC 0.293).
    multicentre.step_variance(a)
    _show(a)
    # 9. Predicted probability of every row, added to the descriptive plot.
    multicentre.step_predict(a)
    _show(a)

    # Convergence of every fit, seed, versions and the data's SHA-256, then report.html.
    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "multicentre-report", quick="--quick" in sys.argv[1:])
