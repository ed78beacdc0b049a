"""Predictions from a fitted GLMM: for the rows' own groups, a typical group, the population, a new group.

Four kinds of prediction, as in the course (and brms/lme4's ``re.form``/``allow_new_levels``):

``conditional``
    Each row with its own group effects (lme4's ``predict(fit)``): the group levels must
    be ones the fit saw (levels with rows in the fit's data).
``typical``
    All group effects set to zero (the course's "for u_i = 0"; lme4's ``re.form = NA``):
    a group exactly at the population centre.
``marginal``
    Averaged over the distribution of the group effects, Normal(0, Sigma), for each
    posterior draw: the population-averaged mean (for a logit model, the proportion of
    positive responses over all groups). The group part of a row's linear predictor is
    one normal variable, N(0, x' Sigma x), so the average is a one-dimensional integral per
    draw and row, computed by a trapezoid rule whose step adapts to the draw's group SD
    (error below 1e-8, no simulation noise, the same numbers on every call). The
    predictive interval of a new observation from a random group is simulated (seeded).
``new_group``
    A new, unseen group drawn from the fitted distribution Normal(0, Sigma): a fresh draw
    per posterior draw, correlated blocks with their fitted correlation (LKJ block: the
    draw's SDs and correlation matrix). Rows with the same value of a grouping column
    share one new group; without the column every row is its own new group. Bambi's own
    ``sample_new_groups`` is not used: it gives a new group the effects of a randomly
    chosen existing group (brms's ``sample_new_levels = "uncertainty"``), i.e. the
    empirical distribution of the fitted groups, not Normal(0, Sigma).

The fixed part of the linear predictor (offsets included) is computed from Bambi's own
design matrices (formulae's ``evaluate_new_data``: categorical codes and stateful
transforms as in the fit) and the posterior coefficients; the group part from the group
effects (Bambi's variable names ``1|g``, ``x|g``). The conditional predictions equal
Bambi's ``model.predict(idata, data=..., kind="response_params")`` (tested). New data are
checked first, and every problem is reported before anything is computed. Rows are
processed in chunks, so 4000 draws of the 8525-row course data fit in memory.

Ordinal (cumulative) models take ``scale="probability"``: the family computes P(y = k) per
draw from the linear predictor and the cut-points
(:meth:`~bayesglmm.families.base.Family.category_probabilities`; for ``marginal``, averaged
over the group effects), and the table has one mean and interval per category. The
categorical family (one linear predictor per non-reference category) takes
``scale="probability"`` (the softmax of the category predictors) or ``scale="link"`` (the
log-odds of each category against the reference): each category's predictor is computed
from the draws of that category (Bambi's ``{response}_reduced_dim``) as above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayesglmm.backend import correlated_labels
from bayesglmm.errors import DataError, FamilyError, SettingsError
from bayesglmm.families import link_functions
from bayesglmm.summary import interval_bounds

KINDS = ("conditional", "typical", "marginal", "new_group")
SCALES = ("response", "link", "probability")
# Used when seed=None, so that repeated calls give the same numbers.
DEFAULT_SEED = 20240601
# The marginal mean E[g^-1(eta + s z)], z ~ N(0, 1), is a trapezoid sum on [-9, 9] with step
# h = 2^-j <= min(0.5, 0.5 / s), chosen per draw: 37 nodes for s <= 1, 73 for s <= 2, ... The
# error is below 1e-8 for logit, probit and cloglog links with s from 0.001 to 30 (checked
# against scipy.integrate.quad): the integrand is analytic, so the trapezoid rule converges
# geometrically once h resolves the inverse link's width 1/s.
_Z_RANGE = 9.0


def _quadrature(j: int):
    h = 2.0**-j
    z = np.arange(-_Z_RANGE, _Z_RANGE + h / 2, h)
    return z, h * stats.norm.pdf(z)


_MAX_SHOWN = 5


# ----------------------------------------------------------------------------- links
def inverse_link(link: str):
    """The inverse link as a NumPy function (:data:`bayesglmm.families.LINKS`).

    Examples
    --------
    >>> float(inverse_link("logit")(0.0))
    0.5
    """
    return link_functions(link)[1]


def link_function(link: str):
    """The link as a NumPy function (the inverse of :func:`inverse_link`).

    Examples
    --------
    >>> float(link_function("logit")(0.5))
    0.0
    """
    return link_functions(link)[0]


# ----------------------------------------------------------------------------- draws
def _flat(da: xr.DataArray, idx=None) -> np.ndarray:
    """(chain, draw, ...) -> (samples, ...), optionally keeping only the samples ``idx``."""
    dims = ["chain", "draw"] + [d for d in da.dims if d not in ("chain", "draw")]
    arr = da.transpose(*dims).values
    arr = arr.reshape((-1,) + arr.shape[2:])
    return arr if idx is None else arr[idx]


def _sample_index(ds, draws) -> np.ndarray | None:
    total = ds.sizes["chain"] * ds.sizes["draw"]
    if draws is None or draws >= total:
        return None
    if not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SettingsError(f"draws must be a positive whole number or None; got {draws!r}.")
    return np.unique(np.linspace(0, total - 1, int(draws)).round().astype(int))


def _parent(spec):
    bm = spec.bambi_model
    return bm.parameters[bm.family.likelihood.parent]


# ----------------------------------------------------------------------------- new data
def _rows(labels) -> str:
    labels = list(labels)
    shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in labels[:_MAX_SHOWN])
    more = f" and {len(labels) - _MAX_SHOWN} more" if len(labels) > _MAX_SHOWN else ""
    return f"row{'s' if len(labels) > 1 else ''} {shown}{more}"


def _val(x):
    """A NumPy scalar as the plain Python value (for messages: 0, not np.int64(0))."""
    return x.item() if isinstance(x, np.generic) else x


def _group_columns(factor: str) -> list[str]:
    return factor.split(":")


def _factor_of(term_name: str) -> str:
    return term_name.split("|", 1)[1]


def _row_labels(frame: pd.DataFrame, factor: str) -> np.ndarray:
    """Each row's level of a grouping expression (``a:b`` joins the columns as formulae does)."""
    cols = _group_columns(factor)
    labels = frame[cols[0]].astype(str).to_numpy(dtype=object)
    for col in cols[1:]:
        labels = labels + ":" + frame[col].astype(str).to_numpy(dtype=object)
    return labels


def _known_levels(ds, factor: str) -> list[str]:
    return [str(v) for v in ds[f"{factor}__factor_dim"].values]


def _convert_column(new: pd.Series, fitted: pd.Series, col: str) -> pd.Series:
    """Give a new-data column the fitted column's type; unknown categories raise DataError."""
    if isinstance(fitted.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(fitted) \
            or pd.api.types.is_object_dtype(fitted):
        if isinstance(fitted.dtype, pd.CategoricalDtype):
            known = list(fitted.cat.categories)
        else:
            known = list(pd.unique(fitted))
        by_text = {str(k): k for k in known}
        text = new.astype(str)
        bad = ~text.isin(list(by_text))
        if bad.any():
            first = text[bad].iloc[0]
            raise DataError(
                f"Column {col!r} has level {first!r} at {_rows(new.index[bad & (text == first)])}, which the "
                f"fit never saw, so the model has no coefficient for it. Known levels: "
                f"{', '.join(map(str, known))}."
            )
        values = text.map(by_text)
        if isinstance(fitted.dtype, pd.CategoricalDtype):
            return pd.Series(pd.Categorical(values, categories=fitted.cat.categories, ordered=fitted.cat.ordered),
                             index=new.index, name=col)
        return values.astype(fitted.dtype)
    if pd.api.types.is_bool_dtype(fitted):
        if pd.api.types.is_bool_dtype(new):
            return new
        ok = new.isin([0, 1, True, False])
        if not ok.all():
            raise DataError(f"Column {col!r} is True/False in the fit; found {_val(new[~ok].iloc[0])!r} at "
                            f"{_rows(new.index[~ok])}.")
        return new.astype(bool)
    converted = pd.to_numeric(new, errors="coerce")
    bad = converted.isna() | ~np.isfinite(converted.astype(float))
    if bad.any():
        raise DataError(f"Column {col!r} must be numeric (as in the fit) and finite; found {_val(new[bad].iloc[0])!r} "
                        f"at {_rows(new.index[bad])}.")
    return converted.astype(float)


@dataclass
class _NewData:
    frame: pd.DataFrame          # model columns with the fit's types (what formulae evaluates)
    original: pd.DataFrame       # the user's rows, returned with the predictions
    labels: dict                 # grouping expression -> row labels (or None: every row new)
    trials: np.ndarray | None


def _prepare(fit, data, kind: str, need_trials: bool) -> _NewData:
    """Check and convert new data; every error is raised before anything is computed."""
    spec = fit.spec
    pf = spec.formula
    fitted = spec.data.frame
    factors = [b.factor for b in pf.blocks]
    if data is None:
        frame = fitted.copy()
        labels = {f: _row_labels(frame, f) for f in factors}
        trials = frame[pf.trials].to_numpy(dtype=float) if pf.trials else None
        return _NewData(frame, fitted.copy(), labels, trials)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if len(data) == 0:
        raise DataError("The new data have no rows.")
    if data.columns.duplicated().any():
        raise DataError(f"The new data have duplicated column names: {list(data.columns[data.columns.duplicated()])}.")

    skip = {pf.response, pf.trials, pf.censoring, *pf.group_factors}
    required = {c: "a predictor" for c in pf.columns if c not in skip}
    for c in pf.offsets:
        required[c] = "an offset (exposure)"
    if pf.trials and need_trials:
        required[pf.trials] = "the number of trials, needed for the predictive interval of counts"
    if kind == "conditional":
        for c in pf.group_factors:
            required[c] = "a grouping factor, needed for kind='conditional'"
    missing = [c for c in required if c not in data.columns]
    if missing:
        hint = ""
        if kind == "conditional" and any(c in pf.group_factors for c in missing):
            hint = (" Without the grouping column(s), use kind='typical' (group effects zero), 'marginal' "
                    "(averaged over groups) or 'new_group'.")
        raise DataError(
            "The new data lack column(s) the model needs: "
            + "; ".join(f"{c!r} ({required[c]})" for c in missing) + "." + hint
        )
    groups_present = [c for c in pf.group_factors if c in data.columns and kind != "typical" and kind != "marginal"]
    used = list(required) + [c for c in groups_present if c not in required]
    parts = []
    for col in used:
        miss = data[col].isna()
        if miss.any():
            parts.append(f"column {col!r}: {int(miss.sum())} missing ({_rows(data.index[miss])})")
    if parts:
        raise DataError("Missing values in the new data: " + "; ".join(parts) + ". Remove or fill these rows.")

    frame = pd.DataFrame(index=data.index)
    for col in required:
        if col in pf.group_factors:
            continue  # matched as text below
        if col == pf.trials:
            n = pd.to_numeric(data[col], errors="coerce")
            bad = n.isna() | (n < 1) | (n != np.round(n))
            if bad.any():
                raise DataError(f"Column {col!r} holds the number of trials and must be whole numbers of at least 1; "
                                f"found {_val(data[col][bad].iloc[0])!r} at {_rows(data.index[bad])}.")
            frame[col] = n.astype(np.int64)
            continue
        frame[col] = _convert_column(data[col], fitted[col], col)
    for col in pf.offsets:
        if f"log({col})" in pf.original.replace(" ", "").replace("`", ""):
            bad = frame[col].astype(float) <= 0
            if bad.any():
                raise DataError(f"Column {col!r} is used as offset(log({col})) and must be positive (an exposure); "
                                f"found {_val(data[col][bad].iloc[0])!r} at {_rows(data.index[bad])}.")
    for col in groups_present:
        frame[col] = data[col].astype(str)

    labels = {}
    ds = fit.draws
    for factor in factors:
        cols = _group_columns(factor)
        if not all(c in frame.columns for c in cols):
            labels[factor] = None
            continue
        labels[factor] = _row_labels(frame, factor)
        if kind == "conditional":
            # Levels with rows in the fit. (Should the model hold a coefficient for a combination
            # a:b without rows, it has only its prior: not a known group.)
            known = set(_row_labels(fitted, factor).astype(str)) & set(_known_levels(ds, factor))
            new = ~np.isin(labels[factor].astype(str), list(known))
            if new.any():
                first = labels[factor][new][0]
                where = data.index[new & (labels[factor] == first)]
                what = (f"Column {factor!r} has level {first!r}" if len(cols) == 1
                        else f"Columns {', '.join(map(repr, cols))} have the combination {first!r} ({factor})")
                raise DataError(
                    f"{what} at {_rows(where)}, a group the fit never saw: kind='conditional' uses each "
                    "row's own estimated group effect, and there is none for it. Use kind='new_group' to "
                    "predict for a new group drawn from the fitted distribution (every row's group is then "
                    "treated as new), or kind='typical' / kind='marginal'."
                )
    # Columns formulae may need that are not required (e.g. grouping columns): give it the fit's types.
    trials = frame[pf.trials].to_numpy(dtype=float) if pf.trials and pf.trials in frame else None
    return _NewData(frame, data.copy(), labels, trials)


# ----------------------------------------------------------------------------- linear predictor
def _design_frame(spec, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame formulae evaluates: the model frame's columns, with placeholders for unused ones."""
    out = frame.copy()
    fitted = spec.data.frame
    for col in fitted.columns:
        if col not in out.columns:
            # Response, trials or grouping columns are not evaluated by the common design;
            # a placeholder of the right type keeps formulae from failing on a lookup.
            out[col] = fitted[col].iloc[0]
    return out


def _n_samples(ds, idx) -> int:
    return int(ds.sizes["chain"] * ds.sizes["draw"]) if idx is None else len(idx)


def _fixed_design(spec, frame: pd.DataFrame | None):
    """[(coefficient name, design columns (rows, width))] and the offset (rows,), from Bambi's design."""
    comp = _parent(spec)
    design = comp.design.common
    n = spec.n_obs if frame is None else len(frame)
    if design is None:
        return [], np.zeros(n)
    if frame is None:
        X = np.asarray(design.design_matrix, dtype=float)
    else:
        X = np.asarray(design.evaluate_new_data(_design_frame(spec, frame)).design_matrix, dtype=float)
    slices = dict(design.slices)
    if slices and max(sl.stop for sl in slices.values()) > X.shape[1]:
        # Ordinal families: Bambi drops formulae's intercept column and its slice, and the
        # other slices keep their old positions; the columns are the remaining terms in order.
        slices, start = {}, 0
        for key, sl in sorted(design.slices.items(), key=lambda kv: kv[1].start):
            slices[key] = slice(start, start + sl.stop - sl.start)
            start = slices[key].stop
        if start != X.shape[1]:
            raise FamilyError("The model's design matrix does not match its terms; cannot predict.")
    names = (["Intercept"] if comp.intercept_term is not None else []) + list(comp.common_terms)
    terms = [(name, X[:, slices[name]]) for name in names]
    offset = np.zeros(n)
    for name in comp.offset_terms:
        offset = offset + X[:, slices[name]].sum(axis=1)
    return terms, offset


def fixed_predictor(spec, ds, frame: pd.DataFrame | None = None, *, idx=None, offset: bool = True) -> np.ndarray:
    """Fixed-effect part of the linear predictor, (samples, rows), from Bambi's design matrix.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    ds : xarray.Dataset
        Posterior (or prior) draws.
    frame : pandas.DataFrame, optional
        Rows with the fit's column types; the fit's own rows if None.
    idx : array of int, optional
        Flattened (chain, draw) samples to keep.
    offset : bool
        Add the offset terms (``offset(log(exposure))``).

    Examples
    --------
    >>> eta = fixed_predictor(fit.spec, fit.draws)  # doctest: +SKIP
    >>> eta.shape  # doctest: +SKIP
    (4000, 22)
    """
    terms, off = _fixed_design(spec, frame)
    eta = np.zeros((_n_samples(ds, idx), len(off)))
    for name, cols in terms:
        eta += _flat(ds[name], idx).reshape(eta.shape[0], -1) @ cols.T
    return eta + off[None, :] if offset else eta


@dataclass
class _Unit:
    """Effects of one grouping factor that are drawn jointly for a level: N(0, L L')."""

    factor: str
    terms: list          # [(term name, width)]
    chol: np.ndarray     # (samples, k, k)


def _term_width(ds, name: str) -> int:
    da = ds[name]
    extra = [d for d in da.dims if d not in ("chain", "draw") and not d.endswith("__factor_dim")]
    return int(np.prod([da.sizes[d] for d in extra])) if extra else 1


def _units(spec, ds, idx) -> list[_Unit]:
    """The group effects as blocks drawn jointly (correlated blocks) or alone (other terms)."""
    comp = _parent(spec)
    units, in_block = [], set()
    for block, label in correlated_labels(spec.formula.blocks):  # label of {label}_corr
        terms = [(t, _term_width(ds, t)) for t in block.term_names]
        sds = np.concatenate([_flat(ds[f"{t}_sigma"], idx).reshape(-1, w) for t, w in terms], axis=1)
        corr = _flat(ds[f"{label}_corr"], idx)
        corr_chol = np.linalg.cholesky(corr + 1e-12 * np.eye(corr.shape[-1]))
        units.append(_Unit(block.factor, terms, sds[:, :, None] * corr_chol))
        in_block.update(block.term_names)
    for name in comp.group_specific_terms:
        if name in in_block:
            continue
        w = _term_width(ds, name)
        sd = _flat(ds[f"{name}_sigma"], idx)
        sd = np.broadcast_to(sd.reshape(sd.shape[0], -1), (sd.shape[0], w))
        units.append(_Unit(_factor_of(name), [(name, w)], sd[:, :, None] * np.eye(w)[None]))
    return units


def _term_expr(spec, name: str, frame: pd.DataFrame | None) -> np.ndarray:
    """(rows, width) values of a group term's expression (1 for an intercept, x for a slope)."""
    fterm = _parent(spec).design.group.terms[name]
    values = fterm.expr.eval_new_data(_design_frame(spec, spec.data.frame if frame is None else frame))
    values = np.asarray(values, dtype=float)
    return values[:, None] if values.ndim == 1 else values


@dataclass
class _Plan:
    """Everything a chunk of rows needs, drawn or looked up once for all rows."""

    s: int
    fixed: list   # [(coefficient draws (s, w), design columns (rows, w))]
    offset: np.ndarray
    effects: list  # [(effect draws (s, levels, w), level of each row (rows,), expression (rows, w))]
    marginal: list  # [(Cholesky factor (s, k, k), expression (rows, k))]


def _plan(fit, nd: _NewData, kind: str, idx, rng) -> _Plan:
    spec, ds = fit.spec, fit.draws
    s = _n_samples(ds, idx)
    terms, offset = _fixed_design(spec, nd.frame)
    fixed = [(_flat(ds[name], idx).reshape(s, -1), cols) for name, cols in terms]
    effects, marginal = [], []
    if kind == "conditional":
        for name in _parent(spec).group_specific_terms:
            factor = _factor_of(name)
            level_of = {lab: i for i, lab in enumerate(_known_levels(ds, factor))}
            rows = np.array([level_of[str(lab)] for lab in nd.labels[factor]])
            da = ds[name]
            other = [d for d in da.dims if d not in ("chain", "draw", f"{factor}__factor_dim")]
            u = _flat(da.transpose("chain", "draw", f"{factor}__factor_dim", *other), idx)
            effects.append((u.reshape(s, u.shape[1], -1), rows, _term_expr(spec, name, nd.frame)))
    elif kind in ("new_group", "marginal"):
        for unit in _units(spec, ds, idx):
            X = np.concatenate([_term_expr(spec, t, nd.frame) for t, _ in unit.terms], axis=1)  # (rows, k)
            if kind == "marginal":
                marginal.append((unit.chol, X))
                continue
            labels = nd.labels.get(unit.factor)
            codes = np.arange(len(nd.frame)) if labels is None else pd.factorize(pd.Series(labels.astype(str)))[0]
            z = rng.standard_normal((s, codes.max() + 1, X.shape[1]))
            u = np.einsum("skj,slj->slk", unit.chol, z)  # (s, new levels, k) ~ N(0, L L')
            effects.append((u, codes, X))
    return _Plan(s, fixed, offset, effects, marginal)


def _linear_chunk(plan: _Plan, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """Linear predictor (samples, chunk rows) and, for the marginal kind, the group part's variance."""
    n = len(plan.offset[rows])
    eta = np.zeros((plan.s, n)) + plan.offset[rows][None, :]
    for coef, cols in plan.fixed:
        eta += coef @ cols[rows].T
    for u, levels, X in plan.effects:
        eta += np.einsum("sic,ic->si", u[:, levels[rows], :], X[rows])
    var = np.zeros_like(eta)
    for chol, X in plan.marginal:
        # Var(x' u) = x' L L' x = |L' x|^2 per draw and row.
        var += (np.einsum("skj,ik->sij", chol, X[rows]) ** 2).sum(axis=2)
    return eta, var


# Rows per chunk: at most this many (sample x row) values per array, so that 4000 draws of
# the 8525-row patients data never hold more than ~30 MB per array.
_CHUNK_ELEMENTS = 4_000_000


def _marginal_mean(eta: np.ndarray, var: np.ndarray, link: str) -> np.ndarray:
    """E[g^-1(eta + b)], b ~ N(0, var), elementwise (samples, rows)."""
    if link == "identity":
        return eta.copy()
    if link == "log":
        return np.exp(eta + var / 2)
    inv = inverse_link(link)
    sd = np.sqrt(var)
    level = np.maximum(1, np.ceil(np.log2(np.maximum(2 * sd.max(axis=1), 1e-12)))).astype(int)
    out = np.empty_like(eta)
    for j in np.unique(level):
        rows = level == j
        e, s_ = eta[rows], sd[rows]
        acc, buf = np.zeros_like(e), np.empty_like(e)
        for z, w in zip(*_quadrature(int(j))):
            if link == "logit":  # w / (1 + exp(-(e + s z))), in place: about twice as fast as expit
                np.multiply(s_, -z, out=buf)
                buf -= e
                with np.errstate(over="ignore"):
                    np.exp(buf, out=buf)
                buf += 1.0
                np.divide(w, buf, out=buf)
                acc += buf
            else:
                acc += w * inv(e + s_ * z)
        out[rows] = acc
    return out


def _family_params(spec, ds, idx, frame=None):
    """The family's parameters besides the linear predictor, for its ``simulate``.

    A parameter with its own formula (``sigma ~ x``) is (samples, rows) for the rows of
    ``frame`` (:func:`bayesglmm.dpars.parameter_draws`); the others (samples, width).
    """
    from bayesglmm.dpars import parameter_draws

    return parameter_draws(spec, ds, idx, frame)


def _check_args(fit, kind, scale, prob):
    if kind not in KINDS:
        raise SettingsError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}.")
    if scale not in SCALES:
        raise SettingsError(f"scale must be 'response', 'link' or 'probability' (ordinal); got {scale!r}.")
    if not 0 < prob < 1:
        raise SettingsError(f"prob must be between 0 and 1 (e.g. 0.95); got {prob!r}.")
    fit.spec.family.check_prediction_scale(scale)


def _compute(fit, nd: _NewData, kind: str, scale: str, idx, rng, predictive: bool):
    """Yield (rows, {"mean": (s, r), "predictive": (s, r)}) chunk by chunk."""
    spec = fit.spec
    link = spec.link
    g, g_inv = spec.family.link_function(link), spec.family.inverse_link(link)
    dim = _category_dim(spec)
    if dim is None:
        plans = [_plan(fit, nd, kind, idx, rng)]
    else:  # one linear predictor per non-reference category: each from the draws of its own category
        plans = [_plan(_Draws(spec, fit.draws.isel({dim: j})), nd, kind, idx, rng) for j in range(fit.draws.sizes[dim])]
    plan = plans[0]
    own_mean = scale == "response" and bool(spec.family.mean_parameters)  # zero-inflated, hurdle, lognormal
    categories = scale == "probability"  # ordinal, categorical: P(y = k) per category, from the family
    all_params = _family_params(spec, fit.draws, idx, nd.frame) if predictive or own_mean or categories else {}
    varying = set(getattr(spec, "dpars", None) or ())  # (samples, rows): sliced with the rows of each chunk
    simulate = predictive and scale == "response" and spec.family.can_simulate(nd.trials)
    size = max(1, _CHUNK_ELEMENTS // max(plan.s * len(plans), 1))
    for start in range(0, len(nd.frame), size):
        rows = slice(start, min(start + size, len(nd.frame)))
        if dim is None:
            eta, var = _linear_chunk(plan, rows)
        else:  # (samples, rows, K - 1): the last axis is the category
            eta, var = (np.stack(part, axis=-1) for part in zip(*(_linear_chunk(p, rows) for p in plans)))
        params = {k: (v[:, rows] if k in varying else v) for k, v in all_params.items()}
        out = {}
        if categories:  # (samples, rows, K), averaged over the group part for the marginal kind
            out["probability"] = spec.family.category_probabilities(
                eta, params, link=link, var=var if kind == "marginal" else None)
        elif dim is not None:  # the link scale of each category: log-odds against the reference
            out["mean"] = g(spec.family.category_probabilities(eta, params, link=link, var=var)) \
                if kind == "marginal" else eta
        elif own_mean:  # the family's expected response (averaged over var for the marginal kind)
            out["mean"] = spec.family.response_mean(eta, params, link=link, var=var)
        elif kind == "marginal":
            mu = _marginal_mean(eta, var, link)
            out["mean"] = mu if scale == "response" else g(mu)
        else:
            out["mean"] = g_inv(eta) if scale == "response" else eta
        if simulate:
            eta_new = eta + np.sqrt(var) * rng.standard_normal(eta.shape) if kind == "marginal" else eta
            trials = None if nd.trials is None else nd.trials[rows]
            out["predictive"] = spec.family.simulate(eta_new, params, link=link, trials=trials, rng=rng)
        yield rows, out


def _category_dim(spec) -> str | None:
    """The draws' category dimension of a family with one linear predictor per category, else None."""
    return spec.family.predictor_dim(spec.formula.response)


def _collect(chunks) -> dict:
    parts: dict = {}
    for _, out in chunks:
        for key, value in out.items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values, axis=1) for key, values in parts.items()}


def predict_draws(fit, data=None, *, kind: str = "conditional", scale: str = "response", draws: int | None = None,
                  seed: int | None = None) -> xr.Dataset:
    """Posterior draws behind :func:`predict`: the expected response and new observations.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    data : pandas.DataFrame, optional
        New rows; the fit's rows if None.
    kind : {"conditional", "typical", "marginal", "new_group"}
        See :func:`predict`.
    scale : {"response", "link", "probability"}
        Expected response, linear predictor, or (ordinal models) the probability of each
        category.
    draws : int, optional
        Use this many posterior draws, evenly spaced (all if None).
    seed : int, optional
        Seed of the new-group and predictive simulation (a fixed default if None).

    Returns
    -------
    xarray.Dataset
        ``mean`` (sample, row): the expected response (or linear predictor) per draw;
        ``predictive`` (sample, row): one simulated new observation per draw (response
        scale only; counts out of the row's trials for binomial); with
        ``scale="probability"``, ``probability`` (sample, row, category): P(y = k) per draw.

    Examples
    --------
    >>> d = predict_draws(fit, mc, kind="typical")  # doctest: +SKIP
    >>> d["mean"].median("sample").values[:2]  # doctest: +SKIP
    array([0.376..., 0.358...])
    """
    _check_args(fit, kind, scale, 0.5)
    nd = _prepare(fit, data, kind, need_trials=scale == "response")
    idx = _sample_index(fit.draws, draws)
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    res = _collect(_compute(fit, nd, kind, scale, idx, rng, predictive=True))
    coords = {"row": np.arange(len(nd.frame))}
    if scale == "probability":
        coords["category"] = _categories(fit)
    elif _category_dim(fit.spec) is not None:  # link scale: the non-reference categories
        coords["category"] = _categories(fit)[1:]
    ds = xr.Dataset({k: (("sample", "row", "category")[: v.ndim], v) for k, v in res.items()}, coords=coords)
    ds.attrs.update(kind=kind, scale=scale)
    return ds


@dataclass
class _Draws:
    """What the prediction plan reads of a fit: the spec and draws in the posterior's layout."""

    spec: object
    draws: xr.Dataset


def _posterior_layout(spec, raw: xr.Dataset) -> xr.Dataset:
    """Raw PyMC draws (forward sampling of the prior) after Bambi's post-processing, as a fit's posterior.

    Bambi samples the intercept of the centred predictors; the post-processing (the one
    :func:`bayesglmm.engine.finish` applies to sampled draws) turns it into the intercept of
    the predictors as given, which the linear predictor here uses.
    """
    import warnings

    tree = xr.DataTree.from_dict({"posterior": raw.copy()})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return spec.bambi_model.backend._clean_results(tree, True, False)["posterior"].to_dataset()


def simulate_response(spec, draws: xr.Dataset, *, rng=None, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Linear predictor and one simulated response per draw for the model's own rows.

    The linear predictor is the conditional one (each row with its own group effects,
    offsets included), computed as :func:`predict` computes it; the response is drawn by the
    family's :meth:`~bayesglmm.families.base.Family.simulate`, the one way the package
    simulates responses (posterior and prior predictive checks, SBC, predictions).

    Parameters
    ----------
    spec : ModelSpec
        The built model (``fit.spec``).
    draws : xarray.Dataset
        Draws with dims ``chain`` and ``draw`` in the layout of a fit's posterior (Bambi's
        uncentred intercept): a posterior, or prior draws cleaned alike.
    rng : numpy.random.Generator or int, optional
        Generator or seed of the simulation; fresh randomness if None.
    raw : bool
        ``draws`` are raw PyMC draws (``pymc.sample_prior_predictive``, Bambi's
        ``prior_predictive``): Bambi's post-processing (the uncentred intercept) is applied
        first.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``eta`` and ``y``, each (samples, rows), samples in chain-major order; ``y`` on the
        response's scale (successes for ``p(y, n)``, 0/1, counts, real values or category
        codes 0..K-1), as floats.

    Examples
    --------
    >>> eta, y = simulate_response(fit.spec, fit.draws, rng=1)  # doctest: +SKIP
    >>> y.shape == (fit.draws.sizes["chain"] * fit.draws.sizes["draw"], fit.spec.n_obs)  # doctest: +SKIP
    True
    """
    rng = np.random.default_rng(rng)
    if raw:
        draws = _posterior_layout(spec, draws)
    source = _Draws(spec, draws)
    nd = _prepare(source, None, "conditional", need_trials=False)
    eta = _collect(_compute(source, nd, "conditional", "link", None, rng, predictive=False))["mean"]
    params = _family_params(spec, draws, None)  # a parameter with its own formula (sigma ~ x): per row
    y = spec.family.simulate(eta, params, link=spec.link, trials=nd.trials, rng=rng)
    return eta, y


def predict(fit, data=None, *, kind: str = "conditional", scale: str = "response", prob: float = 0.95,
            draws: int | None = None, seed: int | None = None) -> pd.DataFrame:
    """Predictions with credible and predictive intervals, one row per input row.

    Parameters
    ----------
    fit : Fit
        A fitted model (``fit.predict(...)`` forwards here).
    data : pandas.DataFrame, optional
        Rows to predict for, with the predictor columns (and offsets; the trials column of
        a binomial model; the grouping columns for ``kind="conditional"``). The fit's rows
        if None. Columns get the fit's types (grouping and categorical columns are matched
        as text, so ``centre=1`` and ``"1"`` are the same level).
    kind : {"conditional", "typical", "marginal", "new_group"}
        ``conditional``: each row's own group effects (levels must be known);
        ``typical``: group effects zero (the course's u_i = 0);
        ``marginal``: averaged over the group-effect distribution (population-averaged);
        ``new_group``: a new group drawn from the fitted distribution (rows with the same
        grouping value share it; correlated blocks keep their correlation).
    scale : {"response", "link", "probability"}
        ``response``: the expected response (a probability for bernoulli and binomial, an
        expected count for poisson, including the row's exposure); ``link``: the linear
        predictor (for ``marginal``, the link of the population-averaged mean);
        ``probability`` (ordinal and categorical models only): the probability of each
        category, P(y = k), computed by the family from the linear predictor and the
        cut-points, or the softmax of the categorical model's per-category predictors (for
        ``marginal``, averaged over the group effects: population-averaged shares). A
        categorical model's ``link`` scale is the log-odds of each non-reference category
        against the reference, columns ``log-odds(k vs ref)`` with their intervals.
    prob : float
        Probability of the equal-tailed intervals.
    draws : int, optional
        Use this many posterior draws, evenly spaced (all if None); fewer is faster on
        large data.
    seed : int, optional
        Seed of the simulation of new groups and new observations; None uses a fixed
        default, so the same call gives the same numbers.

    Returns
    -------
    pandas.DataFrame
        The input columns (same index), then ``mean`` and ``median`` (posterior mean and
        median of the expected response), ``lower``/``upper`` (its credible interval) and,
        on the response scale, ``pred_lower``/``pred_upper``: the posterior predictive
        interval of one new observation of the row (for binomial, a count out of the row's
        trials, with ``pred_prop_lower``/``pred_prop_upper`` as proportions). With
        ``scale="probability"``: for each category ``k`` (in the response's order),
        ``P(k)``, ``P(k) lower`` and ``P(k) upper``, the posterior mean and credible
        interval of P(y = k); ``attrs["categories"]`` lists them.

    Raises
    ------
    DataError
        Before any computation: a needed column is missing, a value is missing, a
        categorical predictor has a level the fit never saw, or (``kind="conditional"``)
        a grouping factor has a new level.

    Examples
    --------
    >>> f = bg.fit("p(y, n) ~ treat + (1|centre)", mc, family="binomial", seed=1)  # doctest: +SKIP
    >>> new = pd.DataFrame({"treat": ["drug", "control"], "n": [1, 1]})
    >>> f.predict(new, kind="typical")[["treat", "median", "lower", "upper"]]  # doctest: +SKIP
         treat    median     lower     upper
    0     drug  0.37...   0.2...    0.5...
    """
    _check_args(fit, kind, scale, prob)
    nd = _prepare(fit, data, kind, need_trials=scale == "response")
    idx = _sample_index(fit.draws, draws)
    rng = np.random.default_rng(DEFAULT_SEED if seed is None else seed)
    chunks = _compute(fit, nd, kind, scale, idx, rng, predictive=True)
    if scale == "probability":
        return _category_table(fit, nd, chunks, kind, prob)
    if _category_dim(fit.spec) is not None:  # link scale, one linear predictor per non-reference category
        return _category_table(fit, nd, chunks, kind, prob, link=True)
    n = len(nd.frame)
    stats_ = {c: np.full(n, np.nan) for c in ("mean", "median", "lower", "upper", "pred_lower", "pred_upper")}
    q = [(1 - prob) / 2, (1 + prob) / 2]
    method = "inverted_cdf" if fit.spec.family.discrete else "linear"  # counts stay whole
    has_pred = False
    for rows, res in chunks:
        mean = res["mean"]
        stats_["mean"][rows] = mean.mean(axis=0)
        stats_["median"][rows] = np.median(mean, axis=0)
        stats_["lower"][rows], stats_["upper"][rows] = np.quantile(mean, q, axis=0)
        if "predictive" in res:
            has_pred = True
            stats_["pred_lower"][rows], stats_["pred_upper"][rows] = np.quantile(res["predictive"], q, axis=0,
                                                                                 method=method)
    out = nd.original.copy()
    for c in ("mean", "median", "lower", "upper"):
        out[c] = stats_[c]
    if has_pred:
        out["pred_lower"], out["pred_upper"] = stats_["pred_lower"], stats_["pred_upper"]
        if fit.spec.family.needs_trials:
            out["pred_prop_lower"] = stats_["pred_lower"] / nd.trials
            out["pred_prop_upper"] = stats_["pred_upper"] / nd.trials
    out.attrs.update(kind=kind, scale=scale, prob=prob)
    return out


def _categories(fit) -> list[str]:
    """The response's categories, as the family names them (ordinal families)."""
    return fit.spec.family.category_labels(fit.spec.data.frame[fit.spec.formula.response])


def _category_table(fit, nd: _NewData, chunks, kind: str, prob: float, link: bool = False) -> pd.DataFrame:
    """Posterior mean and equal-tailed interval of P(y = k), one column triple per category.

    With ``link=True`` (a categorical model's link scale) the columns are the log-odds of
    each non-reference category against the reference, ``log-odds(k vs ref)``.
    """
    labels = _categories(fit)
    names = [f"P({label})" for label in labels]
    if link:
        labels = labels[1:]
        names = [f"log-odds({label} vs {_categories(fit)[0]})" for label in labels]
    n, k = len(nd.frame), len(labels)
    mean, lower, upper = (np.full((n, k), np.nan) for _ in range(3))
    q = [(1 - prob) / 2, (1 + prob) / 2]
    for rows, res in chunks:
        p = res["mean" if link else "probability"]  # (samples, rows, K) or (samples, rows, K - 1)
        mean[rows] = p.mean(axis=0)
        lower[rows], upper[rows] = np.quantile(p, q, axis=0)
    out = nd.original.copy()
    for j, name in enumerate(names):
        out[name] = mean[:, j]
        out[f"{name} lower"] = lower[:, j]
        out[f"{name} upper"] = upper[:, j]
    out.attrs.update(kind=kind, scale="link" if link else "probability", prob=prob, categories=labels)
    return out


# ----------------------------------------------------------------------------- PA ratio
def _binary_contrast(fit, term: str):
    """(column, reference value, target value, coefficient name, coefficient index)."""
    spec = fit.spec
    comp = _parent(spec)
    name, level = term, None
    if term.endswith("]") and "[" in term:
        name, level = term[:-1].split("[", 1)
    if name not in comp.common_terms:
        raise DataError(f"{term!r} is not a fixed effect of the model; fixed effects: {', '.join(comp.common_terms)}.")
    if name not in spec.data.frame.columns:
        raise DataError(f"{term!r} is not a single data column (interactions and transforms are not supported).")
    col = spec.data.frame[name]
    da = fit.draws[name]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if extra:
        coded = [str(v) for v in da[extra[0]].values]
        if level is None:
            if len(coded) != 1:
                raise DataError(f"{name!r} has {len(coded) + 1} levels; name the one to compare with the reference, "
                                f"e.g. {name + '[' + coded[0] + ']'!r}.")
            level = coded[0]
        if level not in coded:
            raise DataError(f"{term!r}: level {level!r} is not coded; coded levels: {', '.join(coded)}.")
        values = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col)
        levels = [str(v) for v in values]
        reference = [v for v in levels if v not in coded]
        if len(reference) != 1:
            raise DataError(f"{name!r} has no single reference level (levels {levels}, coded {coded}).")
        return name, reference[0], level, name, coded.index(level)
    values = set(pd.unique(col.astype(float)))
    if not values <= {0.0, 1.0}:
        raise DataError(f"{name!r} is numeric with values other than 0 and 1: the population-averaged ratio "
                        "here is for a binary predictor (0/1, True/False or a two-level factor).")
    return name, 0, 1, name, 0


def population_averaged_ratio(fit, term: str, data=None, prob: float = 0.95) -> pd.DataFrame:
    """Conditional (within-group) and population-averaged odds ratio of a binary predictor.

    The conditional odds ratio exp(beta) compares two observations in the same group
    (or with group effect u = 0); the population-averaged one compares the proportions
    over all groups, P1/(1 - P1) / (P0/(1 - P0)) with P = E_u[plogis(eta + u)]. They
    differ because the logit is not linear: averaging probabilities over the group
    effects pulls them toward 0.5, so the population-averaged log-odds ratio is shrunk
    toward 0 (by about 1/sqrt(1 + 0.346 sigma^2) for a random intercept with SD sigma).
    With a log link (poisson, negative binomial) the rate ratios agree unless the term
    has a random slope.

    Parameters
    ----------
    fit : Fit
        A fitted bernoulli/binomial (logit) or count (log link) model.
    term : str
        The binary predictor: a two-level factor (``"treat"``), one level of a factor
        against its reference (``"treat[drug]"``), or a 0/1 or True/False column.
    data : pandas.DataFrame, optional
        Rows to average over (the other predictors' values); the fit's rows if None.
    prob : float
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Rows ``conditional`` and ``population-averaged``; columns ``ratio`` (posterior
        median), ``mean``, ``lower``, ``upper``, ``kind`` (odds ratio or rate ratio) and
        ``contrast`` (e.g. ``treat: drug vs control``). ``.attrs["draws"]`` holds the
        draws of both ratios (dict of arrays).

    Examples
    --------
    >>> population_averaged_ratio(f, "treat")[["ratio", "lower", "upper"]]  # doctest: +SKIP
                            ratio  lower  upper
    conditional             1.0...  0.7...  1.5...
    population-averaged     1.0...  0.8...  1.3...
    """
    spec = fit.spec
    if not 0 < prob < 1:
        raise SettingsError(f"prob must be between 0 and 1 (e.g. 0.95); got {prob!r}.")
    ratio_of = spec.family.averaged_ratio(spec.link)  # FamilyError for links without a ratio
    col, ref, target, coef, pos = _binary_contrast(fit, term)
    nd = _prepare(fit, data, "marginal", need_trials=False)
    if col not in nd.frame.columns:
        raise DataError(f"The data lack column {col!r}.")
    ds = fit.draws
    rng = np.random.default_rng(DEFAULT_SEED)
    means = []
    for value in (ref, target):
        frame = nd.frame.copy()
        fitted = spec.data.frame[col]
        if isinstance(fitted.dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical([value] * len(frame), categories=fitted.cat.categories,
                                        ordered=fitted.cat.ordered)
        else:
            frame[col] = pd.Series([value] * len(frame), index=frame.index).astype(fitted.dtype)
        sub = _NewData(frame, nd.original, nd.labels, None)
        res = _collect(_compute(fit, sub, "marginal", "response", None, rng, predictive=False))
        means.append(res["mean"].mean(axis=1))
    p0, p1 = means
    pa = ratio_of(p0, p1)
    cond = np.exp(_flat(ds[coef]).reshape(p0.shape[0], -1)[:, pos])
    kind = spec.family.ratio_label.get(spec.link, "ratio")
    rows = {}
    for label, r in (("conditional", cond), ("population-averaged", pa)):
        lo, hi = interval_bounds(r, prob)
        rows[label] = {"ratio": float(np.median(r)), "mean": float(r.mean()), "lower": lo, "upper": hi,
                       "kind": kind, "contrast": f"{col}: {target} vs {ref}"}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs["draws"] = {"conditional": cond, "population-averaged": pa}
    return out


__all__ = ["predict", "predict_draws", "population_averaged_ratio", "fixed_predictor", "simulate_response",
           "inverse_link", "link_function", "KINDS"]
