"""Tutorial: housing of homeless mentally ill subjects (GLMM notes, section 6), with missing responses.

What the notes do in R
----------------------
362 subjects, half with a Section 8 rent certificate, have their housing (street,
community, independent) recorded at 0, 6, 12 and 24 months; 159 responses are missing. The
notes fit mixcat's ``npmlt(House ~ factor(Sec) * factor(Time), random = ~1, id = ID, k = 3)``,
which stops at its iteration limit.

What we do instead, and why
---------------------------
* The same model with a normal random intercept, ``House ~ Sec*Time + (1|ID)``, sampled by
  NUTS. ``dropna=True`` drops the rows with a missing response, as mixcat's ``na.rm`` does,
  and the fit records which (``fit.spec.data.dropped_rows``); nothing is dropped silently.
* mixcat's coefficients are compared in mixcat's sign convention (the opposite of Bambi's,
  see ``examples/schizo.py``). They disagree, and step 3 shows why: mixcat's printout is not
  the maximum of its own likelihood (maximising it here gives coefficients close to ours and
  a random-intercept variance near ours, not mixcat's 1.087).
* The random-intercept variance and the ICC come with posterior intervals.

Each step is one function of ``bayesglmm/course/housing.py``, the same code that
``bayesglmm course housing --out DIR`` runs.

Run: ``python examples/housing.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import housing, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="housing-report", quick=False):
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
    >>> result = main("housing-report", quick=True)  # doctest: +SKIP
    """
    a = start("housing", housing.TITLE, seed=1, quick=quick)

    # 1. Housing by Section 8 and time; where the 159 missing responses are.
    housing.step_describe(a)
    _show(a)
    # 2. The notes' model; rows with a missing response dropped and recorded.
    housing.step_fit(a)
    _show(a)
    # 3. Our coefficients in mixcat's convention next to its printout, and a check of that printout.
    housing.step_mixcat(a)
    _show(a)
    # 4. Random-intercept variance (mixcat: 1.0870) and the ICC on the latent scale.
    housing.step_variance(a)
    _show(a)
    # 5. Posterior predictive checks: categories, and mean housing per Section 8 x time cell.
    housing.step_checks(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "housing-report", quick="--quick" in sys.argv[1:])
