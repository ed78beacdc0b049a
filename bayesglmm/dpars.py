"""Distributional parameters with their own formula: ``sigma ~ x``, ``psi ~ x``.

brms writes ``bf(y ~ x + (1|g), sigma ~ x)`` and glmmTMB ``dispformula = ~ x`` /
``ziformula = ~ x``; bayesglmm takes ``dpars={"sigma": "~ x"}`` (in :func:`bayesglmm.fit`,
:func:`bayesglmm.build_model` and the user's request record), and Bambi builds the
parameter's linear predictor (``bmb.Formula("y ~ x", "sigma ~ x")``). Which parameters may
take a formula, and through which link, is the family's word
(:attr:`bayesglmm.families.base.Family.dpar_links`): ``sigma`` of the gaussian, Student-t and
lognormal families (log link) and ``psi`` of the zero-inflated and hurdle families (logit).

Choices, each a deliberate one:

* The auxiliary formula is data, checked as the main one is: only the allow-listed calls of
  :data:`bayesglmm.formula.FORMULA_CALLS`, only columns of the data. Fixed effects only:
  group terms and ``offset()`` are refused with an error saying so.
* ``zi`` and ``hu`` (brms's names) are refused, not aliased: brms's ``zi`` is the probability
  of a structural zero and ``hu`` that of a zero, while Bambi's ``psi`` is the probability of
  the count process (``1 - zi``, ``1 - hu``). An alias would flip every coefficient's sign.
* The coefficients are named as Bambi names them, ``sigma_Intercept``, ``sigma_x``, on the
  parameter's link scale; they take priors under those names. Defaults (rstanarm's
  autoscaling on a link scale, as for a poisson or bernoulli mean): the intercept
  ~ Normal(link(m), 2.5), ``m`` the family's moment estimate of the parameter (``sd(y)`` for
  sigma, the count share for psi); a column ``x_j`` ~ Normal(0, 2.5 / sd(x_j)).
* Every answer that reads the parameter computes its row values from these coefficients
  and the rows' own design (:func:`row_parameters`): predictions for new data, posterior
  predictive checks, the dispersion check. Where one value of it is needed and none exists
  (the ICC and Nakagawa's R² with a varying ``sigma``) the answer is a FamilyError, not a
  number.

Examples
--------
>>> from bayesglmm.families import get_family
>>> normalise_dpars({"sigma": "~ x"}, get_family("gaussian"), ["y", "x"])
{'sigma': 'x'}
>>> normalise_dpars({"zi": "~ x"}, get_family("zip"), ["y", "x"])
Traceback (most recent call last):
...
bayesglmm.errors.FormulaError: dpars={'zi': ...}: ...
"""

from __future__ import annotations

import numpy as np

from bayesglmm.errors import FamilyError, FormulaError

#: brms's names of the zero probabilities, refused with the reason (see the module note).
REFUSED_NAMES = {
    "zi": "brms's zi is the probability of a structural zero; bayesglmm (as Bambi) models psi, the probability of "
          "the count process, psi = 1 - zi",
    "hu": "brms's hu is the probability of a zero; bayesglmm (as Bambi) models psi = P(y > 0) = 1 - hu",
}

#: Scale of the default priors on the auxiliary link scale (as :data:`bayesglmm.families.base.SCALE`).
DPAR_SCALE = 2.5


def _families_with_formulas() -> str:
    from bayesglmm.families import FAMILIES

    return "; ".join(f"{f.name} ({', '.join(f.dpar_links)})" for f in FAMILIES.values() if f.dpar_links)


def _rhs(name: str, text) -> str:
    """The right side of an auxiliary formula given as ``"~ x"``, ``"x"`` or ``"sigma ~ x"``."""
    if not isinstance(text, str):
        raise FormulaError(f"dpars[{name!r}] must be a formula as text, e.g. '~ x'; got {type(text).__name__}.")
    if "~" in text:
        lhs, rhs = text.split("~", 1)
        if lhs.strip() and lhs.strip() != name:
            raise FormulaError(f"dpars[{name!r}] = {text!r}: the left of '~' must be empty or {name!r}, "
                               f"e.g. '~ x' or '{name} ~ x'.")
    else:
        rhs = text
    rhs = rhs.strip()
    if not rhs:
        raise FormulaError(f"dpars[{name!r}] = {text!r} has nothing right of '~' (write '~ 1' for a constant).")
    return rhs


def normalise_dpars(dpars, family, columns) -> dict:
    """Check the auxiliary formulas; return ``{parameter: right side}`` in the order given.

    Raises
    ------
    FormulaError
        ``dpars`` is not a dict of text; the family has no such parameter (the message names
        the parameter, the family and the parameters that can take a formula); ``zi`` / ``hu``
        (see the module note); a group term, ``offset()``, a call outside the allow-list or
        a column the data lack.

    Examples
    --------
    >>> from bayesglmm.families import get_family
    >>> normalise_dpars({"psi": "psi ~ x"}, get_family("hurdle_poisson"), ["y", "x"])
    {'psi': 'x'}
    >>> normalise_dpars({"psi": "~ x"}, get_family("poisson"), ["y", "x"])
    Traceback (most recent call last):
    ...
    bayesglmm.errors.FormulaError: dpars: the poisson family has no parameter 'psi' that can take a formula...
    """
    if dpars is None:
        return {}
    if not isinstance(dpars, dict):
        raise FormulaError(f"dpars must be a dict of parameter -> formula, e.g. {{'sigma': '~ x'}}; "
                           f"got {type(dpars).__name__}.")
    columns = [str(c) for c in columns]
    out = {}
    for name, text in dpars.items():
        if not isinstance(name, str):
            raise FormulaError(f"dpars keys are parameter names as text (e.g. 'sigma'); got {name!r}.")
        if name in REFUSED_NAMES and "psi" in family.dpar_links:
            raise FormulaError(
                f"dpars={{{name!r}: ...}}: {REFUSED_NAMES[name]}. Write dpars={{'psi': ...}} with the same "
                f"right side: its coefficients are brms's {name} coefficients with the opposite sign.")
        links = family.dpar_links
        if name not in links:
            can = (f"its parameters that can: {', '.join(links)}" if links
                   else f"none of its parameters can. Families with one: {_families_with_formulas()}")
            raise FormulaError(f"dpars: the {family.name} family has no parameter {name!r} that can take a formula; "
                               f"{can}.")
        rhs = _rhs(name, text)
        _check_rhs(name, rhs, columns)
        out[name] = rhs
    return out


def _check_rhs(name: str, rhs: str, columns: list) -> None:
    """Allow-listed calls, fixed effects only, known columns (FormulaError otherwise)."""
    import formulae

    from bayesglmm.formula import _close, check_calls, quote_columns

    if "|" in rhs:
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}' has a group term: auxiliary formulas take fixed effects "
                           f"only (e.g. '~ x + f'); group-level effects on {name} are not supported.")
    formula = f"{name} ~ {quote_columns(rhs, columns)}"
    try:
        check_calls(formula, columns)
    except FormulaError as err:
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}': {err}") from err
    if "offset(" in rhs.replace(" ", ""):
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}': offset() is not supported in an auxiliary formula.")
    try:
        desc = formulae.model_description(formula)
    except Exception as err:  # formulae's ParseError / ScanError derive from Exception only
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}' does not parse: {err}") from err
    if not desc.terms:
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}' has no terms (no intercept either): write '~ 1' for one "
                           f"{name} for all rows, or '~ x' to let it vary.")
    numbers = [v for v in desc.var_names if not isinstance(v, str)]
    if numbers:
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}' has the number {numbers[0]!r} as a term: only 0 and 1 stand "
                           "alone; arithmetic goes inside I().")
    missing = [v for v in sorted(v for v in desc.var_names if isinstance(v, str)) if v != name and v not in columns]
    if missing:
        hints = "; ".join(f"{m!r}" + (f" (did you mean {_close(m, columns)!r}?)" if _close(m, columns) else "")
                          for m in missing)
        raise FormulaError(f"dpars[{name!r}] = '~ {rhs}' names columns that are not in the data: {hints}. "
                           f"Columns are: {', '.join(columns)}.")


def dpar_columns(dpars: dict, columns) -> list:
    """The data columns the auxiliary formulas use.

    Examples
    --------
    >>> dpar_columns({"sigma": "x + np.log(z)"}, ["y", "x", "z"])
    ['x', 'z']
    """
    import formulae

    from bayesglmm.formula import quote_columns

    columns = [str(c) for c in columns]
    used = set()
    for name, rhs in dpars.items():
        desc = formulae.model_description(f"{name} ~ {quote_columns(rhs, columns)}")
        used |= {v for v in desc.var_names if isinstance(v, str) and v in columns}
    return sorted(used)


def bambi_formulas(dpars: dict, columns) -> list:
    """The auxiliary formulas as Bambi reads them (``"sigma ~ x"``, odd column names quoted)."""
    from bayesglmm.formula import quote_columns

    return [f"{name} ~ {quote_columns(rhs, [str(c) for c in columns])}" for name, rhs in dpars.items()]


def describe_dpars(spec) -> str:
    """The auxiliary formulas with their links, e.g. ``sigma ~ x (log link)``; empty without any."""
    return "; ".join(f"{name} ~ {rhs} ({spec.family.dpar_links[name]} link)" for name, rhs in dpars_of(spec).items())


def dpars_of(spec) -> dict:
    """``{parameter: right side}`` of a built model (empty when no parameter has a formula)."""
    return dict(getattr(spec, "dpars", None) or {})


def coefficient_names(bmb_model, dpars: dict) -> dict:
    """Bambi's name of each auxiliary coefficient -> ``(parameter, its key in the component)``.

    Examples
    --------
    >>> coefficient_names(spec.bambi_model, spec.dpars)  # doctest: +SKIP
    {'sigma_Intercept': ('sigma', 'Intercept'), 'sigma_x': ('sigma', 'x')}
    """
    return {term.name: (name, key) for name in dpars for key, term in bmb_model.parameters[name].terms.items()}


def default_priors(bmb_model, family, response, dpars: dict) -> dict:
    """Default priors of the auxiliary coefficients, by Bambi's name (``sigma_x``).

    The intercept ~ Normal(link(m), 2.5) with ``m`` the family's moment estimate of the
    parameter (:meth:`~bayesglmm.families.base.Family.dpar_location`); a column ``x_j`` ~
    Normal(0, 2.5 / sd(x_j)), on the parameter's link scale.

    Examples
    --------
    >>> default_priors(bm, get_family("gaussian"), y, {"sigma": "x"})  # doctest: +SKIP
    {'sigma_Intercept': Normal(mu: 0.31, sigma: 2.5), 'sigma_x': Normal(mu: 0.0, sigma: 2.47)}
    """
    from bambi import Prior

    from bayesglmm.families.base import link_functions
    from bayesglmm.priors import _column_sd, _squeeze

    out = {}
    for name in dpars:
        comp = bmb_model.parameters[name]
        link = link_functions(family.dpar_links[name])[0]
        for key, term in comp.terms.items():
            if key == "Intercept":
                location = float(link(family.dpar_location(name, response)))
                out[term.name] = Prior("Normal", mu=round(location, 4), sigma=DPAR_SCALE)
            else:
                sigma = DPAR_SCALE / _column_sd(term.data, term.name)
                out[term.name] = Prior("Normal", mu=0.0 if sigma.size == 1 else np.zeros(sigma.size),
                                       sigma=_squeeze(sigma))
    return out


def nest_priors(priors: dict, names: dict) -> dict:
    """Flat priors (``sigma_x``) in the nested form Bambi's ``set_priors`` takes (``{"sigma": {"x": ...}}``).

    ``names`` is :func:`coefficient_names`' mapping.

    Examples
    --------
    >>> nest_priors({"x": 1, "sigma_x": 2}, {"sigma_x": ("sigma", "x")})
    {'x': 1, 'sigma': {'x': 2}}
    """
    out: dict = {}
    for name, prior in priors.items():
        if name in names:
            parameter, key = names[name]
            out.setdefault(parameter, {})[key] = prior
        else:
            out[name] = prior
    return out


def row_parameters(spec, draws, frame=None, idx=None) -> dict:
    """Each auxiliary parameter's value per draw and row, ``{name: (samples, rows)}``, on its own scale.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    draws : xarray.Dataset
        Draws in the layout of a fit's posterior (Bambi's intercept at zero predictors).
    frame : pandas.DataFrame, optional
        Rows with the fit's column types (new data); the fit's own rows if None.
    idx : numpy.ndarray, optional
        Keep only these samples (positions in the chain-major flattening).

    Examples
    --------
    >>> row_parameters(fit.spec, fit.draws)["sigma"].shape  # doctest: +SKIP
    (4000, 400)
    """
    from bayesglmm.families.base import link_functions
    from bayesglmm.predict import _design_frame, _flat

    out = {}
    for name in dpars_of(spec):
        comp = spec.bambi_model.parameters[name]
        design = comp.design.common
        if frame is None:
            X = np.asarray(design.design_matrix, dtype=float)
        else:
            X = np.asarray(design.evaluate_new_data(_design_frame(spec, frame)).design_matrix, dtype=float)
        eta = 0.0
        for key, term in comp.terms.items():
            coef = _flat(draws[term.name], idx)
            coef = coef.reshape(coef.shape[0], -1)
            eta = eta + coef @ X[:, design.slices[key]].T
        out[name] = link_functions(spec.family.dpar_links[name])[1](np.asarray(eta, dtype=float))
    return out


def parameter_draws(spec, draws, idx=None, frame=None) -> dict:
    """The family's :meth:`~bayesglmm.families.base.Family.parameter_draws`, with row-varying parameters.

    A parameter with its own formula is (samples, rows) for the rows of ``frame`` (the fit's
    own rows if None), the others (samples, width) as the family gives them; the families'
    ``simulate``, ``response_mean`` and ``response_moments`` broadcast either.

    Examples
    --------
    >>> parameter_draws(fit.spec, fit.draws)["sigma"].shape  # doctest: +SKIP
    (4000, 400)
    """
    varying = row_parameters(spec, draws, frame, idx)
    if not varying:
        return spec.family.parameter_draws(draws, idx)
    shape = (draws.sizes["chain"], draws.sizes["draw"])
    filled = draws.drop_vars([n for n in varying if n in draws.data_vars])
    filled = filled.assign({n: (("chain", "draw"), np.zeros(shape)) for n in varying})
    out = spec.family.parameter_draws(filled, idx)
    out.update(varying)
    return out


def refuse_varying_residual(spec, what: str) -> None:
    """FamilyError when ``what`` (the ICC, Nakagawa's R²) needs one residual variance and sigma varies by row.

    Examples
    --------
    >>> refuse_varying_residual(fit.spec, "The ICC")  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    bayesglmm.errors.FamilyError: The ICC is not defined for this model: ...
    """
    dpars = dpars_of(spec)
    if "sigma" in dpars:
        raise FamilyError(
            f"{what} is not defined for this model: its residual SD varies by row (sigma ~ {dpars['sigma']}), so "
            "there is no single residual variance and the share of variance due to the groups differs from row "
            "to row. Report the group SDs (fit.varcorr()) and the sigma coefficients (fit.family_params()), or "
            "compute it at chosen predictor values from the draws.")


__all__ = ["DPAR_SCALE", "REFUSED_NAMES", "bambi_formulas", "coefficient_names", "default_priors", "describe_dpars",
           "dpar_columns", "dpars_of", "nest_priors", "normalise_dpars", "parameter_draws", "refuse_varying_residual",
           "row_parameters"]
