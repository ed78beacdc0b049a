"""Big crossed data: time and peak memory to a converged posterior, against lme4 in the same run (issue 20).

Run (never in CI; R with lme4 for the lme4 columns)::

    .venv/bin/python benchmarks/scaling.py --targets insteval,insteval_bernoulli,simulated_1m

Targets (``--targets``, comma-separated; each run replaces only its targets' rows):

- ``insteval``: lme4's ``InstEval`` (73,421 course ratings; 2,972 students crossed with 1,128
  instructors, 14 departments), written by R into a temporary folder at run time and never
  kept. ``y ~ service + lectage + studage + (1|s) + (1|d) + (1|dept)``, gaussian; lme4's
  ``lmer`` (REML) in the same run. ``studage`` and ``lectage`` are R's ordered factors: lme4
  codes them with polynomial contrasts, this package with treatment contrasts, so the fixed
  effects differ by a reparameterisation; the SDs and sigma are compared.
- ``insteval_bernoulli``: the same with ``y >= 4`` (bernoulli, logit); ``glmer`` (Laplace).
- ``simulated_10x``: InstEval's shape at ten times the rows and levels (734,210 rows; 29,720
  students, 11,280 instructors in 140 departments; each student rates 80% of the time in a
  home department), simulated with seed 1 and the SDs lmer found on InstEval.
- ``simulated_1m``: 1,000,000 rows, 20,000 students crossed with 2,000 instructors in 50
  departments, simulated likewise.

Every bayesglmm fit is ``bg.fit`` with the package defaults (seed 1) in a fresh process; its
wall time counts from the process start (imports, compilation, sampling, diagnostics, the
summary) and its peak RSS is the process tree's, sampled four times a second. R runs in its
own process, timed the same way, in the same run. Outputs: ``benchmarks/SCALING.md`` and
``benchmarks/scaling_results.json``.

The patients model at 1x, 4x and 16x is ``benchmarks/course_models.py --models patients
--scaling 1,4,16`` (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from course_models import run_watched  # noqa: E402  (benchmarks/ is not a package)

from bayesglmm.io import write_atomically  # noqa: E402

FORMULA = "y ~ service + lectage + studage + (1|s) + (1|d) + (1|dept)"
FACTORS = ["s", "d", "dept", "studage", "lectage", "service"]
TARGETS = {
    "insteval": {"source": "InstEval", "family": "gaussian", "r": "lmer"},
    "insteval_bernoulli": {"source": "InstEval", "family": "bernoulli", "r": "glmer"},
    "simulated_10x": {"source": "simulated", "rows": 734_210, "students": 29_720, "instructors": 11_280,
                      "departments": 140, "family": "gaussian", "r": "lmer"},
    "simulated_1m": {"source": "simulated", "rows": 1_000_000, "students": 20_000, "instructors": 2_000,
                     "departments": 50, "family": "gaussian", "r": "lmer"},
}
#: SDs lmer printed for InstEval (students, instructors, departments, residual): the simulations' truth.
TRUE_SDS = {"s": 0.327, "d": 0.511, "dept": 0.083, "sigma": 1.176}

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(lme4))
if (args[1] == "write") { write.csv(lme4::InstEval, args[2], row.names = FALSE); quit(save = "no") }
d <- read.csv(args[2])
for (col in c("s", "d", "dept", "studage", "lectage", "service")) d[[col]] <- factor(d[[col]])
f <- y ~ service + lectage + studage + (1 | s) + (1 | d) + (1 | dept)
start <- proc.time()[["elapsed"]]
if (args[3] == "glmer") {
  d$y <- as.integer(d$y >= 4)
  m <- glmer(f, data = d, family = binomial)
} else {
  m <- lmer(f, data = d)
}
elapsed <- proc.time()[["elapsed"]] - start
vc <- as.data.frame(VarCorr(m))
out <- c(fit_s = elapsed, setNames(vc$sdcor, ifelse(vc$grp == "Residual", "sigma", vc$grp)))
write.csv(as.data.frame(t(out)), args[4], row.names = FALSE)
"""


def simulate(target: dict, path: Path, seed: int = 1) -> None:
    """Write InstEval's shape at ``target``'s size to ``path`` (CSV), simulated from :data:`TRUE_SDS`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n, students, instructors, departments = (target[k] for k in ("rows", "students", "instructors", "departments"))
    dept_of = rng.integers(0, departments, instructors)
    home = rng.integers(0, departments, students)
    by_dept = [np.flatnonzero(dept_of == k) for k in range(departments)]
    s = rng.integers(0, students, n)
    d = rng.integers(0, instructors, n)
    at_home = rng.random(n) < 0.8
    for k in range(departments):  # 80% of a student's ratings go to instructors of their home department
        rows = np.flatnonzero(at_home & (home[s] == k))
        if by_dept[k].size:
            d[rows] = by_dept[k][rng.integers(0, by_dept[k].size, rows.size)]
    studage, lectage, service = rng.integers(1, 5, students)[s] * 2, rng.integers(1, 7, n), rng.integers(0, 2, n)
    eta = (3.2 + 0.1 * (studage / 2) - 0.05 * lectage - 0.07 * service + rng.normal(0, TRUE_SDS["s"], students)[s]
           + rng.normal(0, TRUE_SDS["d"], instructors)[d] + rng.normal(0, TRUE_SDS["dept"], departments)[dept_of[d]])
    y = eta + rng.normal(0, TRUE_SDS["sigma"], n)
    pd.DataFrame({"s": s, "d": d, "studage": studage, "lectage": lectage, "service": service, "dept": dept_of[d],
                  "y": np.round(y, 4)}).to_csv(path, index=False)


def worker(csv_path: str, family: str, result: str) -> None:
    """Fit one target in this fresh process and write its record."""
    start = time.perf_counter()
    import warnings

    import numpy as np
    import pandas as pd

    import bayesglmm as bg

    warnings.simplefilter("ignore")
    df = pd.read_csv(csv_path)
    for col in FACTORS:
        df[col] = pd.Categorical(df[col].astype(str))
    if family == "bernoulli":
        df["y"] = (df["y"] >= 4).astype(int)
    fit = bg.fit(FORMULA, df, family, seed=1, progressbar=False)
    fit.summary()
    wall = time.perf_counter() - start
    post, d = fit.idata["posterior"], fit.diagnostics
    sds = {g: float(post[f"1|{g}_sigma"].mean()) for g in ("s", "d", "dept")}
    if "sigma" in post:
        sds["sigma"] = float(post["sigma"].mean())
    steps = fit.idata["sample_stats"]["n_steps"]
    rec = {"wall_s": wall, "converged": bool(d.ok), "attempts": len(fit.attempts) or 1, "verdict": d.verdict(),
           "sampling_s": post.attrs.get("sampling_time"), "compile_s": fit.settings.get("compile_seconds"),
           "mean_steps_per_draw": float(np.mean(steps)), "rows": int(len(df)),
           "parameterization": ", ".join(f"{t} {p}" for t, p in fit.spec.parameterization.items()),
           "posterior_mean_sds": sds}
    Path(result).write_text(json.dumps(rec))


def run_target(name: str, folder: Path) -> dict:
    target = TARGETS[name]
    csv_path = folder / f"{name}.csv"
    if target["source"] == "InstEval":
        code, _, _, output = run_watched(["Rscript", str(folder / "fit.R"), "write", str(csv_path)])
        if code != 0:
            return {"error": f"R could not write InstEval: {output[-500:]}"}
    else:
        simulate(target, csv_path)
    rec = {"date": dt.date.today().isoformat()}
    result = folder / f"{name}.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    code, wall, peak, output = run_watched([sys.executable, str(Path(__file__).resolve()), "--worker", str(csv_path),
                                            target["family"], str(result)], env=env)
    ours = json.loads(result.read_text()) if result.exists() else {"error": output[-2000:]}
    ours.update(process_wall_s=wall, peak_rss_mb=peak, exit_code=code)
    rec["bayesglmm"] = ours
    r_out = folder / f"{name}_r.csv"
    code, wall, peak, output = run_watched(["Rscript", str(folder / "fit.R"), "fit", str(csv_path), target["r"],
                                            str(r_out)])
    if r_out.exists():
        header, values = r_out.read_text().splitlines()[:2]
        r = dict(zip([h.strip('"') for h in header.split(",")], map(float, values.split(","))))
    else:
        r = {"error": output[-2000:]}
    r.update(process_wall_s=wall, peak_rss_mb=peak, function=target["r"])
    rec["lme4"] = r
    return rec


def render(results: dict) -> str:
    lines = ["# Scaling: big crossed data against lme4 (issue 20)", "",
             "Command: `.venv/bin/python benchmarks/scaling.py --targets <names>` (see its docstring). "
             "Each row's two fits ran in the same run, one after the other, on the machine below.", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.", "",
             "| target | rows | bayesglmm s (converged, attempts) | lme4 s | ratio | peak RSS ours / lme4 (MB) "
             "| SDs ours (s, d, dept, sigma) | SDs lme4 | group effects |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rec in results.items():
        ours, r = rec.get("bayesglmm", {}), rec.get("lme4", {})
        if "error" in ours:
            lines.append(f"| {name} | | failed: {ours['error'][-200:]!r} | | | | | | |")
            continue
        sds = ours.get("posterior_mean_sds", {})
        keys = ["s", "d", "dept", "sigma"]
        ours_sd = ", ".join(f"{sds[k]:.3f}" for k in keys if k in sds)
        r_sd = ", ".join(f"{r[k]:.3f}" for k in keys if k in r)
        r_s = r.get("process_wall_s")
        ratio = f"{ours['process_wall_s'] / r_s:.1f}" if r_s else "-"
        lines.append(f"| {name} ({rec.get('date', '')}) | {ours.get('rows', '')} | {ours['process_wall_s']:.0f} "
                     f"({'yes' if ours.get('converged') else 'NO'}, {ours.get('attempts')}) | "
                     f"{r_s:.0f} ({r.get('function')}) | {ratio} | {ours['peak_rss_mb']:.0f} / "
                     f"{r.get('peak_rss_mb', 0):.0f} | {ours_sd} | {r_sd} | {ours.get('parameterization', '').replace('|', chr(92) + '|')} |")
    missing = [name for name in TARGETS if name not in results]
    if missing:
        lines += ["", f"Not measured yet: {', '.join(missing)}."]
    lines += ["", "Times are whole processes (imports, data reading, compilation and, for bayesglmm, sampling, "
              "diagnostics and the summary); lme4's column is Rscript's process (the model fit alone is "
              "`fit_s` in the JSON). Ratio = bayesglmm / lme4.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="insteval,insteval_bernoulli,simulated_1m",
                        help="comma-separated subset of: " + ", ".join(TARGETS))
    parser.add_argument("--out", default=str(HERE / "scaling_results.json"))
    parser.add_argument("--report", action="store_true", help="fit nothing: rewrite SCALING.md from the JSON")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return
    if args.report:
        write_atomically({HERE / "SCALING.md": render(json.loads(Path(args.out).read_text()))})
        return
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        folder = Path(tmp)
        (folder / "fit.R").write_text(R_SCRIPT)
        for name in names:
            print(f"{name} ...", flush=True)
            results[name] = run_target(name, folder)
            print(json.dumps(results[name], indent=1), flush=True)
            write_atomically({out: json.dumps(results, indent=1), HERE / "SCALING.md": render(results)})


if __name__ == "__main__":
    main()
