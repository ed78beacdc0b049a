"""Intra-class correlation (ICC) of a GLMM, per posterior draw, on the latent scale.

For a grouping factor g with random-intercept variance sigma_g^2,

    ICC_g = sigma_g^2 / (sum over factors of sigma_f^2 [+ sigma_F^2] + sigma_d^2)

where sigma_d^2 is the distribution-specific (residual) variance on the latent scale
(Nakagawa, Johnson & Schielzeth 2017, doi:10.1098/rsif.2017.0213):

* logit link (bernoulli, binomial, cumulative): pi^2/3 = 3.29, the variance of the
  standard logistic distribution (the course's formula); probit: 1; cloglog: pi^2/6;
* gaussian: the residual variance sigma^2 (a posterior draw); Student-t: its variance
  sigma^2 nu / (nu - 2) (infinite, so ICC 0, for a draw with nu <= 2);
* poisson: ln(1 + 1/lambda) (log-normal approximation), negative binomial:
  ln(1 + 1/lambda + 1/theta) with Bambi's ``alpha`` as theta, where
  lambda = exp(mean fixed-effect linear predictor + total group variance / 2), the mean
  taken over the fit's rows (offsets included, so lambda is an expected count per row).

sigma_F^2, the variance over the fit's rows of the fixed-effect linear predictor (offsets
excluded), enters the denominator only with ``adjusted=False``; the default is the
adjusted ICC (conditional on the fixed effects), as in the course. With nested factors
(``(1|hospital/doctor)``) each factor's share is reported and also the correlation of two
observations in the same doctor, (sigma_hospital^2 + sigma_doctor^2) / denominator. With
random slopes only the intercept variances enter (the ICC then holds at covariate value 0).

:func:`icc` (and ``fit.icc()``) returns an :class:`ICC`: a pandas DataFrame subclass, so
``fit.icc()`` is the table of each ICC's median, mean and interval (as the issue asks), that
also carries ``.draws`` (the ICC draws) and ``.definition`` (printed above the table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayesglmm.errors import FitError
from bayesglmm.predict import _flat, fixed_predictor
from bayesglmm.summary import Interval, describe_draws

ICC_COLUMNS = ["median", "mean", "lower", "upper"]


class ICC(pd.DataFrame):
    """ICC table: a pandas DataFrame (one row per ICC) that also carries its draws and definition.

    Rows are named by grouping factor (``"centre"``; ``"ID.hospital"``,
    ``"ID.hospital:ID.doctor"`` and ``"same ID.hospital:ID.doctor (incl. ID.hospital)"``
    for nested factors); columns ``median``, ``mean``, ``lower``, ``upper``. Printing
    shows the definition above the table. Operations on it (``.loc``, arithmetic) give
    plain DataFrames.

    Attributes
    ----------
    definition : str
        How the ICC was computed: formula, latent variance, adjusted or not, interval.
    draws : xarray.Dataset
        The ICC draws, one variable per row of the table, dims ``(chain, draw)``.

    Examples
    --------
    >>> r = fit.icc()  # doctest: +SKIP
    >>> r.loc["centre", "median"], r.draws["centre"].shape  # doctest: +SKIP
    (0.35..., (4, 1000))
    >>> print(r.definition)  # doctest: +SKIP
    """

    _metadata = ["definition", "draws"]

    @property
    def _constructor(self):
        return pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """The table as a plain DataFrame."""
        return pd.DataFrame(self.to_numpy(copy=True), index=self.index.copy(), columns=self.columns.copy())

    def __str__(self) -> str:
        return self.definition + "\n\n" + self.table.to_string(float_format=lambda v: f"{v:.4f}")

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self):  # notebooks: the first ICC, the definition, then the table
        from bayesglmm import html

        table = self.table
        head = (f"ICC {table.index[0]}: median {table.iloc[0]['median']:.4f} "
                f"[{table.iloc[0]['lower']:.4f}, {table.iloc[0]['upper']:.4f}]")
        return html.page(html.verdict(head, None), html.pre(self.definition), html.table(html.formatted(table)))


def _intercept_variances(spec, ds) -> tuple[dict, list, list]:
    """Factor -> intercept variance draws (samples,); factors without an intercept; slope terms."""
    variances, no_intercept, slopes = {}, [], []
    for block in spec.formula.blocks:
        for name in block.term_names:
            effect, factor = name.split("|", 1)
            if effect == "1":
                var = _flat(ds[f"{name}_sigma"]).reshape(-1) ** 2
                variances[factor] = variances.get(factor, 0) + var
            else:
                slopes.append(name)
        if not any(n.split("|", 1)[0] == "1" for n in block.term_names) and block.factor not in variances:
            no_intercept.append(block.factor)
    no_intercept = [f for f in no_intercept if f not in variances]
    return variances, no_intercept, slopes


def _distribution_variance(spec, ds, total_group_var) -> tuple[np.ndarray | float, str]:
    """The latent-scale residual variance (per draw or constant) and its description.

    The family computes it (:meth:`bayesglmm.families.Family.icc_residual_variance`) and
    raises FamilyError, saying why, where the ICC is not defined.
    """
    from bayesglmm.dpars import refuse_varying_residual

    def fixed_mean():  # mean over the fit's rows, offsets included
        return fixed_predictor(spec, ds).mean(axis=1)

    refuse_varying_residual(spec, "The ICC")  # sigma ~ x: no single residual variance
    return spec.family.icc_residual_variance(spec.link, ds, fixed_mean, total_group_var)


def _ancestors(factor: str, factors) -> list[str]:
    """Factors nested above ``factor``: ``a`` for ``a:b`` (their columns are a proper subset)."""
    cols = set(factor.split(":"))
    return [f for f in factors if f != factor and set(f.split(":")) < cols]


def icc(fit, *, prob: float = 0.95, interval: Interval = "eti", adjusted: bool = True) -> ICC:
    """Posterior of the intra-class correlation of every grouping factor, on the latent scale.

    ICC_g = sigma_g^2 / (sum_f sigma_f^2 + sigma_d^2), computed per posterior draw, with
    sigma_d^2 the family's latent residual variance: pi^2/3 for logit links, 1 for probit,
    sigma^2 for gaussian, and the log-normal approximation ln(1 + 1/lambda) (poisson) or
    ln(1 + 1/lambda + 1/theta) (negative binomial) of Nakagawa, Johnson & Schielzeth
    (2017). See the module docstring for lambda.

    Parameters
    ----------
    fit : Fit
        A fitted model with at least one grouping factor.
    prob : float
        Probability of the credible intervals (0.95, the course's level).
    interval : {"eti", "hdi"}
        Equal-tailed or highest-density intervals.
    adjusted : bool
        True (default, as in the course): conditional on the fixed effects, whose variance
        is left out of the denominator. False: the variance over the fit's rows of the
        fixed-effect linear predictor is added to the denominator.

    Returns
    -------
    ICC
        A DataFrame subclass: rows per grouping factor (and, for nested factors, ``"same
        a:b (incl. a)"``: the correlation of two observations in the same inner group),
        columns ``median``, ``mean``, ``lower``, ``upper``; ``.draws`` (xarray Dataset of
        the ICC draws), ``.definition`` (text, printed above the table) and ``.table``
        (plain DataFrame).

    Raises
    ------
    FitError
        The model has no grouping factor, or no random intercept.
    FamilyError
        No latent-scale variance is defined for the family and link.

    Examples
    --------
    >>> f = bg.fit("p(y, n) ~ 1 + (1|centre)", mc, family="binomial", seed=1)  # doctest: +SKIP
    >>> r = f.icc()  # doctest: +SKIP
    >>> r.loc["centre", ["median", "lower", "upper"]]  # doctest: +SKIP
    median    0.31...
    lower     0.13...
    upper     0.6...
    >>> print(r)  # the definition, then the table  # doctest: +SKIP
    """
    spec = fit.spec
    if not spec.formula.blocks:
        raise FitError(f"The model {spec.formula.original!r} has no grouping factor, so it has no ICC.")
    ds = fit.draws
    variances, no_intercept, slopes = _intercept_variances(spec, ds)
    if not variances:
        raise FitError("The ICC uses random-intercept variances, and the model has no random intercept "
                       f"(factors without one: {', '.join(no_intercept)}).")
    factors = list(variances)
    total = sum(variances.values())
    dist, dist_text = _distribution_variance(spec, ds, total)
    denominator = total + dist
    terms = " + ".join(f"sigma_{f}^2" for f in factors)
    if not adjusted:
        eta = fixed_predictor(spec, ds, offset=False)
        fixed_var = eta.var(axis=1)
        denominator = denominator + fixed_var
        terms += " + sigma_F^2"

    values = {f: variances[f] / denominator for f in factors}
    nested_lines = []
    for f in factors:
        above = _ancestors(f, factors)
        if above:
            label = f"same {f} (incl. {', '.join(above)})"
            values[label] = sum(variances[a] for a in [*above, f]) / denominator
            nested_lines.append(
                f"  '{label}' = ({' + '.join(f'sigma_{a}^2' for a in [*above, f])}) / denominator: the correlation "
                f"of two observations in the same {f} (which shares its {', '.join(above)} too)."
            )
    dist_values = np.broadcast_to(np.asarray(dist, dtype=float), next(iter(values.values())).shape)

    kind = "equal-tailed" if interval == "eti" else "highest-density"
    lines = [
        f"Intra-class correlation (ICC) of {spec.family.name} ({spec.link} link), on the latent scale,",
        ("adjusted (conditional on the fixed effects: their variance is not in the denominator):" if adjusted else
         "unadjusted (the variance sigma_F^2 of the fixed-effect linear predictor over the fit's rows, offsets "
         "excluded, is in the denominator):"),
        f"  ICC_g = sigma_g^2 / ({terms} + sigma_d^2), per posterior draw, where",
        f"  {dist_text}.",
        *nested_lines,
    ]
    if len(factors) > 1 and not nested_lines:
        lines.append("  Each row is that factor's share of the total variance.")
    if slopes:
        lines.append(f"  Random slopes ({', '.join(slopes)}) are left out: intercept variances only, so the ICC "
                     "holds where the slope covariates are 0.")
    if no_intercept:
        lines.append(f"  Factors without a random intercept are left out: {', '.join(no_intercept)}.")
    if np.ndim(dist) == 0:
        median_dist = float(dist)
    else:
        median_dist = float(np.median(dist_values))
    lines.append(f"Posterior median, mean and {prob * 100:g}% {kind} interval of the draws "
                 f"(median sigma_d^2 = {median_dist:.4g}).")

    rows = {}
    for label, draws in values.items():
        stats = describe_draws(draws, prob, interval)
        rows[label] = {c: stats[c] for c in ICC_COLUMNS}
    table = pd.DataFrame.from_dict(rows, orient="index")[ICC_COLUMNS]
    n_chain, n_draw = ds.sizes["chain"], ds.sizes["draw"]
    draws_ds = xr.Dataset(
        {label: (("chain", "draw"), np.asarray(v, dtype=float).reshape(n_chain, n_draw))
         for label, v in values.items()},
        coords={"chain": ds["chain"].values, "draw": ds["draw"].values},
    )
    draws_ds.attrs["adjusted"] = int(adjusted)
    out = ICC(table)
    out.definition = "\n".join(lines)
    out.draws = draws_ds
    return out


__all__ = ["ICC", "icc"]
