"""Default priors: weakly informative, scaled to the data, written down.

The defaults follow rstanarm's autoscaling (Gelman et al. 2008, doi:10.1214/08-AOAS191;
rstanarm's "Prior distributions" vignette). With ``s_y = sd(y)`` for a gaussian (and Student-t)
response and ``s_y = 1`` on the link scale of every other family, and ``sd(x_j)`` the standard
deviation of design column ``j`` (a dummy column included):

=========================  ====================================================
parameter                  default prior
=========================  ====================================================
coefficient of column j    Normal(0, 2.5 * s_y / sd(x_j))
intercept                  Normal(m, 2.5 * s_y), ``m`` = link(mean response)
                           (binomial: logit of total successes / total trials;
                           poisson: log of total count / total exposure), on
                           the scale of centred predictors (Bambi centres them)
group SD, intercept        HalfNormal(2.5 * s_y)
group SD, slope on x       HalfNormal(2.5 * s_y / sd(x))
correlation matrix         LKJ(eta = 1) (uniform over correlation matrices)
ordinal cut-points         Normal(link(cumulative share of each category), 2.5),
                           ordered
gaussian residual SD,      HalfStudentT(4, sd(y)) (Bambi's)
Student-t scale sigma
negative binomial alpha    HalfCauchy(1) (Bambi's)
Student-t nu               Gamma(2, 0.1) (Bambi's and brms's)
=========================  ====================================================

Bambi's own defaults give logit-scale coefficients of factors a Normal(0, 1), which pulls
real effects towards zero (on lme4's ``cbpp`` example, glmer's -1.23, -1.33, -1.87 became
-0.80, -0.91, -1.24); the scale above is 2.5 / sd(x), 5 for a balanced dummy.
Any prior can be overridden per term with ``priors={"term": bg.Prior(...)}``.
"""

from __future__ import annotations

import numpy as np
from bambi import Prior

from bayesglmm.errors import DataError, PriorError
from bayesglmm.families import Family, get_family
from bayesglmm.families.base import SCALE

DEFAULT_LKJ_ETA = 1.0


def response_scale(family: str | Family, y: np.ndarray) -> float:
    """``s_y``: sd of the response for gaussian models, 1 on every other link scale.

    The family decides (:meth:`bayesglmm.families.Family.response_scale`).
    """
    return get_family(family).response_scale(y)


def intercept_location(family: str | Family, link: str, y, trials=None, offset=None) -> float:
    """Prior mean of the intercept: the link of the overall mean response.

    Examples
    --------
    >>> round(intercept_location("binomial", "logit", np.array([1, 2]), trials=np.array([4, 4])), 3)
    -0.511
    """
    return get_family(family).intercept_location(link, y, trials, offset)


def _column_sd(values: np.ndarray, label: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    sd = values.std(axis=0)
    if np.any(sd == 0):
        raise DataError(
            f"Predictor {label!r} is constant in the model's rows (standard deviation 0): its "
            "coefficient cannot be told apart from the intercept. Remove it or check the data."
        )
    return sd


def default_priors(bmb_model, family: str | Family, link: str, response, trials=None) -> dict:
    """Default priors for every term of a (not yet built) Bambi model.

    Parameters
    ----------
    bmb_model : bambi.Model
        The model whose terms get priors.
    family : str or Family
        The family (its object decides the response scale, the intercept's location
        and any priors of its own parameters, e.g. ordinal cut-points).
    link : str
        The link.
    response, trials : array-like
        The response (and trials) used to scale the priors.

    Returns
    -------
    dict
        Term name -> bambi.Prior, ready for ``bmb_model.set_priors(priors=...)``.

    Examples
    --------
    >>> import bambi as bmb, pandas as pd
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> m = bmb.Model("y ~ x", df, family="bernoulli")
    >>> round(float(default_priors(m, "bernoulli", "logit", df["y"])["x"].args["sigma"]), 3)
    2.236
    """
    fam = get_family(family)
    comp = bmb_model.parameters[bmb_model.family.likelihood.parent]
    s_y = fam.response_scale(response)
    priors: dict = {}
    for name, term in comp.common_terms.items():
        sd = _column_sd(term.data, name)
        sigma = SCALE * s_y / sd
        priors[name] = Prior("Normal", mu=0.0 if sigma.size == 1 else np.zeros(sigma.size), sigma=_squeeze(sigma))
    if comp.intercept_term is not None:
        offset = sum(t.data.squeeze() for t in comp.offset_terms.values()) if comp.offset_terms else None
        mu = fam.intercept_location(link, response, trials, offset)
        priors["Intercept"] = Prior("Normal", mu=mu, sigma=SCALE * s_y)
    for name, term in comp.group_specific_terms.items():
        if term.kind == "intercept":
            sd_scale = SCALE * s_y
        else:
            sd_scale = _squeeze(SCALE * s_y / _column_sd(term.predictor, name))
        priors[name] = Prior("Normal", mu=0.0, sigma=Prior("HalfNormal", sigma=sd_scale))
    priors.update(fam.extra_priors(response, link))
    return priors


def _squeeze(a):
    a = np.atleast_1d(np.asarray(a, dtype=float))
    return float(a[0]) if a.size == 1 else a


def valid_prior_names(bmb_model, blocks) -> list[str]:
    """Names a user may give in ``priors=``: terms, family parameters, correlation blocks."""
    names = [*bmb_model.parameters[bmb_model.family.likelihood.parent].terms]
    names += [n for n in bmb_model.parameters if n != bmb_model.family.likelihood.parent]
    names += [f"{b.factor}_corr" for b in blocks if b.correlated]
    return names


def check_prior_values(user_priors: dict) -> None:
    """Raise PriorError for a prior that is not a ``bg.Prior`` of a PyMC distribution.

    Examples
    --------
    >>> check_prior_values({"x": Prior("Nromal", mu=0, sigma=1)})
    Traceback (most recent call last):
    ...
    bayesglmm.errors.PriorError: Prior for 'x': no distribution 'Nromal' in PyMC (did you mean 'Normal'?).
    """
    import difflib

    import pymc as pm

    names = [n for n in dir(pm) if isinstance(getattr(pm, n), type) and issubclass(getattr(pm, n), pm.Distribution)]
    for term, prior in user_priors.items():
        if isinstance(prior, (int, float)) and not isinstance(prior, bool):
            continue
        if not isinstance(prior, Prior):
            raise PriorError(
                f"Prior for {term!r} must be a bg.Prior (or a number to fix the parameter), e.g. "
                f"bg.Prior('Normal', mu=0, sigma=1); got {prior!r}."
            )
        for p in [prior, *[v for v in prior.args.values() if isinstance(v, Prior)]]:
            if p.name not in names:
                close = difflib.get_close_matches(p.name, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PriorError(f"Prior for {term!r}: no distribution {p.name!r} in PyMC{hint}.")


def check_prior_names(user_priors: dict, valid: list[str]) -> None:
    """Raise PriorError for prior names the model does not have.

    Examples
    --------
    >>> check_prior_names({"tret": Prior("Normal", mu=0, sigma=1)}, ["Intercept", "treat"])
    Traceback (most recent call last):
    ...
    bayesglmm.errors.PriorError: No term 'tret' in this model (did you mean 'treat'?). Terms that take a prior: Intercept, treat.
    """
    import difflib

    for name in user_priors:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PriorError(f"No term {name!r} in this model{hint}. Terms that take a prior: {', '.join(valid)}.")


def describe(prior) -> str:
    """A prior as one line of text, e.g. ``Normal(mu=0, sigma=2.5)``.

    Examples
    --------
    >>> describe(Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=2.5)))
    'Normal(mu=0, sigma=HalfNormal(sigma=2.5))'
    """
    if isinstance(prior, (int, float)):
        return f"fixed at {prior:g}"
    if not isinstance(prior, Prior):
        return str(prior)
    args = []
    for key, value in prior.args.items():
        if key == "transform":
            continue
        if isinstance(value, Prior):
            text = describe(value)
        elif np.ndim(value) > 0:
            arr = np.asarray(value, dtype=float).ravel()
            text = "[" + ", ".join(f"{v:.3g}" for v in arr) + "]"
        else:
            text = f"{float(value):.4g}"
        args.append(f"{key}={text}")
    extra = ", ordered" if prior.args.get("transform") is not None else ""
    return f"{prior.name}({', '.join(args)}{extra})"
