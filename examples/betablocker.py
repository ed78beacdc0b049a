"""Tutorial: lecture 8's beta-blocker meta-analysis, a GLM and a GLMM, the Bayesian way.

What the lecture does in R
--------------------------
22 centres report deaths ``r`` of ``n`` patients under control and under beta-blockers.
The lecture fits ``glm(cbind(r, n - r) ~ treat, family = binomial)``, ignoring the
centres, then ``glmer(cbind(r, n - r) ~ treat + (1|center), family = binomial)``, and
observes that the treatment estimate hardly changed (-0.257 to -0.261; odds ratio 0.77),
although accounting for the centres could have changed it.

What we do instead, and why
---------------------------
* Both models are sampled by NUTS, so the treatment effect of each has a posterior: the
  lecture's point becomes a comparison of two posteriors (how far did the median move,
  in posterior SDs?) rather than of two point estimates.
* Whether the centres matter at all is answered by cross-validation (does the GLMM predict
  held-out rows better?) and by the posterior of the centre SD, where the lecture quotes AIC.
* The odds ratio is reported within a centre (exp(beta)) and averaged over centres, which
  differ for a logit model with random effects.

Each step is one function of ``bayesglmm/course/betablocker.py``, the same code that
``bayesglmm course betablocker --out DIR`` runs.

Run: ``python examples/betablocker.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import betablocker, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="betablocker-report", quick=False):
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
    >>> result = main("betablocker-report", quick=True)  # doctest: +SKIP
    """
    a = start("betablocker", betablocker.TITLE, seed=1, quick=quick)

    # 1. The data: deaths per centre and treatment, plotted as proportions.
    betablocker.step_describe(a)
    _show(a)
    # 2. The GLM, ignoring the centres (lecture: treat1 -0.25737, SE 0.04942).
    betablocker.step_glm(a)
    _show(a)
    # 3. The GLMM with a random intercept per centre (lecture: treat1 -0.26091; variance 0.2362).
    betablocker.step_glmm(a)
    _show(a)
    # 4. Do the centres matter? Cross-validation and the centre SD (lecture: AIC 527 vs 324).
    betablocker.step_random_effects(a)
    _show(a)
    # 5. The odds ratio of death under beta-blockers (lecture: exp(-0.26) = 0.77).
    betablocker.step_odds_ratio(a)
    _show(a)
    # 6. The lecture's point: the treatment effect with and without the centres.
    betablocker.step_compare_treatment(a)
    _show(a)
    # 7. The centre effects: QQ plot, caterpillar plot, ICC.
    betablocker.step_checks(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "betablocker-report", quick="--quick" in sys.argv[1:])
