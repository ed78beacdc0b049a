"""Do bayesglmm's answers agree with brms's, emmeans's and performance's on the same public data?

Run (never in CI; about 10 minutes on 2 cores, most of it brms compiling three models)::

    bash dev.sh bench answers_agreement            # or .venv/bin/python benchmarks/answers_agreement.py

Options: ``--models multicentre,wine`` a subset; ``--matched-priors`` also refits brms with
bayesglmm's default priors (brms ``set_prior`` statements written from ``fit.prior_summary()``),
to tell prior differences from disagreements; ``--r-cores 1`` brms's cores (default 1);
``--out benchmarks/ANSWERS`` the stem of the report (``ANSWERS.md``); ``--json FILE`` also keeps
every record there (merged across runs, so a ``--models`` subset keeps the others).

Three models on public data, each fitted by ``bg.fit`` (package defaults, seed 1) and by brms
(default priors, 4 chains x 1000 draws after 1000 warm-up, seed 1; ``benchmarks/r/answers.R``):

- ``multicentre`` (the course's data, ``bg.datasets.load``): binomial ``p(y, n) ~ treat + (1|centre)``
  (brms: ``y | trials(n) ~ treat + (1|centre)``);
- ``sleepstudy`` (lme4's data, exported by R at run time): gaussian ``Reaction ~ Days + (1|Subject)``;
- ``wine`` (ordinal's data, exported by R at run time): cumulative logit
  ``rating ~ temp + contact + (1|judge)``.

Per model, the same question asked of both posteriors:

(a) the counterfactual comparison on the response scale averaged over the rows, group effects at
    zero (``bg.comparisons``; R: ``posterior_epred(re_formula = NA)`` by hand, and emmeans with
    ``regrid = "response"`` where it applies); for the ordinal model per category, plus the
    category probabilities averaged over the rows (``bg.predictions(scale="probability")``);
(b) the coefficient on the link scale (``bg.slopes(scale="link")`` or ``bg.hypothesis("c = 0")``;
    R: ``brms::hypothesis``);
(c) Bayesian R² (``bg.r2``; R: ``brms::bayes_R2`` and ``performance::r2_bayes``), not for ordinal;
(d) marginal and conditional R² of Nakagawa & Schielzeth (``bg.r2``; R: the same formula per brms
    draw, and ``performance::r2_nakagawa``, a point estimate);
(e) P(coefficient > 0) (``bg.hypothesis("c > 0")``; R: ``brms::hypothesis``'s Post.Prob).

Each difference is given in units of the posterior SD (the root mean square of the two SDs; bayesglmm's
SD where R gives a point estimate); a posterior probability p is compared on the probit scale,
qnorm(p_bg) - qnorm(p_R), which for a normal posterior is the difference of mean/SD, i.e. the
same unit. Within 0.1 SD counts as agreement. The data are written to a temporary folder, never kept.
R is optional for the Python side: without ``Rscript`` (or brms) the bayesglmm answers are still
computed and written, and the R columns say why they are empty.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import r_probe
from bayesglmm.io import write_atomically

HERE = Path(__file__).resolve().parent
#: R packages the benchmark needs, and those whose versions its report records.
R_PACKAGES = ('brms', 'lme4', 'ordinal', 'emmeans', 'performance')
R_VERSIONS = ('brms', 'rstan', 'emmeans', 'performance', 'lme4', 'ordinal', 'posterior')
R_SCRIPT = HERE / "r" / "answers.R"
R_INSTALL = ("apt-get install -y r-base-core r-cran-lme4 r-cran-brms r-cran-emmeans r-cran-performance "
             "r-cran-ordinal r-cran-bh (then the Boost link described in ../shared/STACK.md)")
TOL = 0.1
SEED = 1

MODELS = {
    "multicentre": dict(formula="p(y, n) ~ treat + (1|centre)", family="binomial", variable="treat",
                        coef="treat[drug]", r_coef="treatdrug",
                        describe="binomial, `p(y, n) ~ treat + (1|centre)` (brms `y | trials(n) ~ ...`), "
                                 "the course's multicentre data (22 rows, 11 centres)"),
    "sleepstudy": dict(formula="Reaction ~ Days + (1|Subject)", family="gaussian", variable="Days",
                       coef="Days", r_coef="Days", mid=10,
                       describe="gaussian, `Reaction ~ Days + (1|Subject)`, lme4's sleepstudy (180 rows, "
                                "18 subjects)"),
    "wine": dict(formula="rating ~ temp + contact + (1|judge)", family="cumulative", variable="temp",
                 coef="temp[warm]", r_coef="tempwarm", mid=2.5,
                 describe="cumulative logit, `rating ~ temp + contact + (1|judge)`, ordinal's wine "
                          "(72 rows, 9 judges, 5 categories)"),
}

#: bayesglmm's prior term -> brms's coefficient name
B_COEFS = {"multicentre": {"treat": "treatdrug"}, "sleepstudy": {"Days": "Days"},
           "wine": {"temp": "tempwarm", "contact": "contactyes"}}

QUESTION = {
    "a": "(a) comparison, response scale, averaged over rows",
    "b": "(b) coefficient / slope, link scale",
    "c": "(c) Bayesian R²",
    "d": "(d) Nakagawa R²",
    "e": "(e) P(coef > t)",
}


# ----------------------------------------------------------------------------- R
def r_status() -> str | None:
    """None when Rscript and the R packages this benchmark calls are usable, otherwise why not."""
    return r_probe.r_status(R_PACKAGES, R_INSTALL)


def r_versions() -> dict:
    """Versions of R and of the packages whose numbers the report shows."""
    return r_probe.r_versions(R_VERSIONS)


def export_r_data(name: str, tmp: Path) -> pd.DataFrame:
    path = tmp / f"{name}_export.csv"
    subprocess.run(["Rscript", str(R_SCRIPT), "export", name, str(path)], check=True, capture_output=True)
    return pd.read_csv(path)


def load_data(name: str, tmp: Path) -> pd.DataFrame:
    import bayesglmm as bg

    if name == "multicentre":
        df = bg.datasets.load("multicentre")[["y", "n", "treat", "centre"]].dropna().reset_index(drop=True)
        df["treat"] = df["treat"].cat.remove_unused_categories()
        df["centre"] = df["centre"].astype(str).astype("category")
        return df
    df = export_r_data(name, tmp)
    if name == "sleepstudy":
        df["Subject"] = df["Subject"].astype(str).astype("category")
        return df[["Reaction", "Days", "Subject"]]
    df["rating"] = pd.Categorical(df["rating"].astype(int), categories=[1, 2, 3, 4, 5], ordered=True)
    df["temp"] = pd.Categorical(df["temp"], categories=["cold", "warm"])
    df["contact"] = pd.Categorical(df["contact"], categories=["no", "yes"])
    df["judge"] = df["judge"].astype(str).astype("category")
    return df[["rating", "temp", "contact", "judge"]]


def run_r(name: str, data: pd.DataFrame, tmp: Path, cores: int, priors: Path | None,
          draws: int = 1000) -> tuple[dict, str]:
    """brms's answers: key -> dict(mean, sd, median, source); and the R log."""
    csv = tmp / f"{name}.csv"
    out = tmp / f"{name}_{'matched' if priors else 'default'}_r.csv"
    data.to_csv(csv, index=False)
    cmd = ["Rscript", str(R_SCRIPT), "fit", name, str(csv), str(out), str(SEED), str(cores),
           str(priors) if priors else "default", str(draws)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = (proc.stdout + proc.stderr)[-4000:]
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"Rscript failed for {name}:\n{log}")
    res = pd.read_csv(out)
    return {r.key: dict(mean=r.mean, sd=r.sd, median=r.median, source=r.source) for r in res.itertuples()}, log


# ----------------------------------------------------------------------------- bayesglmm
def bg_answers(name: str, data: pd.DataFrame, draws: int = 1000) -> tuple[dict, object]:
    """bayesglmm's answers: key -> dict(mean, sd, median, source); and the fit."""
    import bayesglmm as bg

    m = MODELS[name]
    t0 = time.perf_counter()
    fit = bg.fit(m["formula"], data, m["family"], seed=SEED, draws=draws, progressbar=False)
    wall = time.perf_counter() - t0
    out: dict = {}

    def put(key, mean, sd, median, source):
        out[key] = dict(mean=float(mean), sd=None if sd is None else float(sd),
                        median=None if median is None else float(median), source=source)

    def put_row(key, row, source):
        put(key, row["mean"], row["sd"], row["estimate"] if "estimate" in row else row.get("median"), source)

    put("meta_wall_s", wall, None, None, "bg.fit (compile + sample)")
    diag = fit.diagnostics
    if diag is not None:
        put("meta_max_rhat", diag.max_rhat, None, None, "fit.diagnostics")
        put("meta_min_ess_bulk", diag.min_ess_bulk, None, None, "fit.diagnostics")

    var, coef = m["variable"], m["coef"]
    if name == "wine":
        comp = bg.comparisons(fit, var, scale="probability")
        for i, row in enumerate(comp.table.to_dict("records")):
            put_row(f"a_comparison[{_category(row, i)}]", row, "bg.comparisons(scale='probability')")
        pred = bg.predictions(fit, scale="probability")
        for i, row in enumerate(pred.table.to_dict("records")):
            put_row(f"a_predictions[{_category(row, i)}]", row, "bg.predictions(scale='probability')")
    else:
        comp = bg.comparisons(fit, var)
        row = comp.table.to_dict("records")[0]
        put_row("a_comparison", row, f"bg.comparisons(fit, {var!r})")
        out["a_comparison_emmeans"] = dict(out["a_comparison"])
    if name == "sleepstudy":
        sl = bg.slopes(fit, var, scale="link").table.to_dict("records")[0]
        put_row("b_link", sl, "bg.slopes(scale='link')")
    else:
        h = bg.hypothesis(fit, f"{coef} = 0").table.iloc[0]
        put("b_link", h["estimate"], h["sd"], None, f"bg.hypothesis('{coef} = 0')")
    hp = bg.hypothesis(fit, f"{coef} > 0").table.iloc[0]
    put("e_post_prob", hp["post_prob"], None, None, f"bg.hypothesis('{coef} > 0').post_prob")
    if m.get("mid") is not None:  # P(coef > t) with t near the posterior's centre: a probability that can disagree
        hm = bg.hypothesis(fit, f"{coef} > {m['mid']}").table.iloc[0]
        put("e_post_prob_mid", hm["post_prob"], None, None, f"bg.hypothesis('{coef} > {m['mid']}').post_prob")
    r2 = bg.r2(fit, loo=False)
    for row_name, key in (("bayes_R2", "c_bayes_R2"), ("marginal", "d_marginal"), ("conditional", "d_conditional")):
        if row_name in r2.table.index:
            r = r2.table.loc[row_name]
            put(key, r["mean"], r["sd"], r["median"], f"bg.r2 {row_name}")
    if "c_bayes_R2" in out:
        out["c_bayes_R2_performance"] = dict(out["c_bayes_R2"])
    for key in ("d_marginal", "d_conditional"):
        if key in out:
            out[f"{key}_performance"] = dict(out[key])
    return out, fit


def _category(row: dict, i: int):
    for col in ("category", "rating"):
        if col in row:
            return row[col]
    return i + 1


def matched_priors(fit, name: str, path: Path) -> Path:
    """bayesglmm's default priors as brms set_prior statements, one per line."""
    ps = fit.prior_summary()
    table = ps.table if hasattr(ps, "table") else ps
    path.write_text("\n".join(_brms_prior_lines(table, name)) + "\n")
    return path


def _brms_prior_lines(table: pd.DataFrame, name: str) -> list[str]:
    """Translate bayesglmm's prior table to brms statements (Normal/HalfNormal/HalfStudentT only)."""
    lines = []
    m = MODELS[name]
    group = {"multicentre": "centre", "sleepstudy": "Subject", "wine": "judge"}[name]
    for rec in table.reset_index().to_dict("records"):
        term = str(rec.get("term", rec.get("parameter", rec.get("index", ""))))
        dist = str(rec.get("prior", rec.get("distribution", "")))
        if term == "threshold":  # Normal(mu=[...], sigma=s), ordered: brms's thresholds are ordered too
            import re

            mt = re.search(r"mu=\[([^\]]*)\],\s*sigma=([\d.]+)", dist)
            if mt:
                for k, mu in enumerate(mt.group(1).split(","), start=1):
                    lines.append(f'set_prior("normal({float(mu)}, {mt.group(2)})", class = "Intercept", coef = "{k}")')
            continue
        brms = _brms_dist(dist)
        if brms is None:
            continue
        if term == "Intercept":
            if m["family"] == "cumulative":
                continue
            lines.append(f'set_prior("{brms}", class = "Intercept")')
        elif term.startswith("1|"):
            lines.append(f'set_prior("{brms}", class = "sd", group = "{group}")')
        elif term in ("sigma",):
            lines.append(f'set_prior("{brms}", class = "sigma")')
        elif term in ("threshold",) or "threshold" in term:
            continue
        else:
            coef = B_COEFS[name].get(term, term.replace("[", "").replace("]", ""))
            lines.append(f'set_prior("{brms}", class = "b", coef = "{coef}")')
    return lines


def _brms_dist(text: str) -> str | None:
    import re

    num = r"(-?[\d.]+(?:e-?\d+)?)"
    for pat, fmt in ((rf"HalfNormal\((?:sigma=)?{num}\)", "normal(0, {0})"),
                     (rf"HalfStudentT\((?:nu=)?{num},\s*(?:sigma=)?{num}\)", "student_t({0}, 0, {1})"),
                     (rf"Normal\((?:mu=)?{num},\s*(?:sigma=)?{num}\)", "normal({0}, {1})")):
        mt = re.search(pat, text)
        if mt:
            return fmt.format(*mt.groups())
    return None


# ----------------------------------------------------------------------------- comparison
def compare(bg_res: dict, r_res: dict) -> list[dict]:
    rows = []
    for key, b in bg_res.items():
        if key.startswith("meta_") or key not in r_res:
            continue
        r = r_res[key]
        row = dict(key=key, question=QUESTION[key[0]], bg_mean=b["mean"], bg_sd=b["sd"], r_mean=r["mean"],
                   r_sd=None if pd.isna(r["sd"]) else r["sd"], r_source=r["source"], bg_source=b["source"])
        if key.startswith("e_post_prob"):
            pb, pr = b["mean"], r["mean"]
            lo = 1 / 8000  # half a draw of 4000
            if (pb >= 1 - lo and pr >= 1 - lo) or (pb <= lo and pr <= lo):
                d = 0.0
            else:
                d = stats.norm.ppf(np.clip(pb, lo, 1 - lo)) - stats.norm.ppf(np.clip(pr, lo, 1 - lo))
            row["unit"] = "probit"
        else:
            sds = [s for s in (b["sd"], row["r_sd"]) if s is not None and np.isfinite(s)]
            unit = math.sqrt(np.mean(np.square(sds)))
            stat = "median" if "(median)" in str(r["source"]) else "mean"  # performance::r2_bayes gives medians
            row["bg_mean"] = b[stat]
            d = (b[stat] - r["mean"]) / unit if unit > 0 else float("nan")
            row["unit"] = "rms SD" if len(sds) == 2 else "bg SD"
        row["diff_sd"] = float(d)
        row["agree"] = bool(abs(d) <= TOL)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- report
#: Hand-written reading of the results, copied into ANSWERS.md (update it when the numbers change).
NOTES = """
**What is compared.** Each row asks bayesglmm and R the same question about the same data.
(a) `a_comparison`: the counterfactual average comparison on the response scale, group effects at zero
(every row set to each level, or `x + 1` against `x`, predictions averaged over the rows per draw, then
differenced); R computes it by hand from `posterior_epred(re_formula = NA)` (for the binomial with `n = 1`,
so a probability, as bayesglmm's response scale), and for multicentre also with emmeans
(`emmeans(fit, ~treat, regrid = "response")` then `contrast("revpairwise")`: with one predictor its
reference grid is the counterfactual average). For wine, per category, and `a_predictions` the category
probabilities averaged over the rows (`bg.predictions(fit, scale="probability")`). (b) `b_link`: the
coefficient (`bg.hypothesis("c = 0")`, `bg.slopes(scale="link")` for sleepstudy) against
`brms::hypothesis`'s Estimate and Est.Error. (c) `c_bayes_R2` against `brms::bayes_R2` (and the median of
`performance::r2_bayes`'s conditional R², which is the same quantity); bayesglmm does not define it for an
ordinal response, so wine has none. (d) `d_marginal`/`d_conditional`: Nakagawa & Schielzeth's R², against
the same formula evaluated per brms draw in `answers.R` (variance over rows of X b with the population
divisor, sd² of the group intercepts, pi²/3 for logit or sigma² for gaussian), and against
`performance::r2_nakagawa` (the `_performance` rows). (e) `e_post_prob`: `bg.hypothesis("c > 0")`'s
post_prob against brms's Post.Prob; where that is 1 on both sides (sleepstudy, wine) it says nothing, so
`e_post_prob_mid` asks P(c > t) with t near the posterior's centre (Days > 10, temp[warm] > 2.5).

**Where the priors differ.** brms 2.18's defaults: flat on the coefficients; student_t(3, ., 2.5) on the
(centred) intercept or ordinal cut-points and on the group SDs (gaussian: scale mad(y) = 59.3 on sleepstudy,
also for sigma). bayesglmm's: Normal(0, 2.5 s_y / sd(x)) on coefficients, Normal(link(mean y), 2.5 s_y) on
the centred intercept, HalfNormal(2.5 s_y) on group SDs, HalfStudentT(4, sd(y)) on sigma, and
Normal(link(cumulative share), 2.5) on the ordinal cut-points (printed under each model). The second table
of each model refits brms with bayesglmm's priors (`--matched-priors`, `set_prior` statements written from
`fit.prior_summary()`), so what remains there is Monte Carlo error or a real disagreement.

**multicentre and sleepstudy agree.** Every posterior-to-posterior row is within 0.1 SD with brms's own
defaults (largest: sleepstudy's marginal R², -0.09 SD) and with bayesglmm's priors (largest: 0.05 SD);
the sleepstudy marginal R² moves from -0.09 to -0.03 SD when brms gets bayesglmm's SD and sigma priors,
so the prior explains most of that gap. Monte Carlo error alone is about 0.02-0.06 SD on a difference of
two fits with bulk ESS 600-4,000 (sqrt(2 / ESS)).

**performance::r2_nakagawa is a plug-in estimate**, not a posterior mean, so its rows are shown but not
counted. performance 0.10.2 evaluates the variances at the posterior means of the coefficients and SDs. On
multicentre, where treat explains almost nothing, that makes the marginal R² 6x smaller: the plug-in uses
b̄² var(treat) = 0.077² x 0.25 = 0.0015 for the fixed-effect variance, while the posterior mean of
the per-draw R² averages b², whose mean is b̄² + sd(b)² = 0.077² + 0.175² = 0.037. The same formula
computed per brms draw (`d_marginal`) agrees with bayesglmm (0.0017 against 0.0017). Where the posterior
is tight (sleepstudy) the plug-in and the posterior mean agree. For the ordinal wine model performance 0.10.2's
`r2_nakagawa` returns a bare NA, so only the by-hand R² is compared there.

**wine agrees since bayesglmm samples the cut-points at the predictors' means.** An earlier run of this
script (commit 8ce1dd5) found 2 of 15 answers within 0.1 SD with brms's defaults: bayesglmm put its
cut-point prior, Normal(link(marginal cumulative share), 2.5) = Normal([-2.6, -0.51, 1.03, 2.23], 2.5), on
the cut-points at x = 0 (cold, no contact), where clmm's are -1.62, 1.51, 4.23, 6.09; it pulled the upper
cut-points down by about 0.6, and temp's effect with them (2.88 against brms's 3.09 and clmm's 3.06). brms
given the same prior on the same parameters (`center = FALSE`) reproduced bayesglmm exactly, so the verbs
were right and the prior's location was wrong. bayesglmm now samples the cut-points at the means of the
fixed-effect columns (where the marginal shares describe them, as brms's `Intercept[k]` are) and reports
them at zero. In the run at 4 x 1000 draws, 14 of 15 answers agreed with brms's defaults and 14 of 15 with
bayesglmm's priors given to brms, the two misses (0.103 and 0.121 SD) on different rows: the size of the
Monte Carlo error of two fits of bulk ESS 800-1,500 (sqrt(1/ESS_1 + 1/ESS_2), about 0.05 SD per row). The
table above is the rerun at 4 x 4000 draws on both sides (`--draws 4000`, the error halved): with
bayesglmm's priors given to brms all 15 answers agree (largest 0.04 SD), so the verbs compute the same
things as brms, emmeans and performance; with brms's own defaults 11 of 15 do (temp 3.13 against 3.09;
the others 0.10-0.13 SD). Those remaining differences are the priors', not Monte Carlo error: brms's
student_t(3, 0, 2.5) on the cut-points and group SD against bayesglmm's Normal(link(marginal share), 2.5)
and HalfNormal(2.5), which on 72 ratings move the category probabilities by about a tenth of their SD.
"""


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def write_markdown(path: Path, results: dict, versions: dict, r_problem: str | None, argv: list[str],
                   when: str | None = None, rerendered: bool = False) -> None:
    import bayesglmm

    lines = ["# Answers: bayesglmm against brms, emmeans and performance", "",
             "Generated by `bash dev.sh bench answers_agreement` (`benchmarks/answers_agreement.py`, R side "
             "`benchmarks/r/answers.R`); do not edit by hand: the text between the tables is in the script.",
             f"Run {when or f'{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}'} UTC ({platform.machine()}, "
             f"{platform.system()}), command `{' '.join(['bash dev.sh bench answers_agreement'] + list(argv))}`"
             + (" (this file re-written from that run's records with `--report-only`)" if rerendered else "")
             + ("; the other models' records are merged from earlier runs of the same --json file."
                if "--models" in argv else "."), "",
             f"Versions: bayesglmm {getattr(bayesglmm, '__version__', '?')}, Python {platform.python_version()}; "
             + (", ".join(f"{v}" if k == "R" else f"{k} {v}" for k, v in versions.items()) if versions
                else f"R not run: {r_problem}"), "",
             "Both sides: 4 chains x 1000 draws after 1000 warm-up (more where a model's Fits line says so), seed 1. bayesglmm with its default priors "
             "(`bg.fit` defaults), brms with its own defaults (below: where they differ). "
             f"**diff** = (bayesglmm - R) in posterior SDs (root mean square of the two SDs; bayesglmm's SD where R "
             f"gives a point estimate); for a probability, qnorm(p_bg) - qnorm(p_R), the same unit for a normal "
             f"posterior. **ok** = |diff| <= {TOL}.", ""]
    lines += ["## Summary", "", "| model | brms priors | answers within 0.1 SD | largest abs(diff) (quantity) |",
              "|---|---|---|---|"]
    for name, res in results.items():
        for label, key in (("brms defaults", "rows"), ("bayesglmm's", "rows_matched")):
            rows = [r for r in res.get(key) or [] if "(point)" not in str(r["r_source"])]
            if rows:
                worst = max(rows, key=lambda r: abs(r["diff_sd"]))
                lines.append(f"| {name} | {label} | {sum(r['agree'] for r in rows)} of {len(rows)} | "
                             f"{abs(worst['diff_sd']):.2f} (`{worst['key']}`) |")
    lines += ["", "Counted: every posterior-to-posterior row; not counted: performance::r2_nakagawa, a plug-in "
              "point estimate, not a posterior mean (see Reading).", ""]
    for name, res in results.items():
        m = MODELS[name]
        lines += [f"## {name}: {m['describe']}", ""]
        meta_bg, meta_r = res.get("bg_meta", {}), res.get("r_meta", {})
        if meta_bg or meta_r:
            lines.append("Fits: " + "; ".join(
                f"{who} {k.replace('meta_', '').replace('brms_', '')} {fmt(v, 4)}"
                for who, meta in (("bayesglmm", meta_bg), ("brms", meta_r)) for k, v in meta.items())
                + f"; both sides 4 chains x {res.get('draws', 1000)} draws after 1000 warm-up")
            lines.append("")
        matched = "brms with bayesglmm's default priors" + (
            " (on the cut-points at the predictors' means, brms's `Intercept[k]`, as bayesglmm puts them)"
            if name == "wine" else "")
        for label, rows in (("brms default priors", res.get("rows")), (matched, res.get("rows_matched"))):
            if rows is None:
                continue
            lines += [f"**{label}**", "",
                      "| question | quantity | bayesglmm mean (SD) | R mean (SD) | R source | diff (SD) | ok |",
                      "|---|---|---|---|---|---|---|"]
            for r in rows:
                lines.append(f"| {_question(r['key'])} | `{r['key']}` | {fmt(r['bg_mean'])} ({fmt(r['bg_sd'], 3)}) | "
                             f"{fmt(r['r_mean'])} ({fmt(r['r_sd'], 3)}) | {r['r_source']} | "
                             f"{r['diff_sd']:+.3f} | {_verdict(r)} |")
            lines.append("")
        if res.get("error"):
            lines += [f"R side failed: {res['error']}", ""]
        if res.get("priors"):
            lines += ["bayesglmm's default priors (`fit.prior_summary()`):", "", "```", res["priors"], "```", ""]
        if res.get("matched_prior_lines"):
            lines += ["The same priors as given to brms for the second table:", "", "```r",
                      res["matched_prior_lines"].strip(), "```", ""]
    lines += ["## Reading", "", NOTES.strip(), ""]
    write_atomically({path: "\n".join(lines)})


def _question(key: str) -> str:
    if key.startswith("a_predictions"):
        return "(a) category probabilities, averaged over rows"
    return QUESTION[key[0]]


def _verdict(r: dict) -> str:
    if "(point)" in str(r["r_source"]):
        return "yes (plug-in)" if r["agree"] else "no (plug-in)"
    return "yes" if r["agree"] else "**no**"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--matched-priors", action="store_true")
    ap.add_argument("--r-cores", type=int, default=1)
    ap.add_argument("--draws", type=int, default=1000,
                    help="draws per chain after 1000 warm-up, both sides (more draws: less Monte Carlo error)")
    ap.add_argument("--out", default=str(HERE / "ANSWERS"), help="stem of the Markdown report")
    ap.add_argument("--report-only", action="store_true",
                    help="fit nothing: rewrite the report from the records of --json")
    ap.add_argument("--json", default="", help="also keep every record in this JSON file (merged across runs)")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; choose from {list(MODELS)}")
    if args.report_only:
        if not args.json:
            ap.error("--report-only needs --json FILE (the records of an earlier run)")
        results = json.loads(Path(args.json).read_text())
        meta = results.get("_meta", {})
        write_markdown(Path(args.out).with_suffix(".md"), {k: results[k] for k in MODELS if k in results},
                       meta.get("versions") or (r_versions() if not r_status() else {}), meta.get("r_problem"),
                       meta.get("argv", []), meta.get("when"), rerendered=True)
        print(f"wrote {Path(args.out).with_suffix('.md')} from {args.json}")
        return 0
    r_problem = r_status()
    if r_problem:
        print(f"R side skipped: {r_problem}", file=sys.stderr)
    versions = r_versions() if not r_problem else {}
    results: dict = {}
    json_path = Path(args.json) if args.json else None
    if json_path and json_path.exists():  # merge: a --models subset keeps the other models' earlier records
        try:
            results = json.loads(json_path.read_text())
        except json.JSONDecodeError:
            results = {}
    when = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}"
    results["_meta"] = dict(versions=versions, r_problem=r_problem, argv=argv, when=when)
    with tempfile.TemporaryDirectory(prefix="answers_") as tmpdir:
        tmp = Path(tmpdir)
        for name in names:
            res: dict = {}
            try:
                data = load_data(name, tmp)
            except Exception as err:  # noqa: BLE001 - R missing for the R data sets
                print(f"{name}: no data ({err})", file=sys.stderr)
                results[name] = dict(error=f"no data: {err}")
                continue
            print(f"{name}: bayesglmm fit ...", flush=True)
            bg_res, fit = bg_answers(name, data, args.draws)
            res["bg"] = bg_res
            res["bg_meta"] = {k: v["mean"] for k, v in bg_res.items() if k.startswith("meta_")}
            res["draws"] = args.draws
            try:
                with pd.option_context("display.max_colwidth", None, "display.width", 200):
                    res["priors"] = str(fit.prior_summary())
            except Exception:  # noqa: BLE001
                pass
            if r_problem:
                res["error"] = r_problem
            else:
                print(f"{name}: brms fit ...", flush=True)
                try:
                    r_res, log = run_r(name, data, tmp, args.r_cores, None, args.draws)
                    print(log.strip().splitlines()[0] if log.strip() else "", flush=True)
                    res["r"] = r_res
                    res["r_meta"] = {k: v["mean"] for k, v in r_res.items() if k.startswith("meta_")}
                    res["rows"] = compare(bg_res, r_res)
                    if args.matched_priors:
                        pfile = matched_priors(fit, name, tmp / f"{name}_priors.R")
                        res["matched_prior_lines"] = pfile.read_text()
                        r_m, _ = run_r(name, data, tmp, args.r_cores, pfile, args.draws)
                        res["r_matched"] = r_m
                        res["rows_matched"] = compare(bg_res, r_m)
                except Exception as err:  # noqa: BLE001 - reported
                    res["error"] = str(err)
                    print(err, file=sys.stderr)
            for r in res.get("rows", []):
                print(f"  {r['key']:<28} bg {fmt(r['bg_mean'])} ({fmt(r['bg_sd'], 3)})  R {fmt(r['r_mean'])} "
                      f"({fmt(r['r_sd'], 3)})  diff {r['diff_sd']:+.3f} SD  {'ok' if r['agree'] else 'NO'}")
            results[name] = res
            if json_path:
                write_atomically({json_path: json.dumps(results, indent=1, default=str)})
    write_markdown(Path(args.out).with_suffix(".md"), {k: results[k] for k in MODELS if k in results}, versions,
                   r_problem, argv, when)
    print(f"wrote {Path(args.out).with_suffix('.md')}" + (f" and {json_path}" if json_path else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
