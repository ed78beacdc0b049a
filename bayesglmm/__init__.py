"""bayesglmm: Bayesian generalized linear mixed models with lme4-style formulas.

>>> import bayesglmm as bg
>>> mc = bg.datasets.load("multicentre")                                   # doctest: +SKIP
>>> fit = bg.fit("p(y, n) ~ treat + (1|centre)", mc, family="binomial", seed=1)  # doctest: +SKIP
>>> print(fit.summary())                                                   # doctest: +SKIP
"""

from bambi import Prior

from bayesglmm import datasets
from bayesglmm.diagnostics import ConvergenceWarning
from bayesglmm.errors import (
    ArgumentError,
    BayesGLMMError,
    ComputationError,
    DataError,
    DatasetNotFoundError,
    FamilyError,
    FitError,
    FormulaError,
    MissingDependencyError,
    MissingFileError,
    NoPosteriorError,
    PriorError,
    SettingsError,
    TermError,
    UnknownModelError,
    UpstreamVersionError,
)
from bayesglmm.compare import Comparison, compare, refit
from bayesglmm.batch import fit_many
from bayesglmm.sbc import SBCResult, sbc
from bayesglmm.fit import Fit, fit, sample
from bayesglmm.icc import ICC, icc
from bayesglmm.hypothesis import Hypotheses, hypothesis
from bayesglmm.r2 import R2, r2
from bayesglmm.io import load, save
from bayesglmm.predict import population_averaged_ratio, predict
from bayesglmm.effects import Effects, comparisons, datagrid, predictions, slopes
from bayesglmm.plots import plot_effects
from bayesglmm.model import ModelSpec, build_model
from bayesglmm.validate import DegenerateResponseWarning, SeparationWarning
from bayesglmm.questions import Answer, fixed_effect_needed, random_effects_needed
from bayesglmm.sensitivity import sensitivity

__version__ = "0.1.0"

__all__ = [
    "sensitivity",
    "Effects",
    "comparisons",
    "datagrid",
    "predictions",
    "slopes",
    "plot_effects",
    "SBCResult",
    "fit_many",
    "sbc",
    "Answer",
    "SeparationWarning",
    "DegenerateResponseWarning",
    "ICC",
    "icc",
    "Hypotheses",
    "hypothesis",
    "R2",
    "r2",
    "population_averaged_ratio",
    "predict",
    "SettingsError",
    "load",
    "save",
    "Comparison",
    "compare",
    "fixed_effect_needed",
    "random_effects_needed",
    "refit",
    "ArgumentError",
    "BayesGLMMError",
    "ComputationError",
    "ConvergenceWarning",
    "MissingDependencyError",
    "MissingFileError",
    "NoPosteriorError",
    "TermError",
    "UnknownModelError",
    "UpstreamVersionError",
    "DataError",
    "DatasetNotFoundError",
    "FamilyError",
    "Fit",
    "FitError",
    "FormulaError",
    "ModelSpec",
    "Prior",
    "PriorError",
    "build_model",
    "datasets",
    "fit",
    "sample",
]
