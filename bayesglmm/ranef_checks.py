"""Random-effect checks: draws of each group term's effects, their normality (Shapiro-Wilk) and QQ data.

:func:`ranef_draws` gives each group term's effect draws; :func:`ranef_normality` tests the
posterior means (with a note on what the test cannot show) and :func:`ranef_qq` gives the
QQ-plot table with a band from the draws, which :func:`bayesglmm.plots.plot_ranef_qq` draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayesglmm.errors import TermError
from bayesglmm.predictive import SAMPLE_DIMS


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


__all__ = [
    "RanefNormality",
    "SHRINKAGE_NOTE",
    "normal_quantiles",
    "ranef_draws",
    "ranef_normality",
    "ranef_qq",
]
