"""Tutorial: the NIMH schizophrenia trial (GLMM notes, section 5), an ordinal mixed model.

What the notes do in R
----------------------
437 patients on drug or placebo are rated at weeks 0-6 on a 4-point severity scale (1
normal ... 4 severely ill). The notes fit mixcat's
``npmlt(y ~ trt + sqrt(wk) + trt*sqrt(wk), random = ~1 + trt, id = id, k = 2)``: a
cumulative logit model whose random effects sit on two mass points.

What we do instead, and why
---------------------------
* The same fixed effects with normal random effects, ``y ~ trt*sqrt_wk + (1|id)`` and the
  notes' ``(1 + trt|id)`` (correlated, LKJ prior), sampled by NUTS; LOO says whether the
  second structure predicts better.
* The sign convention is the trap here. mixcat writes logit P(Y <= r) = beta_r + x'gamma;
  Bambi (like PyMC's OrderedLogistic) P(Y <= r) = F(c_r - x'beta). The cut-points agree,
  every coefficient flips sign. Step 4 shows both, converts ours to mixcat's convention,
  and checks the convention numerically: mixcat's printed estimates reproduce its printed
  -2 log-likelihood (3450) only the way round it documents.
* Because trt is constant within a patient, the notes' random "trt effect" only lets the
  between-patient variance differ by arm: its SD and the correlation are not separately
  identified, and the sampler shows it. The same random effects written as one intercept
  variance per arm, ``(0 + placebo|id) + (0 + drug|id)``, have the same likelihood and
  converge. mixcat's correlation of -1 is forced by its two mass points.
* The ICC is on the latent logistic scale (residual variance pi^2/3).

Each step is one function of ``bayesglmm/course/schizo.py``, the same code that
``bayesglmm course schizo --out DIR`` runs.

Run: ``python examples/schizo.py [OUT_DIR] [--quick]``.
"""

import sys

from bayesglmm.course import schizo, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="schizo-report", quick=False):
    """Run every step, printing each answer, and write ``out/report.html``.

    Parameters
    ----------
    out : str or path
        Folder of the report.
    quick : bool
        Small fits (4 chains x 300 draws) and PSIS-LOO without refits, for a first look.

    Returns
    -------
    bayesglmm.course.CourseResult

    Examples
    --------
    >>> result = main("schizo-report", quick=True)  # doctest: +SKIP
    """
    a = start("schizo", schizo.TITLE, seed=1, quick=quick)

    # 1. Severity by week and arm: both arms improve, the drug arm faster.
    schizo.step_describe(a)
    _show(a)
    # 2. Cumulative logit model with a random intercept per patient.
    schizo.step_random_intercept(a)
    _show(a)
    # 3. The notes' model: correlated random intercept and trt effect (mixcat's random = ~1 + trt),
    #    as written, and in the identified form with one intercept variance per arm.
    schizo.step_random_slope(a)
    _show(a)
    # 4. mixcat's sign convention against Bambi's; our estimates converted, next to mixcat's
    #    (sqrt(wk) 0.7350, trt:sqrt(wk) 1.0046: positive there means milder).
    schizo.step_sign_convention(a)
    _show(a)
    # 5. Which random-effects structure predicts better? LOO.
    schizo.step_compare(a)
    _show(a)
    # 6. ICC on the latent scale, sigma^2 / (sigma^2 + pi^2/3), overall and by arm.
    schizo.step_icc(a)
    _show(a)
    # 7. Posterior predictive checks: categories, and mean severity by arm and week.
    schizo.step_checks(a)
    _show(a)

    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "schizo-report", quick="--quick" in sys.argv[1:])
