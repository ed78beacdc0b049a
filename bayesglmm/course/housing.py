"""McLain's GLMM notes, section 6: housing of homeless mentally ill subjects, an ordinal mixed model.

1448 rows: 362 subjects, half of them with a Section 8 rent certificate (``Sec = 1``,
constant within a subject), each with their housing at 0, 6, 12 and 24 months:
``House`` = 1 street living, 2 community (dependent) housing, 3 independent housing
(the notes' ``House = Housing + 1``; higher is better). 159 responses are missing. The
notes fit ``npmlt(House ~ factor(Sec) * factor(Time), random = ~1, id = ID, k = 3)``
with mixcat: a cumulative logit model with a 3-mass-point random intercept (it stops at
the 500-iteration limit, with one standard error of 3.6e-15). Here the same model is
``House ~ Sec*Time + (1|ID)`` with a normal random intercept, sampled by NUTS; rows with
a missing response are dropped (``dropna=True``, recorded in the fit), as mixcat's
``na.rm = TRUE`` does.

Sign convention: as in :mod:`bayesglmm.course.schizo`, mixcat writes ``logit P(Y <= r)
= beta_r + x'gamma`` and Bambi ``logit P(Y <= r) = c_r - x'beta``, so ``gamma = -beta`` and
the cut-points agree. In Bambi's convention a positive coefficient moves subjects towards
independent housing; in mixcat's towards the street.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``dropped`` (number of rows dropped for a missing response), ``n_obs`` (rows fitted),
``mixcat_convention`` (term -> (median, lower, upper) in mixcat's convention, with
mixcat's names), ``variance`` and ``sd`` (median, lower, upper of the random-intercept
variance and SD), ``icc`` (median, lower, upper) and ``ppc_flagged`` (Sec x Time cells whose
mean housing falls outside the replicated 95% interval).

Examples
--------
>>> from bayesglmm.course import housing
>>> housing.MIXCAT["factor(Sec)1"]
(-1.078, 0.1481)
>>> result = housing.run(quick=True)  # doctest: +SKIP
>>> result.values["dropped"]  # doctest: +SKIP
159
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import ordinal_checks, reference, runner, stacked_share_figure, step
from bayesglmm.course.schizo import coefficient_draws, fit_mass_points, mass_point_deviance, to_mixcat
from bayesglmm.summary import interval_bounds

DESCRIPTION = "McLain's notes section 6: housing of 362 homeless mentally ill subjects, cumulative logit mixed model"
TITLE = "Housing outcomes (GLMM notes, section 6): an ordinal mixed model with missing responses"
FORMULA = "House ~ Sec*Time + (1|ID)"
# mixcat's npmlt (k = 3) as printed in the notes, mixcat's convention (estimate and SE): reference/housing.json.
_NOTES = reference("housing")
MIXCAT, MIXCAT_VARIANCE = _NOTES["MIXCAT"], _NOTES["MIXCAT_VARIANCE"]
MIXCAT_POINTS, MIXCAT_M2LOGL = _NOTES["MIXCAT_POINTS"], _NOTES["MIXCAT_M2LOGL"]
LATENT_VARIANCE = np.pi**2 / 3
CATEGORIES = {1: "street", 2: "community", 3: "independent"}
TIMES = ["0", "6", "12", "24"]
#: Captions of step 5's checks (:func:`bayesglmm.course.framework.ordinal_checks`).
CHECKS = {"bars": "Responses per housing category against replicated data",
          "table": "Mean housing category (1-3) overall and per Section 8 x time cell: observed against replicated, "
                   "with Bayesian p-values",
          "qq": "Normal QQ plot of the subject intercepts"}


def mixcat_name(name: str) -> str:
    """mixcat's (R's) name of a Bambi term or cut-point of ``House ~ Sec*Time``.

    Examples
    --------
    >>> mixcat_name("cut 1"), mixcat_name("Sec[1]"), mixcat_name("Sec:Time[1, 12]")
    ('(Intercept) 1', 'factor(Sec)1', 'factor(Sec)1:factor(Time)12')
    >>> mixcat_name("Time[6]")
    'factor(Time)6'
    """
    if name.startswith("cut "):
        return f"(Intercept) {name.split()[1]}"
    if name.startswith("Sec:Time["):
        sec, time = name[len("Sec:Time["):-1].split(", ")
        return f"factor(Sec){sec}:factor(Time){time}"
    var, level = name[:-1].split("[")
    return f"factor({var}){level}"


def mixcat_design(frame: pd.DataFrame) -> tuple:
    """``y``, ``X`` (R's dummy columns of ``factor(Sec)*factor(Time)``, in mixcat's order) and ``ids``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with an observed ``House`` (e.g. ``fit.spec.data.frame``).

    Examples
    --------
    >>> data = start("housing", TITLE).data
    >>> y, X, ids = mixcat_design(data[data["House"].notna()])
    >>> X.shape
    (1289, 7)
    """
    sec = (frame["Sec"].astype(str) == "1").to_numpy(dtype=float)
    times = [(frame["Time"].astype(str) == t).to_numpy(dtype=float) for t in TIMES[1:]]
    X = np.column_stack([sec, *times, *(sec * t for t in times)])
    return frame["House"].astype(int).to_numpy(), X, frame["ID"].astype(str).to_numpy()


@step(check=('a.values["missing"]', '159'))
def step_describe(a: Analysis) -> None:
    """1. Housing by Section 8 and time, and the missing responses."""
    data = a.data
    a.report.table(data.head(8), "The first 8 of 1448 rows")
    missing = data["House"].isna()
    by_time = pd.DataFrame({"rows": data.groupby("Time", observed=True).size(),
                            "missing House": missing.groupby(data["Time"], observed=True).sum()})
    a.report.table(by_time, "Rows and missing responses per time (months)")
    a.values["missing"] = int(missing.sum())
    a.report.text(f"{int(missing.sum())} of {len(data)} responses are missing (subjects who could not be "
                  "located), more at later times. Like mixcat (na.rm = TRUE), the model uses the observed "
                  "ratings only; this is valid if the responses are missing at random given the subject's "
                  "other ratings and covariates, which a mixed model uses through the subject's effect.")
    share = pd.crosstab([data["Sec"], data["Time"]], data["House"], normalize="index")
    titles = {sec: f"Section 8 = {sec} ({data.loc[data['Sec'] == sec, 'ID'].nunique()} subjects)" for sec in ["0", "1"]}
    fig = stacked_share_figure(share, titles, [f"{k} {CATEGORIES[int(k)]}" for k in share.columns],
                               ["#c0392b", "#f2c45f", "#519e3e"], xlabel="months", ylabel="share of observed responses")
    a.report.figure(fig, "Housing by time and Section 8 certificate (observed responses)")
    indep = (data["House"].astype(float) == 3).groupby([data["Sec"], data["Time"]], observed=True).mean()
    indep = indep[data["House"].notna().groupby([data["Sec"], data["Time"]], observed=True).any()]
    a.answer("1. The data", f"{len(data)} rows of {data['ID'].nunique()} subjects, {int(missing.sum())} missing "
             f"responses; independent housing at 24 months: Section 8 {indep.loc[('1', '24')]:.0%}, "
             f"without {indep.loc[('0', '24')]:.0%}.")


@step
def step_fit(a: Analysis) -> None:
    """2. The notes' model, fitted to the observed responses (missing ones dropped and recorded)."""
    # At 4 x 1000 draws the cut-points' R-hat was 1.013 (seed 1): full runs get twice the draws.
    fit = a.fit("random intercept", FORMULA, "cumulative", link="logit", dropna=True, scale=1 if a.quick else 2)
    a.best = "random intercept"
    dropped = list(fit.spec.data.dropped_rows)
    a.values["dropped"] = len(dropped)
    a.values["n_obs"] = int(fit.spec.n_obs)
    a.report.code(str(fit.summary()))
    notes = "; ".join(fit.spec.data.notes)
    a.report.text(f"Dropped before fitting: {len(dropped)} rows with a missing response (the fit records them in "
                  f"fit.spec.data.dropped_rows and its notes: {notes}). The first ones: "
                  f"{', '.join(str(r) for r in dropped[:8])}. {fit.spec.n_obs} rows are fitted.")
    a.report.text("Sec and Time are factors with baselines Sec = 0 and Time = 0 (as R's factor() makes them), so "
                  "Sec[1] is the Section 8 difference at baseline, Time[t] the change from baseline to t months "
                  "without a certificate, and Sec:Time[1, t] how much that change differs with one.")
    a.answer("2. Model fitted", f"{len(dropped)} rows with a missing House dropped (mixcat's na.rm = TRUE drops "
             f"the same 159), {fit.spec.n_obs} rows of {fit.spec.group_levels().get('ID', '?')} subjects fitted.")


@step(after=("step_fit",))
def step_mixcat(a: Analysis) -> None:
    """3. Our coefficients in mixcat's sign convention, next to mixcat's printout."""
    fit = a.fits[a.best]
    a.report.text("mixcat: logit P(House <= r) = beta_r + x'gamma + b; Bambi: logit P(House <= r) = c_r - "
                  "(x'beta + u). So gamma = -beta, beta_r = c_r, b = -u (same variance). With House = 1 street, "
                  "2 community, 3 independent, a positive coefficient in Bambi's convention means better housing "
                  "(towards independent); in mixcat's, worse (towards the street).")
    conv = to_mixcat(fit)
    rows, values = {}, {}
    for name, draws in conv.items():
        key = mixcat_name(name)
        ref, se = MIXCAT[key]
        lo, hi = interval_bounds(draws)
        med = float(np.median(draws))
        values[key] = (med, lo, hi)
        rows[key] = {"ours (Bambi name)": name, "mixcat": ref, "mixcat SE": se, "median": med, "lower": lo,
                     "upper": hi, "mixcat inside 95%": lo <= ref <= hi, "same sign": bool(np.sign(med) == np.sign(ref))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    a.values["mixcat_convention"] = values
    a.values["mixcat_table"] = table
    a.report.table(table, "mixcat's estimates (k = 3 mass points) and the posterior in mixcat's convention (95%)")
    a.report.text(f"mixcat's SE of {MIXCAT['factor(Sec)1:factor(Time)24'][1]:.1e} for factor(Sec)1:factor(Time)24 "
                  "is a symptom of its singular information matrix, not precision: the posterior interval of that "
                  "interaction is as wide as the other interactions'.")
    y, X, ids = mixcat_design(fit.spec.data.frame)
    observed = fit.spec.data.frame
    street = (observed["House"].astype(int) == 1).groupby([observed["Sec"].astype(str),
                                                           observed["Time"].astype(str)]).mean().unstack()[TIMES]
    printed = [MIXCAT[k][0] for k in MIXCAT]
    at_printed = mass_point_deviance(y, X, ids, printed[:2], printed[2:], *MIXCAT_POINTS)
    ours = [values[k][0] for k in MIXCAT]
    best = fit_mass_points(y, X, ids, ours[:2], ours[2:], [-1.5, 0.0, 1.5], [0.25, 0.5, 0.25])
    from_printed = fit_mass_points(y, X, ids, printed[:2], printed[2:], *MIXCAT_POINTS)
    if from_printed["m2logl"] < best["m2logl"]:
        best = from_printed
    a.values["mixcat_check"] = {"m2logl_at_printed": at_printed, "m2logl_maximised": best["m2logl"],
                                "variance_maximised": float(best["variance"][0, 0]), "gamma_maximised": best["gamma"]}
    npml = pd.DataFrame({"mixcat printed": printed, "3-point ML (here)": [*best["cuts"], *best["gamma"]],
                         "posterior median": ours}, index=list(MIXCAT))
    npml.loc["variance"] = [MIXCAT_VARIANCE[0], float(best["variance"][0, 0]), intercept_variance(fit)]
    npml.loc["-2 log-likelihood"] = [MIXCAT_M2LOGL, best["m2logl"], np.nan]
    a.report.text(f"mixcat stopped at its 500-iteration limit with a singular information matrix, so its "
                  f"estimates need checking. Put into mixcat's own model (logit P(House <= r | b) = beta_r + x'gamma "
                  f"+ b, b on its three mass points: the convention that reproduces mixcat's schizo fit exactly) on "
                  f"the {len(y)} observed rows, the printed estimates give -2 log-likelihood {at_printed:.1f}, not the "
                  f"printed {MIXCAT_M2LOGL}. Maximising the same three-point likelihood here reaches "
                  f"{best['m2logl']:.1f}, with a random-intercept variance of {best['variance'][0, 0]:.2f} "
                  "(table below): mixcat's printout is not the maximum-likelihood fit of its model. The raw shares "
                  f"say the same: street living falls from {street.iloc[:, 0].min():.0%}-{street.iloc[:, 0].max():.0%} "
                  f"at baseline to {street.iloc[:, 1:].min().min():.0%}-{street.iloc[:, 1:].max().max():.0%} at 6, 12 "
                  "and 24 months, while mixcat's Time coefficients (-0.27, +0.57, -0.03) describe almost no change.")
    a.report.table(npml, "mixcat's printout, the three-point maximum-likelihood fit of mixcat's model found here, "
                         "and the posterior medians (all in mixcat's convention)")
    a.report.figure(_cell_figure(fit), "Probability of each housing category for a typical subject (random "
                                        "intercept 0), by time and Section 8 certificate: posterior median and 95% "
                                        "interval")
    signs = table.drop(index=[k for k in table.index if k.startswith("(Intercept)")])
    clear = signs[(signs["lower"] > 0) | (signs["upper"] < 0)]
    agree = clear["same sign"].all()
    covered = int(table["mixcat inside 95%"].sum())
    sec = values["factor(Sec)1"]
    near = int(sum(values[k][1] <= v <= values[k][2] for k, v in zip(MIXCAT, [*best["cuts"], *best["gamma"]])))
    a.answer("3. Against mixcat", f"factor(Sec)1 {interval_text(*sec, 2)} in mixcat's convention (mixcat "
             f"{MIXCAT['factor(Sec)1'][0]}); "
             f"{covered} of {len(table)} mixcat estimates inside our 95% intervals, and of the {len(clear)} "
             f"coefficients whose interval excludes 0 {'all' if agree else 'not all'} have mixcat's sign. mixcat's "
             f"printout is not its maximum: -2logL {at_printed:.1f} at it (printed {MIXCAT_M2LOGL}), "
             f"{best['m2logl']:.1f} at the 3-point ML found here, {near} of whose {len(MIXCAT)} estimates lie "
             "inside our 95% intervals.")


def intercept_variance(fit) -> float:
    """Posterior median of the random-intercept variance (``1|ID_sigma`` squared).

    Examples
    --------
    >>> intercept_variance(fit)  # doctest: +SKIP
    2.1...
    """
    return float(np.median(fit.draws["1|ID_sigma"].values.ravel() ** 2))


def _cell_figure(fit):
    ds = fit.draws
    coef = coefficient_draws(fit)
    threshold = ds["threshold"].values.reshape(-1, ds["threshold"].shape[-1])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    colors = {"0": "#3b75af", "1": "#e07b39"}
    x = np.arange(len(TIMES))
    for sec in ("0", "1"):
        eta = np.zeros((threshold.shape[0], len(TIMES)))
        for j, t in enumerate(TIMES):
            for name in (f"Sec[{sec}]", f"Time[{t}]", f"Sec:Time[{sec}, {t}]"):
                if name in coef:  # baseline levels have no coefficient
                    eta[:, j] += coef[name]
        cum = special.expit(threshold[:, None, :] - eta[:, :, None])  # P(Y <= r)
        probs = np.concatenate([cum[..., :1], np.diff(cum, axis=-1), 1 - cum[..., -1:]], axis=-1)
        for k, ax in enumerate(axes):
            lo, med, hi = np.quantile(probs[..., k], [0.025, 0.5, 0.975], axis=0)
            shift = -0.08 if sec == "0" else 0.08
            ax.errorbar(x + shift, med, yerr=[med - lo, hi - med], fmt="o-", color=colors[sec], capsize=3,
                        label=f"Section 8 = {sec}")
            ax.set_title(f"P(House = {k + 1}: {CATEGORIES[k + 1]})", fontsize=10)
            ax.set_xticks(x, TIMES)
            ax.set_xlabel("months")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


@step(after=("step_fit",))
def step_variance(a: Analysis) -> None:
    """4. Variance of the random intercept (mixcat: 1.0870) and the ICC."""
    fit = a.fits[a.best]
    sd = fit.draws["1|ID_sigma"].values.ravel()
    var = sd**2
    lo, hi = interval_bounds(var)
    a.values["variance"] = (float(np.median(var)), lo, hi)
    a.values["sd"] = (float(np.median(sd)), *interval_bounds(sd))
    ref = MIXCAT_VARIANCE[0]
    a.report.table(pd.DataFrame({"mixcat": [ref, np.sqrt(ref)], "median": [a.values["variance"][0], a.values["sd"][0]],
                                 "lower": [lo, a.values["sd"][1]], "upper": [hi, a.values["sd"][2]]},
                                index=["variance", "SD"]),
                   "Random-intercept variance and SD: mixcat (3 mass points, SE 0.2433) and the posterior")
    a.report.figure(posterior_figure([(var, "variance of the subject intercepts", (ref, ref - 1.96 * MIXCAT_VARIANCE[1],
                                                                                   ref + 1.96 * MIXCAT_VARIANCE[1]))],
                                     reference_label="mixcat"),
                    "Posterior of the random-intercept variance, with mixcat's estimate +- 1.96 SE")
    icc = fit.icc()
    a.report.code(str(icc))
    c = icc.loc["ID"]
    a.values["icc"] = (float(c["median"]), float(c["lower"]), float(c["upper"]))
    check = a.values.get("mixcat_check")
    a.report.text(f"mixcat's {ref:.4f} belongs to its unfinished fit (step 3)"
                  + (f": the maximum of its own three-point model, found there, has variance "
                     f"{check['variance_maximised']:.2f}, close to the posterior's" if check else "")
                  + f". mixcat's variance would give an ICC of {ref / (ref + LATENT_VARIANCE):.3f}. A discrete "
                  "(mass-point) and a normal random intercept are different assumptions, so their variances "
                  "need not agree exactly.")
    inside = lo <= ref <= hi
    a.answer("4. Random-intercept variance", f"variance {interval_text(*a.values['variance'], 2)} (mixcat {ref:.4f}, "
             f"{'inside' if inside else 'outside'} the 95% interval); ICC "
             f"{interval_text(*a.values['icc'], 2)} on the latent scale (mixcat {ref / (ref + LATENT_VARIANCE):.3f}).")


@step(after=("step_fit",))
def step_checks(a: Analysis) -> None:
    """5. Posterior predictive checks: categories, and mean housing per Section 8 and time."""
    fit = a.fits[a.best]
    frame = fit.spec.data.frame  # the fitted rows (missing responses dropped)
    order = [f"Sec {sec}, {t} months" for sec in ("0", "1") for t in TIMES]
    cell = ("Sec " + frame["Sec"].astype(str) + ", " + frame["Time"].astype(str) + " months")
    inside, n, ending = ordinal_checks(a, fit, cell.astype(pd.CategoricalDtype(order)).rename("Sec x Time"), **CHECKS)
    a.answer("5. Checks", f"{inside} of {n} Section 8 x time mean housing levels inside their replicated 95% "
             f"intervals{ending}")


STEPS = [step_describe, step_fit, step_mixcat, step_variance, step_checks]


run = runner(__name__)
