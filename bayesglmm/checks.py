"""Model checks, gathered from the modules that hold them: import any check from here.

Everything here computes numbers (arrays and tables); :mod:`bayesglmm.plots` draws them.
Each concept has its own module, and every name is re-exported here:

* :mod:`bayesglmm.predictive`: observed and replicated data (:func:`observed`,
  :func:`trials`, :func:`posterior_predictive`, :func:`prior_predictive`,
  :func:`sample_prior`) and the conventions of replicated data.
* :mod:`bayesglmm.ppc`: Bayesian p-values of test statistics (:func:`ppc_pvalues`,
  :func:`replicated_statistics`), the mid-p convention and the flag thresholds.
* :mod:`bayesglmm.ppc_tables`: the tables behind the PPC plots (:func:`category_counts`,
  :func:`group_intervals`, :func:`ecdf_band`, :func:`default_group`).
* :mod:`bayesglmm.dispersion`: the Pearson dispersion check (:func:`dispersion_check`,
  :class:`DispersionCheck`).
* :mod:`bayesglmm.ranef_checks`: random-effect draws, normality and QQ data
  (:func:`ranef_draws`, :func:`ranef_normality`, :class:`RanefNormality`,
  :func:`ranef_qq`, :func:`normal_quantiles`).
* :mod:`bayesglmm.censoring`: censored responses, Kaplan-Meier against posterior predictive
  survival curves (:func:`kaplan_meier`, :func:`survival_check`).
* :mod:`bayesglmm.prior_posterior`: variance components and prior vs posterior draws
  (:func:`variance_components`, :func:`prior_posterior_draws`).

Functions that need replicated data take ``yrep=`` so that one set of predictive draws can
be reused; otherwise they draw it themselves, with ``draws`` and ``seed``.
"""

from __future__ import annotations

from bayesglmm.censoring import kaplan_meier, survival_check
from bayesglmm.dispersion import DispersionCheck, dispersion_check
from bayesglmm.ppc import FLAG_HIGH, FLAG_LOW, STATISTICS, ppc_pvalues, replicated_statistics
from bayesglmm.ppc_tables import category_counts, default_group, ecdf_band, group_intervals
from bayesglmm.predictive import (
    SAMPLE_DIMS,
    observed,
    posterior_predictive,
    prior_predictive,
    sample_prior,
    trials,
)
from bayesglmm.prior_posterior import prior_posterior_draws, variance_components
from bayesglmm.ranef_checks import (
    SHRINKAGE_NOTE,
    RanefNormality,
    normal_quantiles,
    ranef_draws,
    ranef_normality,
    ranef_qq,
)

__all__ = [
    "DispersionCheck",
    "FLAG_HIGH",
    "FLAG_LOW",
    "RanefNormality",
    "SAMPLE_DIMS",
    "SHRINKAGE_NOTE",
    "STATISTICS",
    "category_counts",
    "default_group",
    "dispersion_check",
    "ecdf_band",
    "group_intervals",
    "kaplan_meier",
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
    "survival_check",
    "trials",
    "variance_components",
]
