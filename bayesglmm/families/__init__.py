"""The response families bayesglmm supports: one object per family, one file each.

Each family is a :class:`Family` subclass (:mod:`bayesglmm.families.base`) that knows its
links, response checks, default-prior scale, latent residual variance for the ICC (Nakagawa,
Johnson & Schielzeth 2017, doi:10.1098/rsif.2017.0213), how to simulate new responses and
which checks apply. Every other module asks the object; none branches on a family's name.
A new family is one file plus one line in :data:`FAMILIES`.

Examples
--------
>>> get_family("Poisson").ratio_label["log"]
'rate ratio'
>>> list(FAMILIES)
['gaussian', 'bernoulli', 'binomial', 'poisson', 'negativebinomial', 'cumulative', 'student_t', 'gamma', 'lognormal', 'beta', 'zero_inflated_poisson', 'zero_inflated_negativebinomial', 'hurdle_poisson', 'hurdle_negativebinomial', 'beta_binomial', 'weibull', 'exponential', 'sratio', 'categorical']
"""

from __future__ import annotations

import difflib

from bayesglmm.errors import FamilyError
from bayesglmm.families.base import LINKS, Family, link_functions
from bayesglmm.families.bernoulli import Bernoulli
from bayesglmm.families.binomial import Binomial
from bayesglmm.families.cumulative import Cumulative
from bayesglmm.families.gaussian import Gaussian
from bayesglmm.families.negativebinomial import NegativeBinomial
from bayesglmm.families.poisson import Poisson
from bayesglmm.families.student_t import StudentT
from bayesglmm.families.gamma import Gamma
from bayesglmm.families.lognormal import LogNormal
from bayesglmm.families.beta import Beta
from bayesglmm.families.zero_inflated_poisson import ZeroInflatedPoisson
from bayesglmm.families.zero_inflated_negativebinomial import ZeroInflatedNegativeBinomial
from bayesglmm.families.hurdle_poisson import HurdlePoisson
from bayesglmm.families.hurdle_negativebinomial import HurdleNegativeBinomial
from bayesglmm.families.beta_binomial import BetaBinomial
from bayesglmm.families.weibull import Weibull
from bayesglmm.families.exponential import Exponential
from bayesglmm.families.sratio import StoppingRatio
from bayesglmm.families.categorical import Categorical

#: Name -> family object, in the order the documentation lists them.
FAMILIES: dict[str, Family] = {
    fam.name: fam
    for fam in (Gaussian(), Bernoulli(), Binomial(), Poisson(), NegativeBinomial(), Cumulative(), StudentT(),
                Gamma(), LogNormal(), Beta(), ZeroInflatedPoisson(), ZeroInflatedNegativeBinomial(),
                HurdlePoisson(), HurdleNegativeBinomial(), BetaBinomial(), Weibull(), Exponential(), StoppingRatio(),
                Categorical())
}


def _key(name: str) -> str:
    return str(name).lower().replace("_", "").replace("-", "")


_LOOKUP = {_key(alias): fam for fam in FAMILIES.values() for alias in (fam.name, *fam.aliases)}


def get_family(name) -> Family:
    """Look a family up by name or alias (case-insensitive), with a clear error for unknown ones.

    A :class:`Family` object is returned as it is.

    Raises
    ------
    FamilyError
        The name is not a family: the message lists the families and suggests the closest.

    Examples
    --------
    >>> get_family("Poisson").ratio_label["log"]
    'rate ratio'
    >>> get_family("possion")
    Traceback (most recent call last):
    ...
    bayesglmm.errors.FamilyError: Unknown family 'possion'. Did you mean 'poisson'? Families: gaussian, bernoulli, binomial, poisson, negativebinomial, cumulative, student_t, gamma, lognormal, beta, zero_inflated_poisson, zero_inflated_negativebinomial, hurdle_poisson, hurdle_negativebinomial, beta_binomial, weibull, exponential, sratio, categorical.
    """
    if isinstance(name, Family):
        return name
    key = _key(name)
    if key not in _LOOKUP:
        close = difflib.get_close_matches(key, _LOOKUP, n=1)
        hint = f" Did you mean {_LOOKUP[close[0]].name!r}?" if close else ""
        raise FamilyError(f"Unknown family {name!r}.{hint} Families: {', '.join(FAMILIES)}.")
    return _LOOKUP[key]


__all__ = ["FAMILIES", "LINKS", "Family", "FamilyError", "get_family", "link_functions",
           "Gaussian", "Bernoulli", "Binomial", "Poisson", "NegativeBinomial", "Cumulative", "StudentT",
           "Gamma", "LogNormal", "Beta", "ZeroInflatedPoisson", "ZeroInflatedNegativeBinomial", "HurdlePoisson",
           "HurdleNegativeBinomial", "BetaBinomial", "Weibull", "Exponential", "Categorical"]
