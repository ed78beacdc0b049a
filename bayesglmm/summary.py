"""lme4-style tables of a fit: fixed effects, variance components, group effects, ratios.

Each table is computed from the draws at full precision (a pandas DataFrame); rounding
happens only when :class:`Summary` is printed, like arviz-stats' ``SummaryDataFrame`` and
lme4's ``VarCorr`` / ``print.VarCorr`` split. Intervals are 95% equal-tailed by default
(the course's level; ArviZ's default is 89%), or highest-density with ``interval="hdi"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd

from bayesglmm.backend import corr_dims, correlated_labels
from bayesglmm.errors import SettingsError
from bayesglmm.sensitivity import THRESHOLD

Interval = Literal["eti", "hdi"]
STAT_COLUMNS = ["mean", "sd", "median", "lower", "upper"]


def interval_bounds(draws: np.ndarray, prob: float = 0.95, interval: Interval = "eti") -> tuple[float, float]:
    """Lower and upper bound of a credible interval of 1-d draws.

    Examples
    --------
    >>> interval_bounds(np.arange(101.0), prob=0.5)
    (25.0, 75.0)
    """
    if isinstance(prob, (bool, np.bool_)) or not isinstance(prob, (int, float, np.integer, np.floating)) \
            or not 0 < prob < 1:
        raise SettingsError(f"prob must be a number between 0 and 1 (e.g. 0.95); got {prob!r}.")
    draws = np.asarray(draws, dtype=float).ravel()
    if interval == "eti":
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
        return float(lo), float(hi)
    if interval == "hdi":
        bounds = az.hdi(draws, prob=prob)
        return float(bounds[0]), float(bounds[1])
    raise SettingsError(f"interval must be 'eti' (equal-tailed) or 'hdi' (highest density); got {interval!r}.")


def describe_draws(draws, prob: float = 0.95, interval: Interval = "eti") -> dict:
    """Mean, SD, median and interval of 1-d draws as a dict (one table row).

    Examples
    --------
    >>> describe_draws(np.array([1.0, 2.0, 3.0]), prob=0.5)["median"]
    2.0
    """
    draws = np.asarray(draws, dtype=float).ravel()
    lo, hi = interval_bounds(draws, prob, interval)
    return {"mean": draws.mean(), "sd": draws.std(ddof=1), "median": float(np.median(draws)), "lower": lo, "upper": hi}


def _elements(da):
    """Yield (label suffix, coordinate values, 1-d draws) for each element of a variable."""
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        yield "", (), da.values.ravel()
        return
    for values in product(*(da[d].values for d in dims)):
        sel = da.sel(dict(zip(dims, values)))
        yield "[" + ", ".join(str(v) for v in values) + "]", values, sel.values.ravel()


def _with_diagnostics(rows: list[dict], diagnostics) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    if diagnostics is not None and len(table):
        diag = diagnostics.table.reindex(table["label"])
        table["r_hat"] = diag["r_hat"].to_numpy()
        table["ess_bulk"] = diag["ess_bulk"].to_numpy()
        table["ess_tail"] = diag["ess_tail"].to_numpy()
    return table


def _parent(spec):
    bm = spec.bambi_model
    return bm.parameters[bm.family.likelihood.parent]


def fixef_table(spec, draws, diagnostics=None, prob=0.95, interval: Interval = "eti") -> pd.DataFrame:
    """Fixed effects: one row per coefficient (``term``), with mean, SD, median, interval.

    Columns: ``term``, ``mean``, ``sd``, ``median``, ``lower``, ``upper`` and, for a
    posterior, ``r_hat``, ``ess_bulk``, ``ess_tail``. ``label`` is ArviZ's element name.
    """
    comp = _parent(spec)
    names = (["Intercept"] if comp.intercept_term is not None else []) + list(comp.common_terms)
    rows = []
    for name in names:
        for suffix, _, values in _elements(draws[name]):
            rows.append({"term": name + suffix, "label": name + suffix, **describe_draws(values, prob, interval)})
    return _with_diagnostics(rows, diagnostics).set_index("term") if rows else pd.DataFrame(columns=STAT_COLUMNS)


def family_table(spec, draws, diagnostics=None, prob=0.95, interval: Interval = "eti") -> pd.DataFrame:
    """Family parameters other than the mean: residual SD, dispersion, ordinal cut-points.

    A parameter with its own formula (``dpars={"sigma": "~ x"}``) is reported by its
    coefficients on its link scale (``sigma_Intercept``, ``sigma_x``; :mod:`bayesglmm.dpars`).
    """
    from bayesglmm.dpars import coefficient_names, dpars_of

    bm = spec.bambi_model
    rows = []
    for name in bm.parameters:
        if name == bm.family.likelihood.parent or name not in draws:
            continue
        for suffix, _, values in _elements(draws[name]):
            rows.append({"parameter": name + suffix, "label": name + suffix, **describe_draws(values, prob, interval)})
    for name in coefficient_names(bm, dpars_of(spec)):
        for suffix, _, values in _elements(draws[name]):
            rows.append({"parameter": name + suffix, "label": name + suffix, **describe_draws(values, prob, interval)})
    return _with_diagnostics(rows, diagnostics).set_index("parameter") if rows else pd.DataFrame(columns=STAT_COLUMNS)


def _group_terms(spec):
    return _parent(spec).group_specific_terms


def varcorr_table(spec, draws, diagnostics=None, prob=0.95, interval: Interval = "eti") -> pd.DataFrame:
    """Variance components as SDs (and correlations of correlated blocks) with intervals.

    One row per SD (``kind="sd"``) or correlation (``kind="cor"``): ``group``, ``effect``,
    then the statistics. A gaussian model adds the ``Residual`` SD.
    """
    rows = []
    for name in _group_terms(spec):
        effect, group = name.split("|")
        for suffix, _, values in _elements(draws[f"{name}_sigma"]):
            rows.append({"group": group, "effect": effect + suffix, "kind": "sd",
                         "label": f"{name}_sigma{suffix}", **describe_draws(values, prob, interval)})
    # A second correlated block on a factor is stored as g_1_corr: its rows belong to group g.
    factor_of = {label: block.factor for block, label in correlated_labels(spec.formula.blocks)}
    for var in [v for v in draws.data_vars if str(v).endswith("_corr")]:
        da = draws[var]
        block_label = str(var)[: -len("_corr")]
        dim_a, dim_b = corr_dims(block_label)
        labels = list(da[dim_a].values)
        for i, j in ((i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))):
            values = da.sel({dim_a: labels[i], dim_b: labels[j]}).values
            rows.append({"group": factor_of.get(block_label, block_label), "effect": f"cor({labels[i]}, {labels[j]})",
                         "kind": "cor",
                         "label": f"{var}[{labels[i]}, {labels[j]}]", **describe_draws(values, prob, interval)})
    residual = spec.family.residual_sd  # gaussian's sigma; None when the family has no residual SD
    if residual is not None and residual in draws and draws[residual].ndim == 2:  # not one that varies by row
        rows.append({"group": "Residual", "effect": "", "kind": "sd", "label": residual,
                     **describe_draws(draws[residual].values, prob, interval)})
    cols = ["group", "effect", "kind", "label", *STAT_COLUMNS]
    return _with_diagnostics(rows, diagnostics) if rows else pd.DataFrame(columns=cols)


def ranef_table(spec, draws, prob=0.95, interval: Interval = "eti") -> pd.DataFrame:
    """Each group level's effect (deviation from the fixed effects) with its interval.

    Columns: ``group``, ``level``, ``effect``, ``mean``, ``sd``, ``median``, ``lower``, ``upper``.
    """
    rows = []
    for name in _group_terms(spec):
        effect, group = name.split("|")
        da = draws[name]
        factor_dim = f"{group}__factor_dim"
        expr_dims = [d for d in da.dims if d not in ("chain", "draw", factor_dim)]
        for level in _level_order(spec, group, da[factor_dim].values):
            sub = da.sel({factor_dim: level})
            if expr_dims:
                for suffix, _, values in _elements(sub):
                    rows.append({"group": group, "level": str(level), "effect": effect + suffix,
                                 **describe_draws(values, prob, interval)})
            else:
                rows.append({"group": group, "level": str(level), "effect": effect,
                             **describe_draws(sub.values, prob, interval)})
    return pd.DataFrame(rows, columns=["group", "level", "effect", *STAT_COLUMNS])


def _level_order(spec, group: str, levels) -> list:
    """Levels in the data's factor order (Bambi sorts them as text: 1, 10, 11, 2, ...)."""
    frame = spec.data.frame
    if group in frame and isinstance(frame[group].dtype, pd.CategoricalDtype):
        rank = {str(c): i for i, c in enumerate(frame[group].cat.categories)}
        return sorted(levels, key=lambda lv: rank.get(str(lv), len(rank)))
    return list(levels)


def ratio_table(spec, draws, prob=0.95, interval: Interval = "eti") -> pd.DataFrame:
    """exp(coefficient) for every fixed effect but the intercept: odds or rate ratios.

    Columns: ``ratio`` (posterior median of exp(b)), ``mean``, ``lower``, ``upper``,
    ``p_above_1`` (posterior probability that the ratio exceeds 1) and ``kind``.
    """
    label = spec.family.ratio_name(spec.link)
    if label is None:
        from bayesglmm.errors import FamilyError

        raise FamilyError(
            f"exp(coefficient) has no ratio meaning for {spec.family.name} with the {spec.link} link; "
            "ratios are for logit (odds ratios) and log (rate ratios) links. Use fixef()."
        )
    comp = _parent(spec)
    rows = []
    for name in comp.common_terms:
        for suffix, _, values in _elements(draws[name]):
            r = np.exp(values)
            lo, hi = interval_bounds(r, prob, interval)
            rows.append({"term": name + suffix, "ratio": float(np.median(r)), "mean": r.mean(),
                         "lower": lo, "upper": hi, "p_above_1": float((r > 1).mean()), "kind": label})
    return pd.DataFrame(rows, columns=["term", "ratio", "mean", "lower", "upper", "p_above_1", "kind"]).set_index("term")


@dataclass
class Summary:
    """The printed summary of a fit: header facts and the tables behind them.

    Attributes
    ----------
    header : dict
        Family, formula, number of observations, groups and their level counts, draws.
    verdict : str
        The convergence verdict (first line of the print).
    fixef, family_params, varcorr : pandas.DataFrame
        The tables (full precision).
    prob : float
        Interval probability; ``interval`` is ``"eti"`` or ``"hdi"``.
    notes : list of str
        What was done to the data (dropped rows, conversions).
    sensitivity : pandas.DataFrame or None
        Prior sensitivity of each parameter (:func:`bayesglmm.sensitivity.sensitivity`);
        the tables carry its ``diagnosis`` as their ``sensitivity`` column.
    sensitivity_note : str
        Why the sensitivity was not computed, when it was not.
    """

    header: dict
    verdict: str
    fixef: pd.DataFrame
    family_params: pd.DataFrame
    varcorr: pd.DataFrame
    prob: float
    interval: str
    notes: list
    sensitivity: pd.DataFrame | None = None
    sensitivity_note: str = ""

    def __str__(self) -> str:
        pct = f"{self.prob * 100:g}%"
        kind = "equal-tailed" if self.interval == "eti" else "highest-density"
        lines = [f"Convergence: {self.verdict}", ""]
        lines += [f"{key}: {value}" for key, value in self.header.items()]
        for note in self.notes:
            lines.append(f"Note: {note}")
        cols = ["mean", "sd", "lower", "upper", "r_hat", "ess_bulk", "sensitivity"]
        if len(self.fixef):
            lines += ["", f"Fixed effects (posterior mean, SD, {pct} {kind} interval):", _fmt(self.fixef, cols)]
        if len(self.family_params):
            lines += ["", f"Family parameters ({pct} {kind} interval):", _fmt(self.family_params, cols)]
        if len(self.varcorr):
            vc = self.varcorr.set_index(["group", "effect"])
            lines += ["", f"Group-level SDs and correlations ({pct} {kind} interval):", _fmt(vc, ["median", *cols])]
        lines += ["", *sensitivity_lines(self.sensitivity, self.sensitivity_note)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        """Notebook view: the verdict first, then the facts and the tables of the text form."""
        from bayesglmm import html

        pct, kind = f"{self.prob * 100:g}%", ("equal-tailed" if self.interval == "eti" else "highest-density")
        cols = ["mean", "sd", "lower", "upper", "r_hat", "ess_bulk", "sensitivity"]
        ok = None if self.verdict.startswith("prior draws") else self.verdict.startswith("converged")
        parts = [html.verdict(f"Convergence: {self.verdict}", ok), html.facts(self.header)]
        parts += [html.paragraph(f"Note: {note}") for note in self.notes]
        if len(self.fixef):
            parts.append(html.table(html.formatted(self.fixef, cols),
                                    f"Fixed effects (posterior mean, SD, {pct} {kind} interval)"))
        if len(self.family_params):
            parts.append(html.table(html.formatted(self.family_params, cols), f"Family parameters ({pct} {kind} interval)"))
        if len(self.varcorr):
            parts.append(html.table(html.formatted(self.varcorr.set_index(["group", "effect"]), ["median", *cols]),
                                    f"Group-level SDs and correlations ({pct} {kind} interval)"))
        footer = sensitivity_lines(self.sensitivity, self.sensitivity_note)
        if footer:
            parts.append(html.pre("\n".join(footer)))
        return html.page(*parts)


def _fmt(table: pd.DataFrame, cols) -> str:
    cols = [c for c in cols if c in table.columns]
    shown = table[cols].copy()
    for c in cols:
        if c == "ess_bulk":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
        elif c == "sensitivity":
            continue
        elif c == "r_hat":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
        else:
            shown[c] = shown[c].map(lambda v: f"{v:.4f}")
    return shown.to_string()


def sensitivity_lines(table: pd.DataFrame | None, note: str = "") -> list[str]:
    """The summary's prior-sensitivity footer: what the column means and what to do about flags.

    Examples
    --------
    >>> sensitivity_lines(None, "not computed")[0]
    'Prior sensitivity: not computed'
    """
    if table is None:
        return [f"Prior sensitivity: {note}"]
    head = ("Prior sensitivity (power-scaling, Kallioinen et al. 2024; column 'sensitivity'): ")
    bad = table[table["diagnosis"] != "ok"]
    if not len(bad):
        return [head + f"no parameter flagged (each one's prior sensitivity is below {THRESHOLD:g})."]
    lines = [head + f"{len(bad)} of {len(table)} flagged; fit.sensitivity() has the numbers."]
    for diagnosis, rows in bad.groupby("diagnosis", sort=False):
        lines.append(f"  {diagnosis}: {', '.join(rows.index)}: {rows['advice'].iloc[0]}.")
    return lines
