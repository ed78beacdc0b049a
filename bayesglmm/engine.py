"""The engine: the one place that compiles a model and draws from it.

Every draw bayesglmm makes goes through here: :func:`bayesglmm.fit` and its retry ladder,
the cross-validation refits of :func:`bayesglmm.compare`, :func:`bayesglmm.sbc` and
:func:`bayesglmm.fit_many` (which calls ``fit`` on each worker). The flow is

    spec (built model) --inputs_model--> PyMC model with the data as inputs
                        --Engine.compile--> compiled model (once per process and structure)
                        --Engine.draw(data=...)--> draws (DataTree)

* **The data are inputs, not constants.** :func:`inputs_model` turns the data arrays that
  Bambi puts into the graph as constants (response, design columns, group indices,
  offsets, trials, QR factors, prior vectors) into named shared variables. The compiled
  code then does not contain the data: a refit swaps the held-out mask, SBC swaps the
  response, and pytensor's on-disk numba cache (``~/.pytensor``) serves a later process
  fitting the same model structure to other data.
* **The same draws everywhere.** The log density is compiled without numba's fastmath
  flags. With them (pytensor's default), a process that compiled the model cold and a
  process that loaded the same model from the disk cache evaluated the log density
  differently in the last bits, enough to change the draws, so draws depended on which
  process had compiled first: the serial, local-pool and Dask runs of one seed differed whenever a worker found
  a cold cache or another process was writing it. With fastmath off a cold and a warm
  process give bit-identical draws (``tests/test_engine.py``).
* **An engine is one class** (:class:`Engine`): ``compile(model, var_names)`` and
  ``draw(compiled, settings, data, more)``. :class:`NutpieEngine` (numba, the default) and
  :class:`PymcEngine` (PyMC's NUTS) are the two today; a JAX engine is one more class.
* **A run can draw on.** ``more`` judges the draws at a checkpoint and may ask for more of
  the same chains (the retry ladder's first remedy, :func:`bayesglmm.fit.more_draws`).
  nutpie runs each chain as its own sampler for that (:mod:`bayesglmm.chains`); PyMC's
  chains are drawn anew, longer.
"""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from bayesglmm import marginal
from bayesglmm.errors import SettingsError

#: Name of the response's shared variable (SBC swaps it).
RESPONSE = "bayesglmm_response"
#: Name of the held-out mask of cross-validation refits (1 = held out).
HELDOUT = "bayesglmm_heldout"


@dataclass(frozen=True)
class DrawSettings:
    """How to draw: the sampler settings of one run.

    Attributes
    ----------
    draws, tune, chains : int
        Kept draws per chain, warm-up iterations per chain, chains.
    cores : int
        Chains run at once.
    seed : int
        The run's seed: the same seed gives bit-identical draws in any process.
    target_accept : float
        NUTS's target acceptance rate.
    low_rank : bool
        nutpie's low-rank modified mass matrix (ignored by PyMC's sampler).
    progressbar : bool
        Show the sampler's progress.
    max_draws : int or None
        Most draws per chain a run may go on to when its judge asks for more (see
        :meth:`Engine.draw`); None: ``draws``.

    Examples
    --------
    >>> DrawSettings(draws=10, tune=10, chains=2, cores=1, seed=1).target_accept
    0.9
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 1
    seed: int = 0
    target_accept: float = 0.9
    low_rank: bool = False
    progressbar: bool = False
    max_draws: int | None = None


def compile_flags():
    """PyTensor settings for every compile of the engine: no fastmath, no C compiler.

    fastmath off makes the draws independent of which process compiled the model (see the
    module docstring). ``cxx=""`` keeps gcc out of the one-off functions PyMC and Bambi
    compile around nutpie (initial point, log-likelihood): 12 of the 47 s that a fresh
    process spent compiling the hr_slopes model, for functions run once per chain.

    Examples
    --------
    >>> import pytensor
    >>> with compile_flags():
    ...     pytensor.config.numba__fastmath
    False
    """
    import pytensor

    return pytensor.config.change_flags(numba__fastmath=False, cxx="")


class Engine(ABC):
    """Compiles a PyMC model once and draws from it with any data and settings.

    Examples
    --------
    >>> get_engine("nutpie").name
    'nutpie'
    """

    name = "engine"

    @abstractmethod
    def compile(self, model, var_names: list[str]):
        """Compile ``model`` (its log density and the stored variables ``var_names``)."""

    @abstractmethod
    def draw(self, compiled, settings: DrawSettings, data: dict | None = None, more=None):
        """Draws (an ArviZ DataTree with ``/posterior`` and ``/sample_stats``), ``data`` swapped in.

        ``more(tree)``, when given, judges the draws so far and returns the draws per chain
        wanted in all (at most ``settings.max_draws``), or 0 to stop; the run then returns
        the tree ``more`` got, as ``more`` left it.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: nutpie's mass-matrix adaptation when the low-rank one is off (models over
#: ``fit.LOW_RANK_MAX_PARAMS`` free parameters): a diagonal estimated from the warm-up draws'
#: variances ("draw_diag", as Stan and PyMC adapt), not nutpie's default "diag", which also uses
#: the gradients' variances. With many weakly informed levels the gradient-based estimate
#: mis-scales the log group SD, which then mixes slowly: the first attempts that failed were the
#: SD's (issue 16). Same seeds, 4 x 1000 after 1000: patients' hospital SD min bulk ESS 252-447 ->
#: 591-975 (first attempt passed for seeds 1, 9, 10; seed 3 still failed, R-hat 1.0109 instead of
#: 1.0136), about 1.5 times the leapfrog steps; muscatine's child SD 681-764 -> 1109-1252 (seeds 4
#: and 6 now pass at the first attempt), the same steps. Models up to that size use the low-rank
#: matrix and are unchanged.
DIAG_ADAPTATION = "draw_diag"


class NutpieEngine(Engine):
    """nutpie's NUTS on a numba-compiled log density (the default).

    The mass matrix is nutpie's low-rank modified one where ``settings.low_rank``, otherwise
    a diagonal one adapted from the draws' variances (:data:`DIAG_ADAPTATION`). Each chain is
    its own nutpie sampler (:mod:`bayesglmm.chains`), so that a run can draw on from a checkpoint.
    The log density is compiled with softplus and sigmoid sharing one ``exp``
    (:mod:`bayesglmm.logistic_rewrite`).

    Examples
    --------
    >>> NutpieEngine().name
    'nutpie'
    """

    name = "nutpie"

    def compile(self, model, var_names):
        from bayesglmm.logistic_rewrite import numba_mode
        from bayesglmm.nutpie_compile import compile_numba

        with compile_flags(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            return compile_numba(model, var_names, mode=numba_mode())

    def draw(self, compiled, settings, data=None, more=None):
        from bayesglmm.chains import draw_chains

        if data:
            compiled = compiled.with_data(**data)
        options = {"target_accept": settings.target_accept}
        if settings.low_rank:
            options["low_rank_modified_mass_matrix"] = True
        else:
            options["adaptation"] = DIAG_ADAPTATION
        with compile_flags(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            return draw_chains(compiled, settings, options, more)


class PymcEngine(Engine):
    """PyMC's own NUTS (compiled by PyTensor's default backend when it draws).

    ``draw`` sets the model's shared variables to ``data`` for the call and restores them
    after: one draw at a time per compiled model (chains run in PyMC's own processes).

    Examples
    --------
    >>> PymcEngine().name
    'pymc'
    """

    name = "pymc"

    def compile(self, model, var_names):
        return model, list(var_names)

    def draw(self, compiled, settings, data=None, more=None):
        """PyMC's chains cannot draw on: a run that ``more`` extends is drawn anew, longer."""
        tree = self._draw(compiled, settings, data)
        while more is not None and (wanted := min(int(more(tree)), settings.max_draws or 0)) > settings.draws:
            settings = replace(settings, draws=wanted)
            tree = self._draw(compiled, settings, data)
        return tree

    def _draw(self, compiled, settings, data):
        import pymc as pm

        model, var_names = compiled
        shared = {var.name: var for var in _shared_inputs(model)}
        saved = {name: shared[name].get_value() for name in data or {}}
        try:
            for name, value in (data or {}).items():
                shared[name].set_value(np.asarray(value, dtype=saved[name].dtype))
            with model, warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=FutureWarning)
                return pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                 cores=settings.cores, random_seed=settings.seed, var_names=var_names,
                                 target_accept=settings.target_accept, progressbar=settings.progressbar,
                                 compute_convergence_checks=False)
        finally:
            for name, value in saved.items():
                shared[name].set_value(value)


ENGINES = {"nutpie": NutpieEngine, "pymc": PymcEngine}


def get_engine(name: str) -> Engine:
    """The engine called ``name``, or a SettingsError listing the valid ones.

    Examples
    --------
    >>> get_engine("pymc")
    PymcEngine()
    """
    if name not in ENGINES:
        raise SettingsError(f"sampler must be one of {', '.join(map(repr, ENGINES))}; got {name!r}.")
    return ENGINES[name]()


def _shared_inputs(model) -> list:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    outputs = [model.logp()] + list(model.deterministics)
    return [v for v in ancestors(outputs) if isinstance(v, SharedVariable) and v.name]


def inputs_model(spec, *, heldout: bool = False):
    """The spec's PyMC model with its data as named shared variables (inputs of the compiled code).

    Every constant of the graph that holds data becomes a shared variable: float arrays of
    any size (design columns, QR factors, offsets, data-scaled prior vectors), integer
    arrays with one value per row (group indices, counts, trials) and the scalar float
    parameters of distributions (data-scaled prior scales and locations); the response is
    named :data:`RESPONSE`. The compiled code then depends on the model's structure only
    (and on the number of parameters, e.g. of group levels), not on the data's values or
    number of rows, so the disk cache serves any data set of that structure. The model and
    its log density are unchanged (``tests/test_engine.py``); only the compiled code no
    longer contains the data.

    With ``heldout=True`` the model also gets the mask :data:`HELDOUT` (one value per row,
    zeros) and the potential ``-sum(mask * loglik_i)``, which removes the held-out rows'
    likelihood: the posterior given the other rows, under the same priors, with every
    level kept (a level whose rows are all held out gets the new-level distribution).

    Examples
    --------
    >>> m = inputs_model(build_model("y ~ x", df))  # doctest: +SKIP
    >>> RESPONSE in {v.name for v in _shared_inputs(m)}  # doctest: +SKIP
    True
    """
    import pymc as pm
    import pytensor
    from pymc.model.fgraph import ModelObservedRV, fgraph_from_model, model_from_fgraph
    from pymc.distributions.distribution import SymbolicRandomVariable
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.replace import clone_replace
    from pytensor.tensor.random.op import RandomVariable
    from pytensor.tensor.variable import TensorConstant

    model = spec.pymc_model
    n_obs = spec.n_obs
    initial_values = {rv.name: value for rv, value in model.rvs_to_initial_values.items() if value is not None}
    saved = dict(model.rvs_to_initial_values)
    try:  # fgraph_from_model refuses initial values: carried over by name, as PyMC's freeze_dims_and_data does
        for rv in model.rvs_to_initial_values:
            model.rvs_to_initial_values[rv] = None
        fg, _ = fgraph_from_model(model)
    finally:
        model.rvs_to_initial_values.update(saved)
    observed = {node.inputs[1] for node in fg.apply_nodes if isinstance(node.op, ModelObservedRV)}
    replacements = {}
    for node in fg.toposort():
        parameters = isinstance(node.op, (RandomVariable, SymbolicRandomVariable))
        for value in node.inputs:
            if not isinstance(value, TensorConstant) or value in replacements:
                continue
            if value.ndim == 0:  # a distribution's scalar parameter (data-scaled priors); not structure
                if parameters and value.dtype.startswith("float"):
                    replacements[value] = pytensor.shared(value.data.copy(), shape=(),
                                                          name=f"bayesglmm_data_{len(replacements)}")
                continue
            per_row = value.data.shape[0] == n_obs
            if value in observed:
                name = RESPONSE
            elif value.dtype.startswith("float") or per_row:
                name = f"bayesglmm_data_{len(replacements)}"
            else:
                continue
            shape = tuple(None if per_row and axis == 0 else size for axis, size in enumerate(value.data.shape))
            replacements[value] = pytensor.shared(value.data.copy(), shape=shape, name=name)
    # Rebuilt rather than replaced in place: an in-place replacement keeps each constant's
    # static shape through a SpecifyShape, which would put the number of rows back in the graph.
    outputs = clone_replace(fg.outputs, replace=replacements, rebuild_strict=False)
    rebuilt = FunctionGraph(outputs=outputs, clone=False)
    rebuilt._coords, rebuilt._dim_lengths = fg._coords, fg._dim_lengths
    new = model_from_fgraph(rebuilt, mutate_fgraph=True)
    for name, value in initial_values.items():
        new.set_initval(new[name], value)
    if heldout:
        with new:
            mask = pytensor.shared(np.zeros(n_obs), shape=(None,), name=HELDOUT)
            loglik = new.logp(vars=[new.observed_RVs[0]], sum=False)[0]
            pm.Potential("bayesglmm_heldout_loglik", -(mask * loglik).sum())
    return new


def stored_names(spec, model=None) -> list[str]:
    """The variables a draw stores: Bambi's choice (no per-row means of the likelihood).

    Examples
    --------
    >>> "mu" in stored_names(build_model("y ~ x", df))  # doctest: +SKIP
    False
    """
    from pymc.util import get_default_varnames

    model = spec.pymc_model if model is None else model
    params = spec.bambi_model.family.likelihood.params
    names = [v.name for v in get_default_varnames(model.unobserved_value_vars, include_transformed=False)]
    per_row = {v for v in names if "__obs__" in (model.named_vars_to_dims.get(v) or ())}
    return [v for v in names if not (v in params and model[v] in model.deterministics and v in per_row)]


def compile_spec(spec, engine: Engine, *, heldout: bool = False):
    """``engine.compile`` of :func:`inputs_model` of ``spec``, storing :func:`stored_names`.

    Examples
    --------
    >>> compiled = compile_spec(spec, NutpieEngine())  # doctest: +SKIP
    """
    model = inputs_model(spec, heldout=heldout)
    if spec.marginalised and not heldout:
        # Refits keep the joint model (its held-out mask is per row); the posterior is the same.
        model = marginal.integrate_out(model, spec.marginalised, marginalised_index(spec),
                                       marginalised_levels(spec))
    return engine.compile(model, stored_names(spec, model))


def marginalised_levels(spec) -> int:
    """Number of levels (effects) of the spec's marginalised term."""
    model = spec.pymc_model
    return int(np.prod([len(model.coords[dim]) for dim in model.named_vars_to_dims[spec.marginalised]]))


def marginalised_index(spec) -> np.ndarray:
    """Each row's level of the spec's marginalised term (:mod:`bayesglmm.marginal`)."""
    comp = spec.bambi_model.parameters[spec.bambi_model.family.likelihood.parent]
    return np.asarray(comp.group_specific_terms[spec.marginalised].group_index)


def compiled_for(spec, engine: Engine, *, heldout: bool = False) -> tuple[object, float]:
    """The spec's model compiled by ``engine``, once per spec; returns ``(compiled, seconds)``.

    ``seconds`` is the compile time when this call compiled it, else 0. The compiled forms
    live on the spec (``spec.compiled``), so the retry ladder's later attempts, the refits
    and SBC fits of a spec reuse them.

    Examples
    --------
    >>> compiled, seconds = compiled_for(spec, NutpieEngine())  # doctest: +SKIP
    """
    key = (engine.name, heldout)
    if key not in spec.compiled:
        start = time.perf_counter()
        spec.compiled[key] = compile_spec(spec, engine, heldout=heldout)
        return spec.compiled[key], time.perf_counter() - start
    return spec.compiled[key], 0.0


def complete(spec, idata, seed: int) -> None:
    """Add the marginalised term's level effects to raw draws, in place (:func:`bayesglmm.marginal.complete_draws`).

    Nothing to do when the spec has no marginalised term or the draws come from the joint
    model (the refits').

    Examples
    --------
    >>> complete(spec, raw_draws, seed=1)  # doctest: +SKIP
    """
    name = spec.marginalised
    if name and name + marginal.MEAN_SUFFIX in idata["posterior"].data_vars:
        marginal.complete_draws(idata, name, marginalised_index(spec), seed)


def finish(spec, idata, *, seconds: float = 0.0, seed: int = 0):
    """Bambi's post-processing of raw draws: coordinates, uncentred intercept, offsets dropped.

    A marginalised term's effects are drawn first (:func:`complete`, from ``seed``).

    Raw nutpie draws also get ``/observed_data`` and ``/constant_data`` from the spec's own
    model, as PyMC adds them after nutpie (``pymc.backends.arviz.patch_nutpie_idata``).

    Examples
    --------
    >>> idata = finish(spec, NutpieEngine().draw(compiled, DrawSettings()))  # doctest: +SKIP
    """
    from pymc.backends.arviz import patch_nutpie_idata

    complete(spec, idata, seed)
    if "observed_data" not in idata.children and "inference_library_settings" in idata["sample_stats"].attrs:
        patch_nutpie_idata(idata, spec.pymc_model, sampling_time=seconds)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return spec.bambi_model.backend._clean_results(idata, True, False)


__all__ = ["DIAG_ADAPTATION", "DrawSettings", "ENGINES", "Engine", "HELDOUT", "NutpieEngine", "PymcEngine", "RESPONSE",
           "compile_flags", "compile_spec", "compiled_for", "complete", "finish", "get_engine", "inputs_model", "stored_names"]
