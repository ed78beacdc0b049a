"""Prior sensitivity of a fit: does the posterior move when the prior or the likelihood is power-scaled?

The power-scaling diagnostic of Kallioinen et al. (2024, *Stat Comput* 34:57; R's priorsense)
raises the prior, or the likelihood, to a power alpha near 1 and measures how far each
parameter's posterior moves (the cumulative Jensen-Shannon distance per unit of log alpha),
by Pareto-smoothed importance weights on the draws already made: nothing is refitted.
arviz-stats computes it (``arviz_stats.psense``); this module chooses what to scale and says
what the numbers mean.

Only the top-level priors are scaled: those of the fixed effects, the family's parameters,
the group-level SDs and correlations. The group effects' own distribution given their SD is
part of the model's hierarchy, not a choice of prior, and scaling it would flag every
hierarchical model (the choice priorsense makes for brms's ``lprior``).

A parameter is flagged when its prior sensitivity reaches the threshold (0.05, priorsense's):
- with likelihood sensitivity too, **prior-data conflict**: the data pull against the prior,
  e.g. a prior centred far from where the data put the parameter;
- without it, **prior-dominated**: the data say little about it and the prior decides.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayesglmm.errors import NoPosteriorError, SettingsError
from bayesglmm.parameterization import PARTIAL_SUFFIX

#: priorsense's threshold on the power-scaling distance.
THRESHOLD = 0.05
#: Power-scaling range (priorsense's): alpha = 0.99 and 1.01.
ALPHAS = (0.99, 1.01)
#: The hierarchical variables' name endings: the group effects given their SDs (see the module note).
GROUP_EFFECT_SUFFIXES = ("", "_offset", "_z_offset", "_effects", "_total", PARTIAL_SUFFIX)

#: The diagnosis as the summary's column shows it.
SHORT = {"ok": "ok", "prior-data conflict": "conflict", "prior-dominated": "prior-dominated"}

ADVICE = {
    "prior-data conflict": "the data pull against the prior: check its location and scale (fit.prior_summary()) "
                           "against what you know, and refit with a prior you can defend",
    "prior-dominated": "the data say little about it and the prior decides: report it as prior-driven, "
                       "or collect data that inform it; a different defensible prior gives a different answer",
}


def _group_names(spec) -> set[str]:
    model = spec.bambi_model.backend.model
    labels = set(spec.parameterization)
    labels |= {v.name[: -len(suffix)] for v in model.free_RVs for suffix in ("_chol_cov", "_corr_chol")
               if v.name.endswith(suffix)}
    return {label + suffix for label in labels for suffix in GROUP_EFFECT_SUFFIXES}


def top_level_variables(spec) -> list[str]:
    """The model's free variables whose priors are scaled: all but the group effects.

    Examples
    --------
    >>> top_level_variables(fit.spec)  # doctest: +SKIP
    ['sigma', 'Intercept', 'fixed_qr', '1|centre_sigma']
    """
    hierarchical = _group_names(spec)
    return [v.name for v in spec.bambi_model.backend.model.free_RVs if v.name not in hierarchical]


def reported_variables(spec, posterior) -> list[str]:
    """The posterior variables the summary reports: fixed effects, family parameters, SDs, correlations."""
    from bayesglmm.dpars import coefficient_names, dpars_of

    bm = spec.bambi_model
    parent = bm.parameters[bm.family.likelihood.parent]
    names = (["Intercept"] if parent.intercept_term is not None else []) + list(parent.common_terms)
    names += [name for name in bm.parameters if name != bm.family.likelihood.parent]
    names += list(coefficient_names(bm, dpars_of(spec)))  # sigma_Intercept, sigma_x (bayesglmm.dpars)
    names += [f"{term}_sigma" for term in parent.group_specific_terms]
    names += [str(v) for v in posterior.data_vars if str(v).endswith("_corr")]
    return [name for name in names if name in posterior.data_vars]


def _log_prior(spec, idata):
    import pymc as pm

    from bayesglmm.backend import AT_MEAN_SUFFIX
    from bayesglmm.engine import compile_flags

    model = spec.bambi_model.backend.model
    posterior = idata["posterior"].to_dataset()
    names = [name for name in top_level_variables(spec) if name in posterior.data_vars]
    # PyMC wants a value for every free variable, though the scaled priors read only their own:
    # the group effects' raw variables (dropped after sampling) are filled with zeros.
    shapes = model.eval_rv_shapes()
    for rv in model.free_RVs:
        if rv.name not in posterior.data_vars:
            shape = tuple(shapes[rv.name])
            zeros = np.zeros((posterior.sizes["chain"], posterior.sizes["draw"], *shape))
            posterior[rv.name] = (("chain", "draw", *(f"{rv.name}_dim_{i}" for i in range(len(shape)))), zeros)
    # An intercept sampled at the mean linear predictor (bayesglmm.backend.build_intercept_at_mean)
    # has its prior at Intercept_at_mean - shift: with the offsets at zero the shift is zero,
    # so Intercept_at_mean takes the intercept's values and its log prior is the intercept's.
    for name in names:
        if name.endswith(AT_MEAN_SUFFIX) and name[: -len(AT_MEAN_SUFFIX)] in posterior.data_vars:
            posterior[name] = posterior[name[: -len(AT_MEAN_SUFFIX)]]
    with compile_flags(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm.stats.compute_log_prior(xr.DataTree.from_dict({"posterior": posterior}), var_names=names,
                                          model=model, extend_inferencedata=False, progressbar=False)


def _diagnosis(prior: float, likelihood: float, threshold: float) -> str:
    if prior >= threshold and likelihood >= threshold:
        return "prior-data conflict"
    if prior >= threshold:
        return "prior-dominated"
    return "ok"


def _flat(dataset) -> dict[str, float]:
    out = {}
    for name, da in dataset.data_vars.items():
        dims = list(da.dims)
        if not dims:
            out[str(name)] = float(da.values)
            continue
        stacked = da.stack(element=dims) if len(dims) > 1 else da.rename({dims[0]: "element"})
        for index, value in zip(stacked["element"].values, stacked.values):
            label = ", ".join(str(v) for v in (index if isinstance(index, tuple) else (index,)))
            out[f"{name}[{label}]"] = float(value)
    return out


def sensitivity(fit, *, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Power-scaling prior and likelihood sensitivity of each reported parameter.

    One row per parameter element, labelled as the summary's ``label`` column:
    ``prior`` and ``likelihood`` (the power-scaling distances), ``diagnosis``
    (``"ok"``, ``"prior-data conflict"`` or ``"prior-dominated"``) and ``advice``.
    A fit stored without its pointwise log-likelihood (``log_likelihood=False``, or "auto"
    on large data) gets each draw's total computed (:func:`bayesglmm.fit.log_likelihood_totals`);
    the fit is left as it was.

    Examples
    --------
    >>> table = bg.sensitivity(fit)  # doctest: +SKIP
    >>> table[table["diagnosis"] != "ok"]  # doctest: +SKIP
    """
    from arviz_stats import psense

    from bayesglmm.fit import log_likelihood_totals

    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not threshold > 0:
        raise SettingsError(f"threshold must be a positive number (priorsense's is 0.05); got {threshold!r}.")
    if fit.prior_only:
        raise NoPosteriorError("Prior sensitivity needs posterior draws; this fit holds prior draws only.")
    idata = fit.idata
    posterior = idata["posterior"].to_dataset()
    names = reported_variables(fit.spec, posterior)
    data = idata.copy()
    # priorsense scales the likelihood's total: each draw's sum is all it needs (psense stacks
    # whatever it is given: 30 s and gigabytes for 40,000 rows x 4,000 draws).
    data["log_likelihood"] = log_likelihood_totals(idata, fit.spec.bambi_model)
    data["log_prior"] = _log_prior(fit.spec, idata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = {group: _flat(psense(data, var_names=names, group=group, alphas=ALPHAS))
                  for group in ("prior", "likelihood")}
    labels = list(scaled["prior"])
    table = pd.DataFrame({"prior": [scaled["prior"][k] for k in labels],
                          "likelihood": [scaled["likelihood"][k] for k in labels]}, index=pd.Index(labels, name="label"))
    table["diagnosis"] = [_diagnosis(p, q, threshold) for p, q in zip(table["prior"], table["likelihood"])]
    table["advice"] = table["diagnosis"].map(ADVICE).fillna("")
    table["short"] = table["diagnosis"].map(SHORT)
    return table


def flagged(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`sensitivity` table whose diagnosis is not ``"ok"``.

    Examples
    --------
    >>> flagged(pd.DataFrame({"diagnosis": ["ok", "prior-dominated"]}, index=["a", "b"])).index.tolist()
    ['b']
    """
    return table[table["diagnosis"] != "ok"]


__all__ = ["ADVICE", "THRESHOLD", "flagged", "reported_variables", "sensitivity", "top_level_variables"]
