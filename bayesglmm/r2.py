"""R² of a fitted GLMM: Bayesian R², Nakagawa & Schielzeth's marginal and conditional R², LOO-R².

Four rows, each a posterior (or Bayesian-bootstrap) distribution summarised by its mean,
SD, median and 95% interval:

``bayes_R2``
    Gelman, Goodrich, Gabry & Vehtari (2019), doi:10.1080/00031305.2018.1549100, as brms's
    ``bayes_R2``: per draw, var(mu) / (var(mu) + var(y - mu)) over the fit's rows, with mu
    the expected response given the rows' own group effects (brms's ``posterior_epred``;
    expected successes n p for binomial, so the counts' scale as in brms).
``marginal``, ``conditional``
    Nakagawa & Schielzeth (2013), doi:10.1111/j.2041-210x.2012.00261.x, with Johnson's
    (2014) random slopes (doi:10.1111/2041-210X.12225) and the latent residual variances
    of Nakagawa, Johnson & Schielzeth (2017), doi:10.1098/rsif.2017.0213, per draw::

        marginal    = s_f^2 / (s_f^2 + sum_l s_l^2 + s_d^2)
        conditional = (s_f^2 + sum_l s_l^2) / (s_f^2 + sum_l s_l^2 + s_d^2)

    s_f^2 is the variance over the fit's rows of the fixed-effect linear predictor (offsets
    excluded), s_l^2 the variance of factor l's group effects averaged over the rows,
    mean_i z_i' Sigma_l z_i (sigma_l^2 for a random intercept), and s_d^2 the family's
    latent residual variance, the very one :func:`bayesglmm.icc.icc` uses (sigma^2 for
    gaussian, pi^2/3 for logit, ln(1 + 1/lambda) for poisson...): so for a model with no
    fixed effects besides the intercept, the conditional R² equals the ICC (the sum of
    the ICCs with several factors). With random slopes the two differ: the ICC keeps the
    intercept variances only (it holds at covariate 0), R² averages z_i' Sigma z_i over the
    rows. On the latent (link) scale for non-gaussian families.
``loo_R2``
    As brms's ``loo_R2``: 1 - var(y - mu_loo) / var(y), with mu_loo the PSIS-LOO expected
    response of each row (the expected responses weighted by the Pareto-smoothed
    importance weights from the log-likelihood), its uncertainty from Bayesian-bootstrap
    (Dirichlet) weights over the rows (seeded), clipped to [-1, 1] as brms does.

Where they are not defined: ``bayes_R2`` and ``loo_R2`` need an expected response on the
scale of y, so not for ordinal (cumulative) models; ``loo_R2`` also needs the pointwise
log-likelihood. ``marginal``/``conditional`` need a latent residual variance (the family
raises FamilyError for e.g. a gaussian model with a log link). Rows that are not defined
are left out with a note saying why.

Examples
--------
>>> round(float(_bayes_r2(np.array([[1.0, 2.0, 3.0]]), np.array([1.0, 2.0, 4.0]))[0]), 4)
0.75
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bayesglmm.errors import FamilyError, NoPosteriorError, SettingsError
from bayesglmm.summary import Interval, describe_draws

R2_COLUMNS = ["mean", "sd", "median", "lower", "upper"]
#: Seed of the Bayesian bootstrap of LOO-R² (the same numbers on every call).
DEFAULT_SEED = 20190101


def _bayes_r2(mu: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per draw: var(mu) / (var(mu) + var(y - mu)), rows on axis 1 (brms's ``.bayes_R2``)."""
    var_mu = mu.var(axis=1, ddof=1)
    var_e = (y[None, :] - mu).var(axis=1, ddof=1)
    return var_mu / (var_mu + var_e)


def _loo_r2(mu: np.ndarray, y: np.ndarray, log_lik: np.ndarray, r_eff: float, rng, khat_out: list | None = None
            ) -> np.ndarray:
    """brms's ``.loo_R2``: PSIS-LOO expected responses, then Bayesian-bootstrap R² draws.

    ``khat_out``, when given, receives the Pareto k of each row.
    """
    from arviz_stats.base import array_stats

    log_w, khat = array_stats.psislw(log_lik, r_eff=r_eff, axis=0)  # (rows, samples)
    if khat_out is not None:
        khat_out.extend(np.asarray(khat, dtype=float).ravel())
    log_w = log_w - logsumexp(log_w, axis=1, keepdims=True)
    mu_loo = np.sum(np.exp(log_w) * mu.T, axis=1)
    err = mu_loo - y
    s, n = mu.shape
    w = rng.exponential(size=(s, n))
    w /= w.sum(axis=1, keepdims=True)
    var_y = n / (n - 1) * (w @ y**2 - (w @ y) ** 2)
    var_err = n / (n - 1) * (w @ err**2 - (w @ err) ** 2)
    return np.clip(1 - var_err / var_y, -1, 1)


def _group_variances(spec, ds) -> tuple[dict, np.ndarray]:
    """Factor -> mean over rows of z_i' Sigma z_i per draw (Johnson 2014); and their sum."""
    from bayesglmm.predict import _term_expr, _units

    out: dict = {}
    for unit in _units(spec, ds, None):
        x = np.concatenate([_term_expr(spec, t, None) for t, _ in unit.terms], axis=1)  # (rows, k)
        m = x.T @ x / x.shape[0]
        sigma = np.einsum("sij,skj->sik", unit.chol, unit.chol)
        out[unit.factor] = out.get(unit.factor, 0) + np.einsum("skl,kl->s", sigma, m)
    total = sum(out.values()) if out else np.zeros(ds.sizes["chain"] * ds.sizes["draw"])
    return out, np.asarray(total, dtype=float)


def nakagawa_draws(fit) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-draw marginal and conditional R² of Nakagawa & Schielzeth, and s_d^2's description.

    Raises FamilyError where the family has no latent residual variance.

    Examples
    --------
    >>> marginal, conditional, what = nakagawa_draws(fit)  # doctest: +SKIP
    """
    from bayesglmm.dpars import refuse_varying_residual
    from bayesglmm.predict import fixed_predictor

    spec, ds = fit.spec, fit.draws
    refuse_varying_residual(spec, "Nakagawa's R²")  # sigma ~ x: no single residual variance
    fixed_var = fixed_predictor(spec, ds, offset=False).var(axis=1)
    _, group_var = _group_variances(spec, ds)
    dist, what = spec.family.icc_residual_variance(
        spec.link, ds, lambda: fixed_predictor(spec, ds).mean(axis=1), group_var)
    denominator = fixed_var + group_var + dist
    return fixed_var / denominator, (fixed_var + group_var) / denominator, what


def _response(spec) -> tuple[np.ndarray, np.ndarray | None]:
    frame = spec.data.frame
    y = spec.family.response_array(frame[spec.formula.response])
    trials = frame[spec.formula.trials].to_numpy(dtype=float) if spec.formula.trials else None
    return np.asarray(y, dtype=float), trials


def _expected_response(fit) -> np.ndarray:
    """(samples, rows): expected response given the rows' own group effects (counts for binomial)."""
    from bayesglmm.predict import predict_draws

    mu = predict_draws(fit, kind="conditional", scale="response")["mean"].values
    _, trials = _response(fit.spec)
    return mu * trials[None, :] if trials is not None else mu


@dataclass
class R2:
    """The result of :func:`r2`: one row per R² (``bayes_R2``, ``marginal``, ``conditional``, ``loo_R2``).

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``r2``; columns ``mean``, ``sd``, ``median``, ``lower``, ``upper``.
    draws : dict
        Row name -> draws (flattened over chains; Bayesian-bootstrap draws for ``loo_R2``).
    prob : float
        Interval probability; ``interval`` is ``"eti"`` or ``"hdi"``.
    notes : list of str
        Definitions (the latent residual variance) and rows left out, with why.

    Examples
    --------
    >>> res = bg.r2(fit)  # doctest: +SKIP
    >>> res.table.loc["conditional", ["mean", "lower", "upper"]]  # doctest: +SKIP
    """

    table: pd.DataFrame
    draws: dict
    prob: float = 0.95
    interval: str = "eti"
    notes: list = field(default_factory=list)

    def _title(self) -> str:
        kind = "equal-tailed" if self.interval == "eti" else "highest-density"
        return (f"R² (posterior mean, SD, median, {self.prob * 100:g}% {kind} interval; bayes_R2: Gelman et al. "
                "2019; marginal, conditional: Nakagawa & Schielzeth, latent scale; loo_R2: PSIS-LOO)")

    def __str__(self) -> str:
        lines = [self._title() + ":", self.table.to_string(float_format=lambda v: f"{v:.4f}")]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from bayesglmm import html

        if not len(self.table):
            return html.page(html.verdict("No R² is defined for this model", False),
                             *(html.paragraph(f"Note: {n}") for n in self.notes))
        first = self.table.iloc[0]
        head = f"{self.table.index[0]}: {first['mean']:.4f} [{first['lower']:.4f}, {first['upper']:.4f}]"
        return html.page(html.verdict(head, None), html.table(html.formatted(self.table), self._title()),
                         *(html.paragraph(f"Note: {n}") for n in self.notes))


def r2(fit, *, prob: float = 0.95, interval: Interval = "eti", loo: bool = True, seed: int | None = None) -> R2:
    """Bayesian R², Nakagawa & Schielzeth's marginal and conditional R², and LOO-R² of a fit.

    See the module docstring for the definitions and where each is not defined.

    Parameters
    ----------
    fit : Fit
        A fitted model (posterior draws).
    prob : float
        Probability of the credible intervals (0.95).
    interval : {"eti", "hdi"}
        Equal-tailed or highest-density intervals.
    loo : bool
        Compute LOO-R² (PSIS weights from the log-likelihood).
    seed : int, optional
        Seed of LOO-R²'s Bayesian bootstrap (a fixed default if None).

    Returns
    -------
    R2
        ``.table`` (rows ``bayes_R2``, ``marginal``, ``conditional``, ``loo_R2`` where
        defined; columns ``mean``, ``sd``, ``median``, ``lower``, ``upper``), ``.draws``,
        ``.notes``.

    Raises
    ------
    NoPosteriorError
        The fit holds prior draws only.

    Examples
    --------
    >>> res = fit.r2()  # doctest: +SKIP
    >>> print(res)  # doctest: +SKIP
    >>> res.draws["bayes_R2"].mean()  # doctest: +SKIP

    References
    ----------
    Gelman, Goodrich, Gabry & Vehtari (2019), doi:10.1080/00031305.2018.1549100;
    Nakagawa & Schielzeth (2013), doi:10.1111/j.2041-210x.2012.00261.x;
    Nakagawa, Johnson & Schielzeth (2017), doi:10.1098/rsif.2017.0213.
    """
    if fit.prior_only:
        raise NoPosteriorError("r2() needs posterior draws; this fit holds prior draws only "
                               "(fit again without prior_only=True).")
    if not 0 < prob < 1:
        raise SettingsError(f"prob must be between 0 and 1 (e.g. 0.95); got {prob!r}.")
    spec = fit.spec
    if spec.family.per_category_predictor:
        raise FamilyError(f"R² is not defined for the {spec.family.name} family: its response has no numeric scale "
                          "(no expected value of y to explain) and no single latent residual variance (one linear "
                          "predictor per non-reference category). Compare models with loo() instead.")
    draws, notes = {}, []
    y, _ = _response(spec)
    mu = None
    if spec.family.response == "ordinal":
        notes.append("bayes_R2 and loo_R2 are not defined for an ordinal response (no expected response on the "
                     "scale of y); the latent-scale marginal and conditional R² are.")
    else:
        mu = _expected_response(fit)
        draws["bayes_R2"] = _bayes_r2(mu, y)
    try:
        marginal, conditional, what = nakagawa_draws(fit)
        draws["marginal"], draws["conditional"] = np.asarray(marginal, float), np.asarray(conditional, float)
        notes.append(f"marginal/conditional: latent scale, {what}.")
    except FamilyError as err:
        notes.append(f"marginal and conditional R² are not defined here: {err}")
    if loo and mu is not None:
        if "log_likelihood" not in fit.idata.children:
            notes.append("loo_R2 is not defined without the pointwise log-likelihood.")
        else:
            ll_ds = fit.idata["log_likelihood"].to_dataset()
            da = ll_ds[list(ll_ds.data_vars)[0]].transpose("chain", "draw", ...)
            ll = da.values.reshape(da.sizes["chain"] * da.sizes["draw"], -1)
            if ll.shape[1] != mu.shape[1]:
                notes.append("loo_R2 is not computed: the log-likelihood is not one value per row of the data.")
            else:
                khat: list = []
                try:
                    draws["loo_R2"] = _loo_r2(mu, y, ll, _r_eff(fit, ll.shape[0]),
                                              np.random.default_rng(DEFAULT_SEED if seed is None else seed), khat)
                except ValueError as err:  # arviz-stats' PSIS refuses too few draws
                    notes.append(f"loo_R2 is not computed: PSIS failed ({err}).")
                high = int(np.sum(np.asarray(khat) > 0.7))
                if high:
                    notes.append(f"loo_R2: {high} row(s) with Pareto k above 0.7, where the PSIS-LOO means are "
                                 "unreliable (as loo() warns); loo_R2 may be off.")
    rows = {name: {c: describe_draws(v, prob, interval)[c] for c in R2_COLUMNS} for name, v in draws.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=R2_COLUMNS)
    table.index.name = "r2"
    return R2(table, draws, prob, interval, notes)


def _r_eff(fit, n_samples: int) -> float:
    """Relative efficiency of the draws for PSIS (arviz-stats' own estimate; 1 if it cannot be had)."""
    try:
        from arviz_stats.loo.loo_helper import _get_r_eff

        return float(_get_r_eff(fit.idata, n_samples))
    except (ImportError, TypeError, ValueError, AttributeError):
        return 1.0


__all__ = ["R2", "nakagawa_draws", "r2"]
