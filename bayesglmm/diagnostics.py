"""Convergence diagnostics: R-hat, bulk and tail ESS, divergences, E-BFMI, and a verdict.

The verdict is strict on purpose (Vehtari et al. 2021, doi:10.1214/20-BA1221): a fit is
``ok`` only if every R-hat <= 1.01, every bulk ESS >= 400 and there is no divergence.
A failed verdict is never hidden: :func:`warn_if_failed` names the worst parameters and
what to try.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz_base import dataset_to_dataframe, extract

from bayesglmm.rank_diagnostics import rank_diagnostics

RHAT_MAX = 1.01
ESS_MIN = 400
EBFMI_MIN = 0.3


class ConvergenceWarning(UserWarning):
    """The sampler did not converge: the posterior summaries cannot be trusted."""


@dataclass
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter element: ``r_hat``, ``ess_bulk``, ``ess_tail``.
    divergences : int
        Number of divergent transitions after warm-up.
    ebfmi : numpy.ndarray
        E-BFMI per chain (below 0.3 suggests poor exploration of the energy).
    problems : list of str
        Each failed check in words; empty when the fit converged.
    """

    table: pd.DataFrame
    divergences: int
    ebfmi: np.ndarray
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when R-hat, bulk ESS and divergences all pass."""
        return not self.problems

    @property
    def max_rhat(self) -> float:
        """The largest R-hat over all parameters."""
        return float(self.table["r_hat"].max())

    @property
    def min_ess_bulk(self) -> float:
        """The smallest bulk ESS over all parameters."""
        return float(self.table["ess_bulk"].min())

    def verdict(self) -> str:
        """One line: converged, or what failed.

        Examples
        --------
        >>> d = Diagnostics(pd.DataFrame({"r_hat": [1.0], "ess_bulk": [900.0], "ess_tail": [800.0]}), 0, np.array([1.0]))
        >>> d.verdict()
        'converged: max R-hat 1.000, min bulk ESS 900, 0 divergences'
        """
        stats = f"max R-hat {self.max_rhat:.3f}, min bulk ESS {self.min_ess_bulk:.0f}, {self.divergences} divergences"
        if self.ok:
            return f"converged: {stats}"
        return f"NOT CONVERGED ({'; '.join(self.problems)}): {stats}"


def _element_table(idata) -> pd.DataFrame:
    """R-hat, bulk and tail ESS per scalar, labelled as ``az.summary`` labels them.

    The numbers are ArviZ's, computed by :func:`bayesglmm.rank_diagnostics.rank_diagnostics`
    over all scalars of a variable at once, without the Monte Carlo standard errors that
    ``az.summary`` adds (half its time, ``benchmarks/diagnostics_speed.py``).
    """
    posterior = extract(idata, group="posterior", combined=False, keep_dataset=True)
    columns = ["r_hat", "ess_bulk", "ess_tail"]
    stats = {}
    for name, da in posterior.data_vars.items():
        da = da.transpose("chain", "draw", ...)
        values = np.asarray(da.values, dtype=float).reshape(da.sizes["chain"], da.sizes["draw"], -1)
        out = rank_diagnostics(values)
        dims = da.dims[2:]
        stacked = np.stack([out[c] for c in columns]).reshape(3, *da.shape[2:])
        stats[name] = xr.DataArray(stacked, dims=("summary", *dims),
                                   coords={"summary": columns, **{d: da.coords[d] for d in dims if d in da.coords}})
    table = dataset_to_dataframe(xr.Dataset(stats), sample_dims=["summary"]).T
    table = pd.DataFrame(table)[columns].astype(float)
    # Constant elements (the 1s on a correlation matrix's diagonal) have no R-hat.
    return table[table["r_hat"].notna()]


def diagnose(idata) -> Diagnostics:
    """Compute the diagnostics of a posterior and the verdict.

    Parameters
    ----------
    idata : xarray.DataTree
        With ``/posterior`` and ``/sample_stats`` (``diverging``, ``energy``).

    Returns
    -------
    Diagnostics

    Examples
    --------
    >>> from arviz_base import from_dict
    >>> rng = np.random.default_rng(0)
    >>> idata = from_dict({"posterior": {"a": rng.normal(size=(4, 500))},
    ...                    "sample_stats": {"diverging": np.zeros((4, 500), bool),
    ...                                     "energy": rng.normal(size=(4, 500))}})
    >>> diagnose(idata).ok
    True
    """
    table = _element_table(idata)
    stats = idata["sample_stats"]
    divergences = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    ebfmi = np.atleast_1d(np.asarray(az.bfmi(idata)["energy"].values)) if "energy" in stats else np.array([np.nan])
    problems = []
    high = table[table["r_hat"] > RHAT_MAX]
    if len(high):
        problems.append(f"R-hat above {RHAT_MAX} for {len(high)} parameter(s), worst {_worst(high, 'r_hat', True)}")
    low = table[table["ess_bulk"] < ESS_MIN]
    if len(low):
        problems.append(f"bulk ESS below {ESS_MIN} for {len(low)} parameter(s), worst {_worst(low, 'ess_bulk', False)}")
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    return Diagnostics(table, divergences, ebfmi, problems)


def _worst(rows: pd.DataFrame, column: str, largest: bool) -> str:
    rows = rows.sort_values(column, ascending=not largest).head(3)
    fmt = "{:.3f}" if column == "r_hat" else "{:.0f}"
    return ", ".join(f"{name} ({fmt.format(value)})" for name, value in rows[column].items())


ADVICE = (
    "Do not use these results as they are. Try, in this order: more warm-up (tune=2000) and "
    "draws; a higher target_accept (0.95 or 0.99) if there are divergences; the other "
    "parameterisation of the group effects (centred for groups with many observations); "
    "centring a random-slope predictor whose zero lies far outside the data; a more "
    "informative prior on weakly identified SDs."
)


def warn_if_failed(diagnostics: Diagnostics, stacklevel: int = 3) -> None:
    """Emit a ConvergenceWarning naming the worst parameters when the fit failed."""
    if diagnostics.ok:
        return
    low_bfmi = np.flatnonzero(diagnostics.ebfmi < EBFMI_MIN)
    extra = f" E-BFMI below {EBFMI_MIN} in chain(s) {list(low_bfmi)}." if low_bfmi.size else ""
    warnings.warn(f"The sampler did not converge: {'; '.join(diagnostics.problems)}.{extra} {ADVICE}",
                  ConvergenceWarning, stacklevel=stacklevel)
