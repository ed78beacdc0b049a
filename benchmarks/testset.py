"""The robustness test set (bayesglmm.testset) with default settings, and the mass-matrix choice.

Run (never in CI)::

    .venv/bin/python benchmarks/testset.py                      # defaults, every case
    .venv/bin/python benchmarks/testset.py --mass-matrix both   # low-rank and diagonal side by side
    .venv/bin/python benchmarks/testset.py --cases thousands --fixed-design plain   # Bambi's columns
    .venv/bin/python benchmarks/testset.py --cases five_groups --parameterization centred --no-retry

Each fit is ``bg.fit(case.formula, case.data, case.family, seed=1)`` with the package
defaults (4 chains x 1000 draws after 1000 warm-up), after one untimed warm-up fit of the
same structure in the same process (so compilation is not counted; the first-run cost with
compilation is measured by ``benchmarks/course_models.py``). Recorded: wall time, max R-hat,
min bulk ESS over all parameters, divergences, min ESS per second, and whether every
truth (90% interval) or glmer reference (within one SE) is met. Writes
``benchmarks/TESTSET.md`` (atomically) and prints each row as it comes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import bayesglmm as bg
from bayesglmm.io import write_atomically
from bayesglmm.testset import CASES, interval_of

OUT = Path(__file__).resolve().parent / "TESTSET.md"


def _answers(case, fit) -> str:
    misses = []
    for label, value in case.truth.items():
        _, lo, hi = interval_of(fit, label)
        if not lo < value < hi:
            misses.append(f"{label} {value:.3g} outside [{lo:.3g}, {hi:.3g}]")
    for label, (estimate, se) in case.reference.items():
        median, _, _ = interval_of(fit, label)
        if abs(median - estimate) >= se:
            misses.append(f"{label} {median:.2f} vs glmer {estimate} (SE {se})")
    return "yes" if not misses else "no: " + "; ".join(misses)


def run_case(name: str, low_rank, fixed_design: str = "auto", parameterization: str = "auto",
             retry="auto") -> dict:
    case = CASES[name](seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg.fit(case.formula, case.data, case.family, seed=2, draws=50, tune=50, progressbar=False, low_rank=low_rank,
               fixed_design=fixed_design, parameterization=parameterization, retry=False)
        start = time.perf_counter()
        fit = bg.fit(case.formula, case.data, case.family, seed=1, progressbar=False, low_rank=low_rank,
                     fixed_design=fixed_design, parameterization=parameterization, retry=retry)
        wall = time.perf_counter() - start
    d = fit.diagnostics
    return {"case": name, "rows": len(case.data), "mass matrix": "low-rank" if fit.settings.get("low_rank") else "diagonal",
            "parameterisation": ", ".join(f"{t} {p}" for t, p in fit.spec.parameterization.items()),
            "fixed": fit.spec.fixed_design, "wall s": round(wall, 1), "R-hat": round(d.max_rhat, 3),
            "min ESS": int(d.min_ess_bulk), "div": d.divergences, "ESS/s": round(d.min_ess_bulk / wall, 1),
            "attempts": max(len(fit.attempts), 1), "converged": "yes" if fit.ok else "no",
            "answer inside": _answers(case, fit)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--mass-matrix", choices=["default", "both"], default="default")
    parser.add_argument("--fixed-design", choices=["auto", "plain"], default="auto",
                        help="plain: Bambi's fixed-effect columns instead of the QR basis")
    parser.add_argument("--parameterization", choices=["auto", "centred", "non-centred"], default="auto",
                        help="of every group term (default: the package's rule)")
    parser.add_argument("--no-retry", action="store_true", help="one attempt only (retry=False)")
    args = parser.parse_args(argv)
    options = [None] if args.mass_matrix == "default" else [True, False]
    rows = []
    for name in args.cases.split(","):
        for low_rank in options:
            row = run_case(name, low_rank, args.fixed_design, args.parameterization,
                           False if args.no_retry else "auto")
            rows.append(row)
            print(" | ".join(str(v) for v in row.values()), flush=True)
    header = list(rows[0])
    lines = ["# Robustness test set: default settings", "",
             f"Produced by `{' '.join(['.venv/bin/python', 'benchmarks/testset.py', *sys.argv[1:]])}`.",
             "", f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"1-minute load average at the end {os.getloadavg()[0]:.1f}; bayesglmm {bg.__version__}.", "",
             "Wall time of the second fit of each structure (compilation excluded), all attempts of the retry "
             "ladder included; ESS/s = min bulk ESS / wall.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]).replace("|", "\\|") for h in header) + " |" for r in rows]
    write_atomically({OUT: "\n".join(lines) + "\n"})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
