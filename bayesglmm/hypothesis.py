"""Hypotheses about fixed effects, as brms's ``hypothesis()``: posterior probabilities and evidence ratios.

A statement compares two linear combinations of fixed-effect coefficients, named as the
summary prints them (``"treat[drug]"``, ``"Intercept"``, ``"x"``), on the link scale::

    "treat[drug] > 0.2"      "x1 - x2 = 0"      "2*a + b < 1"

As brms does, everything is moved to the left: the statement ``lhs OP rhs`` is tested as
``lhs - rhs OP 0``, and the table describes the posterior of ``c = lhs - rhs`` (mean, SD,
95% equal-tailed interval; brms prints a 90% interval for one-sided statements, bayesglmm
prints 95% for all, the course's level).

One-sided (``<``, ``>``)
    ``post_prob`` = P(c < 0 | data) or P(c > 0 | data), the share of draws where the
    statement holds; ``evid_ratio`` = post_prob / (1 - post_prob), brms's Evid.Ratio (the
    posterior odds of the statement; infinite when every draw agrees).
Point (``=``)
    ``p_rope`` = the share of the posterior of c inside the region of practical
    equivalence (ROPE) ``[-r, r]`` around 0. The default half-width r follows bayestestR's
    ``rope_range`` (Kruschke 2018, doi:10.1177/2515245918771304): 0.1 x sd(y) for a real
    response on the identity link, 0.1 x the latent residual SD on a logit, probit or
    cloglog link (0.1 x pi/sqrt(3) = 0.181 for logit), 0.1 otherwise; pass ``rope=`` to
    set it. ``evid_ratio`` is the Savage-Dickey density ratio BF01 = p(c = 0 | data) /
    p(c = 0) (brms's Evid.Ratio for a point hypothesis, evidence for the hypothesis) and
    ``post_prob`` = BF01 / (1 + BF01) (its posterior probability at prior odds 1).

When the Savage-Dickey ratio is reported
    Only when it is sound: every coefficient in the statement is a non-intercept
    coefficient with a (proper) Normal prior. bayesglmm's coefficient priors are then
    independent normals, even when the fixed effects are sampled on the QR basis (the
    prior on the coefficients is kept exactly), so the prior of c is the normal
    N(sum a_i mu_i + k, sum a_i^2 sigma_i^2) and its density at 0 is exact (brms
    estimates it from prior draws, with ``sample_prior = "yes"``). The posterior density
    at 0 is a Gaussian kernel density estimate of the draws of c (brms also uses a
    kernel estimate), so it is noisy when 0 lies in the far tail of the posterior, where
    BF01 is near 0 anyway. Not reported (NaN, with a note) when the statement involves the
    ``Intercept`` (its prior is set on centred predictors, so the reported intercept's
    prior is not the one written) or a coefficient whose prior is not Normal. The ratio
    depends on the prior's width: a wider prior favours the point hypothesis more.

Statements are parsed by a tiny grammar (coefficient names, numbers, ``+``, ``-``, ``*``
and one of ``<``, ``>``, ``=``), never evaluated as code. Names are matched against the
model's coefficients first (longest first), so names holding brackets, colons or dots work
as printed; a name may also be quoted in backticks. Each term is linear: ``2*a`` and
``a*2`` are fine, ``a*b`` is not.

Examples
--------
>>> parse_statement("2*a - b > 0.5", ["a", "b"])
({'a': 2.0, 'b': -1.0}, -0.5, '>')
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from bayesglmm.errors import NoPosteriorError, SettingsError, TermError
from bayesglmm.summary import _elements, _parent, describe_draws

COLUMNS = ["as_tested", "estimate", "sd", "lower", "upper", "post_prob", "evid_ratio", "p_rope", "rope_low",
           "rope_high"]
_OPERATORS = ("<", ">", "=")
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_.][A-Za-z0-9_.:]*(\[[^\]]*\])?")
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.:\[]")


# ----------------------------------------------------------------------------- parsing
def _unknown(word: str, names) -> TermError:
    close = difflib.get_close_matches(word, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return TermError(f"{word!r} is not a fixed-effect coefficient of this model.{hint} "
                     f"Coefficients (as the summary prints them): {', '.join(names)}.")


def _tokens(statement: str, names) -> list[tuple[str, object]]:
    """(kind, value) tokens: ("name", str), ("num", float), ("op", one of + - * < > =)."""
    by_length = sorted(names, key=len, reverse=True)
    out, i, s = [], 0, statement
    while i < len(s):
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "`":
            end = s.find("`", i + 1)
            if end < 0:
                raise SettingsError(f"Unclosed backtick in the hypothesis {statement!r}.")
            word = s[i + 1:end]
            if word not in names:
                raise _unknown(word, names)
            out.append(("name", word))
            i = end + 1
            continue
        match = next((n for n in by_length if s.startswith(n, i)
                      and not (i + len(n) < len(s) and _NAME_CHAR.match(s[i + len(n)]) and _NAME_CHAR.match(n[-1]))),
                     None)
        if match is not None:
            out.append(("name", match))
            i += len(match)
            continue
        num = _NUMBER.match(s, i)
        if num and not (num.end() < len(s) and re.match(r"[A-Za-z_]", s[num.end()])):
            out.append(("num", float(num.group(0))))
            i = num.end()
            continue
        if s.startswith(("<=", ">=", "=="), i):
            out.append(("op", s[i]))
            i += 2
            continue
        if ch in "+-*<>=":
            out.append(("op", ch))
            i += 1
            continue
        word = _WORD.match(s, i)
        if word:
            raise _unknown(word.group(0), names)
        raise SettingsError(f"Cannot read {s[i:]!r} in the hypothesis {statement!r}: a statement holds coefficient "
                            "names, numbers, +, -, * and one of <, >, = (e.g. 'x1 - x2 = 0', '2*a + b < 1').")
    return out


def _side(tokens, statement: str) -> tuple[dict, float]:
    """A sum of linear terms -> ({name: coefficient}, constant)."""
    coefs: dict = {}
    const = 0.0
    i, sign, expect_term = 0, 1.0, True
    if not tokens:
        raise SettingsError(f"The hypothesis {statement!r} has an empty side; write e.g. 'x > 0'.")
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "op" and value in "+-":
            sign = sign * (-1.0 if value == "-" else 1.0)
            expect_term = True
            i += 1
            continue
        if not expect_term:
            raise SettingsError(f"Expected + or - before {value!r} in the hypothesis {statement!r}.")
        factor, name = 1.0, None
        while True:
            kind, value = tokens[i]
            if kind == "num":
                factor *= value
            elif kind == "name":
                if name is not None:
                    raise SettingsError(f"{name} * {value} in {statement!r} is not linear: a term holds at most one "
                                        "coefficient (e.g. '2*a').")
                name = value
            else:
                raise SettingsError(f"Expected a coefficient name or a number, got {value!r}, in {statement!r}.")
            i += 1
            if i < len(tokens) and tokens[i] == ("op", "*"):
                i += 1
                if i >= len(tokens):
                    raise SettingsError(f"The hypothesis {statement!r} ends with '*'.")
                continue
            break
        if name is None:
            const += sign * factor
        else:
            coefs[name] = coefs.get(name, 0.0) + sign * factor
        sign, expect_term = 1.0, False
    if expect_term:
        raise SettingsError(f"The hypothesis {statement!r} has a side ending with an operator.")
    return coefs, const


def parse_statement(statement: str, names) -> tuple[dict, float, str]:
    """Parse ``lhs OP rhs`` into ``({name: a_i}, k, OP)`` with ``c = sum a_i b_i + k`` tested ``c OP 0``.

    Parameters
    ----------
    statement : str
        E.g. ``"treat[drug] > 0.2"``, ``"x1 - x2 = 0"``, ``"2*a + b < 1"``.
    names : list of str
        The model's coefficient names.

    Raises
    ------
    TermError
        A name that is not a coefficient (the message lists them).
    SettingsError
        The statement does not parse (no comparison, two comparisons, a product of names).

    Examples
    --------
    >>> parse_statement("x1 - x2 = 0", ["x1", "x2"])
    ({'x1': 1.0, 'x2': -1.0}, 0.0, '=')
    """
    if not isinstance(statement, str):
        raise SettingsError(f"A hypothesis is a string such as 'x > 0'; got {statement!r}.")
    tokens = _tokens(statement, list(names))
    ops = [i for i, (kind, value) in enumerate(tokens) if kind == "op" and value in _OPERATORS]
    if len(ops) != 1:
        raise SettingsError(f"A hypothesis has exactly one of <, >, = (e.g. 'x > 0'); {statement!r} has {len(ops)}.")
    op = tokens[ops[0]][1]
    left, lconst = _side(tokens[:ops[0]], statement)
    right, rconst = _side(tokens[ops[0] + 1:], statement)
    coefs = dict(left)
    for name, a in right.items():
        coefs[name] = coefs.get(name, 0.0) - a
    coefs = {n: a for n, a in coefs.items() if a != 0}
    if not coefs:
        raise SettingsError(f"The hypothesis {statement!r} names no coefficient (or they cancel).")
    return coefs, lconst - rconst, op


def _as_tested(coefs: dict, const: float, op: str) -> str:
    parts = []
    for name, a in coefs.items():
        mag = abs(a)
        term = name if mag == 1 else f"{mag:g}*{name}"
        parts.append(("- " if a < 0 else "+ ") + term)
    if const:
        parts.append(("- " if const < 0 else "+ ") + f"{abs(const):g}")
    text = " ".join(parts)
    text = text[2:] if text.startswith("+ ") else "-" + text[2:]
    return f"{text} {op} 0"


# ----------------------------------------------------------------------------- draws and priors
def coefficient_draws(fit) -> dict:
    """Coefficient name (as the summary prints it) -> (term, element index, flat draws).

    Examples
    --------
    >>> list(coefficient_draws(fit))  # doctest: +SKIP
    ['Intercept', 'treat[drug]']
    """
    from bayesglmm.dpars import coefficient_names, dpars_of

    spec, ds = fit.spec, fit.draws
    comp = _parent(spec)
    names = (["Intercept"] if comp.intercept_term is not None else []) + list(comp.common_terms)
    names += list(coefficient_names(spec.bambi_model, dpars_of(spec)))  # sigma ~ x: sigma_Intercept, sigma_x
    out = {}
    for name in names:
        da = ds[name].transpose("chain", "draw", ...)
        for j, (suffix, _, _) in enumerate(_elements(da)):
            out[name + suffix] = (name, j, da.values.reshape(da.sizes["chain"] * da.sizes["draw"], -1)[:, j])
    return out


def _normal_prior(spec, term: str, j: int) -> tuple[float, float] | None:
    """(mu, sigma) of coefficient element ``j`` of ``term`` when its prior is a Normal with numbers, else None."""
    prior = spec.priors.get(term)
    if prior is None or getattr(prior, "name", None) != "Normal":
        return None
    try:
        mu = np.asarray(prior.args["mu"], dtype=float).ravel()
        sigma = np.asarray(prior.args["sigma"], dtype=float).ravel()
    except (KeyError, TypeError, ValueError):
        return None
    mu = mu[j] if mu.size > 1 else mu[0]
    sigma = sigma[j] if sigma.size > 1 else sigma[0]
    return (float(mu), float(sigma)) if sigma > 0 else None


def default_rope(spec) -> float:
    """Half-width of the default ROPE on the link scale (bayestestR's ``rope_range`` convention).

    0.1 x sd(y) for a real response on the identity link (sd(log y) for a lognormal one, whose
    linear predictor is on the log scale), 0.1 x the latent residual SD on
    logit (0.181), probit (0.1) and cloglog (0.128) links, 0.1 otherwise.

    Examples
    --------
    >>> round(default_rope(fit.spec), 3)  # doctest: +SKIP
    0.181
    """
    from bayesglmm.families.base import _THRESHOLD_VARIANCE

    if spec.link == "identity" and spec.family.response == "real":
        # The family's own scale of the linear predictor: sd(y), or sd(log y) for a lognormal.
        y = np.asarray(spec.data.frame[spec.formula.response], dtype=float)
        return 0.1 * float(spec.family.response_scale(y))
    if spec.link in _THRESHOLD_VARIANCE:
        return 0.1 * math.sqrt(_THRESHOLD_VARIANCE[spec.link][0])
    return 0.1


def _rope_bounds(spec, rope) -> tuple[float, float]:
    if rope is None:
        r = default_rope(spec)
        return -r, r
    if np.ndim(rope) == 0:
        r = float(rope)
        if not r > 0:
            raise SettingsError(f"rope must be a positive half-width or a pair (low, high); got {rope!r}.")
        return -r, r
    lo, hi = (float(v) for v in rope)
    if not lo < hi:
        raise SettingsError(f"rope must be (low, high) with low < high; got {rope!r}.")
    return lo, hi


# ----------------------------------------------------------------------------- the result
def _ratio_text(v) -> str:
    """An evidence ratio as brms prints it: 2 decimals (whole above 1000), ``Inf``, empty when missing."""
    if pd.isna(v):
        return ""
    if np.isinf(v):
        return "Inf"
    return f"{v:.0f}" if v >= 1000 else f"{v:.2f}"


@dataclass
class Hypotheses:
    """The result of :func:`hypothesis`: one row per statement (index: the statement as written).

    Attributes
    ----------
    table : pandas.DataFrame
        ``as_tested`` (the statement moved to ``c OP 0``), ``estimate``, ``sd``,
        ``lower``, ``upper`` (mean, SD and interval of c), ``post_prob``, ``evid_ratio``
        (see the module docstring), ``p_rope``, ``rope_low``, ``rope_high`` (point
        statements only; NaN for one-sided ones).
    draws : dict
        Statement -> draws of c (flattened over chains).
    prob : float
        Interval probability.
    notes : list of str
        Where a Savage-Dickey ratio was not reported, and why; the default ROPE.

    Examples
    --------
    >>> h = bg.hypothesis(fit, "treat[drug] > 0")  # doctest: +SKIP
    >>> h.table.loc["treat[drug] > 0", "post_prob"]  # doctest: +SKIP
    0.67...
    """

    table: pd.DataFrame
    draws: dict
    prob: float = 0.95
    notes: list = field(default_factory=list)

    def _shown(self) -> pd.DataFrame:
        shown = self.table.copy()
        for col in ("estimate", "sd", "lower", "upper", "rope_low", "rope_high"):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
        for col in ("post_prob", "p_rope"):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
        shown["evid_ratio"] = shown["evid_ratio"].map(_ratio_text)
        return shown

    def _title(self) -> str:
        return (f"Hypotheses on fixed effects (link scale; posterior mean, SD, {self.prob * 100:g}% equal-tailed "
                "interval of lhs - rhs)")

    def _legend(self) -> str:
        return ("post_prob, evid_ratio as brms's hypothesis(): one-sided P and P/(1-P); point (=) Savage-Dickey "
                "BF01/(1+BF01) and BF01. p_rope: share of lhs - rhs inside [rope_low, rope_high].")

    def __str__(self) -> str:
        lines = [self._title() + ":", self._shown().to_string(), self._legend()]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from bayesglmm import html

        first = self.table.iloc[0]
        if np.isnan(first["p_rope"]):
            head = f"{self.table.index[0]}: posterior probability {first['post_prob']:.3f}"
        else:
            head = f"{self.table.index[0]}: {first['p_rope']:.3f} of the posterior inside the ROPE"
        return html.page(html.verdict(head, None), html.table(self._shown(), self._title()),
                         html.paragraph(self._legend()), *(html.paragraph(f"Note: {n}") for n in self.notes))


def hypothesis(fit, statements, *, prob: float = 0.95, rope=None) -> Hypotheses:
    """Test statements about fixed-effect coefficients: posterior probability, evidence ratio, ROPE.

    Semantics follow brms's ``hypothesis()``; see the module docstring for the grammar,
    the default ROPE and when the Savage-Dickey ratio is reported.

    Parameters
    ----------
    fit : Fit
        A fitted model (posterior draws).
    statements : str or list of str
        ``"treat[drug] > 0.2"``, ``"x1 - x2 = 0"``, ``"2*a + b < 1"``: names as the
        summary prints them, on the link scale.
    prob : float
        Probability of the equal-tailed interval of lhs - rhs (0.95).
    rope : float or (float, float), optional
        Region of practical equivalence for point statements, around 0 on the scale of
        lhs - rhs: a half-width r for [-r, r] or a pair (low, high). Default: see
        :func:`default_rope`.

    Returns
    -------
    Hypotheses
        ``.table`` (one row per statement: ``as_tested``, ``estimate``, ``sd``,
        ``lower``, ``upper``, ``post_prob``, ``evid_ratio``, ``p_rope``, ``rope_low``,
        ``rope_high``), ``.draws`` (draws of lhs - rhs per statement), ``.notes``.

    Raises
    ------
    TermError
        A statement names something that is not a coefficient (the message lists them).
    SettingsError
        A statement does not parse, or ``prob``/``rope`` is invalid.
    NoPosteriorError
        The fit holds prior draws only.

    Examples
    --------
    >>> h = bg.hypothesis(fit, ["treat[drug] > 0", "treat[drug] = 0"])  # doctest: +SKIP
    >>> h.table[["estimate", "post_prob", "evid_ratio", "p_rope"]]  # doctest: +SKIP
    >>> fit.hypothesis("treat[drug] > 0.2")  # the same, as a method  # doctest: +SKIP

    See Also
    --------
    bayesglmm.questions.fixed_effect_needed : LOO comparison with and without a term.
    """
    if fit.prior_only:
        raise NoPosteriorError("hypothesis() needs posterior draws; this fit holds prior draws only "
                               "(fit again without prior_only=True).")
    if not 0 < prob < 1:
        raise SettingsError(f"prob must be between 0 and 1 (e.g. 0.95); got {prob!r}.")
    if not isinstance(statements, (str, list, tuple)) or any(not isinstance(t, str) for t in
                                                             ([statements] if isinstance(statements, str) else statements)):
        raise SettingsError(f"statements must be text or a list of text, e.g. 'treat[drug] > 0'; got {statements!r}.")
    statements = [statements] if isinstance(statements, str) else list(statements)
    if not statements:
        raise SettingsError("Give at least one hypothesis, e.g. 'x > 0'.")
    coefficients = coefficient_draws(fit)
    names = list(coefficients)
    lo_rope, hi_rope = _rope_bounds(fit.spec, rope)
    rows, draws, notes = {}, {}, []
    for statement in statements:
        coefs, const, op = parse_statement(statement, names)
        c = const + sum(a * coefficients[n][2] for n, a in coefs.items())
        stats_ = describe_draws(c, prob, "eti")
        row = {"as_tested": _as_tested(coefs, const, op), "estimate": stats_["mean"], "sd": stats_["sd"],
               "lower": stats_["lower"], "upper": stats_["upper"], "post_prob": np.nan, "evid_ratio": np.nan,
               "p_rope": np.nan, "rope_low": np.nan, "rope_high": np.nan}
        if op in "<>":
            hits = int(np.sum(c < 0) if op == "<" else np.sum(c > 0))
            row["post_prob"] = hits / c.size
            row["evid_ratio"] = np.inf if hits == c.size else hits / (c.size - hits)
        else:
            row["p_rope"] = float(np.mean((c >= lo_rope) & (c <= hi_rope)))
            row["rope_low"], row["rope_high"] = lo_rope, hi_rope
            bf, why = _savage_dickey(fit.spec, coefficients, coefs, const, c)
            if why:
                notes.append(f"{statement!r}: no Savage-Dickey ratio: {why}.")
            else:
                row["evid_ratio"] = bf
                row["post_prob"] = bf / (1 + bf) if np.isfinite(bf) else 1.0
        rows[statement] = row
        draws[statement] = c
    if any(r["as_tested"].endswith("= 0") for r in rows.values()) and rope is None:
        notes.append(f"Default ROPE [{lo_rope:.4g}, {hi_rope:.4g}] (bayestestR's rope_range convention for this "
                     "family and link); set rope= to change it.")
    table = pd.DataFrame.from_dict(rows, orient="index")[COLUMNS]
    table.index.name = "hypothesis"
    return Hypotheses(table, draws, prob, notes)


def _savage_dickey(spec, coefficients, coefs: dict, const: float, c: np.ndarray) -> tuple[float, str]:
    """BF01 = posterior density / prior density of c at 0, or (nan, why not)."""
    if "Intercept" in coefs:
        return np.nan, ("it involves the Intercept, whose prior is set on centred predictors (the reported "
                        "intercept's prior is not the one written)")
    mean, var = const, 0.0
    for name, a in coefs.items():
        term, j, _ = coefficients[name]
        prior = _normal_prior(spec, term, j)
        if prior is None:
            return np.nan, f"the prior of {name} is not a Normal with fixed numbers"
        mean += a * prior[0]
        var += (a * prior[1]) ** 2
    prior_density = stats.norm.pdf(0.0, mean, math.sqrt(var))
    if np.std(c) == 0:
        return np.nan, "the posterior of the combination is a single value"
    posterior_density = float(stats.gaussian_kde(c)(0.0)[0])
    return posterior_density / prior_density, ""


__all__ = ["Hypotheses", "coefficient_draws", "default_rope", "hypothesis", "parse_statement"]
