"""Tutorial: course Exercise 3 (Swedish motor-insurance claims), a Poisson GLMM with exposure.

What the course does in R
-------------------------
Each of 1,797 rows is a group of policyholders with the same kilometres class (``Km``),
bonus (``Bonus``) and zone (``Zone``): ``Claims`` claims in ``Insured`` policy-years. The
course reads the data, makes ``Km`` a factor, defines the claim rate, draws two plots, and
asks for a Poisson GLMM with a log link, ``Claims ~ Km + Bonus + (1|Zone) +
offset(log(Insured))``: random and fixed effects, the equation and checks, rate ratios,
and predictions. It prints no model output.

What we do instead, and why
---------------------------
* The same model is sampled by NUTS (nutpie); random and fixed effects are judged by
  cross-validation (held-out prediction) and the posteriors (``bg.random_effects_needed``,
  ``bg.fixed_effect_needed``), instead of likelihood-ratio tests.
* The checks find strong overdispersion (a Pearson dispersion of about 3 where the Poisson
  model allows 1), so the model is compared (``bg.compare``) with a negative binomial GLMM
  and with a ``Make`` effect, alone and combined; the simplest of the models that predict
  best is preferred.
* Rate ratios come from the preferred model, whose intervals account for the extra
  variation (the Poisson ones are too narrow).
* Predicted claims for 1,000 policy-years with Bonus 4 use each zone's own effect (the
  insurer's own zones), plus an average zone; their ratios across Km are checked against
  the rate ratios.

Each step below is one function of ``bayesglmm/course/motorins.py``, the same code that
``bayesglmm course motorins --out DIR`` runs.

Run: ``python examples/motorins.py [OUT_DIR] [--quick]`` (the report goes to
``OUT_DIR/report.html``, by default ``motorins-report``).
"""

import sys

from bayesglmm.course import motorins, start


def _show(a):
    """Print the answer of the step that just ran."""
    step, text = next(reversed(a.answers.items()))
    print(f"{step}: {text}\n", flush=True)


def main(out="motorins-report", quick=False):
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
    >>> result = main("motorins-report", quick=True)  # doctest: +SKIP
    """
    # The course's data, prepared as the course does (Km as a factor, Zone Z1-Z7).
    a = start("motorins", motorins.TITLE, seed=1, quick=quick)

    # 1. rate = Claims / Insured; one row per Km x Zone x Bonus x Make cell.
    motorins.step_describe(a)
    _show(a)
    # 2. Claim rate by Km (boxplot) and by Zone coloured by Bonus.
    motorins.step_plots(a)
    _show(a)
    # 3. Poisson GLM against the Poisson GLMM with (1|Zone): cross-validation and the Zone SD.
    motorins.step_random_effects(a)
    _show(a)
    # 4. Km and Bonus: the GLMM against the GLMM without each.
    motorins.step_fixed_effects(a)
    _show(a)
    # 5. The equation with the fitted numbers; dispersion check and PPC (overdispersed);
    #    negative binomial and (1|Make) models compared by cross-validation.
    motorins.step_checks(a)
    _show(a)
    # 6. Rate ratios of the preferred model, next to the Poisson GLMM's.
    motorins.step_rate_ratios(a)
    _show(a)
    # 7. Expected claims in 1,000 policy-years with Bonus 4, by Km and Zone.
    motorins.step_predict(a)
    _show(a)

    # Convergence of every fit, seed, versions and the data's SHA-256, then report.html.
    result = a.finish(out)
    print(f"Report: {result.out}")
    return result


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    main(args[0] if args else "motorins-report", quick="--quick" in sys.argv[1:])
