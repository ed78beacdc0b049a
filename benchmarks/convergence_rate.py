"""Converged every time? Each course model and robustness case, fitted with the defaults for many seeds.

Run (never in CI; about an hour for everything on 2 cores)::

    bash dev.sh bench convergence_rate                       # every target, seeds 1-10
    bash dev.sh bench convergence_rate --targets schizo,hr_slopes --seeds 5

For each target (a course model of ``benchmarks/course_models.py`` or a case of
``bayesglmm.testset``) one process fits the model with ``bg.fit``'s defaults (4 chains x 1000
draws after 1000 warm-up, the retry ladder on) once per seed. The first fit of a process
includes compilation; later ones reuse it, as a user's second fit does (first-run times of a
fresh process are ``course_models.py``'s). Recorded per fit: converged, attempts, wall time,
max R-hat, min bulk ESS, divergences. The table gives per target: the share converged, the share
converged at the first attempt, the median and worst time, and the median min-ESS per second.

Results merge into ``benchmarks/convergence_results.json`` (so targets can run one at a time)
and render to ``benchmarks/CONVERGENCE.md``. Public data sets beyond the course need R
packages (written at run time, never committed); this machine has no R, so none are included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from bayesglmm.io import write_atomically

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "convergence_results.json"
OUT = HERE / "CONVERGENCE.md"


def targets() -> dict:
    """Every target: course models first, then the robustness test set's cases."""
    sys.path.insert(0, str(HERE))
    from course_models import MODELS

    from bayesglmm.testset import CASES

    out = {name: ("course", name) for name in MODELS}
    out.update({name: ("testset", name) for name in CASES})
    return out


def problem(kind: str, name: str):
    """``(formula, data, family, link)`` of one target."""
    if kind == "course":
        sys.path.insert(0, str(HERE))
        from course_models import MODELS, prepare

        model = MODELS[name]
        return model.formula, prepare(model), model.family, model.link
    from bayesglmm.testset import CASES

    case = CASES[name](seed=1)
    return case.formula, case.data, case.family, None


def worker(kind: str, name: str, seeds: int) -> list[dict]:
    """Fit one target once per seed in this process; one record per fit."""
    import bayesglmm as bg

    formula, data, family, link = problem(kind, name)
    records = []
    for seed in range(1, seeds + 1):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bg.fit(formula, data, family, link=link, seed=seed, progressbar=False)
        wall = time.perf_counter() - start
        d = fit.diagnostics
        records.append({"target": name, "seed": seed, "converged": bool(fit.ok), "attempts": max(len(fit.attempts), 1),
                        "wall_s": round(wall, 2), "max_rhat": round(d.max_rhat, 4), "min_ess": round(d.min_ess_bulk, 1),
                        "divergences": int(d.divergences), "ess_per_s": round(d.min_ess_bulk / wall, 2)})
        print(json.dumps(records[-1]), flush=True)
    return records


def table(results: dict) -> str:
    lines = ["| target | seeds | converged | at first attempt | median s | worst s | median min-ESS/s | not converged |",
             "|---|---|---|---|---|---|---|---|"]
    for name, records in results.items():
        n = len(records)
        ok = sum(r["converged"] for r in records)
        first = sum(r["converged"] and r["attempts"] == 1 for r in records)
        times = [r["wall_s"] for r in records]
        failed = ", ".join(f"seed {r['seed']} (R-hat {r['max_rhat']}, ESS {r['min_ess']}, {r['divergences']} div)"
                           for r in records if not r["converged"]) or "-"
        lines.append(f"| {name} | {n} | {ok}/{n} | {first}/{n} | {statistics.median(times):.1f} | {max(times):.1f} | "
                     f"{statistics.median(r['ess_per_s'] for r in records):.1f} | {failed} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker, args.seeds)), flush=True)
        return
    every = targets()
    chosen = [t for t in args.targets.split(",") if t] or list(every)
    unknown = [t for t in chosen if t not in every]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(every)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in chosen:
        kind, _ = every[name]
        proc = subprocess.run([sys.executable, __file__, "--seeds", str(args.seeds), "--worker", kind, name],
                              capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{name}: worker failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(lines[-1][len("RESULT "):])
        write_atomically({RESULTS: json.dumps(results, indent=1)})
        print(table({name: results[name]}), flush=True)
    text = ["# Convergence rate: every target, many seeds, the defaults", "",
            "Command: `bash dev.sh bench convergence_rate` (see its docstring). One process per target; the first",
            "fit of each includes compilation. Converged: R-hat <= 1.01, bulk ESS >= 400, no divergence.",
            "Only the targets listed have been run; `--targets` runs others and merges them in.", "",
            table(results), ""]
    write_atomically({OUT: "\n".join(text)})
    print("\n".join(text))


if __name__ == "__main__":
    main()
