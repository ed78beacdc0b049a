"""Evidence for each family (issue 18): one real data set per family, fitted by bayesglmm and brms (and glmmTMB).

Run (never in CI; about 1 to 3 minutes per row on 2 cores, most of it brms compiling)::

    bash dev.sh bench families                       # every row; or .venv/bin/python benchmarks/families.py
    bash dev.sh bench families --families gamma,beta  # only these rows (by row key or family); others kept
    bash dev.sh bench families --report-only         # rewrite FAMILIES.md from the JSON, fit nothing

One row per family, link and term type (``ROWS``). Each row's public data set is written by R at run
time (``benchmarks/r/families.R export``) into a temporary folder, never kept, and fitted

- by ``bg.fit`` with the package defaults (4 chains x 1000 draws after 1000 warm-up, seed 1, the
  convergence gate and retry ladder on);
- by brms with its default priors, 4 chains x 1000 draws after 1000 warm-up, ``cores=2``, seed 1
  (``benchmarks/r/families.R fit``), and by glmmTMB (maximum likelihood) where it has the family.

Recorded per row, in ``benchmarks/families_results.json`` (merged across runs, so a ``--families``
subset keeps the other rows): the fit's convergence (``fit.ok``, max R-hat, min bulk ESS,
divergences, attempts of the retry ladder); the agreement of the fixed effects,
``|mean_bg - mean_brms| / sd_bg`` (the largest over the fixed effects both report; the ordinal
cut-points are left out; pass if <= 0.3) and the same against glmmTMB's estimates (rows with an
auxiliary formula, ``dpars``, also score its coefficients: see :func:`aux_terms`); the wall time
of ``bg.fit`` (compile + sample) and of ``brm()`` (compile + sample) in the same run, and their
ratio; ``fit.prior_summary()``; the pre-fit check (the data set with one response value made
invalid must be refused by ``bg.build_model`` with a DataError naming column, value and row); which
prediction scales ``bg.predict`` gives; ``bg.icc`` (its median, or the reason it gives);
``Family.ppc_statistics()`` and the Bayesian p-value of the first (``bayesglmm.ppc.ppc_pvalues``;
censored rows: the share of times where the Kaplan-Meier curve lies in the 95% predictive band of
``bayesglmm.censoring.survival_check``); and the smallest SBC p-value of the family from
``benchmarks/sbc_results/`` (``benchmarks/sbc.py``). ``benchmarks/FAMILIES.md`` is rendered from the
JSON only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import r_probe
from bayesglmm.io import write_atomically
from bayesglmm.families import get_family

HERE = Path(__file__).resolve().parent
#: R packages the benchmark needs, and those whose versions its report records.
R_PACKAGES = ('brms', 'glmmTMB', 'lme4', 'nlme', 'MASS', 'ordinal', 'AER', 'survival')
R_VERSIONS = ('brms', 'rstan', 'glmmTMB')
R_SCRIPT = HERE / "r" / "families.R"
JSON = HERE / "families_results.json"
MD = HERE / "FAMILIES.md"
TOL = 0.3
SEED = 1

#: Data set -> what it is, and how its columns are typed on the Python side (group columns as text).
DATASETS = {
    "sleepstudy": dict(source="lme4::sleepstudy", text=["Subject"], what="reaction times, 180 rows, 18 subjects"),
    "Machines": dict(source="nlme::Machines", text=["Worker", "Machine"],
                     what="productivity scores, 54 rows, 6 workers x 3 machines"),
    "bacteria": dict(source="MASS::bacteria", text=["trt", "ID"], what="H. influenzae presence, 220 rows, 50 children"),
    "cbpp": dict(source="lme4::cbpp", text=["herd", "period"], what="CBPP incidence out of herd size, 56 rows, 15 herds"),
    "grouseticks": dict(source="lme4::grouseticks", text=["YEAR", "LOCATION"],
                        what="ticks on grouse chicks, 403 rows, 63 locations"),
    "wine": dict(source="ordinal::wine", text=["temp", "contact", "judge"],
                 what="bitterness ratings 1-5, 72 rows, 9 judges"),
    "Orthodont": dict(source="nlme::Orthodont", text=["Subject", "Sex"],
                      what="pituitary-pterygomaxillary distance (mm), 108 rows, 27 children"),
    "USAirlines": dict(source="AER::USAirlines", text=["firm"], what="airline load factor, 90 rows, 6 firms"),
    "Salamanders": dict(source="glmmTMB::Salamanders", text=["mined", "spp", "site"],
                        what="salamander counts, 644 rows, 23 sites (many zeros)"),
    "kidney": dict(source="survival::kidney", text=["sex", "id"],
                   what="time to infection (days), 76 rows, 38 patients, 18 censored; "
                        "status recoded 1 = censored (survival's 1 = event)"),
    "VerbAgg": dict(source="lme4::VerbAgg", text=["resp", "Gender", "situ", "id"],
                    what="verbal aggression no/perhaps/yes, the 8 'curse' items of respondents 1-100: 800 rows"),
}

#: Row key -> the model on both sides. ``bad``: (column, invalid value) for the pre-fit check.
#: ``dpars``: bayesglmm's auxiliary formulas (brms's ``bf(..., sigma ~ x)`` in ``brms``; glmmTMB's
#: ``tmb_disp`` = dispformula, ``tmb_zi`` = ziformula); ``aux``: our parameter -> (brms's name, sign),
#: psi = 1 - zi on the logit scale being ``-zi`` (see :func:`aux_terms`).
ROWS = {
    "gaussian": dict(family="gaussian", link="identity", term="(1|g)", data="sleepstudy",
                     formula="Reaction ~ Days + (1|Subject)", brms="Reaction ~ Days + (1|Subject)",
                     brms_family="gaussian()", tmb="Reaction ~ Days + (1|Subject)", tmb_family="gaussian()",
                     bad=("Reaction", "fast")),
    "gaussian_factor_slope": dict(family="gaussian", link="identity", term="(f|g), f a 3-level factor",
                                  data="Machines", formula="score ~ Machine + (Machine|Worker)",
                                  brms="score ~ Machine + (Machine|Worker)", brms_family="gaussian()",
                                  tmb="score ~ Machine + (Machine|Worker)", tmb_family="gaussian()",
                                  bad=("score", np.inf)),
    "gaussian_sigma": dict(family="gaussian", link="identity", term="(1|g); sigma ~ x (log)", data="sleepstudy",
                           formula="Reaction ~ Days + (1|Subject)", dpars={"sigma": "~ Days"},
                           brms="bf(Reaction ~ Days + (1|Subject), sigma ~ Days)", brms_family="gaussian()",
                           tmb="Reaction ~ Days + (1|Subject)", tmb_family="gaussian()", tmb_disp="~ Days",
                           aux={"sigma": ("sigma", 1.0)}, bad=("Reaction", "fast")),
    "student_t": dict(family="student_t", link="identity", term="(1|g)", data="sleepstudy",
                      formula="Reaction ~ Days + (1|Subject)", brms="Reaction ~ Days + (1|Subject)",
                      brms_family="student()", tmb="Reaction ~ Days + (1|Subject)", tmb_family="t_family()",
                      bad=("Reaction", "fast")),
    "bernoulli": dict(family="bernoulli", link="logit", term="(1|g)", data="bacteria",
                      formula="y ~ trt + week + (1|ID)", brms="y ~ trt + week + (1|ID)",
                      brms_family="bernoulli('logit')", tmb="y ~ trt + week + (1|ID)",
                      tmb_family="binomial('logit')", bad=("y", 2)),
    "bernoulli_probit": dict(family="bernoulli", link="probit", term="(1|g)", data="bacteria",
                             formula="y ~ trt + week + (1|ID)", brms="y ~ trt + week + (1|ID)",
                             brms_family="bernoulli('probit')", tmb="y ~ trt + week + (1|ID)",
                             tmb_family="binomial('probit')", bad=("y", 2)),
    "bernoulli_cloglog": dict(family="bernoulli", link="cloglog", term="(1|g)", data="bacteria",
                              formula="y ~ trt + week + (1|ID)", brms="y ~ trt + week + (1|ID)",
                              brms_family="bernoulli('cloglog')", tmb="y ~ trt + week + (1|ID)",
                              tmb_family="binomial('cloglog')", bad=("y", 2)),
    "binomial": dict(family="binomial", link="logit", term="(1|g)", data="cbpp",
                     formula="p(incidence, size) ~ period + (1|herd)",
                     brms="incidence | trials(size) ~ period + (1|herd)", brms_family="binomial()",
                     tmb="cbind(incidence, size - incidence) ~ period + (1|herd)", tmb_family="binomial()",
                     bad=("incidence", 99)),
    "poisson": dict(family="poisson", link="log", term="(1|g)", data="grouseticks",
                    formula="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", brms="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)",
                    brms_family="poisson()", tmb="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", tmb_family="poisson()",
                    bad=("TICKS", -1)),
    "negativebinomial": dict(family="negativebinomial", link="log", term="(1|g)", data="grouseticks",
                             formula="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)",
                             brms="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", brms_family="negbinomial()",
                             tmb="TICKS ~ YEAR + cHEIGHT + (1|LOCATION)", tmb_family="nbinom2()",
                             bad=("TICKS", 2.5)),
    "cumulative": dict(family="cumulative", link="logit", term="(1|g)", data="wine",
                       formula="rating ~ temp + contact + (1|judge)", brms="rating ~ temp + contact + (1|judge)",
                       brms_family="cumulative('logit')", bad=("rating", 2.5)),
    "sratio": dict(family="sratio", link="logit", term="(1|g)", data="wine",
                   formula="rating ~ temp + contact + (1|judge)", brms="rating ~ temp + contact + (1|judge)",
                   brms_family="sratio('logit')", bad=("rating", 2.5)),
    "gamma": dict(family="gamma", link="log", term="(1|g)", data="Orthodont",
                  formula="distance ~ age + Sex + (1|Subject)", brms="distance ~ age + Sex + (1|Subject)",
                  brms_family="Gamma(link = 'log')", tmb="distance ~ age + Sex + (1|Subject)",
                  tmb_family="Gamma(link = 'log')", bad=("distance", -2.0)),
    "lognormal": dict(family="lognormal", link="identity", term="(1|g)", data="sleepstudy",
                      formula="Reaction ~ Days + (1|Subject)", brms="Reaction ~ Days + (1|Subject)",
                      brms_family="lognormal()", tmb="log(Reaction) ~ Days + (1|Subject)", tmb_family="gaussian()",
                      bad=("Reaction", 0.0)),
    "beta": dict(family="beta", link="logit", term="(1|g)", data="USAirlines",
                 formula="load ~ year + loutput + (1|firm)", brms="load ~ year + loutput + (1|firm)",
                 brms_family="Beta()", tmb="load ~ year + loutput + (1|firm)", tmb_family="beta_family()",
                 bad=("load", 1.0)),
    "beta_binomial": dict(family="beta_binomial", link="logit", term="(1|g)", data="cbpp",
                          formula="p(incidence, size) ~ period + (1|herd)",
                          brms="incidence | vint(size) ~ period + (1|herd)", brms_family="beta_binomial2",
                          tmb="cbind(incidence, size - incidence) ~ period + (1|herd)", tmb_family="betabinomial()",
                          bad=("incidence", 99)),
    "zero_inflated_poisson": dict(family="zero_inflated_poisson", link="log", term="(1|g)", data="Salamanders",
                                  formula="count ~ mined + (1|site)", brms="count ~ mined + (1|site)",
                                  brms_family="zero_inflated_poisson()", tmb="count ~ mined + (1|site)",
                                  tmb_family="poisson()", tmb_zi="~1", bad=("count", -1)),
    "zero_inflated_poisson_psi": dict(family="zero_inflated_poisson", link="log", term="(1|g); psi ~ x (logit)",
                                      data="Salamanders", formula="count ~ spp + mined + (1|site)",
                                      dpars={"psi": "~ mined"},
                                      brms="bf(count ~ spp + mined + (1|site), zi ~ mined)",
                                      brms_family="zero_inflated_poisson()", tmb="count ~ spp + mined + (1|site)",
                                      tmb_family="poisson()", tmb_zi="~ mined", aux={"psi": ("zi", -1.0)},
                                      bad=("count", -1),
                                      remark="`mined` is a property of the site (12 unmined, 11 mined sites, "
                                             "constant within each), so `mined[yes]` and `psi_mined[yes]` rest on "
                                             "23 sites. There glmmTMB's ML estimates, at the ML site SD (0.33), "
                                             "differ from both posteriors, which average over the site SD "
                                             "(bayesglmm's posterior mean 0.45, median 0.43; checked by hand, "
                                             "not recorded by this script); "
                                             "bayesglmm and brms agree with each other on every coefficient "
                                             "(within 0.06 SD)."),
    "zero_inflated_negativebinomial": dict(family="zero_inflated_negativebinomial", link="log", term="(1|g)",
                                           data="Salamanders", formula="count ~ mined + (1|site)",
                                           brms="count ~ mined + (1|site)", brms_family="zero_inflated_negbinomial()",
                                           tmb="count ~ mined + (1|site)", tmb_family="nbinom2()", tmb_zi="~1",
                                           bad=("count", 0.5)),
    "hurdle_poisson": dict(family="hurdle_poisson", link="log", term="(1|g)", data="Salamanders",
                           formula="count ~ mined + (1|site)", brms="count ~ mined + (1|site)",
                           brms_family="hurdle_poisson()", tmb="count ~ mined + (1|site)",
                           tmb_family="truncated_poisson()", tmb_zi="~1", bad=("count", -1)),
    "hurdle_negativebinomial": dict(family="hurdle_negativebinomial", link="log", term="(1|g)", data="Salamanders",
                                    formula="count ~ mined + (1|site)", brms="count ~ mined + (1|site)",
                                    brms_family="hurdle_negbinomial()", tmb="count ~ mined + (1|site)",
                                    tmb_family="truncated_nbinom2()", tmb_zi="~1", bad=("count", -1)),
    "weibull_censored": dict(family="weibull", link="log", term="(1|g), censored(time, status)", data="kidney",
                             formula="censored(time, censored) ~ sex + (1|id)",
                             brms="time | cens(censored) ~ sex + (1|id)", brms_family="weibull()",
                             bad=("censored", 2)),
    "exponential_censored": dict(family="exponential", link="log", term="(1|g), censored(time, status)",
                                 data="kidney", formula="censored(time, censored) ~ sex + (1|id)",
                                 brms="time | cens(censored) ~ sex + (1|id)", brms_family="exponential()",
                                 bad=("time", 0.0)),
    "categorical": dict(family="categorical", link="softmax", term="(1|g), one predictor per category",
                        data="VerbAgg", formula="resp ~ Anger + Gender + situ + (1|id)",
                        brms="resp ~ Anger + Gender + situ + (1|id)", brms_family="categorical()",
                        bad=("resp", 2.5)),
}

SCALES = ("response", "link", "probability")


# ----------------------------------------------------------------------------- R
def r_status() -> str | None:
    """None when Rscript and the R packages this benchmark calls are usable, otherwise why not."""
    return r_probe.r_status(R_PACKAGES)


def r_versions() -> dict:
    """Versions of R and of the packages whose numbers the report shows."""
    return r_probe.r_versions(R_VERSIONS)


def load_data(name: str, tmp: Path) -> pd.DataFrame:
    """The data set as R wrote it, with group and factor columns as text (as R's characters).

    Examples
    --------
    >>> load_data("kidney", Path(tempfile.mkdtemp()))["censored"].isin([0, 1]).all()  # doctest: +SKIP
    True
    """
    path = tmp / f"{name}.csv"
    if not path.exists():
        subprocess.run(["Rscript", str(R_SCRIPT), "export", name, str(path)], check=True, capture_output=True)
    df = pd.read_csv(path)
    for col in DATASETS[name]["text"]:
        df[col] = df[col].astype(str)
    if name == "wine":
        df["rating"] = pd.Categorical(df["rating"].astype(int), categories=[1, 2, 3, 4, 5], ordered=True)
        df = df[["rating", "temp", "contact", "judge"]]
    return df


def run_r(row: dict, data_csv: Path, out: Path, cores: int) -> tuple[pd.DataFrame, str]:
    """brms's (and glmmTMB's) fit of one row: a table (source, term, mean, sd) and the R log.

    Examples
    --------
    >>> table, log = run_r(ROWS["gaussian"], Path("sleepstudy.csv"), Path("out.csv"), 2)  # doctest: +SKIP
    >>> set(table["source"])  # doctest: +SKIP
    {'brms', 'glmmTMB', 'meta'}
    """
    cmd = ["Rscript", str(R_SCRIPT), "fit", str(data_csv), str(out), str(SEED), str(cores), row["brms"],
           row["brms_family"], row.get("tmb", "-"), row.get("tmb_family", "-"), row.get("tmb_zi", "-"),
           row.get("tmb_disp", "-")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = (proc.stdout + proc.stderr)[-3000:]
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"Rscript failed:\n{log}")
    return pd.read_csv(out), log


# ----------------------------------------------------------------------------- bayesglmm
def r_name(term: str) -> str:
    """bayesglmm's fixed-effect name as R writes it: ``period[p2]`` -> ``periodp2``.

    Examples
    --------
    >>> r_name("Machine[B]"), r_name("Intercept")
    ('MachineB', 'Intercept')
    """
    return re.sub(r"\[([^\]]*)\]", r"\1", str(term))


#: brms's renaming of coefficient names (``brms:::rename``'s defaults, brms 2.18): ``spp[EC-A]`` -> ``sppECMA``.
BRMS_RENAME = [(" ", ""), ("(", ""), (")", ""), ("[", ""), ("]", ""), (",", ""), ('"', ""), ("'", ""), ("?", ""),
               ("+", "P"), ("-", "M"), ("*", "MU"), ("/", "D"), ("^", "E"), ("=", "EQ")]


def brms_name(term: str) -> str:
    """bayesglmm's fixed-effect name as brms writes it (without ``b_``), after ``brms:::rename``.

    Examples
    --------
    >>> brms_name("spp[EC-A]"), brms_name("psi_mined[yes]")
    ('sppECMA', 'psi_minedyes')
    """
    out = str(term)
    for old, new in BRMS_RENAME:
        out = out.replace(old, new)
    return out


def _short(err: BaseException, n: int = 400) -> str:
    return f"{type(err).__name__}: {str(err).strip()}"[:n]


def prefit_check(row: dict, data: pd.DataFrame) -> dict:
    """Make one response value invalid and see whether ``bg.build_model`` refuses it, naming the column.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "g": list("aabb")})
    >>> row = dict(formula="y ~ 1 + (1|g)", family="gamma", link="log", bad=("y", -2.0))
    >>> prefit_check(row, df)["refused"]
    True
    """
    import bayesglmm as bg
    from bayesglmm.errors import DataError

    if row.get("bad") is None:  # ordinal: any category is valid; an unordered response is the check
        col, value = "rating", None
        bad = data.copy()
        bad[col] = bad[col].astype(str).astype("category")
    else:
        col, value = row["bad"]
        bad = data.copy()
        if isinstance(bad[col].dtype, pd.CategoricalDtype):  # ordinal: numeric codes, one not whole
            bad[col] = bad[col].astype(int)
        text = not pd.api.types.is_numeric_dtype(bad[col])  # a categorical response: a number among its labels
        bad[col] = bad[col].astype(object if isinstance(value, str) or text else float)
        bad.loc[2, col] = value
    try:
        bg.build_model(row["formula"], bad, row["family"], link=row["link"], dpars=row.get("dpars"))
    except DataError as err:
        return dict(refused=True, names_column=repr(col) in str(err) or col in str(err),
                    value=repr(value), message=str(err)[:300])
    except Exception as err:  # noqa: BLE001 - recorded
        return dict(refused=False, value=repr(value), message=_short(err, 300))
    return dict(refused=False, value=repr(value), message="accepted")


def bg_side(row: dict, data: pd.DataFrame) -> tuple[dict, object]:
    """Fit one row with bayesglmm's defaults; the record (convergence, fixed effects, priors, predictions,
    ICC, PPC, times) and the fit.

    Examples
    --------
    >>> rec, fit = bg_side(ROWS["gaussian"], load_data("sleepstudy", Path(tempfile.mkdtemp())))  # doctest: +SKIP
    >>> rec["ok"]  # doctest: +SKIP
    True
    """
    import bayesglmm as bg
    from bayesglmm.censoring import survival_check
    from bayesglmm.ppc import ppc_pvalues

    out: dict = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit(row["formula"], data, row["family"], link=row["link"], seed=SEED, progressbar=False,
                     dpars=row.get("dpars"))
    out["wall_s"] = time.perf_counter() - t0
    d = fit.diagnostics
    out["ok"] = bool(fit.ok)
    out["max_rhat"] = float(d.max_rhat) if d is not None else None
    out["min_ess_bulk"] = float(d.min_ess_bulk) if d is not None else None
    out["divergences"] = int(d.divergences) if d is not None else None
    out["attempts"] = len(getattr(fit, "attempts", None) or [1])
    out["compile_s"] = (fit.settings or {}).get("compile_seconds")  # of the last attempt; a warm cache is fast
    fe = fit.fixef()
    out["fixef"] = {str(k): dict(mean=float(r["mean"]), sd=float(r["sd"])) for k, r in fe.iterrows()}
    ps = fit.prior_summary()
    out["priors"] = [{k: str(v) for k, v in rec.items()} for rec in ps.to_dict("records")]
    try:
        out["family_params"] = {str(k): dict(mean=float(r["mean"]), sd=float(r["sd"]))
                                for k, r in fit.family_params().iterrows()}
    except Exception as err:  # noqa: BLE001
        out["family_params"] = {"error": _short(err)}
    preds = {}
    for scale in SCALES:
        try:
            p = bg.predict(fit, scale=scale)
            preds[scale] = dict(ok=True, rows=int(len(p)))
        except Exception as err:  # noqa: BLE001 - the reason is the record
            preds[scale] = dict(ok=False, reason=_short(err, 300))
    out["predictions"] = preds
    try:
        ic = bg.icc(fit)
        out["icc"] = dict(defined=True, median={str(k): float(v) for k, v in ic["median"].items()})
    except Exception as err:  # noqa: BLE001
        out["icc"] = dict(defined=False, reason=_short(err, 400))
    stats = list(fit.spec.family.ppc_statistics())
    try:
        if "censored(" in row["formula"]:
            sc = survival_check(fit, seed=SEED)
            out["ppc"] = dict(statistics=["Kaplan-Meier curve"], check="survival_check",
                              inside_band=float(1 - sc["outside"].mean()))
        else:
            pv = ppc_pvalues(fit, draws=1000, seed=SEED)
            table = pv.reset_index()
            first = table.iloc[0].to_dict()
            out["ppc"] = dict(statistics=stats, check="ppc_pvalues",
                              table=[{k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in r.items()}
                                     for r in table.to_dict("records")],
                              first=str(first.get("statistic", first.get("index", stats[0]))),
                              first_p=float(first.get("p_value", np.nan)))
    except Exception as err:  # noqa: BLE001
        out["ppc"] = dict(statistics=stats, error=_short(err, 300))
    return out, fit


# ----------------------------------------------------------------------------- comparison
def categorical_r_name(term: str, categories) -> str:
    """A categorical model's coefficient as brms names it: ``Gender[yes, M]`` -> ``muyes_GenderM``.

    Examples
    --------
    >>> categorical_r_name("Anger[perhaps]", ["perhaps", "yes"]), categorical_r_name("Gender[yes, M]", ["yes"])
    ('muperhaps_Anger', 'muyes_GenderM')
    """
    base, inside = str(term)[:-1].split("[", 1)
    parts = [p.strip() for p in inside.split(",")]
    category = next(p for p in parts if p in categories)
    rest = [p for p in parts if p != category]
    return f"mu{re.sub(r'[^A-Za-z0-9.]', '', category)}_{base}{''.join(rest)}"


def agreement(bg_fixef: dict, r: pd.DataFrame, source: str, ordinal: bool, categories=None) -> dict:
    """Largest ``|mean_bg - mean_R| / sd_bg`` over the fixed effects both report.

    ``categories``: the non-reference categories of a categorical model, whose coefficients
    brms names ``mu{category}_{term}`` (:func:`categorical_r_name`).

    Examples
    --------
    >>> r = pd.DataFrame({"source": ["brms"], "term": ["b_Days"], "mean": [10.5], "sd": [0.8]})
    >>> a = agreement({"Days": {"mean": 10.4, "sd": 1.0}}, r, "brms", ordinal=False)
    >>> round(a["max_diff_sd"], 2), a["agree"]
    (0.1, True)
    """
    sub = r[r["source"] == source]
    theirs = {}
    for rec in sub.itertuples():
        name = str(rec.term)
        if source == "brms":
            if not name.startswith("b_"):
                continue
            name = name[2:]
        name = "Intercept" if name == "(Intercept)" else name
        theirs[name] = (float(rec.mean), float(rec.sd))
    diffs = {}
    for term, b in bg_fixef.items():
        name = (categorical_r_name(term, categories) if categories is not None
                else brms_name(term) if source == "brms" else r_name(term))
        if ordinal and name.startswith("Intercept"):
            continue
        if name in theirs and b["sd"] > 0:
            diffs[term] = dict(bg=b["mean"], bg_sd=b["sd"], other=theirs[name][0], other_sd=theirs[name][1],
                               diff_sd=abs(b["mean"] - theirs[name][0]) / b["sd"])
    if not diffs:
        return dict(compared=0, error=f"no common fixed effects ({sorted(theirs)} vs {sorted(bg_fixef)})")
    worst = max(diffs, key=lambda k: diffs[k]["diff_sd"])
    return dict(compared=len(diffs), max_diff_sd=diffs[worst]["diff_sd"], worst=worst,
                agree=diffs[worst]["diff_sd"] <= TOL, terms=diffs)


def aux_terms(row: dict, bg_rec: dict, r: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """The coefficients to score for a row with auxiliary formulas (``dpars``), on bayesglmm's scales.

    bayesglmm's side: the fixed effects of the mean plus the auxiliary coefficients of
    ``fit.family_params()`` (``sigma_Days``, ``psi_mined[yes]``). R's side, renamed to ours: brms's
    ``b_<brms name>_<term>`` times the row's sign (brms's ``zi`` = 1 - psi, so on the logit scale
    ``psi`` coefficients are the negatives of ``zi``'s); glmmTMB's ``zi_<term>`` negated, and its
    ``disp_<term>`` halved (estimate and SE) where the installed glmmTMB models log(sigma^2)
    (meta ``disp_is_log_variance``; glmmTMB 1.1.5 does), to give log(sigma).

    Examples
    --------
    >>> r = pd.DataFrame({"source": ["brms", "glmmTMB", "meta"], "term": ["b_zi_minedyes", "zi_minedyes", "x"],
    ...                   "mean": [-1.8, -1.9, 0.0], "sd": [0.3, 0.3, None]})
    >>> rec = {"fixef": {}, "family_params": {"psi_mined[yes]": {"mean": 1.8, "sd": 0.3}}}
    >>> ours, rr = aux_terms(ROWS["zero_inflated_poisson_psi"], rec, r)
    >>> list(ours), rr["term"].tolist(), rr["mean"].tolist()
    (['psi_mined[yes]'], ['b_psi_minedyes', 'psi_minedyes', 'x'], [1.8, 1.9, 0.0])
    """
    ours = dict(bg_rec["fixef"])
    aux = row.get("aux") or {}
    fp = bg_rec.get("family_params", {})
    ours.update({k: v for k, v in fp.items() if any(k.startswith(f"{d}_") for d in aux)})
    r = r.copy()
    meta = dict(zip(r.loc[r["source"] == "meta", "term"], r.loc[r["source"] == "meta", "mean"]))
    half = 0.5 if meta.get("disp_is_log_variance") == 1 else 1.0
    for ours_name, (brms_name, sign) in aux.items():
        tmb_prefix, tmb_sign, tmb_scale = ("zi_", -1.0, 1.0) if ours_name == "psi" else ("disp_", 1.0, half)
        for i in r.index:
            src, term = r.at[i, "source"], str(r.at[i, "term"])
            if src == "brms" and term.startswith(f"b_{brms_name}_"):
                r.at[i, "term"] = f"b_{ours_name}_" + term[len(f"b_{brms_name}_"):]
                r.at[i, "mean"] = sign * r.at[i, "mean"]
            elif src == "glmmTMB" and term.startswith(tmb_prefix):
                rest = term[len(tmb_prefix):].replace("(Intercept)", "Intercept")
                r.at[i, "term"] = f"{ours_name}_{rest}"
                r.at[i, "mean"] = tmb_sign * tmb_scale * r.at[i, "mean"]
                r.at[i, "sd"] = tmb_scale * r.at[i, "sd"]
    return ours, r


def sbc_summary(family: str) -> dict:
    """Smallest SBC p-value of a row over its parameters, from benchmarks/sbc_results/.

    ``family`` is the row's key: a family with another link or term type (``bernoulli_probit``,
    ``gaussian_factor_slope``) has its own SBC run (``benchmarks/sbc.py --families <key>``), never
    the family's default-link result.

    Examples
    --------
    >>> sbc_summary("no_such_family")
    {'run': False}
    """
    folder = HERE / "sbc_results"
    paths = sorted(folder.glob(f"{family}.json")) + sorted(folder.glob(f"{family}_tune*.json"))
    if not paths:
        return dict(run=False)
    recs = []
    for p in paths:
        r = json.loads(p.read_text())
        tests = r["tests"]
        worst = min(tests, key=lambda t: t["p_value"])
        recs.append(dict(file=p.name, sims=r["sims"], tune=r["settings"]["tune"], min_p=worst["p_value"],
                         parameter=worst["parameter"], rejected=[t["parameter"] for t in tests if t["rejected"]],
                         priors=r.get("priors", "default")))
    return dict(run=True, results=recs)


# ----------------------------------------------------------------------------- report
def fmt(x, digits=2) -> str:
    """A number with ``digits`` decimals; ``-`` for None and non-finite values.

    Examples
    --------
    >>> fmt(1.2345), fmt(None)
    ('1.23', '-')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _prior_cell(res: dict, family: str) -> str:
    from bayesglmm.families import get_family

    fam = get_family(family)
    own_names = set(fam.aux_parameters) | set(fam.intercept_parameters)
    own = [p for p in res["bg"]["priors"] if p.get("term", "") in own_names
           or any(p.get("term", "").startswith(f"{d}_") for d in fam.dpar_links)]  # sigma_Intercept, psi_x
    base = "autoscaled" if all(p.get("source") == "default" for p in res["bg"]["priors"]) else "user's"
    if own:
        base += "; " + "; ".join(f"`{p['term']}` {p['prior']}" for p in own)
    return base


def _pred_cell(res: dict) -> str:
    preds = res["bg"]["predictions"]
    ok = [s for s in SCALES if preds[s]["ok"]]
    text = ", ".join(ok)
    if not preds["probability"]["ok"]:
        text += " (probability: ordinal only)"
    return text


def _icc_cell(res: dict) -> str:
    ic = res["bg"]["icc"]
    if ic["defined"]:
        return "yes: " + ", ".join(f"{g} {v:.2f}" for g, v in ic["median"].items())
    reason = ic["reason"].split(": ", 2)[-1]
    return "not defined: " + reason.split(". ")[0]


def _ppc_cell(res: dict) -> str:
    ppc = res["bg"]["ppc"]
    if "error" in ppc:
        return f"{', '.join(ppc['statistics'])} (error: {ppc['error'][:80]})"
    if ppc["check"] == "survival_check":
        return f"Kaplan-Meier vs predictive survival: KM inside the 95% band at {ppc['inside_band']:.0%} of times"
    checked = ", ".join(f"{r['statistic']} {r['p_value']:.2f}" for r in ppc["table"])
    return f"`ppc_statistics()` {', '.join(ppc['statistics'])}; p-values: {checked}"


def _sbc_cell(family: str, sbc: dict) -> str:
    if not sbc.get("run"):
        return "not run (see SBC.md)"
    parts = []
    for r in sbc["results"]:
        note = "" if r["priors"] == "default" else f", {r['priors']} priors"
        parts.append(f"{r['min_p']:.3f} ({r['parameter']}; {r['sims']} sims, warm-up {r['tune']}{note})"
                     + (" **rejected**" if r["rejected"] else ""))
    return "; ".join(parts)


def _agree_cell(res: dict) -> str:
    parts = []
    for side in ("brms", "glmmTMB"):
        a = res.get(f"agree_{side}")
        if a is None:
            parts.append(f"{side}: {res.get(f'no_{side}', 'not run')}")
        elif a.get("compared"):
            parts.append(f"{side} {a['max_diff_sd']:.2f} SD ({'yes' if a['agree'] else '**no**'}, "
                         f"worst `{a['worst']}`)")
        else:
            parts.append(f"{side}: {a.get('error', '?')}")
    return "; ".join(parts)


def _time_cell(res: dict) -> str:
    b = res["bg"]["wall_s"]
    c = res["bg"].get("compile_s")
    r = res.get("r_meta", {}).get("brms_wall_s")
    if r is None:
        return f"{b:.0f} s (brms not run)"
    return f"{b:.0f} s vs {r:.0f} s ({b / r:.2f}x)" + (f"; bayesglmm compile {c:.0f} s" if c is not None else "")


def _fits_cell(res: dict) -> str:
    g = res["bg"]
    text = "yes" if g["ok"] else "**not converged**"
    text += f" (R-hat {fmt(g['max_rhat'], 3)}, ESS {fmt(g['min_ess_bulk'], 0)}, {g['divergences']} div."
    if g["attempts"] > 1:
        text += f", {g['attempts']} attempts"
    return text + ")"


def _check_cell(res: dict) -> str:
    c = res["prefit"]
    if c["refused"]:
        return f"yes: {c['value']} refused" + (", names column" if c.get("names_column") else "")
    return f"**no**: {c['value']} {c['message'][:80]}"


def write_markdown(results: dict, meta: dict) -> None:
    """Write benchmarks/FAMILIES.md from the JSON records (and benchmarks/families_notes.md, appended).

    Examples
    --------
    >>> write_markdown(json.loads(JSON.read_text()), {})  # doctest: +SKIP
    """
    lines = ["# Evidence for each family", "",
             f"Generated by `bash dev.sh bench families` (`benchmarks/families.py`, see its docstring) on "
             f"{meta.get('when', '?')} UTC, from `benchmarks/families_results.json`; every cell below is read from "
             "that file. Machine: " + meta.get("machine", "?") + ". " +
             ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()) + ".", "",
             "bayesglmm: `bg.fit` defaults (4 chains x 1000 draws after 1000 warm-up, seed 1). brms: default priors, "
             "4 chains x 1000 draws after 1000 warm-up, 2 cores, seed 1. glmmTMB: maximum likelihood. "
             f"Agreement: the largest `|mean_bg - mean_other| / sd_bg` over the fixed effects (ordinal cut-points "
             f"left out; rows with an auxiliary formula, `gaussian_sigma` and `zero_inflated_poisson_psi`, also "
             f"score its coefficients, on its link scale: see their sections), pass if <= {TOL}. Time: wall of `bg.fit` (compile + sample) vs wall of `brm()` "
             "(compile + sample) in the same run, sharing 2 cores with other jobs, so noisy.", "",
             "| row | family | link | term type | fits | default priors | pre-fit check | predictions (scales) | ICC | "
             "PPC | SBC p-value (min over parameters) | real data set | agreement with brms / glmmTMB | "
             "time: bayesglmm vs brms |",
             "|" + "---|" * 14]
    for key, row in ROWS.items():
        res = results.get(key)
        if not res or "bg" not in res:
            why = (res or {}).get("error", "not run yet")
            lines.append(f"| {key} | {row['family']} | {row['link']} | {row['term']} | **not run**: "
                         f"{_cell(why[:150])} |" + " - |" * 9)
            continue
        ds = DATASETS[row["data"]]
        lines.append("| " + " | ".join(_cell(c) for c in (
            key, row["family"], row["link"], row["term"], _fits_cell(res), _prior_cell(res, row["family"]),
            _check_cell(res),
            _pred_cell(res), _icc_cell(res), _ppc_cell(res), _sbc_cell(row["family"], res.get("sbc", {})),
            f"{ds['source']}: `{row['formula']}`", _agree_cell(res), _time_cell(res))) + " |")
    lines += ["", "## Details per row", ""]
    for key, row in ROWS.items():
        res = results.get(key)
        if not res or "bg" not in res:
            continue
        ds = DATASETS[row["data"]]
        lines += [f"### {key}", "", f"Data: {ds['source']} ({ds['what']}). bayesglmm `{row['formula']}`"
                  + (f", `dpars={row['dpars']}`" if row.get("dpars") else "") + "; brms "
                  f"`{row['brms']}`, `{row['brms_family']}`" +
                  (f"; glmmTMB `{row['tmb']}`, `{row['tmb_family']}`" + (f", ziformula `{row['tmb_zi']}`"
                                                                         if row.get("tmb_zi") else "")
                                                    + (f", dispformula `{row['tmb_disp']}`"
                                                       if row.get("tmb_disp") else "")
                   if row.get("tmb") else "; glmmTMB: " + res.get("no_glmmTMB", "-")) + ".", ""]
        a = res.get("agree_brms", {})
        t = res.get("agree_glmmTMB", {}) or {}
        if a.get("terms"):
            lines += ["| fixed effect | bayesglmm mean (SD) | brms mean (SD) | diff / SD_bg | glmmTMB est. (SE) | "
                      "diff / SD_bg |", "|---|---|---|---|---|---|"]
            for term, d in a["terms"].items():
                tt = (t.get("terms") or {}).get(term)
                lines.append(f"| `{term}` | {d['bg']:.4g} ({d['bg_sd']:.3g}) | {d['other']:.4g} ({d['other_sd']:.3g}) "
                             f"| {d['diff_sd']:.2f} | " + (f"{tt['other']:.4g} ({tt['other_sd']:.3g}) | "
                                                         f"{tt['diff_sd']:.2f} |" if tt else "- | - |"))
            lines.append("")
        rm = res.get("r_meta", {})
        if rm:
            lines.append(f"brms: {fmt(rm.get('brms_wall_s'), 0)} s wall (sampling {fmt(rm.get('brms_sampling_s'), 0)} s "
                         f"summed over chains), max R-hat {fmt(rm.get('brms_max_rhat'), 3)}, min bulk ESS "
                         f"{fmt(rm.get('brms_min_ess_bulk'), 0)}, {fmt(rm.get('brms_divergences'), 0)} divergences."
                         + (f" glmmTMB {fmt(rm.get('glmmTMB_wall_s'), 1)} s, Hessian positive definite: "
                            f"{'yes' if rm.get('glmmTMB_converged') == 1 else 'no'}." if 'glmmTMB_wall_s' in rm else ""))
            lines.append("")
        fp = res["bg"].get("family_params", {})
        if fp and "error" not in fp:
            lines.append("bayesglmm family parameters: " + ", ".join(f"`{k}` {v['mean']:.3g} ({v['sd']:.2g})"
                                                                 for k, v in fp.items()) + ".")
            rfam = {k: v for k, v in res.get("r_family", {}).items()}
            if rfam:
                lines.append(" brms: " + ", ".join(f"`{k}` {v['mean']:.3g} ({v['sd']:.2g})" for k, v in rfam.items())
                             + ".")
            lines.append("")
        lines += ["Default priors (`fit.prior_summary()`): " + "; ".join(f"`{p['term']}` {p['prior']}"
                                                                        for p in res["bg"]["priors"]) + ".", ""]
        lines += [f"Pre-fit check ({res['prefit']['value']} put in row index 2): {_cell(res['prefit']['message'])}", ""]
        if not res["bg"]["icc"]["defined"]:
            lines += [f"ICC: {_cell(res['bg']['icc']['reason'])}", ""]
        if res.get("note"):
            lines += [res["note"], ""]
        if row.get("remark"):
            lines += [row["remark"], ""]
    notes = HERE / "families_notes.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    write_atomically({MD: "\n".join(lines)})


README = HERE.parent / "README.md"
README_START = "<!-- families table: written by benchmarks/families.py, do not edit by hand -->"
README_END = "<!-- end of families table -->"


def _short_prior(res: dict, family: str) -> str:
    from bayesglmm.families import get_family

    fam = get_family(family)
    own = [p for p in res["bg"]["priors"] if p.get("term", "") in set(fam.aux_parameters)
           or any(p.get("term", "").startswith(f"{d}_") for d in fam.dpar_links)]
    text = "autoscaled"
    for p in own:
        prior = re.sub(r"(nu|sigma|beta|alpha|mu)=", "", p["prior"])
        text += f"; {p['term']} {prior}"
    return text


def readme_table(results: dict) -> str:
    """The README's short table: one row per family, link and term type, every column from the JSON.

    Examples
    --------
    >>> readme_table({}).splitlines()[0].startswith("| family")
    True
    """
    lines = ["| family (link, terms) | fits | default priors | pre-fit check | predictions | ICC | PPC statistics | "
             "SBC min p | real data set | brms / glmmTMB: max diff (post. SD) | time: ours / brms |",
             "|" + "---|" * 11]
    for key, row in ROWS.items():
        res = results.get(key)
        name = f"{row['family']} ({row['link']}, {row['term']})"
        if not res or "bg" not in res:
            lines.append(f"| {_cell(name)} | not run: {_cell((res or {}).get('error', 'not run yet')[:80])} |"
                         + " - |" * 9)
            continue
        g = res["bg"]
        fits = "yes" if g["ok"] else "no (not converged)"
        check = f"yes ({res['prefit']['value']} refused)" if res["prefit"]["refused"] else "no"
        preds = ", ".join(s for s in SCALES if g["predictions"][s]["ok"])
        icc = (", ".join(f"{v:.2f}" for v in g["icc"]["median"].values()) if g["icc"]["defined"]
               else "not defined (see FAMILIES.md)")
        ppc = ("Kaplan-Meier band" if g["ppc"].get("check") == "survival_check" else ", ".join(g["ppc"]["statistics"]))
        sbc = res.get("sbc", {})
        sbc_text = ("; ".join(f"{r['min_p']:.3f}" + (f" (rejected, warm-up {r['tune']})" if r["rejected"] else
                                                      (f" (warm-up {r['tune']})" if len(sbc["results"]) > 1 else ""))
                              for r in sbc["results"])
                    if sbc.get("run") else "not run")
        agree = []
        for side in ("brms", "glmmTMB"):
            a = res.get(f"agree_{side}")
            agree.append(f"{a['max_diff_sd']:.2f}" + ("" if a["agree"] else " (no)") if a and a.get("compared")
                         else "-")
        rw = res.get("r_meta", {}).get("brms_wall_s")
        time_text = f"{g['wall_s']:.0f} s / {rw:.0f} s" if rw is not None else f"{g['wall_s']:.0f} s / -"
        lines.append("| " + " | ".join(_cell(c) for c in (
            name, fits, _short_prior(res, row["family"]), check, preds, icc, ppc, sbc_text,
            DATASETS[row["data"]]["source"], " / ".join(agree), time_text)) + " |")
    return "\n".join(lines)


def update_readme(results: dict) -> bool:
    """Replace the table between the README's families markers; False when the markers are missing.

    Examples
    --------
    >>> update_readme(json.loads(JSON.read_text()))  # doctest: +SKIP
    True
    """
    text = README.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    write_atomically({README: head + README_START + "\n" + readme_table(results) + "\n" + README_END + tail})
    return True


# ----------------------------------------------------------------------------- main
def run_row(key: str, tmp: Path, r_problem: str | None, cores: int) -> dict:
    """Everything recorded for one row of ``ROWS``: the pre-fit check, bayesglmm's fit, brms's and glmmTMB's.

    Examples
    --------
    >>> run_row("gamma", Path(tempfile.mkdtemp()), None, 2)["agree_brms"]["agree"]  # doctest: +SKIP
    True
    """
    row = ROWS[key]
    res: dict = {}
    data = load_data(row["data"], tmp)
    res["n_rows"] = int(len(data))
    res["prefit"] = prefit_check(row, data)
    print(f"{key}: bayesglmm fit ...", flush=True)
    res["bg"], _ = bg_side(row, data)
    g = res["bg"]
    print(f"  bayesglmm {g['wall_s']:.0f} s, ok {g['ok']}, R-hat {fmt(g['max_rhat'], 3)}", flush=True)
    res["sbc"] = sbc_summary(key)
    if r_problem:
        res["no_brms"] = res["no_glmmTMB"] = r_problem
        return res
    print(f"{key}: brms fit ...", flush=True)
    csv = tmp / f"{key}_data.csv"
    out = tmp / f"{key}_r.csv"
    (data.assign(rating=data["rating"].astype(int)) if row["data"] == "wine" else data).to_csv(csv, index=False)
    try:
        r, log = run_r(row, csv, out, cores)
    except Exception as err:  # noqa: BLE001 - recorded
        res["no_brms"] = res["no_glmmTMB"] = str(err)[-600:]
        print(err, file=sys.stderr)
        return res
    print("  " + (log.strip().splitlines()[0] if log.strip() else ""), flush=True)
    meta = r[r["source"] == "meta"]
    res["r_meta"] = {m.term: float(m.mean) for m in meta.itertuples()}
    res["r_family"] = {m.term: dict(mean=float(m.mean), sd=float(m.sd)) for m in r[r["source"] == "brms"].itertuples()
                       if m.term in ("sigma", "shape", "phi", "nu", "zi", "hu")}
    ordinal = get_family(row["family"]).response == "ordinal"
    categories = None
    if get_family(row["family"]).per_category_predictor:  # brms: mu{category}_{term}
        categories = sorted(data[row["formula"].split("~")[0].strip()].astype(str).unique())[1:]
    ours = g["fixef"]
    if row.get("aux"):  # the mean's fixed effects and the auxiliary formula's coefficients
        ours, r = aux_terms(row, g, r)
        scored = ", ".join(f"`{k}`" for k in ours)
        res["note"] = (f"Agreement scored on the mean's fixed effects and the auxiliary coefficients: {scored} "
                       f"(brms: {', '.join(f'{b} x {s:+.0f}' for b, s in row['aux'].values())}; glmmTMB: "
                       + ("ziformula coefficients negated, psi = 1 - zi" if "psi" in row["aux"] else
                          "dispformula coefficients" + (" halved (this glmmTMB's gaussian dispersion model is "
                                                        "log(sigma^2))" if res["r_meta"].get("disp_is_log_variance")
                                                       == 1 else " (log sigma)")) + ").")
    res["agree_brms"] = agreement(ours, r, "brms", ordinal, categories)
    if row.get("tmb"):
        if (r["source"] == "glmmTMB").any():
            res["agree_glmmTMB"] = agreement(ours, r, "glmmTMB", ordinal)
        else:
            res["no_glmmTMB"] = "glmmTMB failed: " + log[-300:]
    else:
        res["no_glmmTMB"] = ("no censored Weibull/exponential likelihood" if "censored" in row["formula"]
                             else f"no {row['family']} (multinomial) family" if categories is not None
                             else f"no {row['family']} (ordinal) family")
    a = res["agree_brms"]
    if a.get("compared"):
        print(f"  brms agreement {a['max_diff_sd']:.2f} SD (worst {a['worst']}); time bg {g['wall_s']:.0f} s vs "
              f"brms {res['r_meta'].get('brms_wall_s', float('nan')):.0f} s", flush=True)
    return res


def main(argv=None) -> int:
    """The command line (see the module docstring).

    Examples
    --------
    >>> main(["--report-only"])  # doctest: +SKIP
    0
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default="", help="comma-separated row keys or family names (default: all rows)")
    ap.add_argument("--r-cores", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="fit nothing: rewrite FAMILIES.md from the JSON")
    ap.add_argument("--no-r", action="store_true", help="skip brms and glmmTMB")
    args = ap.parse_args(argv)
    results = json.loads(JSON.read_text()) if JSON.exists() else {}
    if args.families:
        wanted = [w.strip() for w in args.families.split(",") if w.strip()]
        keys = [k for w in wanted for k in ROWS if k == w or (ROWS[k]["family"] == w and w not in ROWS)]
        keys = list(dict.fromkeys(keys))  # in the order asked for
        unknown = [w for w in wanted if w not in ROWS and w not in {r["family"] for r in ROWS.values()}]
        if unknown:
            ap.error(f"unknown rows/families {unknown}; rows: {', '.join(ROWS)}")
    else:
        keys = list(ROWS)
    if not args.report_only:
        r_problem = "skipped (--no-r)" if args.no_r else r_status()
        meta = results.get("_meta", {})
        if not r_problem:
            meta["versions"] = r_versions()
        import bambi
        import pymc

        import bayesglmm
        meta["versions"] = {"bayesglmm": getattr(bayesglmm, "__version__", "?"), "bambi": bambi.__version__,
                            "pymc": pymc.__version__, **{k: v for k, v in meta.get("versions", {}).items()
                                                         if k not in ("bayesglmm", "bambi", "pymc")}}
        meta["when"] = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}"
        meta["machine"] = f"{platform.machine()}, 2 cores shared with other jobs"
        results["_meta"] = meta
        with tempfile.TemporaryDirectory(prefix="families_") as tmpdir:
            for key in keys:
                try:
                    res = run_row(key, Path(tmpdir), r_problem, args.r_cores)
                except Exception as err:  # noqa: BLE001 - recorded, the other rows go on
                    traceback.print_exc()
                    res = dict(error=_short(err, 600))
                res["when"] = meta["when"]
                results[key] = res
                write_atomically({JSON: json.dumps(results, indent=1, default=str)})
    for key in results:  # SBC results may have come after the fits
        if key in ROWS and "bg" in results[key]:
            results[key]["sbc"] = sbc_summary(key)
    write_atomically({JSON: json.dumps(results, indent=1, default=str)})
    write_markdown(results, results.get("_meta", {}))
    print(f"wrote {MD} and {JSON}" + (" and the README's families table" if update_readme(results) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
