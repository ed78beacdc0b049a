"""Tutorial: the Analysis Factor slides' rehab-centre example, built bottom-up as a Bayesian Poisson GLMM.

What the slides do in R
-----------------------
Cardiac incidents of 1000 patients in 110 rehab centres, with patient-level Treatment and
Gender and centre-level Hours. The slides fit Poisson GLMMs with lme4 (slides 31-34) and
describe Hox's bottom-up model building: (1) random intercepts only, (2) patient-level
predictors, (3) centre-level predictors, (4) random slopes one at a time, (5) all
relevant random slopes, (6) cross-level interactions; then forest and QQ plots of the
centre effects.

What we do instead, and why
---------------------------
* The slides' data are not public, so we simulate them with their design and their
  printed estimates as the truth (``bayesglmm.datasets.simulate_rehab``): each estimate
  can be checked against a known value.
* Each model is sampled by NUTS; each "is this needed?" is answered by cross-validation
  (PSIS-LOO, with exact refits where it is unreliable) instead of Wald tests, p-values or
  AIC, together with the parameter's posterior.
* Forest plot, QQ plots, posterior predictive checks and predictions for a typical centre
  and averaged over centres.

Each step is one function of ``bayesglmm/course/rehab.py``, the code that
``bayesglmm course rehab --out DIR`` runs. Run: ``python examples/rehab.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import rehab, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="rehab-report", quick=False):
    """Run every step, printing each answer, and write ``out/report.html``.

    Parameters
    ----------
    out : str or path
        Folder of the report.
    quick : bool
        Small fits (4 chains x 300 draws), for a first look.

    Returns
    -------
    bayesglmm.course.CourseResult

    Examples
    --------
    >>> result = main("rehab-report", quick=True)  # doctest: +SKIP
    """
    # The simulated data (seed 2016); their true parameters are in a.data.attrs["truth"].
    a = start("rehab", rehab.TITLE, seed=1, quick=quick)

    # The data: incidents by treatment, centre means against Hours.
    rehab.step_describe(a)
    _show(a)
    # Step 1: random intercepts only; are the centre effects needed? (GLM vs GLMM by LOO)
    rehab.step_null(a)
    _show(a)
    # Step 2: Treatment and Gender as fixed effects; is each needed?
    rehab.step_lower_level(a)
    _show(a)
    # Step 3: Hours; is it needed, and how much centre variation does it explain?
    rehab.step_higher_level(a)
    _show(a)
    # Step 4: a random slope for Treatment, then for Gender, one at a time.
    rehab.step_random_slopes(a)
    _show(a)
    # Step 5: the step-3 model with every slope step 4 kept.
    rehab.step_combined_slopes(a)
    _show(a)
    # Step 6: the cross-level interaction Treatment:Hours; the final model against the truth.
    rehab.step_cross_level(a)
    _show(a)
    # Forest plot of the centres, QQ plots, posterior predictive checks.
    rehab.step_diagnostics(a)
    _show(a)
    # Expected incidents against Hours, for a typical centre and averaged over centres.
    rehab.step_predict(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "rehab-report", quick="--quick" in sys.argv[1:])
