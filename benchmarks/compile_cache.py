"""Compile time in a new process: cold, warm (same data), warm (another data size), for every course model.

For each course model (``benchmarks/course_models.py``), three fresh processes share one
empty PyTensor compile directory:

1. *cold*: the course data; everything is compiled (and written to the disk cache);
2. *warm, same data*: a new process fits the same data;
3. *warm, other size*: a new process fits the data with every row twice (twice the rows,
   the same groups and levels), with the group terms' parameterisation of run 1 (the
   ``auto`` rule may choose another parameterisation for other data: another structure).

Each run reports the engine's compile time (``fit.settings["compile_seconds"]``: building
the log density and its C callbacks, :mod:`bayesglmm.engine`) and the whole fit's wall
time. Fits are small (2 chains x 200 draws): compile time is what is measured. The target
of the "One model, one engine" issue: a warm process spends at most a quarter of the cold
compile time and at most 3 s compiling.

Run::

    bash dev.sh bench compile_cache            # every course model, writes benchmarks/COMPILE_CACHE.md
    bash dev.sh bench compile_cache --models betablocker,schizo
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from course_models import MODELS, prepare  # noqa: E402

SIZES = {"draws": 200, "tune": 200, "chains": 2}
RUNS = ("cold", "warm_same", "warm_double")


def worker(name: str, run: str, parameterization: str) -> dict:
    """One fit in this (fresh) process; returns the timings as a dict."""
    import warnings

    import pandas as pd

    import bayesglmm as bg

    model = MODELS[name]
    data = prepare(model)
    if run == "warm_double":
        data = pd.concat([data, data], ignore_index=True)
    param = json.loads(parameterization) if parameterization else "auto"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit(model.formula, data, model.family, link=model.link, seed=1, progressbar=False, retry=False,
                     parameterization=param, **SIZES)
    chosen = fit.spec.parameterization_choice()
    return {"model": name, "run": run, "rows": len(data), "compile_s": fit.settings["compile_seconds"],
            "fit_s": time.perf_counter() - start, "parameterization": chosen}


def run_model(name: str, compile_dir: Path) -> list[dict]:
    """The three runs of one model, each in a new process sharing ``compile_dir``."""
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compile_dir}", MPLBACKEND="Agg")
    rows, param = [], ""
    for run in RUNS:
        cmd = [sys.executable, __file__, "--worker", name, run, param]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{name} {run} failed:\n{out.stderr[-3000:]}")
        record = json.loads(out.stdout.strip().splitlines()[-1])
        if run == "cold":
            param = json.dumps(record["parameterization"])
        rows.append(record)
        print(f"{name:12s} {run:12s} rows {record['rows']:6d}  compile {record['compile_s']:6.2f} s  "
              f"fit {record['fit_s']:6.1f} s", flush=True)
    return rows


def render(results: list[dict]) -> str:
    """The Markdown table: one row per model, compile seconds per run and the warm/cold ratios."""
    by_model: dict = {}
    for r in results:
        by_model.setdefault(r["model"], {})[r["run"]] = r
    lines = ["| model | rows | cold compile (s) | warm, same data (s) | ratio | warm, 2x rows (s) | ratio | "
             "target met (<= 1/4 and <= 3 s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, runs in by_model.items():
        cold, same, double = (runs[k]["compile_s"] for k in RUNS)
        met = all(w <= 3.0 and w <= cold / 4 for w in (same, double))
        lines.append(f"| {name} | {runs['cold']['rows']} | {cold:.1f} | {same:.2f} | {same / cold:.2f} | "
                     f"{double:.2f} | {double / cold:.2f} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "RUN", "PARAM"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "COMPILE_CACHE.md"), help="Markdown file to write")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bayesglmm-compile-") as tmp:
        for name in names:
            results.extend(run_model(name, Path(tmp) / name))
    table = render(results)
    print(table)
    text = (f"# Compile time in a new process\n\nWritten by `bash dev.sh bench compile_cache` "
            f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores). Each model's three runs are fresh "
            f"processes sharing one empty compile directory; compile = the engine's compile step "
            f"(`fit.settings['compile_seconds']`).\n\n{table}\n")
    tmp_out = Path(args.out).with_suffix(".tmp")
    tmp_out.write_text(text)
    tmp_out.replace(args.out)


if __name__ == "__main__":
    main()
