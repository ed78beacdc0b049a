"""Time to a converged posterior for every course model: bayesglmm against brms and lme4.

Run (never in CI; takes about an hour with R on 2 cores, most of it brms)::

    .venv/bin/python benchmarks/course_models.py --with-r

Options: ``--models betablocker,schizo`` runs a subset (the others keep their earlier results,
so an interrupted run can be resumed model by model); ``--scaling 1,4,16`` the row multiples
of the patients scaling runs (``--scaling ''`` skips them); ``--out benchmarks/RESULTS`` the
stem of the outputs: ``RESULTS.md`` (machine, tables, notes), ``RESULTS.csv`` (one row per
model) and ``RESULTS.json`` (every raw record, merged across runs); ``--with-r --r-only``
refits only lme4 and brms and keeps this package's earlier records (so R's hour can run
apart from the package's own measurements, each on a quiet machine).

For each model, bayesglmm runs in a fresh process with an empty PyTensor compile folder
(``PYTENSOR_FLAGS=base_compiledir=<tmp>``) and an empty numba cache (``NUMBA_CACHE_DIR=<tmp>``):

- *first run*: from the process' start (imports included) to the first ``bg.fit`` returning,
  compilation included;
- *warm run*: a second ``bg.fit`` of the same model in the same process (another seed).

Each fit is ``bg.fit`` with the package defaults (4 chains x 1000 draws after 1000 warm-up).
Recorded: wall time and its phases (model building, compilation, sampling, log-likelihood and
diagnostics), max R-hat, min bulk ESS over every parameter element (group SDs and group
effects included), divergences, leapfrog steps, ESS per second and the process' peak RSS.

With ``--with-r`` the same prepared data (written to a temporary CSV, never kept) are fitted
by ``Rscript benchmarks/r/fit_course_models.R``: lme4 ``glmer`` (``ordinal::clmm`` for the
ordinal models; Laplace) and brms (4 chains x 2000 iterations with 1000 warm-up, cores = 2,
compilation included). R is optional: without ``Rscript`` or its packages the R columns stay
empty and the script says how to install them (Debian: ``apt-get install -y r-base-core
r-cran-lme4 r-cran-brms r-cran-ordinal r-cran-bh``, plus the Boost link of
``../shared/STACK.md``).

The patients scaling runs replicate the patients K times, each copy with new doctor IDs in
the same hospitals, and time one fit of each size (package defaults) in its own fresh
process, so that its peak RSS is that size's; the sizes share one compile cache, and what
compilation still costs per size shows in the compile column. ``--no-log-likelihood`` fits
them with ``log_likelihood=False``.

``--cache-dir DIR`` keeps the compile caches in DIR instead of a fresh empty folder per
process: run the command twice to time a second process with warm caches.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "r" / "fit_course_models.R"
#: Hand-written reading of the results (profile, causes of gaps), copied into RESULTS.md's "Notes".
NOTES = HERE / "course_models_notes.md"
R_INSTALL = ("apt-get install -y r-base-core r-cran-lme4 r-cran-brms r-cran-ordinal r-cran-bh "
             "(then the Boost link described in ../shared/STACK.md)")
SEEDS = (1, 2)  # first run, warm run


@dataclass(frozen=True)
class CourseModel:
    """One course model: our formula and family, and the same model in lme4/ordinal and brms."""

    name: str
    dataset: str
    formula: str
    family: str
    lme4: str
    brms: str
    r_family: str  # binomial, bernoulli, poisson or cumulative
    columns: tuple
    link: str | None = None
    note: str = ""
    course: str = ""


_PATIENTS_FIXED = "Age + IL6 + CRP + LengthofStay + CancerStage + Smoking"
MODELS = {m.name: m for m in [
    CourseModel("betablocker", "betablocker", "p(r, n) ~ treat + (1|center)", "binomial",
                "cbind(r, n - r) ~ treat + (1|center)", "r | trials(n) ~ treat + (1|center)", "binomial",
                ("r", "n", "treat", "center"), course="lecture 8: glmer(cbind(r, n-r) ~ treat + (1|center))"),
    CourseModel("multicentre", "multicentre", "p(y, n) ~ treat + (1|centre)", "binomial",
                "cbind(y, n - y) ~ treat + (1|centre)", "y | trials(n) ~ treat + (1|centre)", "binomial",
                ("y", "n", "treat", "centre"), course="exercise 1: glmer(obs ~ 1 + treat + (1|centre), weights = n)"),
    CourseModel("patients", "patients", f"remission ~ {_PATIENTS_FIXED} + (1|ID.hospital/ID.doctor)", "bernoulli",
                f"remission ~ {_PATIENTS_FIXED} + (1|ID.hospital/ID.doctor)",
                f"remission ~ {_PATIENTS_FIXED} + (1|ID.hospital/ID.doctor)", "bernoulli",
                ("remission", "Age", "IL6", "CRP", "LengthofStay", "CancerStage", "Smoking", "ID.hospital",
                 "ID.doctor"), course="exercise 2, items 3-5: all six predictors, hospital and doctor-in-hospital"),
    CourseModel("motorins", "motorins", "Claims ~ Km + Bonus + (1|Zone) + offset(log(Insured))", "poisson",
                "Claims ~ Km + Bonus + (1|Zone) + offset(log(Insured))",
                "Claims ~ Km + Bonus + (1|Zone) + offset(log(Insured))", "poisson",
                ("Claims", "Insured", "Km", "Bonus", "Zone"),
                course="exercise 3: Poisson GLMM with exposure; the course's file has no Make, its random effect is Zone"),
    CourseModel("hr_slopes", "hr", "HR_incr ~ Time*Drug + (1 + Time|Patient)", "bernoulli",
                "HR_incr ~ Time*Drug + (1 + Time|Patient)", "HR_incr ~ Time*Drug + (1 + Time|Patient)", "bernoulli",
                ("HR_incr", "Time", "Drug", "Patient"), course="notes section 4: fm2HR, correlated intercept and slope"),
    CourseModel("schizo", "schizo", "y ~ trt*sqrt_wk + (1|id)", "cumulative",
                "y ~ trt*sqrt_wk + (1|id)", "y ~ trt*sqrt_wk + (1|id)", "cumulative",
                ("y", "trt", "sqrt_wk", "id"), link="logit", course="notes section 5: cumulative logit, sqrt(wk)"),
    CourseModel("housing", "housing", "House ~ Sec*Time + (1|ID)", "cumulative",
                "House ~ Sec*Time + (1|ID)", "House ~ Sec*Time + (1|ID)", "cumulative",
                ("House", "Sec", "Time", "ID"), link="logit",
                course="notes section 6: factor(Sec)*factor(Time), rows with a missing response dropped"),
    CourseModel("muscatine", "muscatine", "OB_ind ~ log(Age_k)*Cohort + (1|child)", "bernoulli",
                "OB_ind ~ log(Age_k)*Cohort + (1|child)", "OB_ind ~ log(Age_k)*Cohort + (1|child)", "bernoulli",
                ("OB_ind", "Age_k", "Cohort", "child"),
                course="notes section 3, as bayesglmm.course.muscatine fits it: uncount()ed MCRS with one "
                       "intercept per child; the notes' (1|ID) groups by a copy number (154 values for 1,770 "
                       "children, lme4 fails to converge on it), so it is not a model to time"),
]}


# ----------------------------------------------------------------------------- data
def prepare(model: CourseModel, scale: int = 1):
    """The model's data, as the course prepares them, restricted to its columns, complete rows only."""
    from bayesglmm import datasets

    if model.dataset == "muscatine":
        data = datasets.uncount_muscatine(datasets.load("muscatine"))
    else:
        data = datasets.load(model.dataset)
    data = data[list(model.columns)].dropna().reset_index(drop=True)
    for col in data.columns:
        if hasattr(data[col], "cat"):
            data[col] = data[col].cat.remove_unused_categories()
    if scale > 1:
        data = replicate_patients(data, scale)
    return data


def replicate_patients(data, k: int):
    """``k`` copies of the patients, each copy with new doctor IDs in the same hospitals."""
    import pandas as pd

    copies = []
    doctors = data["ID.doctor"].astype(str)
    for copy in range(k):
        part = data.copy()
        part["ID.doctor"] = doctors if copy == 0 else doctors + f"_{copy}"
        copies.append(part)
    out = pd.concat(copies, ignore_index=True)
    out["ID.doctor"] = out["ID.doctor"].astype("category")
    return out


def write_r_inputs(data, folder: Path) -> tuple[Path, Path]:
    """The data as CSV and a spec of its factors (level order; ordered responses) for R."""
    csv_path, spec_path = folder / "data.csv", folder / "factors.tsv"
    data.to_csv(csv_path, index=False)
    lines = []
    for col in data.columns:
        if hasattr(data[col], "cat"):
            kind = "ordered" if data[col].cat.ordered else "factor"
            levels = ",".join(str(v) for v in data[col].cat.categories)
            lines.append(f"{kind}\t{col}\t{levels}")
    spec_path.write_text("\n".join(lines) + "\n")
    return csv_path, spec_path


# ----------------------------------------------------------------------------- our fits (worker process)
class PhaseTimer:
    """Wall time of the phases of ``bg.fit``, by wrapping the functions it calls (no package edits)."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self.peaks: dict[str, float] = {}  # the process' peak RSS (MB) when each phase ended

    def wrap(self, owner, attr: str, phase: str):
        inner = getattr(owner, attr)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - start
                self.peaks[phase.replace("_s", "_peak_mb")] = _peak_rss_mb()

        setattr(owner, attr, timed)

    def install(self):
        import bayesglmm.chains
        import bayesglmm.model
        import bayesglmm.nutpie_compile

        fit_module = sys.modules["bayesglmm.fit"]
        self.wrap(fit_module, "build_model", "build_s")
        self.wrap(bayesglmm.model, "build_model", "build_s")  # the ladder's rebuilds (ModelRequest.build)
        self.wrap(bayesglmm.nutpie_compile, "compile_numba", "compile_s")  # the engine's compile
        # Since the per-chain samplers (session 11) nutpie.sample returns at once (blocking=False):
        # the sampling is draw_chains, which also judges the draws at its checkpoints (finish, diagnose).
        self.wrap(bayesglmm.chains, "draw_chains", "sample_s")
        self.wrap(fit_module, "attach_log_likelihood", "loglik_s")  # bayesglmm.loglik's, or Bambi's where it falls back
        self.wrap(fit_module, "finish", "finish_s")  # the draws to InferenceData (transforms, integrated terms)
        self.wrap(fit_module, "diagnose", "diagnose_s")

    def take(self) -> dict:
        out, self.times, peaks, self.peaks = self.times, {}, self.peaks, {}
        return {**out, **peaks}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_fit(model: CourseModel, data, seed: int, timer: PhaseTimer, **sizes) -> dict:
    import numpy as np

    import bayesglmm as bg

    start = time.perf_counter()
    result = bg.fit(model.formula, data, model.family, link=model.link, seed=seed, progressbar=False, **sizes)
    wall = time.perf_counter() - start
    d = result.diagnostics
    steps = np.asarray(result.idata["sample_stats"]["n_steps"]) if "n_steps" in result.idata["sample_stats"] else None
    rec = {"seed": seed, "wall_s": wall, **timer.take(), "max_rhat": d.max_rhat, "min_ess_bulk": d.min_ess_bulk,
           "divergences": d.divergences, "converged": bool(d.ok), "verdict": d.verdict(),
           "worst_ess": d.table["ess_bulk"].idxmin(), "n_params": int(len(d.table)),
           "low_rank": bool(result.settings.get("low_rank", False)),
           "parameterization": "; ".join(f"{k} {v}" for k, v in result.spec.parameterization.items()),
           "attempts": len(result.attempts) or 1,
           "attempt_settings": [f"tune {a['tune']}, draws {a['draws']}, target_accept {a['target_accept']}, "
                                f"{a['parameterization']}: "
                                f"{a['verdict']}" for a in result.attempts],
           "peak_rss_mb": _peak_rss_mb()}
    rec["ess_per_s"] = rec["min_ess_bulk"] / wall
    if steps is not None:
        rec["leapfrog_steps"] = int(steps.sum())
        rec["mean_steps_per_draw"] = float(steps.mean())
        if rec.get("sample_s"):
            # post-warm-up steps only; warm-up costs about as many again
            rec["steps_per_s_sampling"] = 2 * rec["leapfrog_steps"] / rec["sample_s"]
    return rec


def worker(args) -> None:
    """Fit one model in this (fresh) process and write the records as JSON."""
    import psutil

    created = psutil.Process().create_time()
    import warnings

    import bayesglmm  # noqa: F401  (imports counted in the first run)
    import bayesglmm.fit  # noqa: F401

    warnings.simplefilter("ignore")
    # numba's "Cannot cache compiled function ... as it uses lifted code / large global arrays" stays visible
    warnings.filterwarnings("always", message=".*[Cc]annot cache.*")
    import_s = time.time() - created
    timer = PhaseTimer()
    timer.install()
    model = MODELS[args.worker]
    records = {"import_s": import_s, "pid": os.getpid()}
    data = prepare(model)
    records["rows"] = len(data)
    if not args.scales:
        sizes = {"draws": args.draws, "tune": args.tune}
        first = one_fit(model, data, SEEDS[0], timer, **sizes)
        first["first_run_s"] = time.time() - created
        records["first"] = first
        Path(args.result).write_text(json.dumps(records, default=float))  # kept if the warm run fails
        print(f"    first run: {first['first_run_s']:.1f}s (fit {first['wall_s']:.1f}s) {first['verdict']}", flush=True)
        records["warm"] = one_fit(model, data, SEEDS[1], timer, **sizes)
        print(f"    warm run:  {records['warm']['wall_s']:.1f}s {records['warm']['verdict']}", flush=True)
    else:
        for k in args.scales:
            scaled = prepare(model, scale=k)
            rec = one_fit(model, scaled, SEEDS[1], timer, draws=args.draws, tune=args.tune,
                          log_likelihood=not args.no_log_likelihood)
            rec.update(rows=len(scaled), doctors=int(scaled["ID.doctor"].nunique()),
                       log_likelihood=not args.no_log_likelihood)
            records[f"x{k}"] = rec
            print(f"    {k}x ({len(scaled)} rows): {rec['wall_s']:.1f}s {rec['verdict']}, "
                  f"peak RSS {rec['peak_rss_mb']:.0f} MB", flush=True)
            Path(args.result).write_text(json.dumps(records, default=float))
    Path(args.result).write_text(json.dumps(records, default=float))


# ----------------------------------------------------------------------------- running processes
#: The process tree of one fit is killed when its RSS passes this share of the machine's memory.
MEMORY_SHARE = 0.5


def run_watched(cmd, env=None, timeout=None) -> tuple[int, float, float, str]:
    """Run ``cmd``; return (exit code, wall s, peak RSS MB of its process tree, output), echoing the output.

    The tree is killed (exit code -9, a line in the output says why) if its RSS passes
    ``MEMORY_SHARE`` of the machine's memory, so that a fit that would exhaust the memory
    of a shared machine is recorded as such instead of taking the machine down.
    """
    import psutil

    start = time.perf_counter()
    out = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    limit_mb = MEMORY_SHARE * psutil.virtual_memory().total / 2**20
    killed = ""
    root = psutil.Process(proc.pid)

    def pump():
        for line in proc.stdout:
            out.write(line)
            if line.startswith("    ") or line.startswith("R:"):
                print(line, end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20)
        except psutil.Error:
            pass
        if peak > limit_mb:
            killed = f"killed by the benchmark: RSS {peak:.0f} MB passed {limit_mb:.0f} MB ({MEMORY_SHARE:.0%} of RAM)"
            print(f"    {killed}", flush=True)
            for p in reversed(procs):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            break
        if timeout and time.perf_counter() - start > timeout:
            proc.kill()
            break
        time.sleep(0.25)
    proc.wait()
    reader.join(timeout=5)
    wall = time.perf_counter() - start
    out.seek(0)
    return proc.returncode, wall, peak, out.read() + (f"\n{killed}\n" if killed else "")


def run_ours(model: CourseModel, scales=(), cache_dir: str | None = None, draws: int = 1000,
             tune: int = 1000, log_likelihood: bool = True) -> dict:
    """Fit ``model`` in a fresh Python process with empty compile caches (or those in ``cache_dir``)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        caches = cache_dir or tmp
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={caches}/pytensor", NUMBA_CACHE_DIR=f"{caches}/numba",
                   PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", model.name, "--result", str(result),
               "--draws", str(draws), "--tune", str(tune)]
        if scales:
            cmd += ["--scales", ",".join(str(k) for k in scales)]
        if not log_likelihood:
            cmd += ["--no-log-likelihood"]
        code, wall, peak, output = run_watched(cmd, env=env)
        rec = json.loads(result.read_text()) if result.exists() else {}
        rec.update(exit_code=code, process_wall_s=wall, process_peak_rss_mb=peak,
                   numba_cache_warnings=output.lower().count("cannot cache"),
                   numba_cache_warning_text=next((line.strip() for line in output.splitlines()
                                                  if "cannot cache" in line.lower()), ""))
        if code != 0:
            rec["error"] = output[-3000:]
            print(output[-3000:], flush=True)
    return rec


def r_available() -> str | None:
    """None when Rscript with lme4, ordinal and brms is available; else why not."""
    if shutil.which("Rscript") is None:
        return f"Rscript not found; install R with: {R_INSTALL}"
    check = subprocess.run(["Rscript", "-e", "for (p in c('lme4','ordinal','brms')) "
                            "if (!requireNamespace(p, quietly=TRUE)) cat(p, '')"], capture_output=True, text=True)
    if check.returncode != 0 or check.stdout.strip():
        return f"R packages missing: {check.stdout.strip() or check.stderr.strip()}; install with: {R_INSTALL}"
    return None


def run_r(model: CourseModel, engine: str) -> dict:
    """Fit ``model`` with lme4/ordinal or brms through Rscript on the same data."""
    with tempfile.TemporaryDirectory(prefix="bench-r-") as tmp:
        folder = Path(tmp)
        csv_path, spec_path = write_r_inputs(prepare(model), folder)
        result = folder / "result.csv"
        formula = model.lme4 if engine == "lme4" else model.brms
        cmd = ["Rscript", str(R_SCRIPT), engine, str(csv_path), str(spec_path), formula, model.r_family,
               str(result), str(SEEDS[0])]
        code, wall, peak, output = run_watched(cmd)
        rec = {"exit_code": code, "process_wall_s": wall, "peak_rss_mb": peak}
        if result.exists():
            with open(result, newline="") as f:
                row = next(csv.DictReader(f))
            for key, value in row.items():
                if value in ("NA", ""):
                    rec[key] = None
                    continue
                try:
                    rec[key] = float(value)
                except ValueError:
                    rec[key] = value
        if code != 0 or not result.exists():
            rec["error"] = output[-3000:]
            print(output[-3000:], flush=True)
    return rec


# ----------------------------------------------------------------------------- tables
def _fmt(value, spec=".1f", empty="-"):
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return empty
    return format(value, spec)


def _ratio(a, b):
    return a / b if a is not None and b else None


def summary_rows(results: dict) -> list[dict]:
    """One flat row per model (the CSV)."""
    rows = []
    for name in MODELS:
        rec = results.get("models", {}).get(name)
        if not rec or "first" not in rec:
            continue
        first, warm = rec["first"], rec.get("warm", {})
        brms, lme4 = rec.get("brms") or {}, rec.get("lme4") or {}
        row = {"model": name, "rows": rec.get("rows"), "n_params": first.get("n_params"),
               "first_run_s": first.get("first_run_s"), "first_fit_s": first.get("wall_s"),
               "first_compile_s": first.get("compile_s"), "first_sample_s": first.get("sample_s"),
               "first_max_rhat": first.get("max_rhat"), "first_min_ess_bulk": first.get("min_ess_bulk"),
               "first_divergences": first.get("divergences"), "first_converged": first.get("converged"),
               "warm_s": warm.get("wall_s"), "warm_compile_s": warm.get("compile_s"),
               "warm_sample_s": warm.get("sample_s"), "warm_max_rhat": warm.get("max_rhat"),
               "warm_min_ess_bulk": warm.get("min_ess_bulk"), "warm_divergences": warm.get("divergences"),
               "warm_converged": warm.get("converged"), "warm_ess_per_s": warm.get("ess_per_s"),
               "first_ess_per_s": first.get("ess_per_s"), "peak_rss_mb": warm.get("peak_rss_mb"),
               "brms_s": brms.get("wall_s"), "brms_max_rhat": brms.get("max_rhat"),
               "brms_min_ess_bulk": brms.get("min_ess_bulk"), "brms_divergences": brms.get("divergences"),
               "brms_ess_per_s": _ratio(brms.get("min_ess_bulk"), brms.get("wall_s")),
               "brms_peak_rss_mb": brms.get("peak_rss_mb"), "lme4_s": lme4.get("wall_s"),
               "lme4_peak_rss_mb": lme4.get("peak_rss_mb"), "lme4_warning": lme4.get("warning"),
               "measured_at": rec.get("measured_at"), "load_before": rec.get("load_before"),
               "draws": rec.get("draws"), "tune": rec.get("tune"), "caches": rec.get("caches")}
        row["first_over_brms"] = _ratio(row["first_run_s"], row["brms_s"])
        row["warm_over_brms"] = _ratio(row["warm_s"], row["brms_s"])
        row["warm_over_lme4"] = _ratio(row["warm_s"], row["lme4_s"])
        rows.append(row)
    return rows


def cpu_model() -> str | None:
    """The processor's model name from ``/proc/cpuinfo`` (Linux), or None: timings differ 1.5-fold between machines."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    except OSError:
        return None


def machine_description() -> str:
    import importlib.metadata as md

    import psutil

    cpu = cpu_model() or "unknown"
    versions = ", ".join(f"{p} {md.version(p)}" for p in ("bayesglmm", "bambi", "pymc", "pytensor", "nutpie",
                                                           "numba", "arviz", "numpy"))
    r_versions = "R not available"
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "-e", "cat(R.version.string, sep=''); for (p in c('lme4','ordinal','brms',"
                            "'rstan')) if (requireNamespace(p, quietly=TRUE)) cat(',', p, format(packageVersion(p)))"],
                           capture_output=True, text=True)
        r_versions = r.stdout.strip() or r_versions
    return (f"- CPU: {cpu}, {os.cpu_count()} cores available to this process; RAM "
            f"{psutil.virtual_memory().total / 2**30:.1f} GiB; {platform.platform()}\n"
            f"- Python {platform.python_version()}: {versions}\n- {r_versions}\n")


def render_markdown(results: dict, rows: list[dict]) -> str:
    out = io.StringIO()
    w = out.write
    w("# Course models: time to a converged posterior, bayesglmm against brms and lme4\n\n")
    w("Produced by `.venv/bin/python benchmarks/course_models.py --with-r` (see its docstring). "
      "Do not edit by hand: rerun the command (the Notes come from `benchmarks/course_models_notes.md`)."
      "\n\n## Machine\n\n")
    w(results.get("machine", "") + "\n")
    loads = sorted({r["load_before"] for r in rows if r.get("load_before") is not None})
    if loads:
        w(f"1-minute load average when each model started: {', '.join(f'{x:.1f}' for x in loads)} "
          f"(on {os.cpu_count()} cores; above the core count means other work shared the machine and the "
          "timings are inflated).\n\n")
    odd = [r["model"] for r in rows if (r.get("draws"), r.get("tune")) not in ((1000, 1000), (None, None))]
    if odd:
        w(f"**Not the package defaults** (smoke test with other draws/tune): {', '.join(odd)}.\n\n")
    w("## Every course model\n\n")
    w("*first*: fresh process with empty PyTensor and numba caches, from process start (imports included) to "
      "the first `bg.fit` returning; *compile*: its compilation share; *warm*: a second fit of the same model in "
      "that process. R-hat, min bulk ESS (over all parameters, group SDs and effects included) and divergences "
      "of the first run (warm run in the CSV); ESS/s = min bulk ESS / warm wall time (brms: / its wall time). "
      "brms: 4 chains x 2000 iterations (1000 warm-up), cores = 2, compilation included. lme4: `glmer` "
      "(ordinal: `ordinal::clmm`), Laplace, fit call only. Peak = peak RSS of the process (tree, for R).\n\n")
    w("| model | rows | first s | compile s | warm s | R-hat | min ESS | div | ESS/s | peak MB | converged "
      "| brms s | brms R-hat | brms ESS | brms div | brms ESS/s | brms peak MB | lme4 s | first/brms | warm/brms "
      "| warm/lme4 |\n")
    w("|" + "---|" * 21 + "\n")
    for r in rows:
        conv = ("yes" if r["first_converged"] else "**no**") + ("" if r["warm_converged"] in (None, r["first_converged"])
                                                               else f" (warm {'yes' if r['warm_converged'] else 'no'})")
        w(f"| {r['model']} | {r['rows']} | {_fmt(r['first_run_s'])} | {_fmt(r['first_compile_s'])} | "
          f"{_fmt(r['warm_s'])} | {_fmt(r['first_max_rhat'], '.3f')} | {_fmt(r['first_min_ess_bulk'], '.0f')} | "
          f"{_fmt(r['first_divergences'], 'd')} | {_fmt(r['warm_ess_per_s'])} | {_fmt(r['peak_rss_mb'], '.0f')} | "
          f"{conv} | {_fmt(r['brms_s'])} | {_fmt(r['brms_max_rhat'], '.3f')} | "
          f"{_fmt(r['brms_min_ess_bulk'], '.0f')} | {_fmt(r['brms_divergences'], '.0f')} | "
          f"{_fmt(r['brms_ess_per_s'])} | {_fmt(r['brms_peak_rss_mb'], '.0f')} | {_fmt(r['lme4_s'], '.2f')} | "
          f"{_fmt(r['first_over_brms'], '.2f')} | {_fmt(r['warm_over_brms'], '.2f')} | "
          f"{_fmt(r['warm_over_lme4'], '.1f')} |\n")
    w("\nPhases of our fits (seconds; first run / warm run): build the model, compile (nutpie/numba), sample, "
      "finish (the draws to InferenceData), log-likelihood, diagnostics, summed over the attempts of the retry "
      "ladder (*attempts*: 1 when the first converged; the sampled numbers are the last attempt's). *sample* "
      "includes the judging of the draws at each checkpoint, whose finish and diagnostics are also counted in "
      "their own columns.\n\n| model | params | parameterisation | low-rank | build | compile | sample | "
      "finish | log-lik | diagnose | attempts | leapfrog steps/draw | steps/s (sampling) | imports | peak MB after sample | "
      "after log-lik |\n" + "|" + "---|" * 16 + "\n")
    for name in MODELS:
        rec = results.get("models", {}).get(name)
        if not rec or "first" not in rec:
            continue
        f, wm = rec["first"], rec.get("warm", {})

        def pair(key, spec=".1f"):
            return f"{_fmt(f.get(key), spec)} / {_fmt(wm.get(key), spec)}"

        parameterization = (f.get("parameterization") or "-").replace("|", "\\|")  # a Markdown cell
        w(f"| {name} | {f.get('n_params')} | {parameterization} | {f.get('low_rank')} | "
          f"{pair('build_s')} | {pair('compile_s')} | {pair('sample_s')} | {pair('finish_s')} | {pair('loglik_s')} | "
          f"{pair('diagnose_s')} | {pair('attempts', 'd')} | {pair('mean_steps_per_draw')} | {pair('steps_per_s_sampling', '.0f')} | "
          f"{_fmt(rec.get('import_s'))} | {pair('sample_peak_mb', '.0f')} | {pair('loglik_peak_mb', '.0f')} |\n")
    missing = [n for n in MODELS if n not in results.get("models", {})]
    if missing:
        w(f"\nNot yet measured: {', '.join(missing)}.\n")
    errors = {n: r.get("error") for n, r in results.get("models", {}).items() if r.get("error")}
    for n, r in results.get("models", {}).items():
        for engine in ("brms", "lme4"):
            if (r.get(engine) or {}).get("error"):
                errors[f"{n} ({engine})"] = r[engine]["error"]
    if errors:
        w("\nErrors:\n\n" + "".join(f"- {k}: `{v.strip().splitlines()[-1][:300] if v.strip() else v}`\n"
                                   for k, v in errors.items()))
    if results.get("r_skipped"):
        w(f"\nR was skipped: {results['r_skipped']}\n")
    scaling = results.get("scaling")
    if scaling:
        if (scaling.get("draws"), scaling.get("tune")) not in ((1000, 1000), (None, None)):
            w(f"\n**Smoke test, not the package defaults**: {scaling['draws']} draws, {scaling['tune']} warm-up.\n")
        loglik = scaling.get("log_likelihood", True)
        w("\n## Patients model: growth with the number of rows\n\n"
          "Patients replicated K times, each copy with new doctor IDs in the same 35 hospitals; one fit per size "
          "(seed 2; package defaults: 4 chains x 1000 draws after 1000 warm-up, retry ladder on) in a fresh "
          "process per size, the sizes sharing one compile cache. "
          + ("The pointwise log-likelihood was computed as in every fit.\n\n" if loglik else
             "Fitted with `log_likelihood=False`: the pointwise log-likelihood is rows x 4,000 draws of float64 "
             "(4.4 GB by itself at 16x) and `bayesglmm.compare` computes it when it is needed; every other step "
             "of `bg.fit` ran.\n\n") +
          "| K | rows | doctors | fit s | compile s | sample s | log-lik s | s per 1x (fit) | s per 1x (sampling) | "
          "R-hat | min ESS | div | attempts | steps/draw | peak RSS MB |\n" + "|" + "---|" * 15 + "\n")
        base = None
        for key in sorted((k for k in scaling if k.startswith("x")), key=lambda k: int(k[1:])):
            r = scaling[key]
            k = int(key[1:])
            if "wall_s" not in r:
                w(f"| {k} | - | - | stopped: `{(r.get('error') or '?').strip().splitlines()[-1][:200]}` |\n")
                continue
            if k == 1:
                base = r
            per = r["wall_s"] / k / base["wall_s"] if base else None
            per_sample = (r["sample_s"] / k / base["sample_s"] if base and r.get("sample_s") and base.get("sample_s")
                          else None)
            w(f"| {k} | {r['rows']} | {r['doctors']} | {_fmt(r['wall_s'])} | {_fmt(r.get('compile_s'))} | "
              f"{_fmt(r.get('sample_s'))} | {_fmt(r.get('loglik_s'))} | {_fmt(per, '.2f')} | {_fmt(per_sample, '.2f')} | "
              f"{_fmt(r['max_rhat'], '.3f')} | {_fmt(r['min_ess_bulk'], '.0f')} | {r['divergences']} | "
              f"{r.get('attempts', '-')} | {_fmt(r.get('mean_steps_per_draw'))} | "
              f"{_fmt(r.get('process_peak_rss_mb', r['peak_rss_mb']), '.0f')} |\n")
        w("\n*s per 1x*: time divided by K and by the 1x time; at most 1 means growth no faster than linear. "
          "*fit s* is `bg.fit`'s wall time (compilation included; every size compiles anew because the data are "
          "part of the compiled function); *sampling* counts nutpie's sampling only, summed over the attempts. "
          "Peak RSS is the whole process's.\n")
    if NOTES.exists():
        w("\n## Notes\n\n" + NOTES.read_text().strip() + "\n")
    return out.getvalue()


def write_outputs(results: dict, stem: Path) -> None:
    from bayesglmm.io import write_atomically

    rows = summary_rows(results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_atomically({stem.with_suffix(".json"): json.dumps(results, indent=1, default=float),
                      stem.with_suffix(".csv"): buf.getvalue(),
                      stem.with_suffix(".md"): render_markdown(results, rows)})


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--with-r", action="store_true", help="also fit every model with lme4 and brms (Rscript)")
    parser.add_argument("--r-only", action="store_true", help="with --with-r: refit only lme4 and brms, keeping "
                        "bayesglmm's earlier records (R's timings do not depend on this package)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--scaling", default="1,4,16", help="row multiples of the patients scaling runs; '' skips")
    parser.add_argument("--out", default=str(HERE / "RESULTS"), help="output stem (.md, .csv, .json)")
    parser.add_argument("--cache-dir", help="keep the compile caches in this folder (default: a fresh empty one "
                        "per process); run twice to time a second process with warm caches")
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000, the package's; "
                        "smaller only to smoke-test the harness: such results are marked)")
    parser.add_argument("--tune", type=int, default=1000, help="warm-up iterations per chain (default 1000)")
    parser.add_argument("--no-log-likelihood", action="store_true",
                        help="fit the scaling runs with log_likelihood=False (its rows x draws values are 4.4 GB "
                        "of float64 at 16x; bayesglmm.compare computes it when needed)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--scales", type=lambda s: [int(k) for k in s.split(",") if k], default=[],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    scales = [int(k) for k in args.scaling.split(",") if k.strip()]
    stem = Path(args.out)
    old = stem.with_suffix(".json")
    results = json.loads(old.read_text()) if old.exists() else {}
    results.setdefault("models", {})
    results["machine"] = machine_description()
    r_missing = r_available() if args.with_r else None
    if r_missing:
        print(f"R skipped: {r_missing}", flush=True)
        results["r_skipped"] = r_missing
    elif args.with_r:
        results.pop("r_skipped", None)
    for name in names:
        model = MODELS[name]
        load = os.getloadavg()[0]
        previous = results["models"].get(name, {})
        if args.r_only:
            rec = {k: v for k, v in previous.items() if k not in ("lme4", "brms")}
        else:
            print(f"[{dt.datetime.now():%H:%M:%S}] {name}: bayesglmm, fresh process (load {load:.1f})", flush=True)
            rec = run_ours(model, cache_dir=args.cache_dir, draws=args.draws, tune=args.tune)
            rec.update(measured_at=dt.datetime.now().isoformat(timespec="seconds"), load_before=load,
                       caches="empty" if args.cache_dir is None else f"kept in {args.cache_dir}",
                       draws=args.draws, tune=args.tune)
        if args.with_r and not r_missing:
            for engine in ("lme4", "brms"):
                load = os.getloadavg()[0]
                print(f"[{dt.datetime.now():%H:%M:%S}] {name}: {engine} (Rscript, load {load:.1f})", flush=True)
                rec[engine] = run_r(model, engine)
                rec[engine].update(measured_at=dt.datetime.now().isoformat(timespec="seconds"), load_before=load)
                r = rec[engine]
                print(f"    {engine}: {_fmt(r.get('wall_s'))}s, R-hat {_fmt(r.get('max_rhat'), '.3f')}, "
                      f"min ESS {_fmt(r.get('min_ess_bulk'), '.0f')}, div {_fmt(r.get('divergences'), '.0f')}",
                      flush=True)
        else:  # keep R results measured earlier
            for engine in ("lme4", "brms"):
                if engine in previous:
                    rec[engine] = previous[engine]
        results["models"][name] = rec
        write_outputs(results, stem)
    if scales and not args.r_only:
        # One fresh process per size (its peak RSS is that size's), sharing one compile cache.
        settings = {"draws": args.draws, "tune": args.tune, "log_likelihood": not args.no_log_likelihood}
        if {k: results.get("scaling", {}).get(k) for k in settings} != settings:
            results["scaling"] = {}  # sizes measured with other settings are not kept beside these
        results.setdefault("scaling", {}).update(settings)
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as caches:
            for k in scales:
                load = os.getloadavg()[0]
                print(f"[{dt.datetime.now():%H:%M:%S}] patients x{k}, fresh process (load {load:.1f})", flush=True)
                rec = run_ours(MODELS["patients"], scales=[k], cache_dir=caches, draws=args.draws, tune=args.tune,
                               log_likelihood=not args.no_log_likelihood)
                one = rec.pop(f"x{k}", {})
                one.update({key: rec[key] for key in ("import_s", "exit_code", "process_wall_s", "process_peak_rss_mb",
                                                      "error") if key in rec})
                one.update(measured_at=dt.datetime.now().isoformat(timespec="seconds"), load_before=load)
                results["scaling"][f"x{k}"] = one
                write_outputs(results, stem)
    print(f"wrote {stem.with_suffix('.md')}, .csv, .json", flush=True)


if __name__ == "__main__":
    main()
