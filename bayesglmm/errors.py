"""Exception types raised by bayesglmm.

Every error a user can trigger by bad input derives from :class:`BayesGLMMError`, so
``except bg.BayesGLMMError`` catches them all; each also derives from the matching
built-in type (``ValueError``, ``TypeError``, ``KeyError``, ``FileNotFoundError``,
``ImportError``, ``RuntimeError``) for code that expects those.
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
    """A setting or option argument has an invalid value (names the argument and the valid values)."""


class FitError(BayesGLMMError, RuntimeError):
    """A fit cannot be used for what was asked (e.g. comparing fits on different data)."""


class NoPosteriorError(FitError, ValueError):
    """The fit holds prior draws only (``prior_only=True``) where a posterior is needed."""


class TermError(BayesGLMMError, ValueError):
    """An argument names a term, group or variable the model does not have, or the model lacks the terms asked about."""


class ArgumentError(BayesGLMMError, TypeError):
    """A call got an unknown keyword argument, or an argument of a type it cannot use."""


class UnknownModelError(BayesGLMMError, KeyError):
    """No model (in a comparison) or course analysis of that name (lists the names there are)."""

    def __str__(self) -> str:  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class MissingFileError(BayesGLMMError, FileNotFoundError):
    """A file named by the user (a data CSV, a fit file) does not exist."""


class MissingDependencyError(BayesGLMMError, ImportError):
    """An optional package that the request needs is not installed (says how to install it)."""


class ComputationError(BayesGLMMError, RuntimeError):
    """A computation gave up (e.g. batch worker processes kept dying, or prior draws kept being rejected)."""


class UpstreamVersionError(BayesGLMMError, RuntimeError):
    """A library bayesglmm carries a faster copy of code from has changed that code (see bayesglmm.patching)."""
