"""The blog post's blood-pressure example: a Gaussian mixed model of patients within hospitals.

The blog ("Understanding Generalized Linear Mixed Models (GLMMs)", medical example)
simulates 500 blood-pressure readings: 100 patients (10 per hospital) in 10 hospitals,
each measured at times 1..5, with

    bp = 120 + 0.5 * time + hospital effect (SD 2) + patient effect (SD 1) + noise (SD 5)

and fits ``lmer(bp ~ time + (1 | hospital_id) + (1 | patient_id))``, then plots observed
against predicted blood pressure. The blog prints no estimates, so the reference here is
the simulation's truth (``df.attrs["truth"]`` of :func:`bayesglmm.datasets.simulate_bloodpressure`,
numpy's stream with seed 123: the same distribution as the blog's, not the same numbers).

Patient ids run 1..100 across hospitals (patients 1-10 in hospital 1, ...), so each id
names one patient and ``(1|hospital_id) + (1|patient_id)`` is the nested model (lme4 and
Bambi would need ``(1|hospital_id/patient_id)`` if ids restarted at 1 in every hospital);
:func:`nesting` checks this and :func:`model_formula` writes the formula accordingly.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``time`` (median, lower, upper of the time effect, 95%), ``time_90`` (90% interval),
``sd`` and ``sd_90`` (parameter name -> (median, lower, upper) of the hospital, patient and
residual SDs, 95% and 90%), ``truth`` (the simulation's parameters), ``icc`` (name ->
(median, lower, upper)) and ``rmse`` (root mean squared difference between observed and
conditional predicted bp).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm import datasets
from bayesglmm.checks import ppc_pvalues
from bayesglmm.course import Analysis, interval_text, posterior_figure
from bayesglmm.course.framework import runner, step
from bayesglmm.plots import plot_ppc, plot_ranef_qq
from bayesglmm.report import Report
from bayesglmm.summary import interval_bounds

DESCRIPTION = "The blog's medical example: blood pressure over time, patients nested in hospitals (simulated)"
TITLE = "Blood pressure of patients within hospitals (the blog's GLMM example): a Bayesian mixed model"
SIM_SEED = datasets.BLOODPRESSURE_SEED
EXAMPLE_START = "start(quick=True)"  # the example of every step opens the analysis with this module's start()
SD_NAMES = {"1|hospital_id_sigma": "hospital SD", "1|patient_id_sigma": "patient SD", "sigma": "residual SD"}


def nesting(data: pd.DataFrame, inner: str = "patient_id", outer: str = "hospital_id") -> dict:
    """How the inner grouping factor sits in the outer one.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    inner, outer : str
        Columns of the inner (patients) and outer (hospitals) grouping factors.

    Returns
    -------
    dict
        ``nested`` (every inner level lies in a single outer level), ``unique_ids`` (the
        inner labels are unique across outer levels, i.e. no label is reused in two outer
        levels), ``n_inner``, ``n_outer`` and ``per_outer`` (inner levels per outer level,
        a list).

    Examples
    --------
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b"], "p": ["1", "2", "1", "2"]})
    >>> nesting(df, "p", "h")["unique_ids"]
    False
    >>> nesting(datasets.simulate_bloodpressure())["unique_ids"]
    True
    """
    outers_per_inner = data.groupby(inner, observed=True)[outer].nunique()
    unique_ids = bool((outers_per_inner == 1).all())
    per_outer = data.groupby(outer, observed=True)[inner].nunique()
    return {"nested": unique_ids, "unique_ids": unique_ids, "n_inner": int(data[inner].nunique()),
            "n_outer": int(data[outer].nunique()), "per_outer": per_outer.tolist()}


def model_formula(data: pd.DataFrame) -> str:
    """The blog's model, written for the way the patient ids are coded.

    With ids unique across hospitals (as in the blog's simulation) ``(1|hospital_id) +
    (1|patient_id)`` already gives one effect per patient, nested in its hospital; when
    ids restart in each hospital, ``(1|hospital_id/patient_id)`` is needed so that patient
    "1" of hospital 1 and patient "1" of hospital 2 are different patients.

    Examples
    --------
    >>> model_formula(datasets.simulate_bloodpressure())
    'bp ~ time + (1|hospital_id) + (1|patient_id)'
    >>> df = pd.DataFrame({"hospital_id": ["a", "a", "b", "b"], "patient_id": ["1", "2", "1", "2"]})
    >>> model_formula(df)
    'bp ~ time + (1|hospital_id/patient_id)'
    """
    if nesting(data)["unique_ids"]:
        return "bp ~ time + (1|hospital_id) + (1|patient_id)"
    return "bp ~ time + (1|hospital_id/patient_id)"


def start(*, seed: int = 1, quick: bool = False, sim_seed: int = SIM_SEED) -> Analysis:
    """Simulate the blog's data and open the analysis (a simulated set has no data file).

    Parameters
    ----------
    seed : int
        Seed of every fit.
    quick : bool
        Small fits (4 chains x 300 draws after 300 warm-up) for tests.
    sim_seed : int
        Seed of the simulation (:func:`bayesglmm.datasets.simulate_bloodpressure`).

    Returns
    -------
    Analysis
        Its ``data_file`` names the simulation and ``data_sha256`` is the SHA-256 of the
        simulated table written as CSV (a fingerprint of the data the fits saw).

    Examples
    --------
    >>> a = start(quick=True)
    >>> a.data.shape, a.data.attrs["truth"]["time"]
    ((500, 4), 0.5)
    """
    data = datasets.load("bloodpressure", seed=sim_seed)
    sha = hashlib.sha256(data.to_csv(index=False).encode()).hexdigest()
    source = Path(f"simulated: bayesglmm.datasets.simulate_bloodpressure(seed={sim_seed})")
    return Analysis("bloodpressure", data, Report(TITLE), int(seed), bool(quick), source, sha)


@step(check=('list(a.answers)', "['1. The data']"))
def step_describe(a: Analysis) -> None:
    """1. The simulated data: patients nested in hospitals, bp over time."""
    data = a.data
    truth = data.attrs["truth"]
    a.report.text("R's set.seed(123) stream cannot be reproduced with numpy, so the draws differ from the blog's; "
                  "the design and the true parameters are the same.")
    a.report.table(data.head(8), "The first 8 of 500 rows")
    a.report.table(pd.DataFrame({"true value": truth}), "The simulation's parameters (what a good fit recovers)")
    nest = nesting(data)
    a.values["nesting"] = nest
    coding = ("patient ids are unique across hospitals (patients 1-10 are in hospital 1, 11-20 in hospital 2, ...), "
              "so (1|hospital_id) + (1|patient_id) gives every patient its own effect within its hospital: the "
              "nested model. Were ids reused in every hospital, (1|hospital_id/patient_id) would be needed."
              if nest["unique_ids"] else
              "patient ids are reused across hospitals, so the model needs (1|hospital_id/patient_id).")
    a.report.text(f"Nesting: {nest['n_inner']} patients in {nest['n_outer']} hospitals "
                  f"({min(nest['per_outer'])}-{max(nest['per_outer'])} per hospital); {coding}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _patient_lines(ax, data, "bp")
    ax.set_title("Observed blood pressure, one line per patient, coloured by hospital", fontsize=10)
    a.report.figure(fig, "Blood pressure over time per patient (the blog's plot without the predictions)")
    by_time = data.groupby("time")["bp"].agg(["mean", "std"])
    a.report.table(by_time, "Mean and SD of bp at each time")
    a.answer("1. The data", f"{len(data)} readings of {nest['n_inner']} patients in {nest['n_outer']} hospitals; "
             f"mean bp rises from {by_time['mean'].iloc[0]:.1f} at time 1 to {by_time['mean'].iloc[-1]:.1f} at time 5; "
             f"formula {model_formula(data)!r} (patient ids {'unique' if nest['unique_ids'] else 'reused'}).")


def _patient_lines(ax, data: pd.DataFrame, column: str, **kwargs) -> None:
    colors = plt.get_cmap("tab10")
    hospitals = list(data["hospital_id"].cat.categories)
    for patient, rows in data.groupby("patient_id", observed=True):
        h = hospitals.index(str(rows["hospital_id"].iloc[0]))
        ax.plot(rows["time"], rows[column], color=colors(h % 10), alpha=0.5, lw=1, **kwargs)
    for h, hospital in enumerate(hospitals):
        ax.plot([], [], color=colors(h % 10), label=f"hospital {hospital}")
    ax.set_xlabel("Time")
    ax.set_ylabel("Blood pressure")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper left")


@step
def step_fit(a: Analysis) -> None:
    """2. The mixed model and its fixed effects against the simulation's truth."""
    formula = model_formula(a.data)
    a.r_and_python("model <- lmer(bp ~ time + (1 | hospital_id) + (1 | patient_id), data = data)\nsummary(model)\n"
                   "fixef(model)",
                   f'fit = bg.fit("{formula}", bp, family="gaussian", seed=1)\nprint(fit.summary())\nfit.fixef()')
    fit = a.fit("mixed model", formula, "gaussian")
    a.best = "mixed model"
    a.report.code(str(fit.summary()))
    truth = a.data.attrs["truth"]
    fe = fit.fixef()[["median", "lower", "upper", "r_hat", "ess_bulk"]]
    fe.insert(0, "truth", [truth.get(t, np.nan) for t in fe.index])
    a.report.table(fe, "Fixed effects: the simulation's truth and the posterior (95% intervals)")
    t90 = fit.fixef(prob=0.9).loc["time"]
    t95 = fe.loc["time"]
    a.values["time"] = (float(t95["median"]), float(t95["lower"]), float(t95["upper"]))
    a.values["time_90"] = (float(t90["median"]), float(t90["lower"]), float(t90["upper"]))
    inside = t90["lower"] <= truth["time"] <= t90["upper"]
    a.report.text("The time effect is the change in mean blood pressure per time unit, the same in every hospital "
                  "and patient (the model has no random slopes); the intercept is the mean bp at time 0 of a "
                  "typical hospital and patient. The blog prints no estimates; the simulation's truth is the "
                  "reference.")
    a.answer("2. Time effect", f"time {interval_text(*a.values['time'])} per time unit (truth 0.5, "
             f"{'inside' if inside else 'outside'} the 90% interval [{t90['lower']:.3f}, {t90['upper']:.3f}]); "
             f"intercept {fe.loc['Intercept', 'median']:.1f} (truth 120).")


def _icc_draws(fit) -> dict:
    """Per-draw ICCs: hospital share, patient share, and two readings of the same patient."""
    ds = fit.draws
    vh = ds["1|hospital_id_sigma"].values.ravel() ** 2
    vp = ds["1|patient_id_sigma"].values.ravel() ** 2
    ve = ds["sigma"].values.ravel() ** 2
    total = vh + vp + ve
    return {"hospital": vh / total, "patient (beyond hospital)": vp / total,
            "same patient (incl. hospital)": (vh + vp) / total}


def _true_icc(truth: dict) -> dict:
    vh, vp, ve = truth["1|hospital_id_sigma"] ** 2, truth["1|patient_id_sigma"] ** 2, truth["sigma"] ** 2
    total = vh + vp + ve
    return {"hospital": vh / total, "patient (beyond hospital)": vp / total,
            "same patient (incl. hospital)": (vh + vp) / total}


@step(after=("step_fit",))
def step_variance(a: Analysis) -> None:
    """3. Variance components and intra-class correlations against the truth."""
    fit = a.fits[a.best]
    data = a.data
    truth = data.attrs["truth"]
    realised = data.attrs["random_effects"]
    vc = fit.varcorr().set_index("label")
    vc90 = fit.varcorr(prob=0.9).set_index("label")
    rows, sd, sd90 = {}, {}, {}
    for name, label in SD_NAMES.items():
        drawn = {"1|hospital_id_sigma": np.std(list(realised["1|hospital_id"].values()), ddof=1),
                 "1|patient_id_sigma": np.std(list(realised["1|patient_id"].values()), ddof=1),
                 "sigma": np.nan}[name]
        r = vc.loc[name]
        r90 = vc90.loc[name]
        sd[name] = (float(r["median"]), float(r["lower"]), float(r["upper"]))
        sd90[name] = (float(r90["median"]), float(r90["lower"]), float(r90["upper"]))
        rows[label] = {"truth": truth[name], "SD of the drawn effects": drawn, "median": r["median"],
                       "lower 95%": r["lower"], "upper 95%": r["upper"], "lower 90%": r90["lower"],
                       "upper 90%": r90["upper"], "truth in 90%": r90["lower"] <= truth[name] <= r90["upper"]}
    a.values["sd"], a.values["sd_90"], a.values["truth"] = sd, sd90, dict(truth)
    table = pd.DataFrame.from_dict(rows, orient="index")
    a.report.table(table, "SDs: the simulation's truth, the SD of the effects it actually drew, and the posterior")
    panels = [(fit.draws[name].values.ravel(), label, (truth[name],)) for name, label in SD_NAMES.items()]
    a.report.figure(posterior_figure(panels, reference_label="truth"),
                    "Posteriors of the three SDs with the simulation's true values")
    icc = fit.icc()
    a.report.code(str(icc))
    draws = _icc_draws(fit)
    true_icc = _true_icc(truth)
    icc_rows, icc_values = {}, {}
    for name, values in draws.items():
        lo, hi = interval_bounds(values)
        icc_values[name] = (float(np.median(values)), lo, hi)
        icc_rows[name] = {"truth": true_icc[name], "median": float(np.median(values)), "lower": lo, "upper": hi}
    a.values["icc"] = icc_values
    a.report.table(pd.DataFrame.from_dict(icc_rows, orient="index"),
                   "ICCs: share of the variance between hospitals, between patients of a hospital, and the "
                   "correlation of two readings of the same patient (hospital + patient share)")
    drawn_h = rows["hospital SD"]["SD of the drawn effects"]
    a.report.text(f"With only 10 hospitals the hospital SD is the least precise component: its interval is wide, "
                  f"and what the data can show is the spread of the 10 effects the simulation actually drew "
                  f"(SD {drawn_h:.2f}), not the SD 2 they were drawn with. The patient SD (1) is small next to the "
                  "residual SD (5) with five readings per patient, so it is weakly identified too. The residual SD "
                  "is pinned down by 500 readings.")
    h, s = icc_values["hospital"], icc_values["same patient (incl. hospital)"]
    texts = [f"{SD_NAMES[n]} {interval_text(*sd[n], 2)} (truth {truth[n]:g})" for n in SD_NAMES]
    a.answer("3. Variance components and ICCs", "; ".join(texts) + f"; ICC hospital {interval_text(*h, 2)} "
             f"(truth {true_icc['hospital']:.3f}), same patient {interval_text(*s, 2)} "
             f"(truth {true_icc['same patient (incl. hospital)']:.3f}).")


@step(after=("step_fit",))
def step_predict(a: Analysis) -> None:
    """4. Observed against predicted blood pressure (each patient's and hospital's own effects)."""
    fit = a.fits[a.best]
    data = a.data
    pred = fit.predict(kind="conditional", seed=a.seed)
    shown = data.assign(predicted_bp=pred["mean"].to_numpy())
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _patient_lines(ax, shown, "bp")
    for _, rows in shown.groupby("patient_id", observed=True):
        ax.plot(rows["time"], rows["predicted_bp"], color="orange", ls="--", lw=1)
    ax.plot([], [], color="orange", ls="--", label="predicted (posterior mean)")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper left")
    ax.set_title("Observed (coloured by hospital) vs predicted (orange dashed) blood pressure", fontsize=10)
    a.report.figure(fig, "The blog's plot: observed bp per patient and the model's predictions")
    hospitals = list(data["hospital_id"].cat.categories)
    fig, axes = plt.subplots(2, (len(hospitals) + 1) // 2, figsize=(14, 5.5), sharex=True, sharey=True)
    colors = plt.get_cmap("tab10")
    for h, (ax, hospital) in enumerate(zip(axes.ravel(), hospitals)):
        sub = shown[shown["hospital_id"] == hospital]
        for _, rows in sub.groupby("patient_id", observed=True):
            ax.plot(rows["time"], rows["bp"], color=colors(h % 10), alpha=0.35, lw=0.8)
            ax.plot(rows["time"], rows["predicted_bp"], color="black", lw=0.8)
        ax.set_title(f"hospital {hospital}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("Time")
    for ax in axes[:, 0]:
        ax.set_ylabel("bp")
    fig.tight_layout()
    a.report.figure(fig, "The same per hospital: observed bp (colour) and each patient's predicted line (black); "
                         "the predicted lines are parallel (one slope) and shifted by hospital and patient")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    ax.errorbar(pred["mean"], data["bp"], xerr=[pred["mean"] - pred["lower"], pred["upper"] - pred["mean"]],
                fmt="o", ms=3, alpha=0.4, color="#3b75af", elinewidth=0.5)
    lims = [min(data["bp"].min(), pred["mean"].min()), max(data["bp"].max(), pred["mean"].max())]
    ax.plot(lims, lims, color="black", lw=1, ls="--")
    ax.set_xlabel("Predicted bp (posterior mean, 95% interval of the mean)")
    ax.set_ylabel("Observed bp")
    truth_re = data.attrs["random_effects"]["1|patient_id"]
    re = fit.ranef().query("group == 'patient_id'")
    ax = axes[1]
    ax.scatter([truth_re[str(lv)] for lv in re["level"]], re["mean"], s=10, color="#e07b39")
    ax.axline((0, 0), slope=1, color="black", lw=1, ls="--")
    ax.set_xlabel("True patient effect (simulated)")
    ax.set_ylabel("Estimated patient effect (posterior mean)")
    ax.set_title("Patient effects are shrunk towards 0", fontsize=9)
    fig.tight_layout()
    a.report.figure(fig, "Observed against predicted bp; estimated against true patient effects")
    resid = data["bp"].to_numpy() - pred["mean"].to_numpy()
    rmse = float(np.sqrt(np.mean(resid**2)))
    covered = float(np.mean((data["bp"] >= pred["pred_lower"]) & (data["bp"] <= pred["pred_upper"])))
    corr = float(np.corrcoef(pred["mean"], data["bp"])[0, 1])
    a.report.text(f"Observed and predicted bp correlate at {corr:.2f}; the root mean squared difference is "
                  f"{rmse:.2f}, close to the residual SD (truth 5): the predictions follow each patient's level "
                  f"but not the reading-to-reading noise, which is most of the variation. {covered:.0%} of the "
                  "readings lie inside their 95% posterior predictive intervals.")
    a.answer("4. Observed vs predicted", f"correlation {corr:.2f}, RMSE {rmse:.2f} (residual SD truth 5); "
             f"{covered:.0%} of readings inside their 95% predictive intervals.")
    a.values["rmse"] = rmse


@step(after=("step_fit",))
def step_checks(a: Analysis) -> None:
    """5. Checks: posterior predictive density and QQ plots of the group effects."""
    fit = a.fits[a.best]
    a.report.figure(plot_ppc(fit, kind="density", seed=a.seed), "Density of bp against replicated data sets")
    a.report.figure(plot_ppc(fit, kind="stats", seed=a.seed, stats=("mean", "sd", "min", "max")),
                    "Replicated statistics with the observed ones and Bayesian p-values")
    a.report.figure(plot_ranef_qq(fit), "Normal QQ plots of the hospital and patient effects")
    pv = ppc_pvalues(fit, stats=("mean", "sd", "min", "max"), seed=a.seed)
    a.report.table(pv, "Bayesian p-values (near 0 or 1 flags misfit)")
    flagged = pv.loc[pv["flag"], "statistic"].tolist()
    a.values["ppc_flagged"] = flagged
    a.answer("5. Checks", ("replicated data match the observed mean, SD, min and max" if not flagged else
                           f"misfit in {', '.join(flagged)}") +
             f" (Bayesian p-values {pv['p_value'].min():.2f}-{pv['p_value'].max():.2f}).")


STEPS = [step_describe, step_fit, step_variance, step_predict, step_checks]


run = runner(__name__)
