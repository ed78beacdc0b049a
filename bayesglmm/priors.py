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
correlation matrix         LKJ(eta = 2) (weakly informative: density 1 - r^2
                           for a 2 x 2 block, zero at r = +-1)
ordinal cut-points         Normal(link(cumulative share of each category), 2.5),
                           ordered, on the cut-points at the means of the
                           fixed-effect columns (reported at zero); sratio:
                           link(conditional stopping share), not ordered
gaussian residual SD,      HalfStudentT(4, sd(y)) (Bambi's)
Student-t scale sigma
negative binomial alpha    HalfCauchy(1) (Bambi's)
Student-t nu               Gamma(2, 0.1) (Bambi's and brms's)
gamma shape alpha          HalfCauchy(max(1, mean(y)^2 / var(y)))
lognormal sigma            HalfStudentT(4, sd(log y)); ``s_y = sd(log y)``
beta / beta-binomial       HalfCauchy(max(1, m (1 - m) / v - 1)), m and v the
precision kappa            mean and variance of the (row) proportions
zero-inflation / hurdle    Beta(1 + 2q, 1 + 2(1 - q)), q the moment estimate of
psi (P(count process) /    the count share (zero-inflated) or the share of
P(y > 0))                  positive counts (hurdle)
own formula of a family    intercept Normal(link(m), 2.5), m = sd(y) for sigma
parameter (``dpars``:      (sd(log y) lognormal), the count share or share of
sigma ~ x, psi ~ x), on    positive counts for psi; column j Normal(0, 2.5 /
its log / logit scale      sd(x_j)) (:mod:`bayesglmm.dpars`)
=========================  ====================================================

The moment estimates above ignore the predictors and groups, so they understate the
conditional shape or precision: they set the scale of a heavy-tailed prior, never its bound.
Each family's module (:mod:`bayesglmm.families`) gives its reasons.

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

#: LKJ shape of a correlated block's correlation matrix (``priors={"g_corr": eta}`` overrides it;
#: shown as ``g_corr`` in ``fit.prior_summary()``). 2, not the uniform 1 (brms's, rstanarm's): with
#: a few binary observations per level the likelihood barely informs a correlation, and under
#: LKJ(1) the posterior keeps the prior's mass near +-1, where the intercept/slope SDs and the
#: correlation trade off; the course's hr_slopes model (24 patients x 5 binary visits) then failed
#: R-hat or ESS at its first attempt for 6 of 10 seeds even with the block sampled as SDs and an LKJ
#: Cholesky factor, and passed for 10 of 10 with eta = 2 (issue 16; benchmarks/CONVERGENCE.md).
#: LKJ(2) is the weakly informative choice of McElreath's Statistical Rethinking and of many Stan
#: examples: it rules out perfect correlation, not any plausible one (central 95% of r for a 2 x 2
#: block: -0.81 to 0.81).
DEFAULT_LKJ_ETA = 2.0


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


def check_finite_design(bmb_model) -> None:
    """Raise DataError when a transform in the formula made a value that is not finite.

    The data's own columns are checked before Bambi sees them (:mod:`bayesglmm.validate`);
    ``log(x)`` of x = 0, ``np.sqrt(x)`` of a negative x or ``I(1/x)`` of 0 only become
    ``-inf`` or ``nan`` when formulae evaluates them, and then failed later (a linear-algebra
    error, or a sampler that cannot start). The error names the term, the value and the row
    by the data's index label.

    Examples
    --------
    >>> import bambi as bmb, pandas as pd
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "x": [1.0, 2.0, 0.0, 4.0]})
    >>> check_finite_design(bmb.Model("y ~ log(x)", df, family="bernoulli"))
    Traceback (most recent call last):
    ...
    bayesglmm.errors.DataError: The predictor term 'log(x)' is not finite in 1 row: value -inf at row 2...
    """
    comp = bmb_model.parameters[bmb_model.family.likelihood.parent]
    parts = [("response", bmb_model.response_term.name, bmb_model.response_term.data)]
    parts += [("predictor term", name, term.data) for name, term in comp.common_terms.items()]
    parts += [("offset", name, term.data) for name, term in comp.offset_terms.items()]
    parts += [("group-level term", name, term.predictor) for name, term in comp.group_specific_terms.items()]
    for name, other in bmb_model.parameters.items():  # auxiliary formulas (sigma ~ x, bayesglmm.dpars)
        if other is not comp and hasattr(other, "common_terms"):
            parts += [("predictor term", term.name, term.data) for term in other.common_terms.values()]
    index = bmb_model.data.index
    for what, name, values in parts:
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError):  # categorical codes of an ordinal response, etc.
            continue
        values = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            value = float(values[rows[0]][~np.isfinite(values[rows[0]])][0])
            labels = [index[i] if i < len(index) else i for i in rows[:5]]
            shown = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in labels)
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise DataError(
                f"The {what} {name!r} is not finite in {len(rows)} row{'s' if len(rows) > 1 else ''}: value "
                f"{value} at row{'s' if len(rows) > 1 else ''} {shown}{more}. A transform in the formula "
                "(a log or square root of 0 or a negative number, 1/0) made it; check those rows or the transform."
            )


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
    check_finite_design(bmb_model)
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
    priors.update(fam.family_priors(response, link, trials))
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


#: Keywords users write for a PyMC parameter of another name (scipy's, R's, Stan's); each is
#: reported with "did you mean" (the first of the candidates the distribution has).
PARAMETER_ALIASES = {
    "sd": ("sigma", "b", "s", "beta"), "std": ("sigma",), "stdev": ("sigma",), "sigma2": ("sigma",),
    "scale": ("sigma", "beta", "b", "s", "lam"), "loc": ("mu", "alpha"), "mean": ("mu",),
    "location": ("mu", "alpha"), "m": ("mu",), "precision": ("tau", "lam"), "prec": ("tau", "lam"),
    "rate": ("lam", "beta"), "lambda": ("lam",), "lambda_": ("lam",), "df": ("nu",), "dof": ("nu",),
    "shape": ("alpha", "nu"), "a": ("alpha", "lower"), "b": ("beta", "upper"), "low": ("lower",),
    "high": ("upper",), "min": ("lower",), "max": ("upper",), "lb": ("lower",), "ub": ("upper",),
    "df_": ("nu",), "concentration": ("eta",), "shape1": ("alpha",), "shape2": ("beta",),
}

#: Parameters that must be positive (scales, precisions, rates, shapes, degrees of freedom) ...
POSITIVE_PARAMETERS = ("sigma", "tau", "lam", "nu", "eta", "b", "s", "kappa", "alpha", "beta", "scale", "n")
#: ... except in these distributions, where the name is a location or a skewness.
NOT_POSITIVE = {("Cauchy", "alpha"), ("SkewNormal", "alpha"), ("Wald", "alpha")}

#: Distributions whose draws can be negative: not a prior for an SD (a group term's ``sigma``).
REAL_LINE = ("Normal", "StudentT", "Cauchy", "Laplace", "Logistic", "SkewNormal", "Gumbel", "Flat",
             "AsymmetricLaplace", "Moyal", "ExGaussian", "Interpolated")

#: Keywords Bambi passes to a distribution besides its parameters.
PRIOR_OPTIONS = ("transform", "default_transform", "initval")


def _distributions() -> dict:
    import pymc as pm

    return {n: getattr(pm, n) for n in dir(pm)
            if isinstance(getattr(pm, n), type) and issubclass(getattr(pm, n), pm.Distribution)}


def distribution_parameters(name: str) -> tuple[tuple[str, ...], tuple[str, ...], dict]:
    """``(parameters, required, defaults)`` of PyMC distribution ``name``, read from its ``dist``.

    Examples
    --------
    >>> distribution_parameters("Normal")
    (('mu', 'sigma', 'tau'), (), {'mu': 0})
    >>> distribution_parameters("HalfCauchy")[1]
    ('beta',)
    """
    import inspect

    sig = inspect.signature(_distributions()[name].dist)
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    required = tuple(p.name for p in params if p.default is p.empty)
    defaults = {p.name: p.default for p in params if p.default is not p.empty and p.default is not None}
    return tuple(p.name for p in params), required, defaults


def _plain(value):
    """A prior's value as the user would write it: ``10`` for ``array(10.0)``, a list for an array."""
    arr = np.asarray(value) if not isinstance(value, (str, Prior)) else None
    if arr is None or arr.dtype.kind not in "biuf":
        return value
    if arr.ndim == 0:
        return int(arr) if arr.dtype.kind in "iu" or float(arr).is_integer() else float(arr)
    return [_plain(v) for v in arr.ravel()[:6]]


def _check_number(term: str, owner: str, key: str, value, positive: bool) -> None:
    """A prior's (or a fixed parameter's) value: numbers only, finite, positive for a scale."""
    arr = np.asarray(value) if not isinstance(value, str) else None
    named = f"{owner}{key}={_plain(value)!r}"
    if arr is None or arr.dtype.kind not in "iuf":
        got = "text" if isinstance(value, str) else type(value).__name__
        raise PriorError(f"Prior for {term!r}: {named} must be a number (or an array of numbers, or a bg.Prior "
                         f"for a hyperprior); got {got}.")
    arr = arr.astype(float)
    if arr.size == 0:
        raise PriorError(f"Prior for {term!r}: {owner}{key} is an empty array.")
    if not np.all(np.isfinite(arr)):
        bad = float(arr[~np.isfinite(arr)].ravel()[0])
        raise PriorError(f"Prior for {term!r}: {named} is not a finite number (found {bad}); a prior's "
                         "parameters must be finite.")
    if positive and np.any(arr <= 0):
        bad = float(arr[arr <= 0].ravel()[0])
        why = (f"a negative scale is not read as its absolute value: write {key}={abs(bad):g} if that is what "
               "you meant" if bad < 0 else "0 makes the prior a point mass or undefined")
        raise PriorError(f"Prior for {term!r}: {named} must be positive (a scale, rate, shape or degrees of "
                         f"freedom; found {bad:g}): {why}.")


def _can_be_negative(prior) -> bool:
    """Whether draws of ``prior`` can be negative (then it cannot be the prior of a scale)."""
    if prior.name in REAL_LINE:
        return True
    if prior.name in ("Uniform", "TruncatedNormal"):
        lower = prior.args.get("lower", 0 if prior.name == "Uniform" else None)
        return lower is None or isinstance(lower, Prior) or bool(np.any(np.asarray(lower, dtype=float) < 0))
    return False


def _check_prior(term: str, prior, where: str = "", depth: int = 0) -> None:
    """Check one bg.Prior and (recursively) its hyperpriors against PyMC's distribution."""
    import difflib

    dists = _distributions()
    label = f"{where}{prior.name}" if where else prior.name
    if not isinstance(prior.name, str) or prior.name not in dists:
        close = difflib.get_close_matches(str(prior.name), list(dists), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PriorError(f"Prior for {term!r}: {where}no distribution {prior.name!r} in PyMC{hint}.")
    if depth > 3:
        raise PriorError(f"Prior for {term!r}: hyperpriors nested more than 3 deep ({label}).")
    if prior.dist is not None:  # the user's own callable: its keywords are its own business
        return
    params, required, _ = distribution_parameters(prior.name)
    for key, value in prior.args.items():
        if key in PRIOR_OPTIONS or (value is None and key in params):  # None: PyMC's "not given"
            continue
        if key not in params:
            aliases = [a for a in PARAMETER_ALIASES.get(key, ()) if a in params]
            close = aliases[:1] or difflib.get_close_matches(key, params, n=1)
            hint = f"; did you mean {close[0]}?" if close else "."
            raise PriorError(
                f"Prior for {term!r}: {where}{prior.name} has no parameter {key!r} ({key}={_plain(value)!r}){hint} "
                f"{prior.name} takes {', '.join(params) or 'no parameters'}. PyMC would ignore {key!r} "
                "silently and use its default instead.")
        if isinstance(value, Prior):
            positive = key in POSITIVE_PARAMETERS and (prior.name, key) not in NOT_POSITIVE
            if positive and _can_be_negative(value):
                raise PriorError(
                    f"Prior for {term!r}: {where}{prior.name}'s {key} must be positive, but its hyperprior "
                    f"{value.name} puts mass on negative values; use a distribution on positive numbers, e.g. "
                    f"bg.Prior('HalfNormal', sigma=1) or bg.Prior('Exponential', lam=1).")
            _check_prior(term, value, f"{where}{prior.name}'s {key}: ", depth + 1)
        else:
            _check_number(term, f"{where}{prior.name}'s ", key, value,
                          key in POSITIVE_PARAMETERS and (prior.name, key) not in NOT_POSITIVE)
    missing = [r for r in required if r not in prior.args and r != "n"]
    if missing:
        raise PriorError(f"Prior for {term!r}: {where}{prior.name} needs {', '.join(missing)} "
                         f"(it takes {', '.join(params)}).")
    low, high = prior.args.get("lower"), prior.args.get("upper")
    if low is not None and high is not None and not isinstance(low, Prior) and not isinstance(high, Prior) \
            and np.any(np.asarray(low, float) >= np.asarray(high, float)):
        raise PriorError(f"Prior for {term!r}: {where}{prior.name} needs lower < upper; got "
                         f"lower={_plain(low)!r}, upper={_plain(high)!r}.")


def _check_fixed(term: str, value) -> None:
    """A number in place of a prior: only a family parameter can be fixed, at a valid value."""
    from bayesglmm.families import FAMILIES

    fixable = sorted({p for fam in FAMILIES.values() for p in fam.aux_parameters})
    if term not in fixable:
        raise PriorError(
            f"Prior for {term!r}: a number ({_plain(value)!r}) can fix only a family parameter "
            f"({', '.join(fixable)}), not a term's coefficient; give a bg.Prior, e.g. "
            f"bg.Prior('Normal', mu={_plain(value)!r}, sigma=0.1), or move a known effect into offset().")
    _check_number(term, "fixed value ", term, value, term in POSITIVE_PARAMETERS)
    if term == "psi" and not 0 < float(value) < 1:
        raise PriorError(f"Prior for 'psi': fixed value psi={_plain(value)!r} must be a probability strictly "
                         "between 0 and 1.")


def check_prior_values(user_priors: dict) -> None:
    """Raise PriorError for a prior PyMC would misread, naming the term, the keyword and the value.

    Every ``bg.Prior`` and each of its hyperpriors is checked against its PyMC distribution:
    the name exists; every keyword is one of the distribution's parameters (an alias such as
    ``sd`` gets "did you mean sigma": PyMC would drop it silently and use its default);
    every value is a finite number (or a bg.Prior); scales, rates, shapes and degrees of
    freedom are positive (PyMC would use ``sigma=-10`` as 10 in places); required
    parameters are there; a group term's prior is a Normal whose ``sigma`` is a prior on
    positive numbers. A number in place of a prior fixes a family parameter and must be
    finite (positive for ``sigma``, ``alpha``, ``nu``).

    Examples
    --------
    >>> check_prior_values({"x": Prior("Nromal", mu=0, sigma=1)})
    Traceback (most recent call last):
    ...
    bayesglmm.errors.PriorError: Prior for 'x': no distribution 'Nromal' in PyMC (did you mean 'Normal'?).
    >>> check_prior_values({"x": Prior("Normal", mu=0, sd=10)})
    Traceback (most recent call last):
    ...
    bayesglmm.errors.PriorError: Prior for 'x': Normal has no parameter 'sd' (sd=10); did you mean sigma? ...
    """
    for term, prior in user_priors.items():
        if isinstance(prior, (int, float, np.integer, np.floating)) and not isinstance(prior, (bool, np.bool_)):
            _check_fixed(term, prior)
            continue
        if not isinstance(prior, Prior):
            raise PriorError(
                f"Prior for {term!r} must be a bg.Prior (or a number to fix the parameter), e.g. "
                f"bg.Prior('Normal', mu=0, sigma=1); got {prior!r}."
            )
        _check_prior(term, prior)
        if "|" in term:
            sd = prior.args.get("sigma")
            if prior.name != "Normal" or not isinstance(sd, Prior):
                raise PriorError(
                    f"Prior for group term {term!r} must be a Normal whose sigma is the prior of the group SD, "
                    f"e.g. bg.Prior('Normal', mu=0, sigma=bg.Prior('HalfNormal', sigma=2.5)); got {describe(prior)}.")
            if np.any(np.asarray(prior.args.get("mu", 0.0), dtype=float) != 0):
                raise PriorError(
                    f"Prior for group term {term!r}: the group effects have mean 0 (the fixed effects carry the "
                    f"mean); got mu={_plain(prior.args['mu'])!r}. Leave mu out or set it to 0.")


def check_prior_shapes(user_priors: dict, bmb_model) -> None:
    """Raise PriorError for a prior argument whose length is not the term's number of columns.

    A factor with k non-reference levels has k coefficients: an array argument must have k
    values (a single number applies to all). numpy would otherwise fail with a broadcasting
    error deep inside the model, or (length 1 for k columns) broadcast silently. Call it after
    :func:`check_prior_values`, with the (not yet built) Bambi model.

    Examples
    --------
    >>> import bambi as bmb, pandas as pd
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> m = bmb.Model("y ~ x", df, family="bernoulli")
    >>> check_prior_shapes({"x": Prior("Normal", mu=0, sigma=np.array([1.0, 2.0]))}, m)
    Traceback (most recent call last):
    ...
    bayesglmm.errors.PriorError: Prior for 'x': sigma has 2 values, but 'x' has 1 column (x)...
    """
    comp = bmb_model.parameters[bmb_model.family.likelihood.parent]
    terms = {**comp.common_terms, **comp.group_specific_terms}
    for name, prior in user_priors.items():
        term = terms.get(name)
        if term is None or not isinstance(prior, Prior):
            continue
        data = getattr(term, "predictor", None) if "|" in name else getattr(term, "data", None)
        if data is None:
            continue
        width = 1 if np.ndim(data) < 2 else int(np.shape(data)[1])
        levels = list(getattr(term, "levels", None) or [])
        labels = ", ".join(map(str, levels)) if len(levels) == width else name
        for key, value in prior.args.items():
            if isinstance(value, Prior) or key in PRIOR_OPTIONS or isinstance(value, str):
                continue
            size = int(np.size(value))
            if size > 1 and size != width:
                raise PriorError(
                    f"Prior for {name!r}: {key} has {size} values, but {name!r} has {width} "
                    f"column{'s' if width > 1 else ''} ({labels}); give one number for all, or {width} "
                    "in that order.")


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


#: Distributions whose scale PyMC sets to 1 when neither ``sigma`` nor ``tau`` (``lam``) is given.
_UNIT_SCALE_DEFAULT = ("Normal", "HalfNormal", "LogNormal", "StudentT", "HalfStudentT", "SkewNormal", "TruncatedNormal")


def _applied_defaults(prior) -> dict:
    """The values PyMC uses for the parameters a prior leaves out (shown by :func:`describe`)."""
    if prior.dist is not None or prior.name not in _distributions():
        return {}
    _, _, defaults = distribution_parameters(prior.name)
    given = {key for key, value in prior.args.items() if value is not None}
    out = {key: value for key, value in defaults.items()
           if key not in given and isinstance(value, (int, float)) and not isinstance(value, bool)}
    if prior.name in _UNIT_SCALE_DEFAULT and not {"sigma", "tau", "lam"} & given:
        out["sigma"] = 1
    return {key: _Default(value) for key, value in out.items()}


class _Default(float):
    """A parameter value PyMC supplies (the prior left it out); :func:`describe` marks it."""


def describe(prior) -> str:
    """A prior as one line of text, e.g. ``Normal(mu=0, sigma=2.5)``: what the model uses.

    Parameters the prior leaves out are shown with the value PyMC gives them, marked
    ``(default)``, so the summary never shows less than what is applied.

    Examples
    --------
    >>> describe(Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=2.5)))
    'Normal(mu=0, sigma=HalfNormal(sigma=2.5))'
    >>> describe(Prior("Normal", mu=1))
    'Normal(mu=1, sigma=1 (default))'
    """
    if isinstance(prior, (int, float)):
        return f"fixed at {prior:g}"
    if not isinstance(prior, Prior):
        return str(prior)
    args = []
    for key, value in {**prior.args, **_applied_defaults(prior)}.items():
        if key == "transform" or value is None:
            continue
        if isinstance(value, Prior):
            text = describe(value)
        elif np.ndim(value) > 0:
            arr = np.asarray(value, dtype=float).ravel()
            text = "[" + ", ".join(f"{v:.3g}" for v in arr) + "]"
        else:
            text = f"{float(value):.4g}" + (" (default)" if isinstance(value, _Default) else "")
        args.append(f"{key}={text}")
    extra = ", ordered" if prior.args.get("transform") is not None else ""
    return f"{prior.name}({', '.join(args)}{extra})"
