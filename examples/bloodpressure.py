"""Tutorial: the blog's blood-pressure example, a Gaussian mixed model of patients within hospitals.

What the blog does in R
-----------------------
It simulates 500 readings (100 patients, 10 per hospital, 10 hospitals, times 1-5) with
bp = 120 + 0.5 * time + hospital effect (SD 2) + patient effect (SD 1) + noise (SD 5),
fits ``lmer(bp ~ time + (1 | hospital_id) + (1 | patient_id))`` and plots observed
against predicted blood pressure. It prints no estimates.

What we do instead, and why
---------------------------
* The same simulation with numpy (R's random stream cannot be reproduced, so the numbers
  differ but the design and the true parameters are the same); the truth is kept in
  ``bp.attrs["truth"]``, so every estimate can be checked against it.
* Patients are nested in hospitals. Their ids are unique across hospitals, so
  ``(1|hospital_id) + (1|patient_id)`` is the nested model; with ids restarting in each
  hospital it would have to be ``(1|hospital_id/patient_id)`` (step 1 checks which).
* The variance components and the ICCs get posterior intervals, set against the truth;
  with 10 hospitals the hospital SD is the least certain of them.
* Predictions use each patient's and hospital's own effects (``kind="conditional"``),
  like lme4's ``predict(model)``.

Each step is one function of ``bayesglmm/course/bloodpressure.py``, the same code that
``bayesglmm course bloodpressure --out DIR`` runs.

Run: ``python examples/bloodpressure.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import bloodpressure


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="bloodpressure-report", quick=False):
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
    >>> result = main("bloodpressure-report", quick=True)  # doctest: +SKIP
    """
    # The blog's simulation (seed 123), with its true parameters in a.data.attrs["truth"].
    a = bloodpressure.start(seed=1, quick=quick)

    # 1. The data: patients nested in hospitals; are patient ids unique across hospitals?
    bloodpressure.step_describe(a)
    _show(a)
    # 2. bp ~ time + (1|hospital_id) + (1|patient_id): the time effect against the truth (0.5).
    bloodpressure.step_fit(a)
    _show(a)
    # 3. Hospital, patient and residual SDs (truth 2, 1, 5) and the ICCs.
    bloodpressure.step_variance(a)
    _show(a)
    # 4. The blog's plot: observed vs predicted bp, each patient with its own effects.
    bloodpressure.step_predict(a)
    _show(a)
    # 5. Posterior predictive checks and QQ plots of the group effects.
    bloodpressure.step_checks(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "bloodpressure-report", quick="--quick" in sys.argv[1:])
