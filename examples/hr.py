"""Tutorial: heart rates above baseline (GLMM notes, section 4), random intercepts and slopes.

What the notes do in R
----------------------
24 patients on drug a, b or placebo have their heart rate measured 5 times; ``HR_incr``
is 1 when it is above the patient's base rate. The notes fit
``glmer(HR_incr ~ Time*Drug + (1 | Patient), family = binomial, nAGQ = 20)`` and then
``(1 + Time | Patient)``, for which lme4 warns that it failed to converge and reports an
intercept-slope correlation of -1.00.

What we do instead, and why
---------------------------
* Both models are sampled by NUTS; the correlated random slope has an LKJ(1) prior on the
  correlation (uniform on [-1, 1]; Bambi alone would make the effects independent).
* A correlation of exactly -1 is an estimate on the boundary: the likelihood is nearly
  flat in that direction and the optimiser ran into the edge. The posterior shows it
  directly: it stays close to the uniform prior, because five binary observations per
  patient say almost nothing about how intercepts and slopes co-vary.
* Which model predicts better is answered by LOO (with exact refits where PSIS is
  unreliable), not by AIC of a fit that did not converge.

Each step is one function of ``bayesglmm/course/hr.py``, the same code that
``bayesglmm course hr --out DIR`` runs.

Run: ``python examples/hr.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import hr, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="hr-report", quick=False):
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
    >>> result = main("hr-report", quick=True)  # doctest: +SKIP
    """
    a = start("hr", hr.TITLE, seed=1, quick=quick)

    # 1. The data: heart rate minus base rate per patient over time, by drug.
    hr.step_describe(a)
    _show(a)
    # 2. Random intercept per patient (the notes' fm1HR, nAGQ = 20).
    hr.step_random_intercept(a)
    _show(a)
    # 3. Correlated random intercept and slope (fm2HR): the correlation's posterior.
    hr.step_random_slope(a)
    _show(a)
    # 4. Which predicts better? LOO.
    hr.step_compare(a)
    _show(a)
    # 5. Checks of the random-intercept model: predictive check per patient, QQ plot, ICC.
    hr.step_checks(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "hr-report", quick="--quick" in sys.argv[1:])
