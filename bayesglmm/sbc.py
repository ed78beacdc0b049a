"""Simulation-based calibration (SBC) of a model, one fit per simulated data set, on any executor.

:func:`sbc` draws parameters from the model's prior (the package's default priors unless
the user sets others), simulates a response of the template data's shape from each draw,
fits the model to each simulated data set and records the rank of every true value among
the (thinned) posterior draws (Talts et al. 2018). Calibrated inference gives uniform
ranks; :meth:`SBCResult.plot` draws the ECDF of the ranks minus the uniform CDF with
simultaneous bands (Säilynoja, Bürkner & Vehtari 2022, as computed by arviz-stats'
``ecdf_utils``), and :attr:`SBCResult.tests` says whether each parameter's ECDF leaves its
band.

simuk (``simuk.SBC``) runs its simulations in its own sequential loop on one process, so
its loop cannot go through an executor; bayesglmm uses the same rank rule (number of
posterior draws below the true value) and arviz-stats' bands instead. The model is
compiled once per worker by the engine (:mod:`bayesglmm.engine`, the same compiled model
a fit of the template uses): the simulated response is swapped in, never recompiled.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesglmm.errors import ComputationError, SettingsError
from bayesglmm.executor import get_executor, task_seed


@dataclass
class SBCResult:
    """Ranks of the true parameter values among posterior draws, one row per simulation.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One column per parameter, values in ``0..n_draws``.
    n_draws : int
        Posterior draws each rank is taken among (after thinning).
    family, formula : str
    seconds : dict
        ``compile`` (summed over workers), ``fit`` (summed over fits), ``wall``.
    divergences : numpy.ndarray
        Divergent transitions per fit.

    Examples
    --------
    >>> cal = bg.sbc("p(y, n) ~ treat + (1|centre)", mc, family="binomial", draws=200)  # doctest: +SKIP
    >>> cal.tests  # doctest: +SKIP
    """

    ranks: pd.DataFrame
    n_draws: int
    family: str
    formula: str
    seconds: dict = field(default_factory=dict)
    divergences: np.ndarray | None = None
    seed: int | None = None

    def pit(self) -> pd.DataFrame:
        """Ranks as randomised PIT values, uniform on (0, 1) under calibration (seeded).

        Examples
        --------
        >>> cal.pit().describe()  # doctest: +SKIP
        """
        rng = np.random.default_rng(self.seed)
        u = rng.uniform(size=self.ranks.shape)
        return (self.ranks + u) / (self.n_draws + 1)

    def bands(self, level: float = 0.99) -> dict:
        """Per parameter: evaluation points, ECDF and simultaneous band at ``level``.

        Examples
        --------
        >>> x, ecdf, lower, upper = cal.bands()["treat"]  # doctest: +SKIP
        """
        from arviz_stats.ecdf_utils import ecdf_pit

        pit = self.pit()
        out = {}
        for name in pit.columns:
            out[name] = ecdf_pit(np.sort(pit[name].to_numpy()), level, 1000, rng=np.random.default_rng(214))
        return out

    @property
    def tests(self) -> pd.DataFrame:
        """Uniformity test per parameter, rejected at the 1% level Bonferroni-corrected over parameters.

        The statistic is the one behind the simultaneous bands of :meth:`bands`
        (Säilynoja et al. 2022): ``gamma = 1 - 2 * min`` over evaluation points of the
        binomial tail probabilities of the PIT ECDF. ``p_value`` is its Monte Carlo
        p-value against 4000 uniform samples of the same size (seeded, so repeatable); a
        parameter is rejected when ``p_value < 0.01 / n_parameters``. ``points_outside``
        counts the evaluation points outside the simultaneous band of level
        ``1 - 0.01 / n_parameters``.

        Examples
        --------
        >>> cal.tests[["p_value", "rejected"]]  # doctest: +SKIP
        """
        level = 1 - 0.01 / self.ranks.shape[1]
        pit = self.pit()
        null = _uniform_gammas(len(pit), 4000)
        rows = []
        for name, (_, ecdf, lower, upper) in self.bands(level).items():
            outside = int(np.sum((ecdf < lower - 1e-12) | (ecdf > upper + 1e-12)))
            p_value = (1 + np.sum(null >= _gamma(pit[name].to_numpy()))) / (1 + len(null))
            rows.append({"parameter": name, "p_value": float(p_value), "points_outside": outside,
                         "rejected": bool(p_value < 1 - level)})
        return pd.DataFrame(rows).set_index("parameter").assign(band_level=level)

    def _repr_html_(self) -> str:
        """Notebook view: calibrated or not first, then the uniformity test per parameter."""
        from bayesglmm import html

        tests = self.tests
        rejected = [str(p) for p in tests.index[tests["rejected"]]]
        head = ("calibrated: no parameter's ranks reject uniformity" if not rejected
                else f"NOT CALIBRATED: ranks not uniform for {', '.join(rejected)}")
        n_div = 0 if self.divergences is None else int(np.sum(self.divergences))
        facts = {"Formula": self.formula, "Family": self.family, "Fits": len(self.ranks),
                 "Draws per rank": self.n_draws, "Divergent transitions": n_div}
        facts.update({f"Seconds ({k})": f"{v:.1f}" for k, v in self.seconds.items()})
        return html.page(html.verdict(head, not rejected), html.facts(facts),
                         html.table(html.formatted(tests), "Uniformity of the ranks per parameter "
                                    "(rejected when p_value < 0.01 / parameters)"))

    def plot(self, level: float = 0.95):
        """ECDF of the ranks minus the uniform CDF, with simultaneous bands; one panel per parameter.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> cal.plot().savefig("sbc.png")  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        bands = self.bands(level)
        n = len(bands)
        cols = min(4, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        for ax, (name, (x, ecdf, lower, upper)) in zip(axes.flat, bands.items()):
            ax.fill_between(x, lower - x, upper - x, step="post", color="0.85", label=f"{level:.0%} simultaneous")
            ax.step(x, ecdf - x, where="post", color="C0")
            ax.axhline(0, color="0.4", lw=0.7)
            ax.set_title(name, fontsize=9)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        fig.suptitle(f"SBC: {self.formula} ({self.family}), {len(self.ranks)} fits; ECDF - uniform", fontsize=10)
        fig.tight_layout()
        return fig


def _gamma(values: np.ndarray) -> float:
    """Simultaneous-band statistic of PIT values: 1 - 2 x the smallest binomial tail of the ECDF."""
    from scipy.special import bdtr

    n = len(values)
    points = np.arange(1, n) / n
    counts = np.searchsorted(np.sort(values), points, side="right")
    lower = np.min(bdtr(counts, n, points))
    # P(count or more) = 1 - P(count - 1 or fewer); scipy's bdtr is nan at -1, where it is 1. A nan here
    # used to drop the upper tail of every sample with no value below 1/n (min(x, nan) is x).
    upper = np.min(np.where(counts > 0, 1 - bdtr(np.maximum(counts - 1, 0), n, points), 1.0))
    return 1 - 2 * min(lower, upper)


def _uniform_gammas(n: int, simulations: int) -> np.ndarray:
    """The statistic of ``simulations`` uniform samples of size ``n`` (seeded)."""
    rng = np.random.default_rng(214)
    return np.array([_gamma(rng.uniform(size=n)) for _ in range(simulations)])


def _sbc_task(recipe, y, truth: dict, seed: int, settings: dict, cores: int | None) -> dict:
    """One SBC fit, wherever it runs: the ranks of the true values and timings.

    The model is the engine's, compiled once per process with the response as an input
    (:data:`bayesglmm.engine.RESPONSE`); each fit swaps in its simulated response. The
    ranks are taken on the raw draws, where the intercept is the one sampled (for centred
    predictors), as in :func:`prior_draws`.
    """
    from bayesglmm.batch import cached_model
    from bayesglmm.engine import RESPONSE, DrawSettings, compiled_for, complete, get_engine

    spec = cached_model(recipe)["spec"]
    engine = get_engine("nutpie")
    model, compile_s = compiled_for(spec, engine)
    start = time.perf_counter()
    chains = settings["chains"]
    run = DrawSettings(draws=settings["draws"], tune=settings["tune"], chains=chains, cores=cores or chains,
                       seed=seed, target_accept=settings["target_accept"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = engine.draw(model, run, data={RESPONSE: np.asarray(y)})
    complete(spec, idata, seed)  # a marginalised term's effects, drawn from their conditional
    post = idata["posterior"]
    ranks = {}
    for name, value in truth.items():
        var, index = name.split("[")[0], _index(name)
        draws = post[var].values.reshape(chains, settings["draws"], -1)[:, :: settings["thin"], index].ravel()
        ranks[name] = int(np.sum(draws < value))
    divergences = int(np.asarray(idata["sample_stats"]["diverging"]).sum())
    return {"ranks": ranks, "divergences": divergences, "compile_s": compile_s,
            "fit_s": time.perf_counter() - start}


def _index(name: str) -> int:
    return int(name.split("[")[1].rstrip("]")) if "[" in name else 0


def _ranked_names(spec) -> list[str]:
    """Variables ranked: intercept, named fixed effects, group-effect SDs, family parameters.

    The fixed effects are sampled on a QR basis (``fixed_qr``); the user's coefficients are
    deterministic functions of it, and SBC holds for any function of the parameters, so
    the named coefficients are ranked instead of the QR coordinates (and the cut-points at
    zero predictors instead of those sampled at the columns' means). Group levels,
    their offsets and correlations are not ranked.
    """
    from bayesglmm.backend import AT_MEAN_SUFFIX, CENTRED_SUFFIX, QR_NAME

    model = spec.pymc_model
    component = spec.bambi_model.parameters[spec.bambi_model.family.likelihood.parent]
    groups = component.group_specific_terms
    names, intercept = [], None
    for rv in model.free_RVs:
        name = rv.name
        if name.endswith("_offset") or name in groups or name.endswith("_corr"):
            continue
        if name.endswith(QR_NAME):
            names.extend(component.common_terms)
        elif name.endswith(CENTRED_SUFFIX) and name[: -len(CENTRED_SUFFIX)] in model.named_vars:
            names.append(name[: -len(CENTRED_SUFFIX)])  # cut-points: ranked as reported, at zero predictors
        elif name.endswith(AT_MEAN_SUFFIX) and name[: -len(AT_MEAN_SUFFIX)] in model.named_vars:
            intercept = name[: -len(AT_MEAN_SUFFIX)]  # the intercept, ranked as reported, where it would be
        else:
            names.append(name)
    if intercept is not None:
        first = next((i for i, n in enumerate(names) if n in component.common_terms or n.endswith("_sigma")), len(names))
        names.insert(first, intercept)
    return names


def _parameters(prior, names: list[str]) -> dict:
    """True values per ranked scalar: ``name`` or ``name[j]`` -> one value per simulation.

    Elements that the prior fixes (the unit first entry and the zero upper triangle of a
    correlation matrix's Cholesky factor, ``{g}_corr_chol``) are left out: a constant has
    no distribution to calibrate, and its ties would fake a rejection.
    """
    out = {}
    for name in names:
        values = prior[name].values.reshape(prior.sizes["chain"] * prior.sizes["draw"], -1)
        for j in range(values.shape[1]):
            if len(values) > 1 and np.all(values[:, j] == values[0, j]):
                continue
            out[f"{name}[{j}]" if values.shape[1] > 1 else name] = values[:, j]
    return out


def prior_draws(spec, draws: int, seed: int) -> tuple[dict, np.ndarray]:
    """True values of the ranked parameters and simulated responses, ``draws`` of each, from the prior.

    The parameters are drawn by PyMC's forward sampling of the model's priors; each
    response is simulated from its draw by the family's ``simulate``
    (:func:`bayesglmm.predict.simulate_response`), the package's one way of simulating a
    response.

    PyMC's forward sampling ignores constraining transforms: the thresholds of a
    cumulative model (an ``Ordered`` transform of Normals) come out unsorted about
    two times in three, while NUTS samples the Normals restricted to sorted values. Draws
    with unsorted ordered variables are therefore rejected (and more drawn), which gives
    exactly the restricted prior that the sampler targets. Models without ordered
    variables keep the first ``draws`` draws.

    Returns
    -------
    (dict, numpy.ndarray)
        Parameter name (``name`` or ``name[j]``) -> values, and responses ``(draws, n_obs)``.

    Examples
    --------
    >>> truths, ys = prior_draws(build_model("y ~ x + (1|g)", df, "cumulative"), 200, 1)  # doctest: +SKIP
    >>> bool((np.diff(np.column_stack([truths[f"threshold[{j}]"] for j in range(3)])) > 0).all())  # doctest: +SKIP
    True
    """
    import pymc as pm

    from bayesglmm.fit import ordered_variables, sorted_mask
    from bayesglmm.predict import simulate_response

    model = spec.pymc_model
    parent = spec.bambi_model.family.likelihood.parent  # the per-row mean: simulate_response recomputes it
    names = _ranked_names(spec)
    free = [v.name for v in model.free_RVs]
    needed = free + [v.name for v in model.deterministics if v.name != parent]
    ordered = ordered_variables(model)
    kept_truths, kept_ys, total, attempt = [], [], 0, 0
    while total < draws:
        if attempt >= 50:
            raise ComputationError(f"SBC: fewer than {draws} prior draws with sorted {', '.join(ordered)} after "
                                   f"{attempt} rounds; the prior of those variables rarely gives sorted values.")
        round_seed = seed if attempt == 0 else int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0])
        n = draws if not ordered else 3 * (draws - total) + 10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prior = pm.sample_prior_predictive(draws=n, model=model, random_seed=round_seed,
                                               var_names=needed + [v for v in names if v not in needed])
        keep = sorted_mask(prior["prior"], ordered, n)
        truths = _parameters(prior["prior"], names)
        kept_truths.append({k: v[keep] for k, v in truths.items()})
        if keep.any():
            kept = prior["prior"].to_dataset().isel(draw=np.flatnonzero(keep))  # one chain
            _, y = simulate_response(spec, kept, rng=np.random.default_rng([seed, attempt]), raw=True)
            kept_ys.append(y.astype(np.int64) if spec.family.discrete else y)  # the observed data's type
        total += int(keep.sum())
        attempt += 1
    truths = {k: np.concatenate([t[k] for t in kept_truths])[:draws] for k in kept_truths[0]}
    return truths, np.concatenate(kept_ys)[:draws]


def sbc(formula: str, data, family: str = "gaussian", *, draws: int = 200, link: str | None = None,
        priors: dict | None = None, chains: int = 2, sample_draws: int = 200, tune: int = 200, thin: int = 2,
        target_accept: float = 0.9, seed: int | None = None, executor=None,
        progress: bool | None = None, dpars: dict | None = None) -> SBCResult:
    """Simulation-based calibration: fit the model to data simulated from its prior, ``draws`` times.

    Parameters
    ----------
    formula, data, family, link, priors, dpars
        The model, as for :func:`bayesglmm.fit`; ``data`` is the template whose
        predictors, groups (and trials) every simulated data set keeps.
    draws : int
        Simulations (fits); at least 100 for a useful test, 200 or more recommended.
    chains, sample_draws, tune : int
        Sampler settings of each fit.
    thin : int
        Keep every ``thin``-th posterior draw for the ranks (reduces autocorrelation).
    target_accept : float
    seed : int, optional
        Batch seed: the prior draws and every fit's seed derive from it.
    executor : None, "local", "serial", a Dask Client or scheduler address
        Where the fits run (see :func:`bayesglmm.executor.get_executor`).
    progress : bool, optional
        Show fits done / total.

    Returns
    -------
    SBCResult

    References
    ----------
    Talts, Betancourt, Simpson, Vehtari, Gelman (2018), arXiv:1804.06788.
    Säilynoja, Bürkner, Vehtari (2022), Statistics and Computing 32:32, doi:10.1007/s11222-022-10090-6.

    Examples
    --------
    >>> cal = bg.sbc("p(y, n) ~ treat + (1|centre)", mc, family="binomial", draws=200,
    ...              executor="local")  # doctest: +SKIP
    >>> cal.plot()  # doctest: +SKIP
    """
    from bayesglmm.batch import ModelRecipe, remember
    from bayesglmm.model import build_model

    if not isinstance(draws, int) or draws < 2:
        raise SettingsError(f"draws (simulations) must be a whole number of at least 2; got {draws!r}.")
    if not isinstance(thin, int) or thin < 1 or sample_draws // thin < 10:
        raise SettingsError(f"thin must be a whole number leaving at least 10 draws per chain; got thin={thin!r} "
                         f"with sample_draws={sample_draws}.")
    spec = build_model(formula, data, family, link=link, priors=priors, dpars=dpars)
    recipe = ModelRecipe.from_spec(spec)
    remember(recipe, spec)
    batch_seed = int(np.random.SeedSequence().entropy % (2**31)) if seed is None else int(seed)
    truths, ys = prior_draws(spec, draws, batch_seed)
    ex = get_executor(executor)
    settings = {"chains": chains, "draws": sample_draws, "tune": tune, "thin": thin, "target_accept": target_accept}
    tasks = {i: (recipe, ys[i], {k: float(v[i]) for k, v in truths.items()}, task_seed(batch_seed, i), settings,
                 ex.cores_per_task) for i in range(draws)}
    start = time.perf_counter()
    results = ex.run(_sbc_task, tasks, label=f"SBC {family}", progress=progress)
    wall = time.perf_counter() - start
    ranks = pd.DataFrame([r["ranks"] for r in results.values()], index=pd.Index(list(results), name="simulation"))
    seconds = {"compile": sum(r["compile_s"] for r in results.values()),
               "fit": sum(r["fit_s"] for r in results.values()), "wall": wall}
    n_draws = chains * len(range(0, sample_draws, thin))
    return SBCResult(ranks, n_draws, family, formula, seconds,
                     np.array([r["divergences"] for r in results.values()]), batch_seed)


__all__ = ["SBCResult", "sbc"]
