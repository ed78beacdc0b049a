"""Tutorial: McLain's GLMM notes, section 3 (Muscatine obesity), as a Bayesian logistic mixed model.

What the notes do in R
----------------------
They read the wide table ``MCRS.csv`` (gender x obesity pattern in 1977, 1979 and 1981,
with a count per age cohort), reshape it with two ``pivot_longer`` calls and ``uncount``
it to one row per child and year, then fit
``glmer(OB_ind ~ log(Age_k) + factor(Cohort) + log(Age_k)*factor(Cohort) + (1|ID),
nAGQ = 10, family = binomial)`` and print its ``anova`` after a convergence warning.

What we do instead, and why
---------------------------
* The same reshaping (``bayesglmm.datasets.uncount_muscatine``), row for row. The ``ID``
  that ``uncount`` writes numbers the copies within a cell, so it is not a child; the
  random intercept the notes intend is one per child, the ``child`` column.
* The notes' fixed part, term for term, with a child intercept, sampled by NUTS; lme4's
  estimates for the same model sit beside the posterior, and the anova's Wald statistics
  are recomputed from the posterior for comparison.
* "Are the child effects needed?" and "does the age trend differ by cohort?" are answered
  by cross-validation (k-fold: with three rows per child PSIS-LOO is unreliable), not by
  Wald or likelihood-ratio tests.
* Checks (posterior predictive shares per cohort and year, a QQ plot of the child
  effects) and fitted curves for a typical child and for the population.

Each step is one function of ``bayesglmm/course/muscatine.py``, the code that
``bayesglmm course muscatine --out DIR`` runs. Run:
``python examples/muscatine.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import muscatine, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="muscatine-report", quick=False):
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
    >>> result = main("muscatine-report", quick=True)  # doctest: +SKIP
    """
    # The wide table as the notes read it.
    a = start("muscatine", muscatine.TITLE, seed=1, quick=quick)

    # 1. pivot_longer twice and uncount: 5310 rows, 1770 children; ID is not a child.
    muscatine.step_data(a)
    _show(a)
    # 2. The notes' model with one intercept per child; lme4's numbers beside the posterior.
    muscatine.step_fit(a)
    _show(a)
    # 3. Child SD and intra-class correlation, with their posteriors.
    muscatine.step_child_sd(a)
    _show(a)
    # 4. Are the child intercepts needed? GLM against GLMM by k-fold cross-validation.
    muscatine.step_random_effects(a)
    _show(a)
    # 5. Does the trend over age differ between cohorts? With and without the interaction.
    muscatine.step_interaction(a)
    _show(a)
    # 6. Posterior predictive checks and the QQ plot of the child effects.
    muscatine.step_checks(a)
    _show(a)
    # 7. Fitted probability of obesity over age, per cohort (typical child and population).
    muscatine.step_predict(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "muscatine-report", quick="--quick" in sys.argv[1:])
