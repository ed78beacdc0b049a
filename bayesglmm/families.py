"""The response families bayesglmm supports, as one table of plain data.

Each row says which Bambi family implements it, which links are allowed, what an
exponentiated coefficient is called, what the response must look like, and the
latent-scale residual variance the ICC uses (Nakagawa, Johnson & Schielzeth 2017,
doi:10.1098/rsif.2017.0213).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bayesglmm.errors import FamilyError


@dataclass(frozen=True)
class Family:
    """One supported response family.

    Attributes
    ----------
    name : str
        bayesglmm's name (also Bambi's).
    links : tuple of str
        Allowed links; the first is the default.
    response : str
        What the response must be: ``"real"``, ``"binary"``, ``"count"``, ``"trials"``
        (successes out of trials, ``p(y, n)``) or ``"ordinal"``.
    ratio_label : dict
        Name of ``exp(coefficient)`` per link (``"odds ratio"`` for logit).
    """

    name: str
    links: tuple[str, ...]
    response: str
    ratio_label: dict

    @property
    def default_link(self) -> str:
        """The link used when none is given."""
        return self.links[0]

    def check_link(self, link: str | None) -> str:
        """Return the link to use, or raise FamilyError naming the valid ones.

        Examples
        --------
        >>> get_family("binomial").check_link(None)
        'logit'
        """
        if link is None:
            return self.default_link
        if link not in self.links:
            raise FamilyError(
                f"Link {link!r} is not available for family {self.name!r}; "
                f"choose one of {', '.join(self.links)}."
            )
        return link

    def latent_variance(self, link: str) -> float | None:
        """Residual variance on the latent scale for logit/probit links, else None.

        Examples
        --------
        >>> round(get_family("bernoulli").latent_variance("logit"), 4)
        3.2899
        """
        if link == "logit":
            return math.pi**2 / 3
        if link == "probit":
            return 1.0
        if link == "cloglog":
            return math.pi**2 / 6
        return None


_ODDS = {"logit": "odds ratio"}
_RATE = {"log": "rate ratio"}

FAMILIES = {
    "gaussian": Family("gaussian", ("identity", "log"), "real", {"log": "ratio of means"}),
    "bernoulli": Family("bernoulli", ("logit", "probit", "cloglog"), "binary", _ODDS),
    "binomial": Family("binomial", ("logit", "probit", "cloglog"), "trials", _ODDS),
    "poisson": Family("poisson", ("log",), "count", _RATE),
    "negativebinomial": Family("negativebinomial", ("log",), "count", _RATE),
    "cumulative": Family("cumulative", ("logit", "probit", "cloglog"), "ordinal", {"logit": "cumulative odds ratio"}),
}

_ALIASES = {"normal": "gaussian", "logistic": "bernoulli", "negbinomial": "negativebinomial", "ordinal": "cumulative"}


def get_family(name: str) -> Family:
    """Look a family up by name (case-insensitive), with a clear error for unknown ones.

    Examples
    --------
    >>> get_family("Poisson").ratio_label["log"]
    'rate ratio'
    """
    key = str(name).lower().replace("_", "").replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in FAMILIES:
        import difflib

        close = difflib.get_close_matches(key, FAMILIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FamilyError(f"Unknown family {name!r}.{hint} Families: {', '.join(FAMILIES)}.")
    return FAMILIES[key]
