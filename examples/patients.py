"""Tutorial: course Exercise 2 (lung-cancer remission of patients, doctors and hospitals), step by step.

What the course does in R
-------------------------
8,525 patients are nested in 407 doctors, who are nested in 35 hospitals; ``remission``
(0/1) is the response. The course loads the data, draws four descriptive plots, and then
leaves the rest to the student: test whether random effects are needed, test the fixed
effects, fit the final logistic mixed model, write its equation and compute the ICCs,
check it, examine the results, and predict remission for patients of doctor 2 in
hospital 1. It prints no result for these items.

What we do instead, and why
---------------------------
* The three-level model ``remission ~ Age + IL6 + CRP + LengthofStay + CancerStage +
  Smoking + (1|ID.hospital/ID.doctor)`` (a hospital effect and a doctor-within-hospital
  effect) is sampled by NUTS (nutpie): every quantity gets a posterior and a 95% credible
  interval.
* "Are random effects needed?" is answered by adding each level in turn (hospital to the
  GLM, then doctors within hospitals to the hospital model) and asking whether the larger
  model predicts held-out patients better (cross-validated elpd, with exact refits of the
  rows PSIS-LOO cannot approximate) and whether the added SD is clearly above zero
  (``bg.random_effects_needed``), instead of likelihood-ratio tests.
* "Which fixed effects?" is a short backward elimination: the term whose coefficients are
  least clearly away from zero is dropped when the model without it predicts as well
  (``bg.fixed_effect_needed``), at most ``patients.ROUNDS`` times, since every candidate
  is another three-level fit of 8,525 rows.
* The checks are posterior predictive: remission rates per hospital and per doctor, and
  by deciles of predicted risk; the group effects get normal QQ plots with posterior bands.
* Odds ratios are posterior medians with 95% credible intervals, shown next to lme4's
  estimates for the model with every predictor (computed with lme4 1.1-31 for this
  analysis, since the course prints none).
* Predictions for doctor 2 of hospital 1 use that doctor's and hospital's estimated
  effects (``kind="conditional"``), with intervals.

Each step below is one function of ``bayesglmm/course/patients.py``, the same code that
``bayesglmm course patients --out DIR`` runs. The three-level fits take minutes each on
two cores; ``--quick`` (4 chains x 300 draws) is for a first look.

Run: ``python examples/patients.py [OUT_DIR] [--quick]`` (the report goes to
``OUT_DIR/report.html``, by default ``patients-report``).
"""

import sys

from bayesglmm.course import patients, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="patients-report", quick=False):
    """Run every step, printing each answer, and write ``out/report.html``.

    Parameters
    ----------
    out : str or path
        Folder of the report.
    quick : bool
        Small fits (4 chains x 300 draws).

    Returns
    -------
    bayesglmm.course.CourseResult

    Examples
    --------
    >>> result = main("patients-report", quick=True)  # doctest: +SKIP
    """
    # The course's data file, read and prepared as the course does (IDs as factors,
    # Smoking relabelled with the course's levels<-, which swaps "never" and "current").
    a = start("patients", patients.TITLE, seed=1, quick=quick)

    # 1. Structure: patients per doctor, doctors per hospital, each doctor in one hospital.
    patients.step_describe(a)
    _show(a)
    # 2. The course's four plots: scatter matrix, stage x stay counts, IL6/CRP by remission,
    #    remission against age by smoking and stage with logistic curves.
    patients.step_plots(a)
    _show(a)
    # 3. No random effects, hospital, hospital + doctor (all with every fixed effect):
    #    cross-validation and the SD posteriors. The doctor SD is about 2 on the logit scale.
    patients.step_random_effects(a)
    _show(a)
    # 4. Backward elimination, least clear term first: is it needed for prediction?
    patients.step_fixed_effects(a)
    _show(a)
    # 5. The final model, its equation with the fitted numbers, and the ICCs.
    patients.step_final_model(a)
    _show(a)
    # 6. Checks: PPC by hospital and doctor, calibration, QQ plots, convergence.
    patients.step_checks(a)
    _show(a)
    # 7. Odds ratios (continuous predictors also per SD), and stage IV within a doctor
    #    against averaged over doctors.
    patients.step_results(a)
    _show(a)
    # 8. Predicted remission for doctor 2 in hospital 1: CancerStage x Smoking at median
    #    Age, IL6, CRP and LengthofStay.
    patients.step_predict(a)
    _show(a)

    # Convergence of every fit, seed, versions and the data's SHA-256, then report.html.
    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "patients-report", quick="--quick" in sys.argv[1:])
