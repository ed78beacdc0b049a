"""Exception types raised by bayesglmm.

Every error a user can trigger by bad input derives from :class:`BayesGLMMError`, so
``except bg.BayesGLMMError`` catches them all; each also derives from the matching
built-in type (``ValueError``, ``FileNotFoundError``) for code that expects those.
"""


class BayesGLMMError(Exception):
    """Base class of every error bayesglmm raises on purpose."""


class DataError(BayesGLMMError, ValueError):
    """The data cannot be used with this formula and family (names column, value and row)."""


class FormulaError(BayesGLMMError, ValueError):
    """The model formula does not parse or names something that is not in the data."""


class FamilyError(BayesGLMMError, ValueError):
    """Unknown family or link, or a family that does not fit the response."""


class DatasetNotFoundError(BayesGLMMError, FileNotFoundError):
    """A course data set was not found in any of the places searched."""


class PriorError(BayesGLMMError, ValueError):
    """A prior names a term the model does not have, or is not a valid prior."""


class SettingsError(BayesGLMMError, ValueError):
    """A sampler setting or option has an invalid value (names the argument and the valid values)."""


class FitError(BayesGLMMError, RuntimeError):
    """A fit cannot be used for what was asked (e.g. comparing fits on different data)."""
