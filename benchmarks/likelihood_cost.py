"""Cost of one log density and gradient: Bambi's likelihood, the one on the linear predictor, and the engine's rewrite.

Run: ``.venv/bin/python benchmarks/likelihood_cost.py [--models patients,muscatine,...] [--repeats 200]``
(the course's data from ``../shared/datasets``; writes nothing).

For each course model whose family has a likelihood on the linear predictor
(:meth:`bayesglmm.families.base.Family.linear_predictor_likelihood`: bernoulli and binomial on the
logit link), the model is built twice in this process: as ``bg.fit`` builds it, and with the
family's method returning None, so that Bambi's likelihood (``pm.Bernoulli(p=clip(inverse_logit(eta)))``)
is used. Both log densities and gradients are compiled with numba (PyTensor's ``NUMBA`` mode, the
backend nutpie's code is compiled with). A third variant compiles the first one in the engine's
mode (:func:`bayesglmm.logistic_rewrite.numba_mode`: softplus and sigmoid from one ``exp`` and one
``log``), as nutpie gets it. All three are checked equal at the initial point and timed: the median of
seven interleaved rounds of ``--repeats`` calls each. Compare the ratios, measured in one run; the
absolute times depend on the machine.
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_models import MODELS, prepare  # noqa: E402  (this folder's course model list)

DEFAULT = "patients,muscatine,hr_slopes,betablocker,multicentre"


def compiled(spec, mode="NUMBA"):
    """The spec's log density and gradient compiled with numba in ``mode``, and its initial point."""
    import pytensor
    import pytensor.tensor as pt

    from bayesglmm import engine

    model = engine.inputs_model(spec)
    values = model.value_vars
    logp = model.logp()
    point = model.initial_point(0)
    with engine.compile_flags():
        function = pytensor.function(values, [logp, *pt.grad(logp, values)], mode=mode)
    return function, [point[v.name] for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bayesglmm.families import get_family
    from bayesglmm.logistic_rewrite import numba_mode
    from bayesglmm.model import build_model

    print(f"{'model':>12} {'rows':>6} {'Bambi us':>9} {'eta us':>9} {'ratio':>6} {'engine us':>10} {'ratio':>6}")
    for name in args.models.split(","):
        course = MODELS[name]
        data = prepare(course)
        family = type(get_family(course.family))
        variants = {}
        for variant in ("Bambi", "eta"):
            saved = family.linear_predictor_likelihood
            if variant == "Bambi":
                family.linear_predictor_likelihood = lambda self, link: None
            try:
                spec = build_model(course.formula, data, course.family, link=course.link)
            finally:
                family.linear_predictor_likelihood = saved
            variants[variant] = compiled(spec)
        variants["engine"] = compiled(spec, numba_mode())  # the spec of the "eta" variant
        (f_bambi, x_bambi), (f_eta, x_eta), (f_engine, x_engine) = variants.values()
        if not np.isclose(f_bambi(*x_bambi)[0], f_eta(*x_eta)[0], rtol=1e-10):
            raise SystemExit(f"{name}: the two log densities differ at the initial point")
        # to rounding: a gradient element that is a near-cancelling sum (1e-11 in muscatine) differs by 1e-15
        if not all(np.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(f_eta(*x_eta), f_engine(*x_engine))):
            raise SystemExit(f"{name}: the engine's rewritten log density or gradient differs at the initial point")
        rounds = {variant: [] for variant in variants}
        for _ in range(7):
            for variant, (function, point) in variants.items():
                start = time.perf_counter()
                for _ in range(args.repeats):
                    function(*point)
                rounds[variant].append(1e6 * (time.perf_counter() - start) / args.repeats)
        bambi, eta, engine = (statistics.median(rounds[variant]) for variant in variants)
        print(f"{name:>12} {spec.n_obs:>6} {bambi:>9.1f} {eta:>9.1f} {bambi / eta:>6.2f} {engine:>10.1f} "
              f"{eta / engine:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
