"""Course Exercise 3: Swedish motor-insurance claims (1977), a Poisson GLMM with exposure, items 1-7.

1,797 rows, each a group of policyholders sharing kilometres class ``Km`` (1-5), ``Bonus``
(1-7: years since the last claim, plus one), ``Zone`` (Z1-Z7) and car ``Make`` (1-9; not in
the course's file, whose rows are nevertheless split by make): ``Claims`` claims in
``Insured`` policy-years. The course models the number of claims with a Poisson GLMM with a
log link and the exposure as an offset, ``Claims ~ Km + Bonus + (1|Zone) +
offset(log(Insured))``, and prints no model output (only ``str()`` of the data).

Here the same model is sampled by NUTS and every item is answered with posteriors: random
and fixed effects by cross-validation and the posteriors (:func:`bayesglmm.random_effects_needed`,
:func:`bayesglmm.fixed_effect_needed`). The checks find strong overdispersion, so the
Poisson GLMM is compared (:func:`bayesglmm.compare`) with a negative binomial GLMM (a gamma
observation-level effect) and with a random effect of ``Make``, alone and combined.
:data:`LME4` holds lme4 1.1-31's estimates of these models
(``benchmarks/r/lme4_patients_motorins.R``; the course prints none).

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``random_effects`` (``decision``, ``elpd_diff``, ``dse``), ``zone_sd`` (median, lower,
upper), ``fixed_effects`` (term -> ``decision``, ``elpd_diff``, ``dse``), ``dispersion``
(model -> (verdict, observed, replicated, p)), ``overdispersion`` (the LOO table of step 5),
``preferred`` (its key), ``rate_ratios`` (the preferred model's table), ``predicted`` (the
table of step 7) and ``consistency`` (prediction ratios against rate ratios).

:func:`run` answers every item; its docstring has the example.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesglmm.checks import dispersion_check, ppc_pvalues, ranef_normality
from bayesglmm.compare import compare
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import lme4_equivalent, reference, runner, step
from bayesglmm.course.patients import NO_COURSE_OUTPUT, forest_figure, linear_predictor_text
from bayesglmm.plots import plot_ppc, plot_ranef_qq
from bayesglmm.predict import predict, predict_draws
from bayesglmm.questions import fixed_effect_needed, loo_reading, random_effects_needed

DESCRIPTION = "Course Exercise 3: Swedish motor insurance (1,797 risk groups), Poisson GLMM with exposure, items 1-7"
TITLE = "Motor-insurance claims (course Exercise 3): a Bayesian Poisson GLMM with exposure, step by step"
OFFSET = "offset(log(Insured))"
#: Every model fitted, key -> (formula, family).
MODELS = {
    "Poisson GLM": (f"Claims ~ Km + Bonus + {OFFSET}", "poisson"),
    "Poisson GLMM": (f"Claims ~ Km + Bonus + (1|Zone) + {OFFSET}", "poisson"),
    "Poisson GLMM without Km": (f"Claims ~ Bonus + (1|Zone) + {OFFSET}", "poisson"),
    "Poisson GLMM without Bonus": (f"Claims ~ Km + (1|Zone) + {OFFSET}", "poisson"),
    "NB GLMM": (f"Claims ~ Km + Bonus + (1|Zone) + {OFFSET}", "negativebinomial"),
    "Poisson + (1|Make)": (f"Claims ~ Km + Bonus + (1|Zone) + (1|Make) + {OFFSET}", "poisson"),
    "NB + (1|Make)": (f"Claims ~ Km + Bonus + (1|Zone) + (1|Make) + {OFFSET}", "negativebinomial"),
}
#: The models of step 5, compared by cross-validation.
OVERDISPERSION = ["Poisson GLMM", "NB GLMM", "Poisson + (1|Make)", "NB + (1|Make)"]
#: lme4 1.1-31 (glmer, glmer.nb; Laplace): rate ratios exp(beta) of Km 2-5 and Bonus, Zone
#: (and Make) SDs, the NB shape theta, and Pearson dispersion (sum of squared Pearson
#: residuals / residual df); with its source in reference/motorins.json.
LME4 = reference("motorins")["LME4"]
BONUS, EXPOSURE = 4, 1000.0  # step 7: Bonus 4, 1,000 policy-years
KM_LABELS = {"1": "< 1,000 km", "2": "1,000-15,000 km", "3": "15,000-20,000 km", "4": "20,000-25,000 km",
             "5": "> 25,000 km"}


def _fit_model(a: Analysis, key: str):
    if key not in a.fits:
        a.fit(key, *MODELS[key])
    return a.fits[key]


def _cv(a: Analysis) -> dict:
    return {"seed": a.seed, "allow_unconverged": True}


def n_parameters(fit) -> int:
    """Number of sampled parameters of a fit (group effects included, per-row means excluded).

    Examples
    --------
    >>> n_parameters(nb)  # doctest: +SKIP
    20
    """
    return int(sum(np.prod([da.sizes[d] for d in da.dims if d not in ("chain", "draw")], dtype=int)
                   for da in fit.draws.data_vars.values() if "__obs__" not in da.dims))


def preferred_model(comparison, sizes: dict) -> tuple[str, list]:
    """The model to prefer: the best elpd, or the smallest of the models that predict alike.

    A model predicts alike the best one when :func:`bayesglmm.questions.loo_reading` of
    the best minus it is ``"alike"`` (within 2 SE, or within 4); among those the one with
    the fewest parameters is preferred (ties: the higher elpd).

    Parameters
    ----------
    comparison : bayesglmm.compare.Comparison
        Cross-validation of the candidates.
    sizes : dict
        Model name -> number of parameters.

    Returns
    -------
    (str, list)
        The preferred model and the models that predict alike the best (the best first).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> table = pd.DataFrame({"elpd_diff": [0.0, -3.0, -40.0], "dse": [0.0, 2.0, 8.0]}, index=["A", "B", "C"])
    >>> preferred_model(SimpleNamespace(table=table), {"A": 30, "B": 12, "C": 10})
    ('B', ['A', 'B'])
    """
    order = list(comparison.table.index)
    rows = comparison.table
    alike = [order[0]] + [k for k in order[1:]
                          if loo_reading(-float(rows.loc[k, "elpd_diff"]), float(rows.loc[k, "dse"])) == "alike"]
    return min(alike, key=lambda k: (sizes[k], order.index(k))), alike


# ----------------------------------------------------------------------------- figures and predictions
def rate_by_km_figure(data: pd.DataFrame):
    """The course's boxplot of the claim rate by kilometres class.

    Examples
    --------
    >>> fig = rate_by_km_figure(bg.datasets.load("motorins"))  # doctest: +SKIP
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    levels = list(data["Km"].cat.categories)
    groups = [data.loc[data["Km"] == k, "rate"] for k in levels]
    box = ax.boxplot(groups, patch_artist=True, widths=0.6, flierprops={"markersize": 3, "alpha": 0.5})
    for patch in box["boxes"]:
        patch.set_facecolor("lightgreen")
    ax.set_xticks(range(1, len(levels) + 1), levels)
    ax.set_xlabel("Kilometres")
    ax.set_ylabel("Claims per policy-year")
    ax.set_title("Observed claim rate by kilometres")
    ax.grid(alpha=0.3)
    return fig


def rate_by_zone_figure(data: pd.DataFrame, seed: int = 1):
    """The course's jittered plot of the claim rate by Zone, coloured by Bonus (plasma scale).

    Examples
    --------
    >>> fig = rate_by_zone_figure(bg.datasets.load("motorins"))  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    y = data["Zone"].cat.codes.to_numpy() + rng.uniform(-0.2, 0.2, len(data))
    points = ax.scatter(data["rate"], y, c=data["Bonus"], cmap="plasma", s=10, alpha=0.7)
    ax.set_yticks(range(len(data["Zone"].cat.categories)), data["Zone"].cat.categories)
    fig.colorbar(points, ax=ax, label="Bonus")
    ax.set_xlabel("Claims per policy-year")
    ax.set_ylabel("Zone")
    ax.set_title("Observed claim rate by Zone")
    ax.grid(alpha=0.3)
    return fig


def prediction_grid(data: pd.DataFrame, bonus: int = BONUS, exposure: float = EXPOSURE) -> pd.DataFrame:
    """Every Km x Zone with ``Bonus = bonus`` and ``Insured = exposure`` policy-years.

    Examples
    --------
    >>> from bayesglmm import datasets
    >>> grid = prediction_grid(datasets.load("motorins"))
    >>> grid.shape, grid["Insured"].unique().tolist(), grid["Bonus"].unique().tolist()
    ((35, 4), [1000.0], [4])
    """
    kms, zones = list(data["Km"].cat.categories), list(data["Zone"].cat.categories)
    grid = pd.DataFrame([{"Km": k, "Zone": z} for z in zones for k in kms])
    grid["Km"] = pd.Categorical(grid["Km"], categories=kms)
    grid["Zone"] = pd.Categorical(grid["Zone"], categories=zones)
    grid["Bonus"] = int(bonus)
    grid["Insured"] = float(exposure)
    return grid


def _with_offset(lp: str) -> str:
    return "log(Insured) " + ("- " + lp[1:] if lp.startswith("-") else "+ " + lp)


def _flat(da, *rest) -> np.ndarray:
    da = da.transpose("chain", "draw", *rest)
    return da.values.reshape(da.sizes["chain"] * da.sizes["draw"], *[da.sizes[d] for d in rest])


def zone_prediction_draws(fit, grid: pd.DataFrame, seed: int = 1) -> dict:
    """Expected and simulated claims of ``grid``'s rows, each with its own Zone's effect.

    The Zone effect of the row's zone is the fitted one (conditional on Zone); every other
    group term (``Make``) is averaged over its normal distribution, which with a log
    link multiplies the mean by ``exp(sigma^2 / 2)``: the expected count of a policy of a
    make not specified. With Zone as the only group term this equals
    ``predict(fit, grid, kind="conditional")``. ``typical`` is the same with the Zone effect
    0 (an average zone).

    Parameters
    ----------
    fit : Fit
        A poisson or negative binomial fit with ``(1|Zone)`` and the offset.
    grid : pandas.DataFrame
        Rows with ``Km``, ``Bonus``, ``Zone`` and ``Insured``.
    seed : int
        Seed of the simulated claims.

    Returns
    -------
    dict
        ``mean`` and ``typical`` (draws x rows: expected claims), ``predictive`` (draws x
        rows: one simulated number of claims, a new make's effect drawn per draw).

    Examples
    --------
    >>> d = zone_prediction_draws(nb, prediction_grid(mi))  # doctest: +SKIP
    >>> d["mean"].shape  # doctest: +SKIP
    (4000, 35)
    """
    ds = fit.draws
    base = predict_draws(fit, grid, kind="typical")["mean"].values  # exp(fixed + offset)
    u = _flat(ds["1|Zone"], "Zone__factor_dim")
    levels = [str(v) for v in ds["1|Zone"]["Zone__factor_dim"].values]
    u_rows = u[:, [levels.index(str(z)) for z in grid["Zone"]]]
    others = [t for t in fit.spec.bambi_model.parameters[fit.spec.bambi_model.family.likelihood.parent]
              .group_specific_terms if t != "1|Zone"]
    rng = np.random.default_rng(seed)
    var = np.zeros((base.shape[0], 1))
    new = np.zeros_like(base)
    for term in others:
        sd = _flat(ds[f"{term}_sigma"])[:, None]
        var = var + sd**2
        new = new + sd * rng.standard_normal(base.shape)
    mean = base * np.exp(u_rows + var / 2)
    mu_new = base * np.exp(u_rows + new)
    if fit.spec.family.name == "negativebinomial":
        alpha = _flat(ds["alpha"])[:, None]
        sim = rng.negative_binomial(np.broadcast_to(alpha, mu_new.shape), alpha / (alpha + mu_new))
    else:
        sim = rng.poisson(mu_new)
    return {"mean": mean, "typical": base * np.exp(var / 2), "predictive": sim.astype(float)}


def _summarise(draws: np.ndarray, prefix: str = "") -> pd.DataFrame:
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    return pd.DataFrame({f"{prefix}mean": draws.mean(axis=0), f"{prefix}lower": lo, f"{prefix}upper": hi})


# ----------------------------------------------------------------------------- steps
@step
def step_describe(a: Analysis) -> None:
    """1. Load the data: Km as a factor and the claim rate."""
    data = a.data
    a.report.table(data.head(10), "The first rows (Make and Payment are in faraway's data, not in the course's file)")
    rows = {}
    for col in ("Claims", "Insured", "Km", "Bonus", "Zone", "Make", "rate"):
        s = data[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            rows[col] = {"type": f"factor, {len(s.cat.categories)} levels",
                         "first values": " ".join(map(str, s.head(10)))}
        else:
            rows[col] = {"type": str(s.dtype), "first values": " ".join(f"{v:.4g}" for v in s.head(10))}
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"), "str(MotorIns): 1797 obs.")
    cells = data.groupby(["Km", "Zone", "Bonus", "Make"], observed=True).size()
    pooled = data["Claims"].sum() / data["Insured"].sum()
    a.answer("1. The data", f"{len(data)} risk groups, one per Km x Zone x Bonus x Make cell present "
             f"({len(cells)} distinct, each once); {data['Claims'].sum():,} claims in "
             f"{data['Insured'].sum():,.0f} policy-years (pooled rate {pooled:.4f}); rate from "
             f"{data['rate'].min():.4f} to {data['rate'].max():.3f}. str() matches the course's.")
    a.values["structure"] = {"rows": len(data), "cells": len(cells), "pooled_rate": pooled}


@step
def step_plots(a: Analysis) -> None:
    """2. The course's descriptive plots: rate by Km, and rate by Zone coloured by Bonus."""
    a.report.figure(rate_by_km_figure(a.data), "Observed claim rate by kilometres class")
    a.report.figure(rate_by_zone_figure(a.data, a.seed), "Observed claim rate by Zone, coloured by Bonus")
    pooled = {}
    for col in ("Km", "Zone", "Bonus"):
        sums = a.data.groupby(col, observed=True)[["Claims", "Insured"]].sum()
        pooled[col] = sums["Claims"] / sums["Insured"]
    table = pd.concat(pooled, names=["variable", "level"]).rename("claims per policy-year").to_frame()
    a.report.table(table, "Pooled claim rate (sum of claims / sum of policy-years) by each variable")
    a.report.text("The row rates vary far more than the pooled ones: small groups (a few policy-years) give extreme "
                  "rates, which is why the model uses the counts with log(Insured) as offset, not the rates.")
    km, zone, bonus = pooled["Km"], pooled["Zone"], pooled["Bonus"]
    a.answer("2. Descriptive plots", f"pooled rate rises with Km ({km.iloc[0]:.3f} to {km.iloc[-1]:.3f}), falls "
             f"with Bonus ({bonus.iloc[0]:.3f} at 1 to {bonus.iloc[-1]:.3f} at 7) and differs by Zone "
             f"({zone.min():.3f} in {zone.idxmin()} to {zone.max():.3f} in {zone.idxmax()}).")


@step
def step_random_effects(a: Analysis) -> None:
    """3. Is a random effect of Zone needed? Poisson GLM against Poisson GLMM with (1|Zone)."""
    a.report.text("Zone is the course's random effect: seven areas whose rates share one distribution (the random "
                  "effect shrinks the areas with little exposure). Km and Bonus are the risk factors of interest "
                  "(fixed). Make, in the data but not in the course's file, is a candidate grouping too (step 5).")
    glm, glmm = _fit_model(a, "Poisson GLM"), _fit_model(a, "Poisson GLMM")
    ans = random_effects_needed(glm, glmm, **_cv(a))
    a.report.table(ans.comparison.table, "Cross-validation: Poisson GLM vs Poisson GLMM")
    a.report.table(ans.table[["group", "median", "lower", "upper", "p_above", "prior", "prior_p_above"]],
                   "Zone SD (log scale): posterior, P(SD > 0.1), and the prior")
    for note in ans.comparison.notes:
        a.report.text(f"Note: {note}")
    row = ans.table.iloc[0]
    a.report.figure(posterior_figure([(glmm.draws["1|Zone_sigma"].values, "Zone SD (log scale)", None)]),
                    "Posterior of the Zone SD")
    a.report.figure(plot_ppc(glm, kind="groups", group=a.data["Zone"], seed=a.seed),
                    "Posterior predictive check of the GLM: mean claims per row in each Zone against the 95% "
                    "interval of replicated means")
    a.report.text("Caveat: both models are Poisson, and step 5 shows the data are overdispersed for it, which "
                  "makes every Poisson comparison overconfident; the Zone SD stays clearly positive in the models "
                  "of step 5 (their SDs are shown there).")
    a.values["random_effects"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.values["zone_sd"] = (row["median"], row["lower"], row["upper"])
    a.answer("3. Random effects needed?", f"{ans.verdict} (lme4 1.1-31: Zone SD {LME4['poisson_zone_sd']:.2f}, "
             f"LRT p < 2.2e-16; {NO_COURSE_OUTPUT}).")


@step
def step_fixed_effects(a: Analysis) -> None:
    """4. Are Km and Bonus needed? The Poisson GLMM against the GLMM without each."""
    glmm = a.fits["Poisson GLMM"]
    rows = {}
    for term in ("Km", "Bonus"):
        ans = fixed_effect_needed(glmm, _fit_model(a, f"Poisson GLMM without {term}"), term, **_cv(a))
        a.report.table(ans.comparison.table, f"Cross-validation: with and without {term}")
        a.report.text(f"Answer: {ans.verdict}")
        rows[term] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    a.report.table(glmm.ratios()[["ratio", "lower", "upper", "p_above_1"]], "Rate ratios in the Poisson GLMM")
    a.report.text("Bonus enters as a number (one rate ratio per extra year without a claim), as in the course's "
                  "data; Km as a factor (one rate ratio per class, against Km 1).")
    a.values["fixed_effects"] = rows
    a.answer("4. Fixed effects needed?", "; ".join(
        f"{t} {r['decision']} (elpd {r['elpd_diff']:+.0f}, SE {r['dse']:.0f})" for t, r in rows.items())
        + f" ({NO_COURSE_OUTPUT}).")


@step
def step_checks(a: Analysis) -> None:
    """5. The model equation, its checks (overdispersion), and the models that account for it."""
    glmm = a.fits["Poisson GLMM"]
    vc = glmm.varcorr()
    equation = ("Claims_ij | u_j ~ Poisson(mu_ij): risk group i in zone j\n"
                "log(mu_ij) = log(Insured_ij) + beta_0 + beta_Km[Km_ij] + beta_B * Bonus_ij + u_j,  "
                "u_j ~ Normal(0, sigma_Z^2)\n\n"
                f"Fitted (posterior medians): log(mu_ij) = {_with_offset(linear_predictor_text(glmm))} + u_j,  "
                f"sigma_Z = {vc['median'].iloc[0]:.3f}")
    a.report.code(equation)
    a.report.code(str(glmm.summary()))
    dc = dispersion_check(glmm, seed=a.seed)
    a.report.text(str(dc))
    a.report.figure(plot_ppc(glmm, kind="dispersion", seed=a.seed),
                    "Dispersion check of the Poisson GLMM: Pearson dispersion of the data against that of replicated "
                    "data, one point per draw")
    make_ppc = ppc_pvalues(glmm, stats=("mean",), by_group=a.data["Make"], seed=a.seed)
    make_rows = make_ppc[make_ppc["group"] != ""]
    a.report.figure(plot_ppc(glmm, kind="groups", group=a.data["Make"], seed=a.seed),
                    "Posterior predictive check of the Poisson GLMM by car make (not in the model): mean claims per "
                    "row of each make against the 95% interval of replicated means")
    a.report.text(f"By make, {int(make_rows['flag'].sum())} of {len(make_rows)} makes have mean claims outside their "
                  "replicated 95% interval: the rows are split by make, and the makes differ. Two remedies, alone and "
                  "combined: a negative binomial (each row's rate varies by a gamma factor, variance mu + "
                  "mu^2/alpha) and a Make effect (1|Make). An observation-level normal effect (1|obs), the "
                  "Poisson-lognormal counterpart of the negative binomial, is not used: its 1,797 row effects trade "
                  "off against the intercept and the Zone effects, which NUTS samples poorly here (R-hat 1.2-1.5 "
                  "in trial runs), and PSIS-LOO fails for every row of it.")
    for key in OVERDISPERSION:
        _fit_model(a, key)
    res = compare({k: a.fits[k] for k in OVERDISPERSION}, **_cv(a))
    a.report.table(res.table.assign(lme4_AIC=pd.Series(LME4["aic"])),
                   "Cross-validation of the Poisson GLMM and the overdispersion models (elpd_diff and dse against the "
                   "best), with lme4 1.1-31's AIC of each model (lower is better; same order expected)")
    for note in res.notes:
        a.report.text(f"Note: {note}")
    disp = {}
    for key in OVERDISPERSION:
        check = dc if key == "Poisson GLMM" else dispersion_check(a.fits[key], seed=a.seed)
        disp[key] = {"verdict": check.verdict, "observed": check.observed, "replicated": check.replicated,
                     "p_value": check.p_value}
    a.report.table(pd.DataFrame.from_dict(disp, orient="index"),
                   "Pearson dispersion, data vs replicated data (posterior medians), and its p-value")
    sds = pd.concat({key: a.fits[key].varcorr().set_index("group")[["median", "lower", "upper"]]
                     for key in OVERDISPERSION}, names=["model"])
    a.report.table(sds, "Group SDs of each model (log scale)")
    a.report.table(pd.concat({key: a.fits[key].family_params()[["median", "lower", "upper"]] for key in OVERDISPERSION
                              if a.fits[key].spec.family.name == "negativebinomial"}, names=["model"]),
                   "Negative binomial shape alpha (variance mu + mu^2/alpha)")
    sizes = {k: n_parameters(a.fits[k]) for k in OVERDISPERSION}
    preferred, alike = preferred_model(res, sizes)
    best = res.best
    why = ("the highest elpd" if preferred == best else
           f"predicts as well as {best} (elpd within 2 SE, or 4) with {sizes[preferred]} parameters instead of "
           f"{sizes[best]}")
    a.report.table(pd.DataFrame({"parameters": sizes, "converged": {k: a.fits[k].ok for k in OVERDISPERSION}}),
                   "Size of each model (parameters, group effects included) and convergence")
    a.report.text(f"Preferred: {preferred} ({why}). Rule: the highest elpd, unless simpler models predict alike "
                  "(bayesglmm.questions.loo_reading); then the one with the fewest parameters.")
    pref = a.fits[preferred]
    groups = [g for g in ("Zone", "Make") if f"(1|{g})" in pref.formula]
    a.report.figure(plot_ppc(pref, kind="dispersion", seed=a.seed), f"Dispersion check of {preferred}")
    a.report.figure(plot_ranef_qq(pref, group=groups), f"Normal QQ plots of the group effects of {preferred}")
    normality = ranef_normality(pref, group=groups)
    a.report.table(normality.table, "Shapiro-Wilk tests of the posterior means of the group effects")
    a.report.text(f"Convergence of {preferred}: {pref.diagnostics.verdict()}.")
    a.values["dispersion"] = {k: (v["verdict"], v["observed"], v["replicated"], v["p_value"]) for k, v in disp.items()}
    a.values["overdispersion"] = res.table
    a.values["preferred"] = preferred
    a.values["poisson_dispersion_ok"] = dc.ok
    gain = res.difference(preferred, "Poisson GLMM")
    a.answer("5. Equation, checks and overdispersion",
             f"log(mu) = {_with_offset(linear_predictor_text(glmm))} + u_zone; the Poisson GLMM is {dc.verdict} "
             f"(Pearson dispersion {dc.observed:.2f} vs {dc.replicated:.2f} replicated, p = {dc.p_value:.3f}; "
             f"lme4: {LME4['poisson_dispersion']:.2f}); "
             f"preferred: {preferred} ({why}; elpd {gain[0]:+.0f} (SE {gain[1]:.0f}) over the Poisson GLMM) "
             f"({NO_COURSE_OUTPUT}).")


@step
def step_rate_ratios(a: Analysis) -> None:
    """6. Rate ratios of Km and Bonus in the preferred model, against the Poisson GLMM's."""
    preferred = a.values["preferred"]
    pref, glmm = a.fits[preferred], a.fits["Poisson GLMM"]
    lme4_equivalent(a, "exp(cbind(RR = fixef(M), confint(M, parm = \"beta_\", method = \"Wald\")))",
                    f"preferred.ratios()   # {preferred}")
    table = pref.ratios()[["ratio", "lower", "upper", "p_above_1"]]
    a.report.table(table, f"Rate ratios of {preferred}: Km classes against Km 1 (< 1,000 km), Bonus per extra year "
                          "without a claim (posterior median, 95% interval)")
    both = pd.concat({preferred: table[["ratio", "lower", "upper"]],
                      "Poisson GLMM": glmm.ratios()[["ratio", "lower", "upper"]]}, axis=1)
    both[("width ratio", "")] = ((both[(preferred, "upper")] - both[(preferred, "lower")])
                                 / (both[("Poisson GLMM", "upper")] - both[("Poisson GLMM", "lower")]))
    shift = float(np.max(np.abs(both[(preferred, "ratio")] / both[("Poisson GLMM", "ratio")] - 1)))
    widths = both[("width ratio", "")]
    both[("lme4 Poisson GLMM", "ratio")] = pd.Series(LME4["poisson_rr"])
    if preferred == "NB + (1|Make)":
        both[("lme4 NB + (1|Make)", "ratio")] = pd.Series(LME4["nb_make_rr"])
    a.report.table(both, f"The same rate ratios in the Poisson GLMM (width ratio: interval width of {preferred} / "
                         "Poisson GLMM), and lme4 1.1-31's estimates of the Poisson GLMM")
    a.report.text(f"Under the Poisson GLMM the intervals are {widths.min():.1f} to {widths.max():.1f} times narrower: "
                  "it takes the extra variation between risk groups for information. Its medians also differ (by up "
                  f"to {shift:.0%}): with variance equal to the mean it lets the few groups with thousands of claims "
                  "dominate the estimates, and it has no make effects to absorb differences between makes.")
    a.values["rate_ratio_width_ratio"] = (float(widths.min()), float(widths.max()))
    a.report.figure(forest_figure(table, "rate ratio of claims (log scale)"),
                    f"Rate ratios with 95% intervals ({preferred})")
    a.values["rate_ratios"] = table
    ratios = "; ".join(f"{t} {interval_text(r['ratio'], r['lower'], r['upper'])}" for t, r in table.iterrows())
    km = table.loc[[t for t in table.index if t.startswith("Km[")], "ratio"]
    trend = "rise with every Km class" if bool(np.all(np.diff(np.r_[1.0, km.to_numpy()]) > 0)) else "vary with Km"
    a.answer("6. Rate ratios", f"{ratios} ({preferred}); claims per policy-year {trend} and fall by "
             f"{1 - table.loc['Bonus', 'ratio']:.1%} per Bonus year ({NO_COURSE_OUTPUT}).")


@step
def step_predict(a: Analysis) -> None:
    """7. Expected claims in 1,000 policy-years with Bonus 4, by Km and Zone."""
    preferred = a.values["preferred"]
    pref = a.fits[preferred]
    a.report.text("Which kind? The seven zones are the insurer's own tariff areas, and the question is about them, so "
                  "each prediction uses its zone's estimated effect (conditional, lme4's default predict); the "
                  "'typical zone' row (Zone effect 0, kind='typical') is the rate of an average zone. Other group "
                  "terms of the preferred model (Make) are not specified by the question, so they are averaged "
                  "over their fitted distribution (mean x exp(sigma^2/2)): the expected claims of 1,000 policy-years "
                  "whatever the make. The predictive interval is for the number of claims actually observed in "
                  "1,000 policy-years (a new make's effect, and the count's own variation).")
    grid = prediction_grid(a.data)
    draws = zone_prediction_draws(pref, grid, seed=a.seed)
    table = grid[["Km", "Zone"]].copy()
    table = pd.concat([table, _summarise(draws["mean"])], axis=1)
    table["pred_lower"], table["pred_upper"] = np.quantile(draws["predictive"], [0.025, 0.975], axis=0,
                                                           method="inverted_cdf")
    typical = pd.concat([grid[["Km"]].iloc[:5].reset_index(drop=True),
                         _summarise(draws["typical"][:, :5])], axis=1).assign(Zone="typical zone")
    wide = table.pivot(index="Zone", columns="Km", values="mean")
    wide.loc["typical zone"] = typical.set_index("Km")["mean"]
    wide.columns = [f"Km {k}" for k in wide.columns]
    a.report.table(wide, f"Expected claims in 1,000 policy-years, Bonus 4 (posterior mean; {preferred})")
    a.report.table(pd.concat([table, typical[table.columns.drop(["pred_lower", "pred_upper"])]], ignore_index=True),
                   "The same with 95% credible intervals of the expected claims and 95% predictive intervals of the "
                   "claims observed")
    # Cross-checks: the Zone-only negative binomial GLMM through predict(kind="conditional"), and ratios.
    nb = a.fits["NB GLMM"]
    via_predict = predict(nb, grid, kind="conditional", seed=a.seed)
    by_hand = zone_prediction_draws(nb, grid, seed=a.seed)["mean"].mean(axis=0)
    gap = float(np.max(np.abs(by_hand / via_predict["mean"].to_numpy() - 1)))
    a.report.text(f"Check: for the Zone-only NB GLMM, the computation above and predict(kind='conditional') agree to a "
                  f"relative {gap:.1e}.")
    rr = pref.ratios()
    km_levels = list(grid["Km"].cat.categories)
    rows = {}
    mean = draws["mean"]
    per_draw = 0.0
    b = pref.draws["Km"]
    km_draws = _flat(b, b.dims[-1])
    coded = [str(v) for v in b[b.dims[-1]].values]
    for k in km_levels[1:]:
        col_k = (grid["Km"] == k).to_numpy()
        col_1 = (grid["Km"] == km_levels[0]).to_numpy()
        ratio_draws = mean[:, col_k] / mean[:, col_1]
        per_draw = max(per_draw, float(np.max(np.abs(ratio_draws / np.exp(km_draws[:, [coded.index(k)]]) - 1))))
        table_ratio = table.loc[col_k, "mean"].to_numpy() / table.loc[col_1, "mean"].to_numpy()
        rows[f"Km[{k}]"] = {"rate ratio (step 6)": rr.loc[f"Km[{k}]", "ratio"],
                            "table ratio, min over zones": table_ratio.min(),
                            "table ratio, max over zones": table_ratio.max()}
    consistency = pd.DataFrame.from_dict(rows, orient="index")
    a.report.table(consistency, "Ratio of expected claims, Km k vs Km 1 in the same zone, from the table above, "
                                "against "
                                "the rate ratio exp(beta_Km[k]) of step 6 (median)")
    a.report.text(f"Per posterior draw the ratio equals exp(beta_Km[k]) exactly (largest relative gap {per_draw:.1e}); "
                  "the table's ratio of posterior means differs from the ratio's median only by Monte Carlo and "
                  "averaging.")
    fig, ax = plt.subplots(figsize=(8, 5))
    x = np.arange(len(km_levels))
    cmap = plt.get_cmap("tab10")
    zones = list(grid["Zone"].cat.categories)
    for j, zone in enumerate(zones):
        sub = table[table["Zone"] == zone]
        off = (j - len(zones) / 2) * 0.03
        ax.errorbar(x + off, sub["mean"], yerr=[sub["mean"] - sub["lower"], sub["upper"] - sub["mean"]], fmt="o-",
                    color=cmap(j), capsize=2, ms=4, lw=1.2, label=zone)
    ax.plot(x, typical["mean"], color="black", ls="--", lw=2, label="typical zone")
    ax.set_xticks(x, [f"{k}\n{KM_LABELS.get(k, '')}" for k in km_levels], fontsize=8)
    ax.set_xlabel("Kilometres class")
    ax.set_ylabel("expected claims per 1,000 policy-years")
    ax.set_title(f"Bonus {BONUS}: expected claims by Km and Zone (95% intervals; {preferred})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    a.report.figure(fig, "Expected claims in 1,000 policy-years with Bonus 4, by kilometres class and zone")
    a.values["predicted"] = table
    a.values["predicted_typical"] = typical
    a.values["consistency"] = {"per_draw_gap": per_draw, "predict_gap": gap, "table": consistency}
    lo_zone, hi_zone = wide.iloc[:-1]["Km 1"].idxmin(), wide.iloc[:-1]["Km 1"].idxmax()
    a.answer("7. Predicted claims (1,000 policy-years, Bonus 4)",
             f"typical zone: Km 1 {interval_text(*typical.iloc[0][['mean', 'lower', 'upper']], 1)} to Km 5 "
             f"{interval_text(*typical.iloc[-1][['mean', 'lower', 'upper']], 1)} claims; by zone at Km 1 from "
             f"{wide.loc[lo_zone, 'Km 1']:.1f} ({lo_zone}) to {wide.loc[hi_zone, 'Km 1']:.1f} ({hi_zone}); ratios to "
             f"Km 1 match the rate ratios ({NO_COURSE_OUTPUT}).")


STEPS = [step_describe, step_plots, step_random_effects, step_fixed_effects, step_checks, step_rate_ratios,
         step_predict]


run = runner(__name__)
