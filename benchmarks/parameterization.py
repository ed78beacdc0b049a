"""Centred vs non-centred group effects, low-rank vs diagonal mass matrix, on two course models.

Run: ``.venv/bin/python benchmarks/parameterization.py``. Prints wall time, the convergence
verdict (max R-hat, min bulk ESS, divergences) and the median information per level that
bayesglmm's "auto" rule uses (``bayesglmm.model.CENTRED_MIN_SCORE``).
"""

import time
import warnings

import bayesglmm as bg

warnings.simplefilter("ignore")

CASES = [
    ("cbpp", "p(incidence, size) ~ period + (1|herd) + (1|obs)"),
    ("multicentre", "p(y, n) ~ treat + (1|centre)"),
    ("betablocker", "p(r, n) ~ treat + (1|center)"),
]

if __name__ == "__main__":
    for name, formula in CASES:
        data = bg.datasets.load(name)
        for par in ("centred", "non-centred"):
            for low_rank in (True, False):
                for seed in (1, 7):
                    start = time.perf_counter()
                    fit = bg.fit(formula, data, family="binomial", seed=seed, parameterization=par, low_rank=low_rank)
                    print(f"{name:12s} {par:12s} {'low-rank' if low_rank else 'diag':8s} seed {seed}: "
                          f"{time.perf_counter() - start:5.1f}s {fit.diagnostics.verdict()} "
                          f"score {fit.spec.level_information}", flush=True)
