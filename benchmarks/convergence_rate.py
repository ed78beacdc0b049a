"""Converged every time? Each course model and robustness case, fitted with the defaults for many seeds.

Run (never in CI; about an hour for everything on 2 cores)::

    bash dev.sh bench convergence_rate                       # every target, seeds 1-10
    bash dev.sh bench convergence_rate --targets schizo,hr_slopes --seeds 5
    bash dev.sh bench convergence_rate --targets sleepstudy,cbpp,grouseticks,wine,salamanders
    bash dev.sh bench convergence_rate --report-only         # rewrite CONVERGENCE.md, no fits

For each target (a course model of ``benchmarks/course_models.py``, a case of
``bayesglmm.testset`` or a public data set of an R package, see ``R_TARGETS``) one process
fits the model with ``bg.fit``'s defaults (4 chains x 1000 draws after 1000 warm-up, the retry
ladder on) once per seed. The first fit of a process includes compilation; later ones reuse it,
as a user's second fit does (first-run times of a fresh process are ``course_models.py``'s).
Recorded per fit: converged, attempts, wall time, max R-hat, min bulk ESS, divergences, and when
the ladder climbed the first attempt's verdict (``first_attempt``: the problems it names, in the
JSON only). The table gives per target: the share converged, the share converged at the first
attempt, the median and worst time, and the median min-ESS per second.

Results merge into ``benchmarks/convergence_results.json`` (so targets can run one at a time)
and render to ``benchmarks/CONVERGENCE.md``.

Public real data sets beyond the course (``R_TARGETS``, kind "r") come from R packages: each worker
writes its data set to CSV with ``Rscript benchmarks/r/answers.R export NAME FILE`` into a temporary
folder (never committed) and reads it with ``bayesglmm.datasets.read_csv``:

- ``sleepstudy``: gaussian ``Reaction ~ Days + (Days|Subject)`` (lme4; 180 rows, 18 subjects);
- ``cbpp``: binomial ``p(incidence, size) ~ period + (1|herd)`` (lme4; 56 rows, 15 herds);
- ``grouseticks``: poisson ``TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)`` with an
  observation-level effect ``(1|INDEX)`` beside two grouping factors (lme4; 403 rows), issue 16's hard case;
- ``wine``: cumulative logit ``rating ~ temp + contact + (1|judge)`` (ordinal; 72 rows, 9 judges);
- ``salamanders``: negative binomial ``count ~ mined + (1|site)`` (glmmTMB; 644 rows, 23 sites);
- added in session 12: ``penicillin`` (lme4, crossed gaussian, 144 rows), ``pastes`` (lme4,
  nested gaussian, 60 rows), ``dyestuff2`` (lme4, 30 rows, a group SD that lme4 estimates as 0),
  ``owls`` (glmmTMB, negative binomial with an offset, 599 rows), ``bacteria`` (MASS, bernoulli,
  220 rows), ``epilepsy`` (brms, poisson with an observation-level effect, 236 rows), ``verbagg``
  (lme4, crossed bernoulli, 7,584 rows) and ``arabidopsis`` (lme4, poisson with three nested
  grouping factors, one of 3 levels, on overdispersed counts; 625 rows).

They need ``Rscript`` with lme4, ordinal, glmmTMB, MASS and brms (Debian: ``apt-get install -y r-base-core
r-cran-lme4 r-cran-ordinal r-cran-glmmtmb r-cran-brms``); without them these targets' workers fail with R's message
and the other targets still run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bayesglmm.io import write_atomically

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "convergence_results.json"
OUT = HERE / "CONVERGENCE.md"
R_SCRIPT = HERE / "r" / "answers.R"

#: public real data sets from R packages: name -> (R data set, formula, family, {column: categories or None})
#: (None: a factor with the levels found, as strings; a list: those levels in that order)
R_TARGETS = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days|Subject)", "gaussian", {"Subject": None}),
    "cbpp": ("cbpp", "p(incidence, size) ~ period + (1|herd)", "binomial", {"period": None, "herd": None}),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)", "poisson",
                    {"YEAR": None, "BROOD": None, "INDEX": None, "LOCATION": None}),
    "wine": ("wine", "rating ~ temp + contact + (1|judge)", "cumulative",
             {"rating": [1, 2, 3, 4, 5], "temp": ["cold", "warm"], "contact": ["no", "yes"], "judge": None}),
    "salamanders": ("Salamanders", "count ~ mined + (1|site)", "negativebinomial",
                    {"mined": ["yes", "no"], "site": None}),
    # added in session 12
    "penicillin": ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "gaussian", {"plate": None, "sample": None}),
    "pastes": ("Pastes", "strength ~ 1 + (1|batch/cask)", "gaussian", {"batch": None, "cask": None}),
    "dyestuff2": ("Dyestuff2", "Yield ~ 1 + (1|Batch)", "gaussian", {"Batch": None}),  # lme4's SD estimate: 0
    "owls": ("Owls", "SiblingNegotiation ~ FoodTreatment*SexParent + offset(logBroodSize) + (1|Nest)",
             "negativebinomial", {"FoodTreatment": None, "SexParent": None, "Nest": None}),
    "bacteria": ("bacteria", "yes ~ trt + week + (1|ID)", "bernoulli",
                 {"trt": ["placebo", "drug", "drug+"], "ID": None}),
    "epilepsy": ("epilepsy", "count ~ zAge + zBase * Trt + (1|patient) + (1|obs)", "poisson",
                 {"Trt": None, "patient": None, "obs": None}),
    "verbagg": ("VerbAgg", "yes ~ Anger + Gender + btype + situ + (1|id) + (1|item)", "bernoulli",
                {"Gender": ["F", "M"], "btype": ["curse", "scold", "shout"], "situ": ["other", "self"],
                 "id": None, "item": None}),
    # three regions: a Poisson model without an observation-level term (the counts are overdispersed)
    "arabidopsis": ("Arabidopsis", "total.fruits ~ nutrient*amd + rack + status + (1|reg) + (1|popu) + (1|gen)",
                    "poisson", {"reg": None, "popu": None, "gen": None, "rack": None, "nutrient": None,
                                "amd": ["clipped", "unclipped"], "status": None}),
}


def r_data(name: str):
    """One R target's data: exported by Rscript to a temporary folder, read back, factors restored."""
    import pandas as pd

    from bayesglmm.datasets import read_csv

    dataset, _, _, factors = R_TARGETS[name]
    with tempfile.TemporaryDirectory(prefix="bayesglmm-convergence-") as tmp:
        path = Path(tmp) / f"{dataset}.csv"
        proc = subprocess.run(["Rscript", str(R_SCRIPT), "export", dataset, str(path)], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"Rscript could not export {dataset}: {proc.stderr.strip()[-500:]}")
        data = read_csv(path)
    for column, levels in factors.items():
        if levels is None:
            data[column] = data[column].astype(str).astype("category")
        else:
            data[column] = pd.Categorical(data[column], categories=levels, ordered=column == "rating")
    return data


def targets() -> dict:
    """Every target: course models first, then the robustness test set's cases, then R's data sets."""
    sys.path.insert(0, str(HERE))
    from course_models import MODELS

    from bayesglmm.testset import CASES

    out = {name: ("course", name) for name in MODELS}
    out.update({name: ("testset", name) for name in CASES})
    out.update({name: ("r", name) for name in R_TARGETS})
    return out


def problem(kind: str, name: str):
    """``(formula, data, family, link)`` of one target."""
    if kind == "course":
        sys.path.insert(0, str(HERE))
        from course_models import MODELS, prepare

        model = MODELS[name]
        return model.formula, prepare(model), model.family, model.link
    if kind == "r":
        _, formula, family, _ = R_TARGETS[name]
        return formula, r_data(name), family, None
    from bayesglmm.testset import CASES

    case = CASES[name](seed=1)
    return case.formula, case.data, case.family, None


def first_draws(fit) -> int:
    """The first attempt's draws per chain: more than asked where it drew on (``bayesglmm.fit.more_draws``)."""
    return fit.attempts[0]["draws"] if fit.attempts else fit.settings["draws"]


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
                        "divergences": int(d.divergences), "ess_per_s": round(d.min_ess_bulk / wall, 2),
                        "first_draws": first_draws(fit)})
        if len(fit.attempts) > 1:  # why the ladder climbed: the first attempt's verdict (what failed, where)
            first = fit.attempts[0]
            records[-1]["first_attempt"] = f"{first['verdict']} [{first['parameterization']}]"
        print(json.dumps(records[-1]), flush=True)
    return records


def table(results: dict) -> str:
    lines = ["| target | seeds | converged | at first attempt | first attempt drew on | median s | worst s | "
             "median min-ESS/s | not converged |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, records in results.items():
        n = len(records)
        ok = sum(r["converged"] for r in records)
        first = sum(r["converged"] and r["attempts"] == 1 for r in records)
        times = [r["wall_s"] for r in records]
        # Draws past the 1,000 asked for, in the first attempt (fit.more_draws); "?" for records from before.
        drew_on = (f"{sum(r['first_draws'] > 1000 for r in records)}/{n}" if all("first_draws" in r for r in records)
                   else "?")
        failed = ", ".join(f"seed {r['seed']} (R-hat {r['max_rhat']}, ESS {r['min_ess']}, {r['divergences']} div)"
                           for r in records if not r["converged"]) or "-"
        lines.append(f"| {name} | {n} | {ok}/{n} | {first}/{n} | {drew_on} | {statistics.median(times):.1f} | "
                     f"{max(times):.1f} | "
                     f"{statistics.median(r['ess_per_s'] for r in records):.1f} | {failed} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite CONVERGENCE.md from convergence_results.json (no fits)")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker, args.seeds)), flush=True)
        return
    every = targets()
    chosen = [] if args.report_only else ([t for t in args.targets.split(",") if t] or list(every))
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
        # Re-read before merging: another run of this benchmark may have merged its targets meanwhile.
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[name] = json.loads(lines[-1][len("RESULT "):])
        write_atomically({RESULTS: json.dumps(results, indent=1)})
        print(table({name: results[name]}), flush=True)
    text = ["# Convergence rate: every target, many seeds, the defaults", "",
            "Command: `bash dev.sh bench convergence_rate` (see its docstring). One process per target; the first",
            "fit of each includes compilation. Converged: R-hat <= 1.01, bulk ESS >= 400, no divergence.",
            "Only the targets listed have been run; `--targets` runs others and merges them in.",
            f"Public data sets from R packages (exported by Rscript at run time, never committed): "
            f"{', '.join(R_TARGETS)}; their models are in the benchmark's docstring.", "",
            table(json.loads(RESULTS.read_text()) if RESULTS.exists() else results), ""]
    write_atomically({OUT: "\n".join(text)})
    print("\n".join(text))


if __name__ == "__main__":
    main()
