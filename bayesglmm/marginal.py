"""Group intercepts integrated out exactly: a normal response's largest group term (issue 20).

For a normal response with the identity link, ``y = m + u[g] + e`` with ``u ~ Normal(0, tau)``
and ``e ~ Normal(0, sigma)``, the group effects ``u`` integrate out in closed form: each
level's rows are jointly normal with covariance ``sigma^2 I + tau^2 J``. With ``r = y - m``,
``n_j`` rows, ``S1_j = sum r`` and ``v = sigma^2``, the log-likelihood of the rows of all
levels is

    -1/2 [ N log 2 pi + (N - J) log v + sum_j log(v + n_j tau^2)
           + (sum r^2 - sum_j tau^2 S1_j^2 / (v + n_j tau^2)) / v ].

The sampler then sees every other parameter, but not the ``J`` level effects nor the funnel
between them and ``tau``; the effects are drawn afterwards, exactly, from their conditional
posterior ``u_j | rest ~ Normal(tau^2 S1_j / d_j, sqrt(tau^2 v / d_j))``, ``d_j = v + n_j tau^2``,
one draw per posterior draw. The posterior is the same model's (``tests/test_marginal.py``
checks the log density and, by simulation-based calibration, the draws).

Cost per gradient: passes over the rows, as the joint model's (a little more: the per-level
sums). What it saves is leapfrog steps: on simulated crossed data
(``benchmarks/profile_crossed.py --rows 20000``, 800 students x 300 instructors) 15 steps
per draw instead of 28 (``--parameterization centred``), and on InstEval (``benchmarks/scaling.py``) the first attempt
converges, where the joint model's needed the retry ladder, because the largest factor's SD
no longer trades against its levels.

The flow: :func:`candidate` (at build, :mod:`bayesglmm.model`) picks the term; the engine's
:func:`integrate_out` rewrites the compiled model; :func:`complete_draws` adds the level
effects to the draws (:func:`bayesglmm.engine.finish`).
"""

from __future__ import annotations

import numpy as np

from bayesglmm.errors import SettingsError

#: Label of a marginalised term (``spec.parameterization``, the summary's "Group effects" line).
LABEL = "marginalised"
#: Deterministic holding each draw's conditional means of the level effects (removed by complete_draws).
MEAN_SUFFIX = "__conditional_mean"
#: Deterministic holding each draw's (1 / tau^2, 1 / sigma^2) (removed by complete_draws).
PRECISIONS_SUFFIX = "__conditional_precisions"
#: Name of the potential that replaces the response's likelihood.
POTENTIAL = "bayesglmm_marginal_loglik"
#: Name of the shared variable of the marginalised term's level index (one per row).
INDEX = "bayesglmm_marginal_index"
#: Name of the shared variable of the marginalised term's rows per level.
COUNTS = "bayesglmm_marginal_counts"


def refusal(term, family, link: str, *, prior, dpars, weights, censored: bool, correlated: bool,
            is_parent: bool, set_by_prior: bool = False) -> str | None:
    """Why ``term`` cannot be integrated out, or None when it can.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> class T: kind = "intercept"
    >>> refusal(T(), get_family("poisson"), "log", prior=None, dpars={}, weights=None, censored=False,
    ...         correlated=False, is_parent=False)
    'the poisson family with the log link has no closed-form marginal (a normal response with the identity link has)'
    """
    if family.integrable_link != link:
        return (f"the {family.name} family with the {link} link has no closed-form marginal "
                "(a normal response with the identity link has)")
    if dpars:
        return "sigma has its own formula"
    if weights is not None:
        return "the rows have weights"
    if censored:
        return "the response is censored"
    if term.kind != "intercept":
        return "it is a slope (only group intercepts are integrated out)"
    if correlated:
        return "it is in a correlated block"
    if is_parent:
        return "other terms are nested in it"
    if getattr(prior, "name", None) != "Normal" or prior.args.get("mu", 0) != 0:
        return "its prior is not Normal(0, sd)"
    if set_by_prior:
        return "its prior sets the parameterisation (noncentered=...)"
    return None


def choose(terms, reasons: dict, wanted: dict) -> str | None:
    """The term to integrate out: the one the user named, else under ``"auto"`` the eligible one with most levels.

    ``reasons`` maps each term to :func:`refusal`'s answer and ``wanted`` to the user's choice
    for it (``"auto"``, ``"centred"``, ...). A term named ``"marginalised"`` that cannot be
    raises SettingsError with the reason. Under ``"auto"`` the largest eligible term (most
    levels) is taken: it removes the most parameters and the largest funnel.

    Examples
    --------
    >>> import numpy as np
    >>> class T:
    ...     def __init__(self, n): self.group_index = np.arange(n)
    >>> choose({"1|a": T(3), "1|b": T(9)}, {"1|a": None, "1|b": None}, {"1|a": "auto", "1|b": "auto"})
    '1|b'
    >>> choose({"1|a": T(3), "1|b": T(9)}, {"1|a": None, "1|b": None}, {"1|a": "auto", "1|b": "centred"})
    '1|a'
    """
    named = [name for name, value in wanted.items() if value == LABEL]
    if len(named) > 1:
        raise SettingsError(f"Only one group term can be {LABEL}; got {', '.join(named)}.")
    for name in named:
        if reasons[name] is not None:
            raise SettingsError(f"{name!r} cannot be {LABEL}: {reasons[name]}.")
        return name
    eligible = [name for name, value in wanted.items() if value == "auto" and reasons[name] is None]
    if not eligible:
        return None
    return max(eligible, key=lambda name: (int(terms[name].group_index.max()) + 1, name))


def integrate_out(model, name: str, group_index: np.ndarray, n_levels: int):
    """A copy of the PyMC ``model`` with group term ``name`` integrated out (see the module docstring).

    The response's likelihood becomes the potential :data:`POTENTIAL`; the term's effects and
    every deterministic that reads them leave the model; two deterministics (the conditional
    means, ``name + MEAN_SUFFIX``, and the precisions ``name + PRECISIONS_SUFFIX``) are added
    for :func:`complete_draws`. The response and the level index stay shared variables, so the
    compiled code does not hold the data.

    Examples
    --------
    >>> marginal = integrate_out(model, "1|s", index, 800)  # doctest: +SKIP
    >>> "1|s" in marginal.named_vars  # doctest: +SKIP
    False
    """
    import pytensor
    import pytensor.tensor as pt
    from pymc.model.fgraph import (ModelDeterministic, ModelFreeRV, ModelObservedRV, fgraph_from_model,
                                   model_deterministic, model_from_fgraph, model_potential)
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.random.basic import NormalRV

    initial_values = {rv.name: value for rv, value in model.rvs_to_initial_values.items()
                      if value is not None and rv.name != name}
    saved = dict(model.rvs_to_initial_values)
    try:  # fgraph_from_model refuses initial values (as in bayesglmm.engine.inputs_model)
        for rv in model.rvs_to_initial_values:
            model.rvs_to_initial_values[rv] = None
        fg, _ = fgraph_from_model(model)
    finally:
        model.rvs_to_initial_values.update(saved)
    effects = next((o for o in fg.outputs if isinstance(o.owner.op, ModelFreeRV) and o.owner.op.name == name), None)
    observed = [o for o in fg.outputs if isinstance(o.owner.op, ModelObservedRV)]
    if effects is None or len(observed) != 1:
        raise SettingsError(f"{name!r} cannot be {LABEL}: the model has no free term of that name and one response.")
    effects_rv = effects.owner.inputs[0]
    response_rv, response = observed[0].owner.inputs[:2]
    if not (isinstance(effects_rv.owner.op, NormalRV) and isinstance(response_rv.owner.op, NormalRV)):
        raise SettingsError(f"{name!r} cannot be {LABEL}: its prior and the response must both be normal.")
    location, tau = (_scalar(p) for p in effects_rv.owner.inputs[-2:])
    try:
        zero_location = location is not None and float(pt.get_underlying_scalar_constant_value(location)) == 0.0
    except Exception:  # noqa: BLE001 - pytensor raises NotScalarConstantError for any non-constant
        zero_location = False
    mu, sigma = response_rv.owner.inputs[-2], _scalar(response_rv.owner.inputs[-1])
    if not zero_location or tau is None or sigma is None:
        raise SettingsError(f"{name!r} cannot be {LABEL}: it needs effects Normal(0, sd) and one residual SD.")

    index = pytensor.shared(np.asarray(group_index, dtype="int64"), shape=(None,), name=INDEX)
    residual = response - mu
    rows = pt.cast(residual.shape[0], "float64")
    counts = pytensor.shared(np.bincount(index.get_value(), minlength=n_levels).astype("float64"), shape=(None,),
                             name=COUNTS)
    sums = pt.zeros(n_levels)[index].inc(residual)
    v, t2 = sigma**2, tau**2
    spread = v + counts * t2
    loglik = -0.5 * (rows * np.log(2 * np.pi) + (rows - n_levels) * pt.log(v) + pt.sum(pt.log(spread))
                     + (pt.sum(residual**2) - pt.sum(t2 * sums**2 / spread)) / v)
    dims = effects.owner.op.dims
    added = [model_potential(loglik, POTENTIAL),
             model_deterministic(t2 * sums / spread, name + MEAN_SUFFIX, *dims),
             model_deterministic(pt.stack([1.0 / t2, 1.0 / v]), name + PRECISIONS_SUFFIX)]
    kept = [o for o in fg.outputs if o is not effects and o is not observed[0]
            and not (isinstance(o.owner.op, ModelDeterministic) and effects in ancestors([o]))]
    outputs = clone_replace(kept + added, replace={effects: pt.zeros(n_levels)}, rebuild_strict=False)
    rebuilt = FunctionGraph(outputs=outputs, clone=False)
    rebuilt._coords, rebuilt._dim_lengths = fg._coords, fg._dim_lengths
    new = model_from_fgraph(rebuilt, mutate_fgraph=True)
    for var_name, value in initial_values.items():
        if var_name in new.named_vars:
            new.set_initval(new[var_name], value)
    return new


def _scalar(parameter):
    """A distribution parameter as a scalar (PyMC passes scalars expanded to shape (1,)), or None if it varies."""
    if parameter.ndim == 0:
        return parameter
    if parameter.owner is not None and parameter.owner.inputs[0].ndim == 0 and parameter.type.shape == (1,):
        return parameter.owner.inputs[0]  # ExpandDims of a scalar
    if parameter.type.shape == (1,):
        return parameter[0]
    return None


def complete_draws(idata, name: str, group_index: np.ndarray, seed: int) -> None:
    """Add the level effects of the marginalised term ``name`` to ``idata``'s posterior, in place.

    Each draw's effects come from their exact conditional posterior given that draw's other
    parameters: ``Normal(mean_j, 1 / sqrt(1/tau^2 + n_j/sigma^2))`` with the means stored by
    the sampler. The normal deviates come from ``seed`` alone, so a seed gives the same
    effects in any process. The two helper deterministics are removed.

    Examples
    --------
    >>> complete_draws(idata, "1|s", spec.bambi_model... .group_index, seed=1)  # doctest: +SKIP
    """
    post = idata["posterior"]
    mean = post[name + MEAN_SUFFIX]
    precisions = np.asarray(post[name + PRECISIONS_SUFFIX])
    counts = np.bincount(np.asarray(group_index), minlength=mean.shape[-1])
    sd = 1.0 / np.sqrt(precisions[..., :1] + counts * precisions[..., 1:])
    rng = np.random.default_rng([int(seed), 20_261_207])  # a stream of its own, apart from the sampler's
    effects = mean.copy(data=np.asarray(mean) + sd * rng.standard_normal(mean.shape))
    dataset = post.to_dataset().drop_vars([name + MEAN_SUFFIX, name + PRECISIONS_SUFFIX])
    dataset[name] = effects
    drop = [dim for dim in dataset.dims if dim not in set().union(*(dataset[v].dims for v in dataset.data_vars))]
    idata["posterior"] = dataset.drop_dims(drop) if drop else dataset


__all__ = ["COUNTS", "INDEX", "LABEL", "MEAN_SUFFIX", "POTENTIAL", "PRECISIONS_SUFFIX", "choose", "complete_draws",
           "integrate_out", "refusal"]
