"""The result of a fit: :class:`Fit`, a plain object holding the request's model, the draws and the diagnostics.

It lives apart from the sampling (:mod:`bayesglmm.fit`) and from fit files
(:mod:`bayesglmm.io`), which both make :class:`Fit` objects, so neither imports the other.
Its methods only read the draws or forward to the module that answers the question
(summaries, ICC, predictions, plots, saving).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bayesglmm.diagnostics import Diagnostics
from bayesglmm.model import ModelSpec, family_of
from bayesglmm.summary import (
    Interval,
    Summary,
    family_table,
    fixef_table,
    ranef_table,
    ratio_table,
    varcorr_table,
)


@dataclass
class Fit:
    """A fitted model: its specification, the draws and the diagnostics.

    Attributes
    ----------
    spec : ModelSpec
        Formula, family, checked data, priors and the built model.
    idata : xarray.DataTree
        ArviZ data: ``/posterior``, ``/sample_stats``, ``/log_likelihood``,
        ``/observed_data`` (or ``/prior`` and ``/prior_predictive`` for a prior-only fit).
    diagnostics : Diagnostics or None
        Convergence diagnostics (None for prior draws, which are exact).
    settings : dict
        Sampler, draws, tune, chains, seed, target accept, mass matrix.
    attempts : list of dict
        With ``retry=True``: every attempt's settings, parameterisation and verdict, in order
        (the last one is this fit).
    """

    spec: ModelSpec
    idata: object
    diagnostics: Diagnostics | None
    settings: dict = field(default_factory=dict)
    attempts: list = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # answers computed once (sensitivity)

    @property
    def ok(self) -> bool:
        """True only if the sampler converged (R-hat <= 1.01, bulk ESS >= 400, no divergences)."""
        return True if self.diagnostics is None else self.diagnostics.ok

    @property
    def prior_only(self) -> bool:
        """True when the draws are from the prior (``fit(..., prior_only=True)``)."""
        return "posterior" not in self.idata.children

    @property
    def draws(self):
        """The posterior draws (or prior draws for a prior-only fit) as an xarray Dataset."""
        return self.idata["prior" if self.prior_only else "posterior"].to_dataset()

    @property
    def formula(self) -> str:
        """The formula as written by the user."""
        return self.spec.formula.original

    def fixef(self, prob: float = 0.95, interval: Interval = "eti") -> pd.DataFrame:
        """Fixed effects with posterior mean, SD, median and interval (and R-hat, ESS).

        Examples
        --------
        >>> fit.fixef().loc["treat[drug]", "median"]  # doctest: +SKIP
        0.07...
        """
        return fixef_table(self.spec, self.draws, self.diagnostics, prob, interval)

    def ranef(self, prob: float = 0.95, interval: Interval = "eti") -> pd.DataFrame:
        """Each group level's effect with its interval (one row per level and effect).

        Examples
        --------
        >>> fit.ranef().query("group == 'centre'").shape[0]  # doctest: +SKIP
        11
        """
        return ranef_table(self.spec, self.draws, prob, interval)

    def varcorr(self, prob: float = 0.95, interval: Interval = "eti") -> pd.DataFrame:
        """Group-level SDs and correlations (and the residual SD of gaussian models).

        Examples
        --------
        >>> fit.varcorr()[["group", "effect", "median"]]  # doctest: +SKIP
        """
        return varcorr_table(self.spec, self.draws, self.diagnostics, prob, interval)

    def ratios(self, prob: float = 0.95, interval: Interval = "eti") -> pd.DataFrame:
        """exp(coefficient) with intervals: odds ratios (logit) or rate ratios (log link).

        Examples
        --------
        >>> fit.ratios().loc["treat[drug]", ["ratio", "lower", "upper"]]  # doctest: +SKIP
        """
        return ratio_table(self.spec, self.draws, prob, interval)

    def family_params(self, prob: float = 0.95, interval: Interval = "eti") -> pd.DataFrame:
        """Residual SD, dispersion or ordinal cut-points, with intervals."""
        return family_table(self.spec, self.draws, self.diagnostics, prob, interval)

    def prior_summary(self) -> pd.DataFrame:
        """The prior of every parameter and whether it is the default or the user's.

        Examples
        --------
        >>> fit.prior_summary()  # doctest: +SKIP
        """
        return self.spec.prior_table()

    # The workflow verbs live in their own modules; these methods only forward to them.
    def icc(self, **kwargs) -> pd.DataFrame:
        """Intra-class correlation posterior summaries; see :func:`bayesglmm.icc.icc`.

        Examples
        --------
        >>> fit.icc()  # doctest: +SKIP
        """
        from bayesglmm.icc import icc

        return icc(self, **kwargs)

    def hypothesis(self, statements, **kwargs):
        """Posterior probability / evidence of statements about coefficients; see :func:`bayesglmm.hypothesis.hypothesis`.

        Examples
        --------
        >>> fit.hypothesis("treat[drug] > 0")  # doctest: +SKIP
        """
        from bayesglmm.hypothesis import hypothesis

        return hypothesis(self, statements, **kwargs)

    def r2(self, **kwargs):
        """Bayesian, marginal/conditional (Nakagawa) and LOO R²; see :func:`bayesglmm.r2.r2`.

        Examples
        --------
        >>> fit.r2().table  # doctest: +SKIP
        """
        from bayesglmm.r2 import r2

        return r2(self, **kwargs)

    def _repr_html_(self) -> str:
        """Notebook view: the summary, convergence verdict first (see :mod:`bayesglmm.html`)."""
        return self.summary()._repr_html_()

    def predict(self, data=None, kind: str = "conditional", **kwargs) -> pd.DataFrame:
        """Predictions for ``data``; see :func:`bayesglmm.predict.predict`.

        Examples
        --------
        >>> fit.predict(mc, kind="typical")  # doctest: +SKIP
        """
        from bayesglmm.predict import predict

        return predict(self, data, kind=kind, **kwargs)

    def predictions(self, grid=None, **kwargs):
        """Predictions on a grid or averaged over rows; see :func:`bayesglmm.effects.predictions`.

        Examples
        --------
        >>> fit.predictions({"treat": ["control", "drug"]})  # doctest: +SKIP
        """
        from bayesglmm.effects import predictions

        return predictions(self, grid, **kwargs)

    def comparisons(self, variable, **kwargs):
        """Differences or ratios between levels; see :func:`bayesglmm.effects.comparisons`.

        Examples
        --------
        >>> fit.comparisons("treat", contrast="ratio")  # doctest: +SKIP
        """
        from bayesglmm.effects import comparisons

        return comparisons(self, variable, **kwargs)

    def slopes(self, variable, **kwargs):
        """Derivatives of a numeric predictor; see :func:`bayesglmm.effects.slopes`.

        Examples
        --------
        >>> fit.slopes("age", at=[40, 60])  # doctest: +SKIP
        """
        from bayesglmm.effects import slopes

        return slopes(self, variable, **kwargs)

    def plot_ppc(self, **kwargs):
        """Posterior predictive check figure; see :func:`bayesglmm.plots.plot_ppc`.

        Examples
        --------
        >>> fig = fit.plot_ppc()  # doctest: +SKIP
        """
        from bayesglmm.plots import plot_ppc

        return plot_ppc(self, **kwargs)

    def plot_ranef_qq(self, **kwargs):
        """QQ plot of group effects; see :func:`bayesglmm.plots.plot_ranef_qq`.

        Examples
        --------
        >>> fig = fit.plot_ranef_qq()  # doctest: +SKIP
        """
        from bayesglmm.plots import plot_ranef_qq

        return plot_ranef_qq(self, **kwargs)

    def save(self, path, *, key=None) -> None:
        """Save draws and specification atomically; see :func:`bayesglmm.io.save`.

        ``key`` (bytes or str) signs the file, so that ``bg.load(path, key=key)`` can tell
        that it was not edited; the checksums alone detect damage, not tampering.

        Examples
        --------
        >>> fit.save("fit.bglmm")  # doctest: +SKIP
        >>> fit.save("fit.bglmm", key=b"our lab's secret")  # doctest: +SKIP
        """
        from bayesglmm.io import save

        save(self, path, key=key)

    def summary(self, prob: float = 0.95, interval: Interval = "eti") -> Summary:
        """An lme4-style summary: verdict, model facts, fixed effects, variance components.

        Examples
        --------
        >>> print(fit.summary())  # doctest: +SKIP
        """
        spec = self.spec
        groups = spec.group_levels()
        header = {
            "Family": family_of(spec),
            "Formula": spec.formula.original,
            "Observations": spec.n_obs,
        }
        if getattr(spec, "dpars", None):
            from bayesglmm.dpars import describe_dpars

            header["Distributional formulas"] = (describe_dpars(spec) + "; coefficients in the family parameters "
                                                 "table, on that link scale")
        if getattr(spec, "weights", None):
            w = spec.weight_values
            header["Weights"] = (f"column {spec.weights!r}, frequency weights (each row's log-likelihood times its "
                                 f"weight): total {w.sum():g} over {w.size} rows")
        if groups:
            header["Groups"] = ", ".join(f"{g} ({n} levels)" for g, n in groups.items())
            header["Group effects"] = ", ".join(f"{t} {p}" for t, p in spec.parameterization.items())
            from bayesglmm.backend import AT_MEAN_SUFFIX

            shifted = [v.name for v in spec.pymc_model.free_RVs if v.name.endswith(AT_MEAN_SUFFIX)]
            if shifted:  # bayesglmm.backend.build_intercept_at_mean: the same model, other coordinates
                header["Group effects"] += (f"; {shifted[0][: -len(AT_MEAN_SUFFIX)]} sampled at the mean of the "
                                            "non-centred intercepts' contribution (same model)")
        if spec.fixed_design == "qr":
            header["Fixed effects"] = "sampled on the QR decomposition of the centred design, reported on your scale"
        elif spec.fixed_design_reason not in ("", "no fixed-effect columns besides the intercept"):
            header["Fixed effects"] = f"sampled as Bambi does ({spec.fixed_design_reason})"
        if spec.centred_parameters:
            header["Cut-points"] = (f"{', '.join(spec.centred_parameters)} sampled at the means of the fixed-effect "
                                    f"columns (where its prior applies), reported at zero predictors")
        s = self.settings
        header["Draws"] = (
            f"{s.get('chains')} chains x {_drawn(s)} ({'prior draws' if self.prior_only else f'after {s.get('tune')} warm-up'}), "
            f"sampler {s.get('sampler')}, seed {s.get('seed')}"
        )
        if not self.prior_only and "log_likelihood" not in self.idata.children:
            rows_draws = spec.n_obs * s.get("chains", 0) * s.get("draws", 0)
            header["Log-likelihood"] = (f"not stored ({spec.n_obs:,} rows x {s.get('chains')} x {s.get('draws')} draws, "
                                        f"{rows_draws * 8 / 1e9:.1f} GB); bg.compare() computes it when it needs it, "
                                        "fit(..., log_likelihood=True) stores it")
        if len(self.attempts) > 1:
            header["Attempts"] = "; ".join(
                f"{i}: tune {a['tune']}, draws {_drawn(a)}, target_accept {a['target_accept']}, {a['parameterization']} -> {a['verdict'].split(':')[0]}"
                for i, a in enumerate(self.attempts, 1)
            )
        verdict = "prior draws (no sampler diagnostics)" if self.diagnostics is None else self.diagnostics.verdict()
        tables = [self.fixef(prob, interval), self.family_params(prob, interval), self.varcorr(prob, interval)]
        table, note = self._summary_sensitivity()
        if table is not None:
            for t in tables:
                if len(t) and "label" in t.columns:
                    t["sensitivity"] = t["label"].map(table["short"]).fillna("").to_numpy()
        return Summary(header, verdict, *tables, prob, interval, list(spec.data.notes), table, note)

    def sensitivity(self, threshold: float | None = None) -> pd.DataFrame:
        """Power-scaling prior and likelihood sensitivity of each parameter (:mod:`bayesglmm.sensitivity`).

        Examples
        --------
        >>> fit.sensitivity()  # doctest: +SKIP
        """
        from bayesglmm.sensitivity import THRESHOLD, sensitivity

        threshold = THRESHOLD if threshold is None else threshold
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            return sensitivity(self, threshold=threshold)  # which says what is wrong with it
        key = ("sensitivity", float(threshold))
        if key not in self.cache:
            self.cache[key] = sensitivity(self, threshold=threshold)
        return self.cache[key]

    def _summary_sensitivity(self) -> tuple[pd.DataFrame | None, str]:
        if self.prior_only:
            return None, "not computed for prior draws."
        return self.sensitivity(), ""


def _drawn(settings: dict) -> str:
    """Draws per chain, and those asked for where the chains drew on (:func:`bayesglmm.fit.more_draws`)."""
    draws, asked = settings.get("draws"), settings.get("draws_asked", settings.get("draws"))
    return f"{draws}" if draws == asked else f"{draws} ({asked} asked)"


__all__ = ["Fit"]

