"""Model checks: posterior and prior predictive checks, dispersion, random-effect normality.

Everything here computes numbers (arrays and tables); :mod:`bayesglmm.plots` draws them.
Each function is a plain function of a :class:`~bayesglmm.fit.Fit` (nothing is cached on
the fit). Functions that need replicated data take ``yrep=`` so that one set of
predictive draws (from :func:`posterior_predictive` or :func:`prior_predictive`) can be
reused; otherwise they draw it themselves, with ``draws`` and ``seed``.

Conventions:

* Replicated data are simulated by the family object (``fit.spec.family.simulate``, through
  :func:`bayesglmm.predict.simulate_response`), the one way the package simulates a
  response, from each draw's linear predictor and family parameters (posterior draws, or
  Bambi's prior draws for the prior predictive).
* Replicated data are on the response's own scale (successes for ``p(y, n)``, category
  codes 0..K-1 for ordinal responses, as Bambi stores them). Statistics of a binomial
  response are computed on the proportion scale ``y / n``; those of an ordinal response on
  the category number 1..K.
* A Bayesian p-value is the share of replicated statistics at or above the observed one,
  with ties counted half (the "mid-p" value): for a continuous statistic this is the usual
  ``P(T(y_rep) >= T(y))``; for discrete ones (share of zeros, maximum count, a group's
  number of successes) it keeps a statistic that the model reproduces exactly (say no
  zeros, observed and replicated) at 0.5 instead of flagging it at 1.
* A statistic is flagged when its p-value is below 0.025 or above 0.975.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from bayesglmm.errors import DataError, FamilyError, NoPosteriorError, SettingsError, TermError
from bayesglmm.summary import describe_draws, interval_bounds

FLAG_LOW, FLAG_HIGH = 0.025, 0.975
SAMPLE_DIMS = ("chain", "draw")

#: Statistics :func:`ppc_pvalues` knows, by response kind (others are skipped, see its docstring).
STATISTICS = {
    "real": ("mean", "sd", "min", "max"),
    "count": ("mean", "sd", "zeros", "min", "max"),
    "trials": ("mean", "sd", "zeros", "min", "max"),
    "binary": ("mean",),
    "ordinal": ("mean", "sd"),
}
_ALL_STATISTICS = ("mean", "sd", "zeros", "min", "max")


# ---------------------------------------------------------------------------
# Observed and replicated data
# ---------------------------------------------------------------------------


def _response_name(fit) -> str:
    return str(next(iter(fit.idata["observed_data"].data_vars)))


def observed(fit) -> np.ndarray:
    """The observed response as the model sees it (successes, 0/1, counts, codes 0..K-1).

    Examples
    --------
    >>> observed(fit)[:4]  # doctest: +SKIP
    array([11, 10, 16, 22])
    """
    return np.asarray(fit.idata["observed_data"][_response_name(fit)].values)


def trials(fit) -> np.ndarray | None:
    """The number of trials of each row of a binomial ``p(y, n)`` model, else None.

    Examples
    --------
    >>> trials(fit)[:2]  # doctest: +SKIP
    array([36., 37.])
    """
    column = fit.spec.formula.trials
    if column is None:
        return None
    return fit.spec.data.frame[column].to_numpy(dtype=float)


def _thin(dataset: xr.Dataset, draws: int | None) -> xr.Dataset:
    """About ``draws`` draws in all, evenly spaced within each chain."""
    if draws is None:
        return dataset
    if int(draws) < 1:
        raise SettingsError(f"draws must be a positive whole number; got {draws!r}.")
    n_chain, n_draw = dataset.sizes["chain"], dataset.sizes["draw"]
    per_chain = min(n_draw, int(np.ceil(int(draws) / n_chain)))
    if per_chain >= n_draw:
        return dataset
    idx = np.unique(np.linspace(0, n_draw - 1, per_chain).round().astype(int))
    return dataset.isel(draw=idx)


def _as_response(fit, y: np.ndarray, draws: xr.Dataset) -> xr.DataArray:
    """Simulated responses (samples, rows) as ``(chain, draw, __obs__)``, named as the response.

    Whole-valued families keep integers (as the observed data and Bambi store them).
    """
    values = y.astype(np.int64) if fit.spec.family.discrete else y
    shape = (draws.sizes["chain"], draws.sizes["draw"], y.shape[1])
    return xr.DataArray(values.reshape(shape), dims=("chain", "draw", "__obs__"),
                        coords={"chain": draws["chain"].values, "draw": draws["draw"].values,
                                "__obs__": np.arange(y.shape[1])}, name=_response_name(fit))


def _predict(fit, draws: int | None = None, seed: int | None = None) -> tuple[xr.DataArray, np.ndarray]:
    """Posterior predictive draws (through the family's ``simulate``) and the linear predictor (samples, rows)."""
    from bayesglmm.predict import simulate_response

    if fit.prior_only:
        raise NoPosteriorError("This fit holds prior draws only (prior_only=True): use prior_predictive(fit) "
                         "for replicated data from the prior.")
    posterior = _thin(fit.idata["posterior"].to_dataset(), draws)
    eta, y = simulate_response(fit.spec, posterior, rng=seed)
    return _as_response(fit, y, posterior), eta


def _prior_predictive_group(fit, prior: xr.Dataset, rng) -> xr.Dataset:
    """The ``/prior_predictive`` group, simulated from raw prior draws by the family's ``simulate``."""
    from bayesglmm.predict import simulate_response

    _, y = simulate_response(fit.spec, prior, rng=rng, raw=True)
    return _as_response(fit, y, prior).to_dataset()


def posterior_predictive(fit, draws: int | None = None, seed: int | None = None) -> xr.DataArray:
    """Replicated data drawn from the posterior predictive distribution.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    draws : int, optional
        About how many posterior draws to use (evenly spaced within each chain); all if None.
    seed : int, optional
        Seed of the predictive sampling: the same seed gives the same replicated data.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, __obs__)``, named as the response (``"p(y, n)"``), on the
        response's scale: successes for ``p(y, n)``, 0/1, counts, or category codes 0..K-1.

    Examples
    --------
    >>> yrep = posterior_predictive(fit, draws=400, seed=1)  # doctest: +SKIP
    >>> yrep.sizes["__obs__"]  # doctest: +SKIP
    22
    """
    return _predict(fit, draws, seed)[0]


def sample_prior(fit, draws: int = 500, seed: int | None = None) -> xr.DataTree:
    """Prior draws of the fit's model: a DataTree with ``/prior`` and ``/prior_predictive``.

    The parameters are drawn by Bambi (PyMC's forward sampling); the response in
    ``/prior_predictive`` is simulated from them by the family's ``simulate``, as every
    replicated response is. For a prior-only fit (``bg.fit(..., prior_only=True)``) its own
    parameter draws are used (``draws`` is ignored), with the response simulated with
    ``seed`` (the fit's seed if None).

    Parameters
    ----------
    fit : Fit
        The fit whose model's priors are sampled.
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed: the same seed gives the same draws.

    Returns
    -------
    xarray.DataTree

    Examples
    --------
    >>> prior = sample_prior(fit, draws=500, seed=1)  # doctest: +SKIP
    >>> float(prior["prior"]["1|centre_sigma"].median())  # doctest: +SKIP
    1.7...
    """
    if fit.prior_only:
        tree = fit.idata.copy()
        seed = fit.settings.get("seed") if seed is None else seed
    else:
        tree = fit.spec.bambi_model.prior_predictive(draws=int(draws), random_seed=seed)
    # The parameters are Bambi's prior draws; the response is the family's simulation from them.
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])
    tree["prior_predictive"] = _prior_predictive_group(fit, tree["prior"].to_dataset(), rng)
    return tree


def prior_predictive(fit, draws: int = 500, seed: int | None = None) -> xr.DataArray:
    """Replicated data drawn from the prior predictive distribution.

    Same layout as :func:`posterior_predictive`; for a prior-only fit, simulated from its
    own parameter draws (see :func:`sample_prior`).

    Parameters
    ----------
    fit : Fit
        The fit whose model's priors are sampled.
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed: the same seed gives the same draws.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, __obs__)``.

    Examples
    --------
    >>> yprior = prior_predictive(fit, draws=500, seed=1)  # doctest: +SKIP
    >>> yprior.dims  # doctest: +SKIP
    ('chain', 'draw', '__obs__')
    """
    pp = sample_prior(fit, draws, seed)["prior_predictive"].to_dataset()
    name = _response_name(fit)
    return (pp[name] if name in pp else pp[next(iter(pp.data_vars))]).rename(name)


def _flat(yrep) -> np.ndarray:
    """Replicated data as a (draws, rows) array."""
    if isinstance(yrep, xr.DataArray):
        dims = [d for d in SAMPLE_DIMS if d in yrep.dims]
        other = [d for d in yrep.dims if d not in SAMPLE_DIMS]
        return yrep.transpose(*dims, *other).values.reshape(-1, int(np.prod([yrep.sizes[d] for d in other])))
    arr = np.asarray(yrep)
    return arr.reshape(-1, arr.shape[-1])


def _replicated(fit, yrep, draws, seed) -> np.ndarray:
    y = posterior_predictive(fit, draws, seed) if yrep is None else yrep
    arr = _flat(y)
    n = observed(fit).shape[0]
    if arr.shape[1] != n:
        raise DataError(f"yrep has {arr.shape[1]} rows per draw but the fit has {n} observations.")
    return arr


def _scale(fit, values: np.ndarray) -> np.ndarray:
    """Values on the scale statistics use: proportions for p(y, n), 1..K for ordinal."""
    kind = fit.spec.family.response
    if kind == "trials":
        return values / trials(fit)
    if kind == "ordinal":
        return values + 1.0
    return values.astype(float)


def _mid_p(rep: np.ndarray, obs) -> float:
    """Share of replicated values above the observed one, ties counted half."""
    rep = np.asarray(rep, dtype=float)
    return float(np.mean(rep > obs) + 0.5 * np.mean(rep == obs))


# ---------------------------------------------------------------------------
# Bayesian p-values of test statistics
# ---------------------------------------------------------------------------


def _stat_fn(fit, name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(raw values (S, n), scaled values (S, n)) -> (S,) statistic."""
    n_trials = trials(fit)
    if name == "mean":
        if n_trials is not None:  # pooled proportion sum(y) / sum(n)
            return lambda raw, scaled: raw.sum(axis=1) / n_trials.sum()
        return lambda raw, scaled: scaled.mean(axis=1)
    if name == "sd":
        return lambda raw, scaled: scaled.std(axis=1, ddof=1)
    if name == "zeros":
        return lambda raw, scaled: (raw == 0).mean(axis=1)
    if name == "max":
        return lambda raw, scaled: scaled.max(axis=1)
    if name == "min":
        return lambda raw, scaled: scaled.min(axis=1)
    raise SettingsError(f"Unknown statistic {name!r}; choose from {', '.join(_ALL_STATISTICS)} or pass a function.")


def _group_labels(fit, by_group) -> tuple[str, pd.Categorical]:
    """(name, labels of each row) for a column name of the model frame or row-aligned labels."""
    frame = fit.spec.data.frame
    if isinstance(by_group, str):
        if by_group not in frame.columns:
            cols = [c for c in frame.columns if not pd.api.types.is_float_dtype(frame[c])]
            raise TermError(f"{by_group!r} is not a column of the model's data (columns: {', '.join(map(str, cols))}). "
                             "For a column the model does not use, pass its values, e.g. by_group=data['centre'].")
        values, name = frame[by_group], by_group
    else:
        name = getattr(by_group, "name", None) or "group"
        if isinstance(by_group, pd.Series) and set(frame.index) <= set(by_group.index):
            values = by_group.reindex(frame.index)
        else:
            values = pd.Series(np.asarray(by_group), index=frame.index)
        if len(values) != len(frame):
            raise DataError(f"by_group has {len(values)} values but the fit has {len(frame)} rows.")
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = values.cat.remove_unused_categories().array
    else:
        labels = pd.Categorical(values.astype(str), categories=sorted(values.astype(str).unique(), key=_natural))
    return str(name), pd.Categorical(labels)


def _natural(label: str):
    """Sort key that puts "2" before "10"."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _group_means(fit, raw: np.ndarray, labels: pd.Categorical) -> np.ndarray:
    """Per-group proportion (p(y, n): sum y / sum n) or mean, shape (S, levels)."""
    codes = labels.codes
    onehot = np.zeros((len(codes), len(labels.categories)))
    onehot[np.arange(len(codes)), codes] = 1.0
    n_trials = trials(fit)
    if n_trials is not None:
        return (raw @ onehot) / (n_trials @ onehot)
    return (_scale(fit, raw) @ onehot) / onehot.sum(axis=0)


def replicated_statistics(fit, stats: Sequence = ("mean", "sd", "zeros", "max"), by_group=None, *,
                          yrep=None, draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Observed test statistics and their replicated draws (the material of :func:`ppc_pvalues`).

    Parameters are those of :func:`ppc_pvalues`.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (and per group level with ``by_group``): ``statistic``,
        ``group``, ``level``, ``observed`` and ``replicated`` (a 1-d array, one value per draw).
        ``attrs["skipped"]`` lists requested statistics that do not apply to the response.

    Examples
    --------
    >>> rs = replicated_statistics(fit, stats=("mean",))  # doctest: +SKIP
    >>> rs.loc[0, "replicated"].shape  # doctest: +SKIP
    (4000,)
    """
    kind = fit.spec.family.response
    rep_raw = _replicated(fit, yrep, draws, seed)
    obs_raw = observed(fit)[None, :]
    rep_scaled, obs_scaled = _scale(fit, rep_raw), _scale(fit, obs_raw)
    rows, skipped = [], []
    for stat in stats:
        if callable(stat):
            name = getattr(stat, "__name__", "statistic")
            obs_v = float(stat(obs_scaled[0]))
            rep_v = np.array([stat(row) for row in rep_scaled], dtype=float)
        else:
            if stat not in _ALL_STATISTICS:
                _stat_fn(fit, stat)  # raises the error naming the known statistics
            if stat not in STATISTICS[kind]:
                skipped.append(stat)
                continue
            fn = _stat_fn(fit, stat)
            name, obs_v, rep_v = stat, float(fn(obs_raw, obs_scaled)[0]), fn(rep_raw, rep_scaled)
        rows.append({"statistic": name, "group": "", "level": "", "observed": obs_v, "replicated": rep_v})
    if by_group is not None:
        group, labels = _group_labels(fit, by_group)
        obs_g, rep_g = _group_means(fit, obs_raw, labels)[0], _group_means(fit, rep_raw, labels)
        stat_name = "proportion" if kind in ("trials", "binary") else "mean"
        for j, level in enumerate(labels.categories):
            rows.append({"statistic": stat_name, "group": group, "level": str(level),
                         "observed": float(obs_g[j]), "replicated": rep_g[:, j]})
    table = pd.DataFrame(rows, columns=["statistic", "group", "level", "observed", "replicated"])
    table.attrs["skipped"] = skipped
    return table


def ppc_pvalues(fit, stats: Sequence = ("mean", "sd", "zeros", "max"), by_group=None, *, prob: float = 0.95,
                yrep=None, draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Bayesian p-values: is each observed statistic typical of data replicated from the fit?

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    stats : sequence of str or callable
        Statistics of the whole data set: ``"mean"``, ``"sd"``, ``"zeros"`` (share of zero
        counts / zero successes), ``"min"``, ``"max"``, or functions of a 1-d array of the
        response (on the proportion scale for ``p(y, n)``). For ``p(y, n)`` the mean is the
        pooled proportion ``sum(y) / sum(n)`` and the others use the row proportions
        ``y / n``; ordinal responses use the category numbers 1..K. Statistics that carry no
        information for the response are skipped and listed in ``attrs["skipped"]``:
        ``zeros`` except for counts and ``p(y, n)``; all but ``mean`` for a binary response
        (its SD, share of zeros and maximum follow from the mean); ``zeros``, ``min`` and
        ``max`` for an ordinal one.
    by_group : str or array-like, optional
        Add each group's proportion (``p(y, n)``: sum of y over sum of n; binary: share of
        ones) or mean: a column of the model's data (``"centre"``) or one label per row
        (``data["centre"]``, for a column the model does not use).
    prob : float
        Probability of the replicated interval (equal-tailed).
    yrep : xarray.DataArray or array, optional
        Replicated data to use (from :func:`posterior_predictive`); drawn if None.
    draws, seed : int, optional
        Passed to :func:`posterior_predictive` when ``yrep`` is None.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (``group == ""``) and per group level: ``statistic``,
        ``group``, ``level``, ``observed``, ``median``, ``lower``, ``upper`` (replicated
        median and interval), ``p_value`` (share of replicated statistics >= observed, ties
        counted half) and ``flag`` (p < 0.025 or p > 0.975).

    Examples
    --------
    >>> tab = ppc_pvalues(fit, by_group="centre", seed=1)  # doctest: +SKIP
    >>> tab.query("group == 'centre'")["flag"].sum()  # doctest: +SKIP
    0
    """
    rs = replicated_statistics(fit, stats, by_group, yrep=yrep, draws=draws, seed=seed)
    rows = []
    for rec in rs.itertuples(index=False):
        lo, hi = interval_bounds(rec.replicated, prob)
        p = _mid_p(rec.replicated, rec.observed)
        rows.append({"statistic": rec.statistic, "group": rec.group, "level": rec.level, "observed": rec.observed,
                     "median": float(np.median(rec.replicated)), "lower": lo, "upper": hi, "p_value": p,
                     "flag": bool(p < FLAG_LOW or p > FLAG_HIGH)})
    cols = ["statistic", "group", "level", "observed", "median", "lower", "upper", "p_value", "flag"]
    table = pd.DataFrame(rows, columns=cols)
    table.attrs["skipped"] = rs.attrs.get("skipped", [])
    table.attrs["prob"] = prob
    return table


# ---------------------------------------------------------------------------
# Dispersion
# ---------------------------------------------------------------------------


@dataclass
class DispersionCheck:
    """The Pearson dispersion statistic of the data against that of replicated data.

    For each posterior draw s, ``observed_draws[s] = sum((y - mu_s)^2 / V(mu_s)) / n`` and
    ``replicated_draws[s]`` is the same with replicated data ``y_rep,s`` in place of ``y``
    (a realized discrepancy, Gelman, Meng & Stern 1996). Under the model both are near 1;
    data more variable than the family allows (overdispersion) give larger observed values.

    Attributes
    ----------
    family : str
        The fit's family.
    observed_draws, replicated_draws : numpy.ndarray
        The statistic per draw, of the data and of the replicated data.
    p_value : float
        Share of draws with replicated >= observed.
    verdict : str
        ``"overdispersed"``, ``"underdispersed"`` or ``"consistent"``.
    message : str
        The verdict in a sentence, with the numbers and what to try.
    prob : float
        Probability of the intervals in :meth:`table`.
    """

    family: str
    observed_draws: np.ndarray
    replicated_draws: np.ndarray
    p_value: float
    verdict: str
    message: str
    prob: float = 0.95

    @property
    def ok(self) -> bool:
        """True when the data's dispersion is consistent with the model."""
        return self.verdict == "consistent"

    @property
    def observed(self) -> float:
        """Posterior median of the data's dispersion statistic."""
        return float(np.median(self.observed_draws))

    @property
    def replicated(self) -> float:
        """Posterior median of the replicated data's dispersion statistic."""
        return float(np.median(self.replicated_draws))

    @property
    def ratio(self) -> float:
        """Median over draws of observed / replicated (about 1 when the dispersion fits)."""
        return float(np.median(self.observed_draws / self.replicated_draws))

    def table(self) -> pd.DataFrame:
        """Observed and replicated statistic: rows ``observed``, ``replicated``, with median and interval."""
        rows = {name: describe_draws(values, self.prob)
                for name, values in (("observed", self.observed_draws), ("replicated", self.replicated_draws))}
        return pd.DataFrame(rows).T[["median", "lower", "upper"]]

    def __str__(self) -> str:
        return (f"Dispersion check ({self.family}): {self.verdict}. {self.message}")

    __repr__ = __str__


def dispersion_check(fit, *, prob: float = 0.95, draws: int | None = None, seed: int | None = None) -> DispersionCheck:
    """Pearson dispersion statistic, observed vs replicated, for count and binomial models.

    Parameters
    ----------
    fit : Fit
        A poisson, negativebinomial or binomial (``p(y, n)``) fit. Binomial residuals are
        those of the proportions, ``(y/n - p) / sqrt(p (1 - p) / n)``.
    prob : float
        Probability of the intervals reported.
    draws, seed : int, optional
        Posterior draws used and seed of the replicated data (see :func:`posterior_predictive`).

    Returns
    -------
    DispersionCheck
        ``p_value`` is the share of draws whose replicated statistic reaches the observed
        one; below 0.025 the verdict is ``"overdispersed"``, above 0.975 ``"underdispersed"``.

    Examples
    --------
    >>> dc = dispersion_check(poisson_fit, seed=1)  # doctest: +SKIP
    >>> dc.verdict, round(dc.observed, 1), round(dc.replicated, 1)  # doctest: +SKIP
    ('overdispersed', 3.1, 1.0)
    """
    from bayesglmm.families import FAMILIES

    family = fit.spec.family
    name = family.name
    if family.dispersion_remedy is None:  # the family says whether the check applies
        applies = [f.name for f in FAMILIES.values() if f.dispersion_remedy is not None]
        raise FamilyError(f"dispersion_check is for {', '.join(applies[:-1])} and {applies[-1]} fits; {name!r}: "
                          f"{family.no_dispersion_reason}. Use ppc_pvalues(fit) instead.")
    yrep_da, eta = _predict(fit, draws, seed)
    yrep = _flat(yrep_da).astype(float)
    y = observed(fit).astype(float)[None, :]
    mean = family.inverse_link(fit.spec.link)(eta)  # Bambi's mean parameter mu (binomial: p)
    params = family.parameter_draws(_thin(fit.idata["posterior"].to_dataset(), draws))
    mu, var = family.response_moments(mean, params, trials(fit))
    var = np.maximum(var, 1e-12)
    n = y.shape[1]
    obs_d = ((y - mu) ** 2 / var).sum(axis=1) / n
    rep_d = ((yrep - mu) ** 2 / var).sum(axis=1) / n
    p_value = float(np.mean(rep_d >= obs_d))
    o_lo, o_hi = interval_bounds(obs_d, prob)
    r_lo, r_hi = interval_bounds(rep_d, prob)
    numbers = (f"Observed dispersion {np.median(obs_d):.2f} [{o_lo:.2f}, {o_hi:.2f}] vs replicated "
               f"{np.median(rep_d):.2f} [{r_lo:.2f}, {r_hi:.2f}] ({prob:.0%} intervals), p = {p_value:.3f}.")
    remedy = family.dispersion_remedy
    if p_value < FLAG_LOW:
        verdict, msg = "overdispersed", f"The data vary more than the {name} model allows. {numbers} {remedy}"
    elif p_value > FLAG_HIGH:
        verdict, msg = "underdispersed", f"The data vary less than the {name} model expects. {numbers}"
    else:
        verdict, msg = "consistent", f"The data's dispersion is typical of the {name} model. {numbers}"
    return DispersionCheck(name, obs_d, rep_d, p_value, verdict, msg, prob)


# ---------------------------------------------------------------------------
# Tables behind the PPC plots
# ---------------------------------------------------------------------------


def _bins(fit, obs: np.ndarray, max_bars: int):
    """(labels, function values -> bin index) for the response's kind."""
    kind = fit.spec.family.response
    if kind == "binary":
        return ["0", "1"], lambda v: np.clip(v.astype(int), 0, 1)
    if kind == "ordinal":
        cats = [str(c) for c in fit.spec.data.frame[fit.spec.formula.response].cat.categories]
        return cats, lambda v: np.clip(v.astype(int), 0, len(cats) - 1)
    if kind == "trials":
        edges = np.linspace(0, 1, 11)
        labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
        n_trials = trials(fit)
        return labels, lambda v: np.clip(np.floor(v / n_trials * 10).astype(int), 0, 9)
    if kind == "count":
        top = int(max(obs.max(), 0))
        if top + 1 <= max_bars - 1:
            labels = [str(k) for k in range(top + 1)] + [f">{top}"]
            return labels, lambda v: np.clip(v, 0, top + 1).astype(int)
        width = int(np.ceil((top + 1) / (max_bars - 1)))
        n_bins = int(np.ceil((top + 1) / width))
        labels = [f"{k * width}-{(k + 1) * width - 1}" for k in range(n_bins)] + [f">{n_bins * width - 1}"]
        return labels, lambda v: np.clip(v // width, 0, n_bins).astype(int)
    # real: equal-width bins over the observed range, open bins either side
    n_bins = max(3, max_bars - 2)
    edges = np.linspace(obs.min(), obs.max(), n_bins + 1)
    labels = [f"<{edges[0]:.3g}"] + [f"{a:.3g}-{b:.3g}" for a, b in zip(edges[:-1], edges[1:])] + [f">{edges[-1]:.3g}"]

    def index(v):
        i = np.searchsorted(edges, v, side="right")  # 0: below, 1..n_bins: inside, n_bins+1: above
        i = np.where(v == edges[-1], n_bins, i)
        return i

    return labels, index


def category_counts(fit, *, yrep=None, draws: int | None = None, seed: int | None = None, prob: float = 0.95,
                    max_bars: int = 20) -> pd.DataFrame:
    """Rows in each category (or bin) of the response: observed vs replicated.

    Categories: 0 and 1 for a binary response, the levels of an ordinal one, the count
    values 0..max(y) and an open bin ``>max`` for counts (bins of equal width when there
    are more than ``max_bars`` values), ten bins of the proportion for ``p(y, n)``, and
    equal-width bins with open ends for a continuous response.

    Parameters
    ----------
    fit : Fit
        The fit.
    yrep : xarray.DataArray or array, optional
        Replicated data (posterior or prior predictive); posterior predictive if None.
    draws, seed : int, optional
        Passed to :func:`posterior_predictive` when ``yrep`` is None.
    prob : float
        Probability of the replicated interval.
    max_bars : int
        Most bars for counts and continuous responses.

    Returns
    -------
    pandas.DataFrame
        ``category``, ``observed`` (number of rows), ``median``, ``lower``, ``upper`` (of the
        replicated number of rows).

    Examples
    --------
    >>> category_counts(bernoulli_fit, seed=1)["category"].tolist()  # doctest: +SKIP
    ['0', '1']
    """
    obs = observed(fit)
    rep = _replicated(fit, yrep, draws, seed)
    labels, index = _bins(fit, obs, max_bars)
    obs_idx, rep_idx = index(obs), index(rep)
    rows = []
    for k, label in enumerate(labels):
        counts = (rep_idx == k).sum(axis=1)
        lo, hi = interval_bounds(counts, prob)
        rows.append({"category": label, "observed": int((obs_idx == k).sum()), "median": float(np.median(counts)),
                     "lower": lo, "upper": hi})
    return pd.DataFrame(rows)


def default_group(fit) -> str | None:
    """The first grouping column of the formula, or None for a model without groups.

    Examples
    --------
    >>> default_group(fit)  # doctest: +SKIP
    'centre'
    """
    factors = [f for f in fit.spec.formula.group_factors if f in fit.spec.data.frame.columns]
    return factors[0] if factors else None


def group_intervals(fit, group=None, *, yrep=None, draws: int | None = None, seed: int | None = None,
                    prob: float = 0.95, per_row: bool | None = None) -> pd.DataFrame:
    """Observed values per row or per group against their replicated intervals.

    For ``p(y, n)`` (by default) every row's proportion ``y/n``, labelled by its group, as
    in the course's plot of observed proportions by centre; for other responses each
    group's mean (share of ones for a binary response).

    Parameters
    ----------
    fit : Fit
        The fit.
    group : str or array-like, optional
        Grouping column of the model's data or one label per row; default the formula's
        first grouping factor. Without one (a model with no group terms) rows are labelled
        by their index.
    yrep, draws, seed, prob
        As in :func:`category_counts`.
    per_row : bool, optional
        One entry per row (default for ``p(y, n)``) or per group (default otherwise).

    Returns
    -------
    pandas.DataFrame
        ``level`` (group label), ``row`` (index label of the data row, or None per group),
        ``observed``, ``median``, ``lower``, ``upper``, ``p_value`` and ``outside`` (the
        observed value lies outside the interval). ``attrs["group"]`` names the grouping.

    Examples
    --------
    >>> gi = group_intervals(fit, "centre", seed=1)  # doctest: +SKIP
    >>> gi["level"].nunique()  # doctest: +SKIP
    11
    """
    frame = fit.spec.data.frame
    obs = observed(fit)[None, :]
    rep = _replicated(fit, yrep, draws, seed)
    kind = fit.spec.family.response
    per_row = (kind == "trials") if per_row is None else per_row
    group = default_group(fit) if group is None else group
    if group is None:
        name, labels = "row", pd.Categorical([str(i) for i in frame.index], categories=[str(i) for i in frame.index])
        per_row = True
    else:
        name, labels = _group_labels(fit, group)
    rows = []
    if per_row:
        obs_s, rep_s = _scale(fit, obs)[0], _scale(fit, rep)
        for i, row in enumerate(frame.index):
            rows.append({"level": str(labels[i]), "row": row, "observed": float(obs_s[i]), "replicated": rep_s[:, i]})
    else:
        obs_g, rep_g = _group_means(fit, obs, labels)[0], _group_means(fit, rep, labels)
        for j, level in enumerate(labels.categories):
            rows.append({"level": str(level), "row": None, "observed": float(obs_g[j]), "replicated": rep_g[:, j]})
    out = []
    for r in rows:
        lo, hi = interval_bounds(r["replicated"], prob)
        out.append({"level": r["level"], "row": r["row"], "observed": r["observed"],
                    "median": float(np.median(r["replicated"])), "lower": lo, "upper": hi,
                    "p_value": _mid_p(r["replicated"], r["observed"]),
                    "outside": bool(r["observed"] < lo or r["observed"] > hi)})
    table = pd.DataFrame(out, columns=["level", "row", "observed", "median", "lower", "upper", "p_value", "outside"])
    table["level"] = pd.Categorical(table["level"], categories=[str(c) for c in labels.categories])
    table.attrs["group"] = name
    table.attrs["per_row"] = per_row
    return table


def ecdf_band(fit, *, yrep=None, draws: int | None = None, seed: int | None = None, prob: float = 0.95,
              points: int = 200) -> pd.DataFrame:
    """Empirical CDF of the data and a pointwise interval of the replicated data's ECDFs.

    Parameters
    ----------
    fit : Fit
        The fit (proportions ``y/n`` for ``p(y, n)``).
    yrep, draws, seed, prob
        As in :func:`category_counts`.
    points : int
        Number of grid points.

    Returns
    -------
    pandas.DataFrame
        ``x`` (grid), ``observed`` (the data's ECDF), ``median``, ``lower``, ``upper`` (of
        the replicated ECDFs at each grid point).

    Examples
    --------
    >>> band = ecdf_band(gaussian_fit, seed=1)  # doctest: +SKIP
    >>> band.columns.tolist()  # doctest: +SKIP
    ['x', 'observed', 'median', 'lower', 'upper']
    """
    obs = _scale(fit, observed(fit)[None, :])[0]
    rep = _scale(fit, _replicated(fit, yrep, draws, seed))
    lo_x, hi_x = np.quantile(np.concatenate([obs, rep.ravel()]), [0.005, 0.995])
    grid = np.linspace(min(lo_x, obs.min()), max(hi_x, obs.max()), points)
    rep_sorted = np.sort(rep, axis=1)
    rep_cdf = np.stack([np.searchsorted(r, grid, side="right") / r.size for r in rep_sorted])
    obs_cdf = np.searchsorted(np.sort(obs), grid, side="right") / obs.size
    lo, med, hi = np.quantile(rep_cdf, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    return pd.DataFrame({"x": grid, "observed": obs_cdf, "median": med, "lower": lo, "upper": hi})


# ---------------------------------------------------------------------------
# Random effects
# ---------------------------------------------------------------------------


def _group_terms(fit) -> list[str]:
    bm = fit.spec.bambi_model
    return list(bm.parameters[bm.family.likelihood.parent].group_specific_terms)


def ranef_draws(fit, group=None) -> list[dict]:
    """Draws of each group term's effects, one entry per term (and per effect column).

    Parameters
    ----------
    fit : Fit
        A fit with group terms.
    group : str or list of str, optional
        Grouping factors (``"centre"``) or term names (``"1|centre"``); all if None.

    Returns
    -------
    list of dict
        Keys ``term`` (``"1|centre"``), ``group``, ``effect`` (``"1"``, ``"x"``,
        ``"treat[drug]"``), ``levels`` (list of str) and ``draws`` (array, draws x levels).

    Examples
    --------
    >>> [d["term"] for d in ranef_draws(fit)]  # doctest: +SKIP
    ['1|centre']
    """
    terms = _group_terms(fit)
    if not terms:
        raise TermError(f"The model {fit.spec.formula.original!r} has no group-level terms.")
    wanted = None if group is None else ([group] if isinstance(group, str) else list(group))
    if wanted is not None:
        known = set(terms) | {t.split("|", 1)[1] for t in terms}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            groups = sorted({t.split("|", 1)[1] for t in terms})
            raise TermError(f"No group term {', '.join(map(repr, unknown))}; groups: {', '.join(groups)}; "
                             f"terms: {', '.join(terms)}.")
    draws = fit.draws
    out = []
    for term in terms:
        effect, factor = term.split("|", 1)
        if wanted is not None and term not in wanted and factor not in wanted:
            continue
        da = draws[term]
        factor_dim = f"{factor}__factor_dim"
        levels = [str(v) for v in da[factor_dim].values]
        extra = [d for d in da.dims if d not in (*SAMPLE_DIMS, factor_dim)]
        da = da.transpose(*SAMPLE_DIMS, factor_dim, *extra)
        if not extra:
            out.append({"term": term, "group": factor, "effect": effect, "levels": levels,
                        "draws": da.values.reshape(-1, len(levels))})
            continue
        stacked = da.stack(__col__=extra)
        for k in range(stacked.sizes["__col__"]):
            col = stacked.isel(__col__=k)
            coord = col["__col__"].values.item()
            coord = coord if isinstance(coord, tuple) else (coord,)
            suffix = "[" + ", ".join(str(c) for c in coord) + "]"
            out.append({"term": term + suffix, "group": factor, "effect": effect + suffix, "levels": levels,
                        "draws": col.values.reshape(-1, len(levels))})
    return out


SHRINKAGE_NOTE = (
    "Shapiro-Wilk on the posterior means of the group effects (the course's shapiro.test(ranef)). "
    "Read it with care: (1) shrinkage: posterior means are pulled toward 0, the more so for levels with little "
    "data, so their spread understates the effects' SD and their shape is pulled toward the normal prior; "
    "(2) with few levels the test has little power: a large p-value is weak evidence of normality "
    "(here {n_min} to {n_max} levels per term); (3) it treats the estimates as data and ignores their "
    "posterior uncertainty. plot_ranef_qq(fit) shows that uncertainty as a band from the draws."
)


@dataclass
class RanefNormality:
    """Shapiro-Wilk tests of group effects, with a note on what they can and cannot show.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term: ``term``, ``group``, ``effect``, ``n_levels``, ``W``, ``p_value``
        (NaN with fewer than 3 levels).
    note : str
        The limits of the test (shrinkage, power, estimates treated as data).
    """

    table: pd.DataFrame
    note: str

    def __str__(self) -> str:
        shown = self.table.copy()
        shown["W"] = shown["W"].map(lambda v: f"{v:.4f}")
        shown["p_value"] = shown["p_value"].map(lambda v: f"{v:.4f}")
        return f"{shown.to_string(index=False)}\nNote: {self.note}"

    __repr__ = __str__


def ranef_normality(fit, group=None) -> RanefNormality:
    """Shapiro-Wilk test of normality of each group term's posterior-mean effects.

    Parameters
    ----------
    fit : Fit
        A fit with group terms.
    group : str or list of str, optional
        Grouping factors or term names (see :func:`ranef_draws`); all if None.

    Returns
    -------
    RanefNormality
        ``table`` with ``W`` and ``p_value`` per term (``scipy.stats.shapiro``), and ``note``.

    Examples
    --------
    >>> res = ranef_normality(fit_null)  # doctest: +SKIP
    >>> res.table[["term", "W", "p_value"]]  # doctest: +SKIP
           term     W  p_value
    0  1|centre  0.93     0.41
    """
    rows = []
    for entry in ranef_draws(fit, group):
        means = entry["draws"].mean(axis=0)
        if len(means) >= 3 and np.ptp(means) > 0:
            res = sps.shapiro(means)
            w, p = float(res.statistic), float(res.pvalue)
        else:
            w = p = float("nan")
        rows.append({"term": entry["term"], "group": entry["group"], "effect": entry["effect"],
                     "n_levels": len(means), "W": w, "p_value": p})
    table = pd.DataFrame(rows, columns=["term", "group", "effect", "n_levels", "W", "p_value"])
    note = SHRINKAGE_NOTE.format(n_min=int(table["n_levels"].min()), n_max=int(table["n_levels"].max()))
    if (table["n_levels"] < 3).any():
        note += " Terms with fewer than 3 levels cannot be tested (W is NaN)."
    return RanefNormality(table, note)


def normal_quantiles(n: int) -> np.ndarray:
    """Standard normal quantiles at R's ``ppoints(n)``, as ``qqnorm`` uses.

    Examples
    --------
    >>> normal_quantiles(3).round(3).tolist()
    [-0.869, 0.0, 0.869]
    """
    a = 3 / 8 if n <= 10 else 1 / 2
    return sps.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def ranef_qq(fit, group=None, prob: float = 0.95) -> dict[str, pd.DataFrame]:
    """QQ-plot data of each group term: sorted posterior means, normal quantiles and a band.

    The band: for each posterior draw, sort that draw's effects; the ``prob`` interval of
    the k-th smallest value over draws bounds rank k.

    Parameters
    ----------
    fit : Fit
        A fit with group terms.
    group : str or list of str, optional
        Grouping factors or term names; all if None.
    prob : float
        Probability of the band.

    Returns
    -------
    dict
        Term -> DataFrame with ``rank``, ``level``, ``mean`` (sorted posterior means),
        ``theoretical`` (normal quantile), ``lower``, ``upper`` (band), and
        ``attrs["sigma"]`` (posterior median of the term's SD when available).

    Examples
    --------
    >>> qq = ranef_qq(fit)["1|centre"]  # doctest: +SKIP
    >>> len(qq)  # doctest: +SKIP
    11
    """
    out = {}
    draws = fit.draws
    for entry in ranef_draws(fit, group):
        d = entry["draws"]
        means = d.mean(axis=0)
        order = np.argsort(means, kind="stable")
        sorted_draws = np.sort(d, axis=1)
        lo, hi = np.quantile(sorted_draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        table = pd.DataFrame({"rank": np.arange(1, len(means) + 1), "level": [entry["levels"][i] for i in order],
                              "mean": means[order], "theoretical": normal_quantiles(len(means)),
                              "lower": lo, "upper": hi})
        sigma_name = f"{entry['term'].split('[')[0]}_sigma"
        sigma = float("nan")
        if sigma_name in draws:
            sd = draws[sigma_name]
            extra = [c for c in sd.dims if c not in SAMPLE_DIMS]
            if not extra:
                sigma = float(sd.median())
            elif "[" in entry["term"]:
                coord = entry["term"].split("[", 1)[1].rstrip("]").split(", ")
                try:
                    sigma = float(sd.sel(dict(zip(extra, coord))).median())
                except (KeyError, ValueError):
                    sigma = float("nan")
        table.attrs["sigma"] = sigma
        table.attrs["prob"] = prob
        out[entry["term"]] = table
    return out


# ---------------------------------------------------------------------------
# Prior vs posterior
# ---------------------------------------------------------------------------


def variance_components(fit) -> list[str]:
    """Names of the variance-component variables: group SDs (``1|centre_sigma``) and gaussian ``sigma``.

    Examples
    --------
    >>> variance_components(fit)  # doctest: +SKIP
    ['1|centre_sigma']
    """
    names = [f"{t}_sigma" for t in _group_terms(fit)]
    if fit.spec.family.residual_sd is not None:  # gaussian's sigma
        names.append(fit.spec.family.residual_sd)
    return names


def prior_posterior_draws(fit, var_names: Sequence[str] | None = None, *, draws: int = 1000,
                          seed: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Prior and posterior draws of scalar parameters, element by element.

    Parameters
    ----------
    fit : Fit
        A posterior fit.
    var_names : list of str, optional
        Variables (default :func:`variance_components`); vector-valued ones give one
        entry per element (``"treat[drug]"``).
    draws : int
        Number of prior draws.
    seed : int, optional
        Seed of the prior draws.

    Returns
    -------
    dict
        Label -> (prior draws, posterior draws), each 1-d.

    Examples
    --------
    >>> pp = prior_posterior_draws(fit, seed=1)  # doctest: +SKIP
    >>> prior, post = pp["1|centre_sigma"]  # doctest: +SKIP
    """
    if fit.prior_only:
        raise NoPosteriorError("This fit holds prior draws only; prior vs posterior needs a posterior fit.")
    names = variance_components(fit) if var_names is None else list(var_names)
    if not names:
        raise TermError(f"The model {fit.spec.formula.original!r} has no variance components (no group terms); "
                         "pass var_names=[...] to compare other parameters.")
    prior = sample_prior(fit, draws, seed)["prior"].to_dataset()
    post = fit.draws
    missing = [n for n in names if n not in post or n not in prior]
    if missing:
        raise TermError(f"Unknown variables {', '.join(missing)}; available: {', '.join(map(str, post.data_vars))}.")
    out = {}
    for name in names:
        pr, po = prior[name], post[name]
        extra = [d for d in po.dims if d not in SAMPLE_DIMS]
        if not extra:
            out[name] = (pr.values.ravel(), po.values.ravel())
            continue
        for k in range(int(np.prod([po.sizes[d] for d in extra]))):
            idx = dict(zip(extra, np.unravel_index(k, [po.sizes[d] for d in extra])))
            label = name + "[" + ", ".join(str(po[d].values[i]) for d, i in idx.items()) + "]"
            out[label] = (pr.isel(idx).values.ravel(), po.isel(idx).values.ravel())
    return out


__all__ = [
    "DispersionCheck",
    "RanefNormality",
    "category_counts",
    "default_group",
    "dispersion_check",
    "ecdf_band",
    "group_intervals",
    "normal_quantiles",
    "observed",
    "posterior_predictive",
    "ppc_pvalues",
    "prior_posterior_draws",
    "prior_predictive",
    "ranef_draws",
    "ranef_normality",
    "ranef_qq",
    "replicated_statistics",
    "sample_prior",
    "trials",
    "variance_components",
]
