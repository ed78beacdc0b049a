"""McLain's GLMM notes, section 5: the NIMH schizophrenia study, a cumulative logit mixed model.

1603 rows: 437 patients, drug (``trt = 1``) or placebo (``trt = 0``), rated at weeks 0-6
(mostly 0, 1, 3 and 6) on a 4-point severity scale, ``y`` = 1 normal or borderline, 2
mildly or moderately ill, 3 markedly ill, 4 severely ill: **higher is more severe**. The
notes fit ``npmlt(y ~ trt + sqrt(wk) + trt*sqrt(wk), random = ~1 + trt, id = id, k = 2)``
with mixcat: a cumulative logit model whose random effects have a nonparametric (2 mass
point) distribution. Here the same fixed effects are fitted with normal random effects,
``y ~ trt*sqrt_wk + (1|id)`` and the notes' ``y ~ trt*sqrt_wk + (1 + trt|id)`` (correlated,
LKJ(1) prior), with Bambi's cumulative family. trt is constant within a patient, so the
notes' block only lets the between-patient variance differ by arm; its trt SD and
correlation are not separately identified and NUTS mixes them badly. The same random
effects written as arm-specific intercepts, ``(0 + placebo|id) + (0 + drug|id)``, have the
same likelihood and converge; the later steps use that form, compared with the single
random intercept by LOO.

Sign conventions (the point of step 4)
--------------------------------------
* mixcat (``man/npmlt.rd``; its starting values are ``glm(I(y <= j) ~ x)`` fits):
  ``logit P(Y <= r) = beta_r + x'gamma + z'b``, i.e. ``P(Y <= r) = F(beta_r + eta)``.
  A positive coefficient raises the probability of the *low* categories: **less severe**.
* Bambi's ``Cumulative`` family (``bambi/families/univariate.py``: ``transform_backend_eta``
  computes ``threshold - eta`` and ``transform_backend_kwargs`` differences ``F`` of it),
  like PyMC's ``OrderedLogistic(eta, cutpoints)``: ``P(Y <= r) = F(c_r - eta)``. A positive
  coefficient lowers ``P(Y <= r)`` for every r: **more severe**; ``exp(beta)`` is the
  cumulative odds ratio of a more severe rating (above r against at or below r).
* So ``gamma = -beta`` for every coefficient, the cut-points agree as they are
  (``beta_r = c_r``), and the random effects change sign (``b = -u``), which leaves their
  variances and covariances unchanged.

``run()`` returns a :class:`~bayesglmm.course.CourseResult` whose ``values`` holds
``mixcat_convention`` (term -> (median, lower, upper) of ``-beta``, and the cut-points),
``bambi_convention`` (term -> (median, lower, upper) of ``beta``), ``loo`` (``elpd_diff``
of the arm-specific model minus the random-intercept model, ``dse``, ``method``),
``icc`` (median, lower, upper, random-intercept model), ``icc_by_arm`` (arm -> (median,
lower, upper), arm-specific model), ``variances`` (name -> (median, lower, upper)) and
``mixcat_check`` (-2 log-likelihoods of mixcat's model at its printed estimates, with the
opposite sign, and at its maximum).

Examples
--------
>>> from bayesglmm.course import schizo
>>> sorted(schizo.MIXCAT)[:2]
['cut 1', 'cut 2']
>>> result = schizo.run(quick=True)  # doctest: +SKIP
>>> result.values["mixcat_convention"]["trt:sqrt_wk"]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special

from bayesglmm.compare import compare
from bayesglmm.course import Analysis, interval_text, posterior_figure, start
from bayesglmm.course.framework import ordinal_checks, reference, runner, stacked_share_figure, step
from bayesglmm.summary import interval_bounds

DESCRIPTION = "McLain's notes section 5: NIMH schizophrenia trial (437 patients), cumulative logit mixed model"
TITLE = "Schizophrenia severity (GLMM notes, section 5): an ordinal mixed model and its sign convention"
NOTES, ARM = "random intercept and trt", "arm-specific intercepts"
FORMULAS = {"random intercept": "y ~ trt*sqrt_wk + (1|id)",
            NOTES: "y ~ trt*sqrt_wk + (1 + trt|id)",
            ARM: "y ~ trt*sqrt_wk + (0 + placebo|id) + (0 + drug|id)"}
# mixcat's npmlt (k = 2 mass points) as printed in the notes, mixcat's convention: its estimates and SEs, the
# random-effects covariance matrix (intercept, trt), -2 log-likelihood and mass points: reference/schizo.json.
_NOTES = reference("schizo")
MIXCAT, MIXCAT_COV, MIXCAT_M2LOGL = _NOTES["MIXCAT"], _NOTES["MIXCAT_COV"], _NOTES["MIXCAT_M2LOGL"]
LATENT_VARIANCE = np.pi**2 / 3
TERMS = ["trt", "sqrt_wk", "trt:sqrt_wk"]
CATEGORIES = {1: "normal/borderline", 2: "mildly/moderately ill", 3: "markedly ill", 4: "severely ill"}
ARMS = {0: "placebo", 1: "drug"}
#: Captions of step 7's checks (:func:`bayesglmm.course.framework.ordinal_checks`).
CHECKS = {"bars": "Ratings per severity category against replicated data",
          "table": "Mean severity (1-4) overall and per arm and week (weeks 2, 4, 5 pooled as 'other weeks'): "
                   "observed against replicated, with Bayesian p-values",
          "qq": "Normal QQ plot of the patient intercepts (mixcat puts them on two points)"}


def to_mixcat(fit) -> dict:
    """Posterior draws of every coefficient and cut-point in mixcat's convention.

    mixcat writes ``logit P(Y <= r) = beta_r + x'gamma``; Bambi ``logit P(Y <= r) = c_r -
    x'beta``. So ``gamma = -beta`` and ``beta_r = c_r``.

    Parameters
    ----------
    fit : Fit
        A cumulative-logit fit.

    Returns
    -------
    dict
        ``"cut 1"``, ``"cut 2"``, ... and each coefficient's name -> 1-d draws.

    Examples
    --------
    >>> draws = to_mixcat(fit)  # doctest: +SKIP
    >>> float(np.median(draws["trt:sqrt_wk"])) > 0  # doctest: +SKIP
    True
    """
    ds = fit.draws
    out = {}
    threshold = ds["threshold"].values.reshape(-1, ds["threshold"].shape[-1])
    for r in range(threshold.shape[1]):
        out[f"cut {r + 1}"] = threshold[:, r]
    for name, draws in coefficient_draws(fit).items():
        out[name] = -draws
    return out


def coefficient_draws(fit) -> dict:
    """1-d posterior draws of every fixed-effect coefficient, named as :meth:`Fit.fixef` names them.

    A factor's coefficients are one variable with a level dimension in the draws
    (``Time`` with levels 6, 12, 24); they come out as ``"Time[6]"``, ... and an
    interaction of two factors as ``"Sec:Time[1, 6]"``.

    Parameters
    ----------
    fit : Fit
        A fitted model.

    Returns
    -------
    dict
        Term -> draws (chains stacked), in the order of ``fit.fixef()``.

    Examples
    --------
    >>> list(coefficient_draws(fit))  # doctest: +SKIP
    ['trt', 'sqrt_wk', 'trt:sqrt_wk']
    """
    ds = fit.draws
    out = {}
    for name in fit.fixef().index:
        if name in ds:
            out[name] = ds[name].values.ravel()
            continue
        base, label = name[:-1].split("[", 1)
        da = ds[base]
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        stacked = da.stack(_element=dims) if len(dims) > 1 else da.rename({dims[0]: "_element"})
        labels = [", ".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in stacked["_element"].values]
        out[name] = stacked.isel(_element=labels.index(label)).values.ravel()
    return out


def convention_table(fit) -> pd.DataFrame:
    """Our estimates in Bambi's and in mixcat's convention, next to mixcat's printout.

    Parameters
    ----------
    fit : Fit
        A fit of ``y ~ trt*sqrt_wk`` with a cumulative logit link.

    Returns
    -------
    pandas.DataFrame
        One row per cut-point and coefficient: ``mixcat`` and ``mixcat SE`` (the notes'
        printout), ``ours (Bambi)`` (posterior median of c_r or beta), ``ours (mixcat
        convention)`` with ``lower``/``upper`` (95%), ``excludes 0`` (the interval) and
        ``same sign`` (ours converted vs mixcat's; meaningful where the interval excludes 0).

    Examples
    --------
    >>> convention_table(fit).loc["trt:sqrt_wk", "same sign"]  # doctest: +SKIP
    True
    """
    converted = to_mixcat(fit)
    rows = {}
    for name, draws in converted.items():
        lo, hi = interval_bounds(draws)
        med = float(np.median(draws))
        bambi = med if name.startswith("cut") else -med
        ref, se = MIXCAT.get(name, (np.nan, np.nan))
        rows[name] = {"mixcat": ref, "mixcat SE": se, "ours (Bambi)": bambi, "ours (mixcat convention)": med,
                      "lower": lo, "upper": hi, "excludes 0": bool(lo > 0 or hi < 0),
                      "same sign": bool(np.sign(med) == np.sign(ref))}
    return pd.DataFrame.from_dict(rows, orient="index")


def mass_point_deviance(y, X, ids, cuts, gamma, points, masses, Z=None) -> float:
    """-2 log-likelihood of mixcat's model: a cumulative logit with discrete random effects.

    ``logit P(Y <= r | b) = cuts[r] + x'gamma + z'b``, where ``b`` takes the value
    ``points[j]`` with probability ``masses[j]`` for each id (all rows of an id share it),
    as in mixcat's ``npmlt`` (``man/npmlt.rd``). mixcat prints this number as
    ``-2(Log-Likelihood)``, so evaluating it at mixcat's printed estimates checks both the
    data and the sign convention.

    Parameters
    ----------
    y : array of int
        Response categories 1..K.
    X : array (n, p)
        Fixed-effect design without intercept.
    ids : array
        Subject of each row.
    cuts : sequence of float
        The K - 1 cut-points (mixcat's ``(Intercept) r``).
    gamma : sequence of float
        Coefficients in mixcat's convention.
    points : array (k,) or (k, q)
        Mass points (one row per point, one column per random effect).
    masses : sequence of float
        Their probabilities.
    Z : array (n, q), optional
        Random-effect design; a random intercept (a column of ones) if None.

    Returns
    -------
    float

    Examples
    --------
    >>> y = np.array([1, 2, 2, 3]); X = np.array([[0.0], [1.0], [0.0], [1.0]]); ids = np.array([1, 1, 2, 2])
    >>> round(mass_point_deviance(y, X, ids, [-0.5, 0.5], [-1.0], [0.0], [1.0]), 3)
    8.978
    """
    y = np.asarray(y, dtype=int)
    X = np.asarray(X, dtype=float)
    Z = np.ones((len(y), 1)) if Z is None else np.asarray(Z, dtype=float).reshape(len(y), -1)
    points = np.asarray(points, dtype=float).reshape(len(masses), Z.shape[1])
    _, inverse = np.unique(np.asarray(ids), return_inverse=True)
    eta = X @ np.asarray(gamma, dtype=float)
    rows = np.arange(len(y))
    loglik = np.empty((inverse.max() + 1, len(masses)))
    for j, point in enumerate(points):
        cum = special.expit(np.asarray(cuts, dtype=float)[None, :] + (eta + Z @ point)[:, None])
        cum = np.concatenate([np.zeros((len(y), 1)), cum, np.ones((len(y), 1))], axis=1)
        prob = np.maximum(cum[rows, y] - cum[rows, y - 1], 1e-300)
        loglik[:, j] = np.bincount(inverse, weights=np.log(prob), minlength=loglik.shape[0])
    return float(-2 * special.logsumexp(loglik + np.log(np.asarray(masses, dtype=float)), axis=1).sum())


def fit_mass_points(y, X, ids, cuts, gamma, points, masses, Z=None) -> dict:
    """Maximise :func:`mass_point_deviance`'s likelihood from a starting point (L-BFGS-B).

    The cut-points stay ordered (first one and log gaps), the masses are a softmax and the
    mass points are centred at their weighted mean (mixcat's constraint: mean zero).

    Parameters
    ----------
    y, X, ids, Z
        As in :func:`mass_point_deviance`.
    cuts, gamma, points, masses
        The starting values (for example mixcat's printout, or a posterior's medians in
        mixcat's convention).

    Returns
    -------
    dict
        ``cuts``, ``gamma``, ``points``, ``masses`` (arrays), ``m2logl`` (-2 log-likelihood
        at the optimum), ``variance`` (covariance matrix of the discrete random effects)
        and ``converged`` (the optimiser's flag).

    Examples
    --------
    >>> y = np.array([1, 2, 2, 3, 1, 3]); X = np.array([[0.0], [1.0], [0.0], [1.0], [0.0], [1.0]])
    >>> res = fit_mass_points(y, X, np.array([1, 1, 2, 2, 3, 3]), [-0.5, 0.5], [0.0], [[-1.0], [1.0]], [0.5, 0.5])
    >>> res["m2logl"] <= mass_point_deviance(y, X, np.array([1, 1, 2, 2, 3, 3]), [-0.5, 0.5], [0.0],
    ...                                      [[-1.0], [1.0]], [0.5, 0.5])
    True
    """
    from scipy import optimize

    y = np.asarray(y, dtype=int)
    Z = np.ones((len(y), 1)) if Z is None else np.asarray(Z, dtype=float).reshape(len(y), -1)
    cuts, gamma = np.asarray(cuts, dtype=float), np.asarray(gamma, dtype=float)
    points = np.asarray(points, dtype=float).reshape(len(masses), Z.shape[1])
    masses = np.asarray(masses, dtype=float)
    sizes = [1, len(cuts) - 1, len(gamma), points.size, len(masses)]
    bounds = np.cumsum(sizes)[:-1]

    def unpack(theta):
        first, gaps, g, pts, logits = np.split(theta, bounds)
        c = first[0] + np.concatenate([[0.0], np.cumsum(np.exp(gaps))])
        m = special.softmax(logits)
        pts = pts.reshape(points.shape)
        return c, g, pts - m @ pts, m

    def objective(theta):
        c, g, pts, m = unpack(theta)
        return mass_point_deviance(y, X, ids, c, g, pts, m, Z)

    start = np.concatenate([cuts[:1], np.log(np.diff(cuts)), gamma, points.ravel(), np.log(masses)])
    res = optimize.minimize(objective, start, method="L-BFGS-B")
    c, g, pts, m = unpack(res.x)
    return {"cuts": c, "gamma": g, "points": pts, "masses": m, "m2logl": float(res.fun),
            "variance": (pts * m[:, None]).T @ pts, "converged": bool(res.success)}


def mixcat_design(data: pd.DataFrame) -> tuple:
    """``y``, ``X`` (trt, sqrt(wk), trt:sqrt(wk)), ``ids`` and ``Z`` (1, trt) of the notes' npmlt call.

    Examples
    --------
    >>> y, X, ids, Z = mixcat_design(start("schizo", TITLE).data)
    >>> X.shape, Z.shape
    ((1603, 3), (1603, 2))
    """
    trt = data["trt"].to_numpy(dtype=float)
    root = data["sqrt_wk"].to_numpy(dtype=float)
    return (data["y"].astype(int).to_numpy(), np.c_[trt, root, trt * root], data["id"].astype(str).to_numpy(),
            np.c_[np.ones(len(data)), trt])


#: mixcat's printed mass points (intercept, trt) and masses for the notes' model.
MIXCAT_POINTS = _NOTES["MIXCAT_POINTS"]


@step(check=('list(a.answers)', "['1. The data']"))
def step_describe(a: Analysis) -> None:
    """1. Severity by week and arm."""
    data = a.data
    a.report.table(data.head(8), "The first 8 of 1603 rows")
    a.report.text("Severity y: " + "; ".join(f"{k} {v}" for k, v in CATEGORIES.items()) + ". Higher is more "
                  "severe. The treatment is assigned per patient, so trt is constant within a patient.")
    counts = pd.crosstab(data["wk"], data["trt"].map(ARMS))
    a.report.table(counts, "Ratings per week and arm (most patients were rated at weeks 0, 1, 3 and 6)")
    share = pd.crosstab([data["trt"].map(ARMS), data["wk"]], data["y"], normalize="index")
    main = share.loc[[(arm, wk) for arm in ARMS.values() for wk in (0, 1, 3, 6)]]
    titles = {arm: f"{arm} ({data.loc[data['trt'].map(ARMS) == arm, 'id'].nunique()} patients)"
              for arm in ARMS.values()}
    fig = stacked_share_figure(main, titles, [f"{k} {CATEGORIES[k]}" for k in main.columns],
                               ["#519e3e", "#f2c45f", "#e07b39", "#c0392b"], xlabel="week", ylabel="share of ratings")
    a.report.figure(fig, "Severity at weeks 0, 1, 3 and 6 by arm: both arms improve, the drug arm faster")
    severe = (data["y"].astype(int) >= 3).groupby([data["trt"].map(ARMS), data["wk"]]).mean().unstack("wk")
    a.values["severe_share"] = severe
    a.answer("1. The data", f"{len(data)} ratings of {data['id'].nunique()} patients; markedly ill or worse "
             f"(y >= 3) at week 0 / week 6: placebo {severe.loc['placebo', 0]:.0%} / {severe.loc['placebo', 6]:.0%}, "
             f"drug {severe.loc['drug', 0]:.0%} / {severe.loc['drug', 6]:.0%}.")


@step
def step_random_intercept(a: Analysis) -> None:
    """2. Cumulative logit model with a random intercept per patient."""
    # At 4 x 1000 draws the cut-points' R-hat was 1.015 (seed 1): full runs get twice the draws.
    fit = a.fit("random intercept", FORMULAS["random intercept"], "cumulative", link="logit",
                scale=1 if a.quick else 2)
    a.report.code(str(fit.summary()))
    a.report.text("Bambi's cumulative family has no intercept: the three cut-points (threshold[0..2]) take its "
                  "place, as mixcat's (Intercept) 1..3 do.")
    fe = fit.fixef()
    sd = fit.varcorr().iloc[0]
    t = fe.loc["trt:sqrt_wk"]
    a.answer("2. Random intercept", f"trt:sqrt_wk {interval_text(t['median'], t['lower'], t['upper'], 2)} and "
             f"sqrt_wk {interval_text(*(fe.loc['sqrt_wk', c] for c in ('median', 'lower', 'upper')), 2)} in Bambi's "
             f"convention; patient SD {interval_text(sd['median'], sd['lower'], sd['upper'], 2)}.")


def _arm_variances(fit) -> dict:
    """Per-draw latent variance of the patient effect in each arm, and the notes' (co)variances.

    For ``(1 + trt|id)``: placebo u0, drug u0 + u1 (and var(u1), cov(u0, u1), cor(u0, u1)).
    For the arm-specific ``(0 + placebo|id) + (0 + drug|id)``: the two SDs squared (the
    notes' var(u1) and cov(u0, u1) are not defined by that model, see step 3).
    """
    ds = fit.draws
    if "id_corr" in ds:
        s0 = ds["1|id_sigma"].values.ravel()
        s1 = ds["trt|id_sigma"].values.ravel()
        rho = ds["id_corr"].values[..., 0, 1].ravel()
        return {"placebo": s0**2, "drug": s0**2 + s1**2 + 2 * rho * s0 * s1, "cov": rho * s0 * s1,
                "var(trt)": s1**2, "cor": rho}
    return {"placebo": ds["placebo|id_sigma"].values.ravel() ** 2, "drug": ds["drug|id_sigma"].values.ravel() ** 2}


MIXCAT_ARM = {"placebo": MIXCAT_COV["var(Intercept)"],
              "drug": MIXCAT_COV["var(Intercept)"] + MIXCAT_COV["var(trt)"] + 2 * MIXCAT_COV["cov(Intercept, trt)"],
              "cov": MIXCAT_COV["cov(Intercept, trt)"], "var(trt)": MIXCAT_COV["var(trt)"], "cor": MIXCAT_COV["cor"]}
VARIANCE_LABELS = {"placebo": "var(u0): placebo arm", "drug": "var(u0 + u1): drug arm", "cov": "cov(u0, u1)",
                   "var(trt)": "var(u1)", "cor": "cor(u0, u1)"}


def add_arm_columns(data: pd.DataFrame) -> pd.DataFrame:
    """Add the 0/1 indicators ``placebo`` = 1 - trt and ``drug`` = trt (for the arm-specific model).

    Examples
    --------
    >>> add_arm_columns(pd.DataFrame({"trt": [0, 1]}))[["placebo", "drug"]].values.tolist()
    [[1, 0], [0, 1]]
    """
    return data.assign(placebo=1 - data["trt"], drug=data["trt"])


@step
def step_random_slope(a: Analysis) -> None:
    """3. The notes' model: random intercept and trt effect per patient, and its identified form.

    Fits ``(1 + trt|id)`` as the notes write it, then the same random effects written as
    arm-specific intercepts, ``(0 + placebo|id) + (0 + drug|id)``: because trt is constant
    within a patient, both give every patient one latent level whose variance depends on
    the arm, and the data identify only those two variances. The step adds the columns
    ``placebo`` and ``drug`` to ``a.data``.
    """
    if "placebo" not in a.data:
        a.data = add_arm_columns(a.data)
    notes = a.fit(NOTES, FORMULAS[NOTES], "cumulative", link="logit", target_accept=0.95)
    a.report.code(str(notes.summary()))
    a.report.text("trt is constant within a patient, so a patient's 'trt effect' u1 is never seen apart from their "
                  "intercept u0: placebo patients have latent level u0, drug patients u0 + u1. All the block can do "
                  "is let the between-patient variance differ by arm: var(u0) for placebo, var(u0) + var(u1) + "
                  "2 cov(u0, u1) for drug. Three parameters (two SDs and a correlation) carry two identified "
                  "numbers, so the trt SD and the correlation trade off along a ridge, which NUTS crosses slowly: "
                  f"this fit is {'converged' if notes.ok else 'NOT converged'} (trt SD: R-hat "
                  f"{notes.diagnostics.table.loc['trt|id_sigma', 'r_hat']:.2f}, bulk ESS "
                  f"{notes.diagnostics.table.loc['trt|id_sigma', 'ess_bulk']:.0f}), and more draws do not cure it "
                  "(at 4 x 1000 the bulk ESS of the trt SD was 14). mixcat's two mass points make the correlation -1 "
                  "by construction (two points always lie on a line), so its -1.00 says nothing about the patients.")
    a.report.text("The same random effects written as arm-specific intercepts, (0 + placebo|id) + (0 + drug|id), "
                  "give each patient one latent level with variance sigma_placebo^2 or sigma_drug^2: the two "
                  "identified numbers, each with its own prior. It has exactly the likelihood of the notes' model "
                  "(a correlation between a patient's placebo and drug levels never enters it, since no patient "
                  "has both), so the later steps use it.")
    arm = a.fit(ARM, FORMULAS[ARM], "cumulative", link="logit")
    a.report.code(str(arm.summary()))
    v_notes, v_arm = _arm_variances(notes), _arm_variances(arm)
    rows, values = {}, {}
    for key, label in VARIANCE_LABELS.items():
        row = {"mixcat": MIXCAT_ARM[key]}
        for name, v in ((NOTES, v_notes), (ARM, v_arm)):
            if key in v:
                lo, hi = interval_bounds(v[key])
                row[f"{name}: median"] = float(np.median(v[key]))
                row[f"{name}: 95% interval"] = f"[{lo:.2f}, {hi:.2f}]"
                if name == ARM or key not in v_arm:
                    values[label] = (float(np.median(v[key])), lo, hi)
            else:
                row[f"{name}: median"], row[f"{name}: 95% interval"] = np.nan, "not identified"
        rows[label] = row
    a.values["variances"] = values
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"),
                   "Between-patient (co)variances on the latent logit scale: mixcat's two-point distribution, the "
                   "notes' parameterisation and the arm-specific one (covariances have the same sign in both "
                   "conventions)")
    fig = posterior_figure([(v_arm["placebo"], "latent variance, placebo arm", (MIXCAT_ARM["placebo"],)),
                            (v_arm["drug"], "latent variance, drug arm", (MIXCAT_ARM["drug"],)),
                            (v_notes["cor"], "cor(u0, u1), notes' parameterisation", (MIXCAT_ARM["cor"],))],
                           reference_label="mixcat")
    a.report.figure(fig, "Between-patient variance by arm (arm-specific model) and the intercept-trt correlation "
                         "of the notes' parameterisation, with mixcat's values")
    pl, dr = values[VARIANCE_LABELS["placebo"]], values[VARIANCE_LABELS["drug"]]
    a.answer("3. Random intercept and trt", f"latent variance placebo {interval_text(*pl, 2)} (mixcat "
             f"{MIXCAT_ARM['placebo']:.2f}), "
             f"drug {interval_text(*dr, 2)} (mixcat {MIXCAT_ARM['drug']:.2f}); the notes' (1 + trt|id) "
             f"{'converged' if notes.ok else 'does not converge'} (its trt SD and correlation are not separately "
             f"identified; cor {interval_text(*values[VARIANCE_LABELS['cor']], 2)}, "
             "mixcat -1 forced by 2 mass points).")


@step(after=("step_random_slope",))
def step_sign_convention(a: Analysis) -> None:
    """4. mixcat's sign convention against Bambi's, and what a positive coefficient means."""
    key = ARM
    fit = a.fits[key]
    a.report.text("mixcat models logit P(Y <= r) = beta_r + x'gamma + z'b (its help page; its starting values are "
                  "binomial GLMs of I(y <= r)): P(Y <= r) = F(beta_r + eta). Bambi's cumulative family computes "
                  "threshold_r - eta and takes differences of F of it (bambi/families/univariate.py, as PyMC's "
                  "OrderedLogistic(eta, cutpoints) does): P(Y <= r) = F(c_r - eta). The cut-points are the same "
                  "numbers in both (beta_r = c_r), every coefficient changes sign (gamma = -beta), and so do the "
                  "random effects (b = -u), which leaves their variances and covariances as they are.")
    a.report.text("With y coded 1-4 and higher meaning more severe: in Bambi's convention a positive coefficient "
                  "raises eta, lowers P(Y <= r) for every r and so shifts the ratings towards the severe end; "
                  "exp(beta) is the cumulative odds ratio of a more severe rating (above r rather than at or "
                  "below r, the same for every r). In mixcat's convention a positive coefficient means less severe. "
                  f"mixcat's sqrt(wk) {MIXCAT['sqrt_wk'][0]:.4f} > 0 therefore says that placebo patients improve "
                  f"over the weeks, and trt:sqrt(wk) {MIXCAT['trt:sqrt_wk'][0]:.4f} > 0 that drug patients improve "
                  "faster: per unit of sqrt(week) their cumulative odds of a milder rating grow by a further factor "
                  f"exp({MIXCAT['trt:sqrt_wk'][0]:.4f}) = {np.exp(MIXCAT['trt:sqrt_wk'][0]):.2f}.")
    y, X, ids, Z = mixcat_design(a.data)
    cuts = [v[0] for k, v in MIXCAT.items() if k.startswith("cut")]
    gamma = [MIXCAT[t][0] for t in TERMS]
    as_printed = mass_point_deviance(y, X, ids, cuts, gamma, *MIXCAT_POINTS, Z)
    flipped = mass_point_deviance(y, -X, ids, cuts, gamma, *MIXCAT_POINTS, Z)
    refit = fit_mass_points(y, X, ids, cuts, gamma, *MIXCAT_POINTS, Z)
    a.values["mixcat_check"] = {"m2logl_printed_convention": as_printed, "m2logl_flipped": flipped,
                                "m2logl_maximised": refit["m2logl"]}
    a.report.text(f"A numerical check of mixcat's convention: its printed estimates (cut-points, coefficients, mass "
                  f"points and masses), put into logit P(Y <= r | b) = beta_r + x'gamma + z'b on these data, give "
                  f"-2 log-likelihood {as_printed:.3f}, the {MIXCAT_M2LOGL} mixcat prints; with the opposite sign "
                  f"(F(beta_r - x'gamma - z'b)) they give {flipped:.1f}. Maximising that likelihood from mixcat's "
                  f"values moves nothing ({refit['m2logl']:.3f}): mixcat's schizo fit is its maximum.")
    table = convention_table(fit)
    as_written = {n: float(np.median(d)) for n, d in to_mixcat(a.fits[NOTES]).items()}
    table.insert(4, "(1 + trt|id) as written", [as_written[n] for n in table.index])
    a.report.table(table, f"Cut-points and coefficients of the notes' model ({key} form): mixcat's printout, ours as "
                          "Bambi reports them, ours converted to mixcat's convention (95% intervals), and the "
                          "converted medians of the (1 + trt|id) fit as written, which agree")
    a.report.text("The numbers differ from mixcat's because the random-effect distributions differ: mixcat's two "
                  "mass points carry a latent variance of about 2.8 (placebo) and 2.0 (drug), a normal "
                  "distribution with a larger variance here. Coefficients of a subject-specific logit model "
                  "grow with the random-effect variance (the population-averaged ones are attenuated by about "
                  "sqrt(1 + 0.35 sigma^2)), so ours are somewhat larger in magnitude; the sign pattern is what "
                  "must agree.")
    b = {t: -table.loc[t, "ours (mixcat convention)"] for t in TERMS}
    both_negative = max(b["sqrt_wk"], b["trt:sqrt_wk"]) < 0
    trt, trt_se = MIXCAT["trt"]
    a.report.text(f"Ours in Bambi's convention: sqrt_wk {b['sqrt_wk']:.3f}, trt:sqrt_wk {b['trt:sqrt_wk']:.3f}"
                  + (" (negative: milder over the weeks, and faster on the drug)" if both_negative else "")
                  + f"; converted, {-b['sqrt_wk']:.3f} and {-b['trt:sqrt_wk']:.3f} against mixcat's "
                  f"{MIXCAT['sqrt_wk'][0]:.4f} and {MIXCAT['trt:sqrt_wk'][0]:.4f}. trt alone (the difference at "
                  f"week 0) is {b['trt']:.3f} in Bambi's convention, "
                  + (f"with an interval that contains 0, like mixcat's {trt:.4f} (SE {trt_se:.4f}): the arms start "
                     "alike, as randomisation makes them." if not table.loc["trt", "excludes 0"] else
                     f"with an interval that excludes 0 (mixcat: {trt:.4f}, SE {trt_se:.4f})."))
    conv = to_mixcat(fit)
    a.values["mixcat_convention"] = {n: (float(np.median(d)), *interval_bounds(d)) for n, d in conv.items()}
    a.values["bambi_convention"] = {n: (float(-np.median(d)), *(-x for x in interval_bounds(d)[::-1]))
                                    for n, d in conv.items() if not n.startswith("cut")}
    a.values["convention_table"] = table
    fig = posterior_figure([(conv[t], f"{t} in mixcat's convention (-beta)", (MIXCAT[t][0],)) for t in TERMS],
                           reference_label="mixcat")
    a.report.figure(fig, "The three coefficients converted to mixcat's convention, with mixcat's estimates")
    a.report.figure(_typical_patient_figure(fit),
                    "What the signs mean: P(markedly ill or worse, y >= 3) over the weeks for a typical patient "
                    "(random effects 0) in each arm, posterior median and 95% band")
    ds = fit.draws
    week6 = ds["trt"].values.ravel() + ds["trt:sqrt_wk"].values.ravel() * np.sqrt(6)
    lo, hi = interval_bounds(np.exp(week6))
    a.values["odds_ratio_week6"] = (float(np.median(np.exp(week6))), lo, hi)
    a.report.text(f"At week 6 the drug multiplies a patient's cumulative odds of a more severe rating by "
                  f"{interval_text(*a.values['odds_ratio_week6'], 3)} (exp(trt + trt:sqrt_wk * sqrt(6)), "
                  "subject-specific).")
    agree = all(table.loc[t, "same sign"] for t in ("sqrt_wk", "trt:sqrt_wk"))
    s, i = a.values["mixcat_convention"]["sqrt_wk"], a.values["mixcat_convention"]["trt:sqrt_wk"]
    a.answer("4. Sign convention", f"in mixcat's convention sqrt_wk {interval_text(*s, 2)} (mixcat "
             f"{MIXCAT['sqrt_wk'][0]:.4f}), trt:sqrt_wk {interval_text(*i, 2)} (mixcat "
             f"{MIXCAT['trt:sqrt_wk'][0]:.4f}): signs {'agree' if agree else 'DISAGREE'}; "
             "positive there = milder, positive in Bambi's = more severe.")


def _typical_patient_figure(fit):
    ds = fit.draws
    weeks = np.linspace(0, 6, 61)
    threshold = ds["threshold"].values.reshape(-1, ds["threshold"].shape[-1])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for trt, color in ((0, "#3b75af"), (1, "#e07b39")):
        eta = (ds["trt"].values.reshape(-1, 1) * trt + ds["sqrt_wk"].values.reshape(-1, 1) * np.sqrt(weeks)
               + ds["trt:sqrt_wk"].values.reshape(-1, 1) * trt * np.sqrt(weeks))
        p_severe = 1 - special.expit(threshold[:, [1]] - eta)  # P(Y >= 3) = 1 - F(c_2 - eta)
        lo, med, hi = np.quantile(p_severe, [0.025, 0.5, 0.975], axis=0)
        ax.plot(weeks, med, color=color, label=ARMS[trt])
        ax.fill_between(weeks, lo, hi, color=color, alpha=0.2)
    ax.set_xlabel("week")
    ax.set_ylabel("P(y >= 3), typical patient")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _psis_comparison(models: dict) -> pd.DataFrame:
    """PSIS-LOO of each model without remedies for high Pareto-k (quick mode only)."""
    from arviz_stats import compare as az_compare

    from bayesglmm.compare import _n_high, _psis

    elpds = {name: _psis(f) for name, f in models.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = az_compare(elpds, method="stacking", round_to="none")
    table = comp[["elpd", "se", "p", "elpd_diff", "dse", "weight"]].astype(float)
    table["n_high_k"] = [_n_high(elpds[m]) for m in table.index]
    table["method"] = "psis-loo (quick mode: no refits of high-k rows)"
    table["converged"] = [bool(models[m].ok) for m in table.index]
    table.index.name = "model"
    table.attrs["elpd"] = elpds
    return table


def _difference(elpds: dict, a: str, b: str) -> tuple[float, float]:
    diff = np.asarray(elpds[a].elpd_i).ravel() - np.asarray(elpds[b].elpd_i).ravel()
    return float(diff.sum()), float(np.sqrt(diff.size * np.var(diff)))


@step(after=("step_random_intercept", "step_random_slope"))
def step_compare(a: Analysis) -> None:
    """5. Random intercept or the notes' intercept-and-trt block? Compare by LOO."""
    rs, ri = ARM, "random intercept"
    models = {ri: a.fits[ri], rs: a.fits[rs]}
    a.report.text("The notes' model enters in its arm-specific form (same likelihood; the (1 + trt|id) fit as "
                  "written predicts the same but did not mix, see step 3).")
    if a.quick:
        # Exact refits of the high-k rows cost a full fit each (about a minute here, with
        # 1603 rows and 437 patients); quick mode reports plain PSIS-LOO and says so.
        table = _psis_comparison(models)
        d, se = _difference(table.attrs["elpd"], rs, ri)
        method = "PSIS-LOO without refits (quick mode)"
        a.report.table(table, "PSIS-LOO (quick mode: rows with high Pareto-k are counted, not refitted; the full "
                              "run refits them exactly or uses k-fold)")
    else:
        # Refits (of rows with high Pareto-k, or k-fold) use 4 x 1000 draws, also for the
        # random-intercept model that was sampled with twice as many.
        res = compare(models, seed=a.seed, allow_unconverged=True,
                      refit_settings={"draws": a.sizes["draws"], "tune": a.sizes["tune"]})
        a.report.table(res.table, "Cross-validation (PSIS-LOO; exact refits of rows with high Pareto-k, or k-fold)")
        for note in res.notes:
            a.report.text(f"Note: {note}")
        d, se = res.difference(rs, ri)
        method = ", ".join(sorted(set(res.table["method"])))
    a.values["loo"] = {"elpd_diff": d, "dse": se, "method": method}
    verdict = ("no clear gain from arm-specific variances (less than 2 SE); one random intercept is enough"
               if d < 2 * se else "the arm-specific variances (the notes' block) predict better")
    a.answer("5. LOO comparison", f"elpd(arm-specific) - elpd(one intercept) = {d:.1f} (SE {se:.1f}, {method}): "
             f"{verdict}.")


@step(after=("step_random_intercept", "step_random_slope"))
def step_icc(a: Analysis) -> None:
    """6. Intra-class correlation on the latent logit scale (residual variance pi^2/3)."""
    ri = a.fits["random intercept"]
    icc = ri.icc()
    a.report.code(str(icc))
    c = icc.loc["id"]
    a.values["icc"] = (float(c["median"]), float(c["lower"]), float(c["upper"]))
    v = _arm_variances(a.fits[ARM])
    rows, by_arm = {}, {}
    mixcat = MIXCAT_ARM
    for arm in ("placebo", "drug"):
        draws = v[arm] / (v[arm] + LATENT_VARIANCE)
        lo, hi = interval_bounds(draws)
        by_arm[arm] = (float(np.median(draws)), lo, hi)
        rows[arm] = {"mixcat": mixcat[arm] / (mixcat[arm] + LATENT_VARIANCE), "median": by_arm[arm][0],
                     "lower": lo, "upper": hi}
    a.values["icc_by_arm"] = by_arm
    a.report.table(pd.DataFrame.from_dict(rows, orient="index"),
                   "ICC by arm from the arm-specific model: var / (var + pi^2/3), with mixcat's variances")
    a.report.text("The ICC is the correlation of two ratings of the same patient on the latent logistic scale "
                  "(at the same covariate values): how much of the latent variation is between patients.")
    a.answer("6. ICC", f"ICC {interval_text(*a.values['icc'], 2)} (random intercept, latent scale pi^2/3); by arm "
             f"placebo {interval_text(*by_arm['placebo'], 2)} (mixcat {rows['placebo']['mixcat']:.2f}), drug "
             f"{interval_text(*by_arm['drug'], 2)} (mixcat {rows['drug']['mixcat']:.2f}).")


@step(after=("step_random_intercept",))
def step_checks(a: Analysis) -> None:
    """7. Posterior predictive checks: categories overall, and mean severity by arm and week."""
    fit = a.fits["random intercept"]
    data = a.data
    order = [f"{arm} wk {wk}" for arm in ARMS.values() for wk in (0, 1, 3, 6)] + ["other weeks"]
    arm_week = (data["trt"].map(ARMS) + " wk " + data["wk"].astype(str))
    arm_week = arm_week.where(data["wk"].isin([0, 1, 3, 6]), "other weeks")
    inside, n, ending = ordinal_checks(a, fit, arm_week.astype(pd.CategoricalDtype(order)).rename("arm x week"),
                                       **CHECKS)
    a.answer("7. Checks", f"{inside} of {n} arm-by-week mean severities inside their replicated 95% intervals{ending}")


STEPS = [step_describe, step_random_intercept, step_random_slope, step_sign_convention, step_compare, step_icc,
         step_checks]


run = runner(__name__)
