"""Read an lme4-style formula: what Bambi gets, which columns it uses, which effects correlate.

Bambi (through formulae) parses the formula itself; this module only does what Bambi does
not:

* ``(1 + x || g)`` (lme4's uncorrelated random effects) is rewritten to ``(1 + x | g)``,
  which Bambi builds as independent effects; ``(1 + x | g)`` is remembered as a
  *correlated block* so that :mod:`bayesglmm.backend` gives it an LKJ prior.
* Column names that are not Python identifiers (the course's ``ID.doctor``) are quoted
  with backticks, the way formulae wants them, so users can write them as in R.
* ``(1|a/b)`` and ``(1|a:b)`` get a derived factor ``a:b`` holding only the combinations
  that occur in the data, as in lme4 (formulae would build every combination of a's and
  b's levels: 14,245 doctor effects for the course's 407 doctors in 35 hospitals).
* The data columns a formula uses are listed, so the data can be checked before sampling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import formulae

from bayesglmm.errors import FormulaError


#: The only functions a formula may call: formulae's and Bambi's transforms and a few numpy
#: functions of one column. A formula is data, never code: formulae evaluates a call by looking
#: its name up in an environment that reaches Bambi's module globals (and through them, modules
#: that can run commands), so every call is checked against this list before anything is built.
FORMULA_CALLS = (
    "I", "C", "B", "binary", "T", "S", "offset", "p", "prop", "proportion", "scale", "center", "standardize",
    "poly", "bs", "censored", "weighted", "truncated", "constrained", "c",
    "log", "log2", "log10", "exp", "exp2", "abs",
    "np.log", "np.log2", "np.log10", "np.log1p", "np.exp", "np.expm1", "np.sqrt", "np.abs", "np.square",
)

#: Calls allowed only left of ``~`` (they describe the response, never a predictor).
RESPONSE_ONLY_CALLS = ("censored",)


def check_calls(formula: str, columns) -> None:
    """Raise FormulaError if ``formula`` calls anything outside :data:`FORMULA_CALLS`.

    Every name followed by ``(`` must be an allowed call, and a dotted name must be a column
    (no attribute chains); plain names are checked against the columns by
    :func:`parse_formula`. Backtick-quoted names are columns.

    Examples
    --------
    >>> check_calls("y ~ np.log(x) + C(g) + (1|g)", ["y", "x", "g"])
    >>> check_calls("y ~ os.system(x)", ["y", "x"])
    Traceback (most recent call last):
    ...
    bayesglmm.errors.FormulaError: The formula calls 'os.system', which is not an allowed transform...
    """
    from formulae.scanner import Scanner

    try:
        tokens = Scanner(formula).scan()
    except Exception as err:  # formulae's ScanError derives from Exception only
        raise FormulaError(f"The formula {formula!r} does not parse: {err}") from err
    columns = {str(c) for c in columns}
    right_side = False
    for token, following in zip(tokens, tokens[1:]):
        right_side = right_side or token.kind == "TILDE"
        if token.kind != "IDENTIFIER":
            continue
        name = token.lexeme
        if following.kind == "LEFT_PAREN" and right_side and name in RESPONSE_ONLY_CALLS:
            raise FormulaError(
                f"The formula calls {name!r} right of '~': {name}() describes the response only, as in "
                f"'{name}(time, status) ~ x + (1|g)'.")
        if following.kind == "LEFT_PAREN":
            if name not in FORMULA_CALLS:
                raise FormulaError(
                    f"The formula calls {name!r}, which is not an allowed transform: a formula is data, and "
                    f"may call only {', '.join(FORMULA_CALLS)}. Transform the column in the data instead.")
        elif "." in name and name not in columns:  # an attribute chain, e.g. a module's; plain names are
            raise FormulaError(                    # checked against the columns by parse_formula
                f"The formula names {name!r}, which is not a column of the data: a formula may not reach "
                "modules or their attributes. Quote a column whose name has a dot with backticks.")


@dataclass(frozen=True)
class GroupBlock:
    """The group-level effects of one bar term such as ``(1 + x | g)``.

    Attributes
    ----------
    lhs : str
        The effects left of the bar (``"1 + x"``).
    factor : str
        The grouping expression after expanding ``a/b`` (``"g"``, ``"a:b"``).
    correlated : bool
        True for ``|`` with two or more effects, False for ``||`` or a single effect.
        :func:`bayesglmm.model.build_model` also makes a single factor term with two or
        more columns, ``(0 + f | g)``, correlated (as lme4 does), once the data show its width.
    term_names : tuple of str
        Bambi's names of the group-specific terms (``("1|g", "x|g")``).
    uncorrelated : bool
        Written with ``||``: never correlated.
    """

    lhs: str
    factor: str
    correlated: bool
    term_names: tuple[str, ...]
    uncorrelated: bool = False


@dataclass(frozen=True)
class ParsedFormula:
    """A formula read for bayesglmm.

    Attributes
    ----------
    original : str
        The formula as the user wrote it.
    bambi : str
        The formula handed to Bambi (``||`` rewritten, odd column names quoted).
    response : str
        The response column (the successes column for ``p(y, n)``).
    trials : str or None
        The trials column of ``p(y, n)``, or None.
    columns : tuple of str
        Every data column the formula uses.
    group_factors : tuple of str
        The grouping columns (``ID.hospital``, ``ID.doctor`` for ``(1|ID.hospital/ID.doctor)``).
    offsets : tuple of str
        Columns used inside ``offset(...)``.
    derived_factors : tuple of str
        Interaction grouping factors (``"a:b"``) built from the data's observed combinations.
    blocks : tuple of GroupBlock
        One entry per grouping expression of each bar term.

    Examples
    --------
    >>> pf = parse_formula("p(y, n) ~ treat + (1 + t | g)", ["y", "n", "treat", "t", "g"])
    >>> pf.response, pf.trials, pf.blocks[0].term_names
    ('y', 'n', ('1|g', 't|g'))
    """

    original: str
    bambi: str
    response: str
    trials: str | None
    columns: tuple[str, ...]
    group_factors: tuple[str, ...]
    offsets: tuple[str, ...]
    derived_factors: tuple[str, ...]
    blocks: tuple[GroupBlock, ...]
    censoring: str | None = None

    @property
    def censored(self) -> bool:
        """True when the response is ``censored(time, status)``."""
        return self.censoring is not None

    @property
    def correlated_blocks(self) -> tuple[GroupBlock, ...]:
        """The blocks that get a joint (LKJ) prior."""
        return tuple(b for b in self.blocks if b.correlated)

    @property
    def has_groups(self) -> bool:
        """True when the formula has at least one group-level term."""
        return bool(self.blocks)


_TRIALS = re.compile(r"^\s*p\s*\(\s*(?P<y>[^,()]+?)\s*,\s*(?P<n>[^,()]+?)\s*\)\s*$")
_CENSORED = re.compile(r"^\s*censored\s*\(\s*(?P<y>[^,()]+?)\s*,\s*(?P<s>[^,()]+?)\s*\)\s*$")


def quote_columns(formula: str, columns) -> str:
    """Backtick-quote column names that are not Python identifiers.

    Examples
    --------
    >>> quote_columns("y ~ (1|ID.hospital)", ["y", "ID.hospital"])
    'y ~ (1|`ID.hospital`)'
    """
    odd = sorted((str(c) for c in columns if not str(c).isidentifier()), key=len, reverse=True)
    for name in odd:
        # Only whole names outside existing backticks: not preceded/followed by name chars.
        pattern = r"(?<![\w.`])" + re.escape(name) + r"(?![\w.`])"
        formula = re.sub(pattern, f"`{name}`", formula)
    return formula


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` at parenthesis depth 0."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _bar_terms(rhs: str) -> list[tuple[int, int, str]]:
    """Find ``( ... | ... )`` groups at depth 0: (start, end, inner text)."""
    found, depth, start = [], 0, None
    for i, ch in enumerate(rhs):
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"Unbalanced ')' at position {i} of the formula's right side {rhs!r}.")
            if depth == 0 and start is not None:
                inner = rhs[start + 1 : i]
                if len(_split_top(inner, "|")) > 1:
                    found.append((start, i + 1, inner))
    if depth != 0:
        raise FormulaError(f"Unbalanced '(' in the formula's right side {rhs!r}.")
    return found


def _check_loose_bars(formula: str, outside: list[str], lhs: str) -> None:
    """Raise FormulaError for a ``|`` outside parentheses (``y ~ x + 1|g``, ``y ~ x | g``).

    formulae reads such a bar as part of an ordinary term and Bambi fits a plain GLM with no
    group effects; lme4 needs the parentheses too.

    Examples
    --------
    >>> _check_loose_bars("y ~ x + 1|g", ["x + 1|g"], "y")
    Traceback (most recent call last):
    ...
    bayesglmm.errors.FormulaError: The formula 'y ~ x + 1|g' has a '|' outside parentheses...
    """
    for part in [lhs, *outside]:
        if len(_split_top(part, "|")) < 2:  # bars inside parentheses are not loose
            continue
        bar = "||" if "||" in part else "|"
        left, right = (p.strip() for p in part.split(bar, 1))
        effects = left.rsplit("+", 1)[-1].strip() or "1"
        factor = right.split("+", 1)[0].strip() or "g"
        where = "left of '~' (in the response)" if part is lhs else "right of '~'"
        raise FormulaError(
            f"The formula {formula!r} has a '|' outside parentheses {where}: group terms need "
            f"parentheses, e.g. ({effects}{bar}{factor}) instead of {effects}{bar}{factor}, as in 'y ~ x + (1|g)'. "
            "Without them the bar is not read as a group term and the model would have no group effects."
        )


def _expand_factor(factor: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a:b``, ``a:b:c``; anything else unchanged."""
    levels = [p.strip() for p in _split_top(factor, "/")]
    return [":".join(levels[: i + 1]) for i in range(len(levels))]


def _term_names(lhs: str, factor: str) -> tuple[str, ...]:
    """Bambi's names of the group-specific terms of ``(lhs | factor)``."""
    try:
        desc = formulae.model_description(f"({lhs} | {factor})")
    except Exception as err:  # formulae raises bare Exceptions of several kinds
        raise FormulaError(f"The group term ({lhs} | {factor}) does not parse: {err}") from err
    return tuple(t.name for t in desc.terms if type(t).__name__ == "GroupSpecificTerm")


def _is_multi_effect(names: tuple[str, ...]) -> bool:
    return len(names) > 1


def parse_formula(formula: str, columns) -> ParsedFormula:
    """Read ``formula`` against the data's ``columns``.

    Raises
    ------
    FormulaError
        The formula has no ``~``, does not parse, has a group term with nothing after the
        bar, or names columns the data do not have (the message lists them).

    Examples
    --------
    >>> pf = parse_formula("y ~ x + (1 + x || g)", ["y", "x", "g"])
    >>> pf.bambi, [b.correlated for b in pf.blocks]
    ('y ~ x + (1 + x | g)', [False])
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"A formula needs a response, '~' and predictors, e.g. 'y ~ x + (1|g)'; got {formula!r}.")
    columns = [str(c) for c in columns]
    lhs, rhs = _split_top(formula, "~")[0], "~".join(_split_top(formula, "~")[1:])
    if not lhs.strip():
        raise FormulaError(f"The formula {formula!r} has no response left of '~'.")
    if not rhs.strip():
        raise FormulaError(f"The formula {formula!r} has nothing right of '~' (use '1' for intercept only).")

    blocks: list[GroupBlock] = []
    derived: list[str] = []
    new_rhs, last = [], 0
    bars_at = _bar_terms(rhs)
    for start, end, inner in bars_at:
        double = len(_split_top(inner, "||")) > 1
        parts = _split_top(inner, "||" if double else "|")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise FormulaError(
                f"The group term ({inner}) must read (effects | grouping factor), "
                "e.g. (1 | centre) or (1 + time | patient)."
            )
        effects, factor = parts[0].strip(), parts[1].strip()
        q_effects = quote_columns(effects, columns)
        bars = []
        for expanded in _expand_factor(factor.replace("`", "")):
            names_in = [n.strip() for n in expanded.split(":")]
            if len(names_in) > 1:
                expanded = ":".join(names_in)
                derived.append(expanded) if expanded not in derived else None
                q_factor = f"`{expanded}`"
            else:
                q_factor = quote_columns(expanded, columns)
            names = _term_names(q_effects, q_factor)
            blocks.append(GroupBlock(effects, expanded, not double and _is_multi_effect(names), names, double))
            bars.append(f"({effects} | {q_factor})")
        new_rhs.append(rhs[last:start] + " + ".join(bars))
        last = end
    new_rhs.append(rhs[last:])
    ends = [0] + [end for _, end, _ in bars_at]
    _check_loose_bars(formula, [rhs[e:s] for e, (s, _, _) in zip(ends, bars_at)] + [rhs[ends[-1]:]], lhs)
    bambi_formula = quote_columns(f"{lhs.strip()} ~ {''.join(new_rhs).strip()}", columns)

    check_calls(bambi_formula, columns + derived)
    try:
        desc = formulae.model_description(bambi_formula)
    except Exception as err:  # formulae's ParseError / ScanError derive from Exception only
        raise FormulaError(f"The formula {formula!r} does not parse: {err}") from err

    numbers = [v for v in desc.var_names if not isinstance(v, str)]
    if numbers:  # formulae reads 'y ~ x + 5' as a term named 5
        raise FormulaError(f"The formula {formula!r} has the number {numbers[0]!r} as a term: only 0 and 1 (no "
                           "intercept, intercept) stand alone; arithmetic goes inside I(), e.g. I(x + 5).")
    if getattr(desc, "response", None) is None:  # e.g. 'y x ~ x': two names left of '~'
        raise FormulaError(f"The formula {formula!r} has no single response left of '~' (got {lhs.strip()!r}): "
                           "write one column, p(successes, trials) or censored(time, status).")
    used = sorted({v for v in desc.var_names if v and v not in derived} | {c for d in derived for c in d.split(":")})
    missing = [v for v in used if v not in columns]
    if missing:
        close = {m: _close(m, columns) for m in missing}
        hints = "; ".join(f"{m!r}" + (f" (did you mean {close[m]!r}?)" if close[m] else "") for m in missing)
        raise FormulaError(
            f"The formula {formula!r} names columns that are not in the data: {hints}. "
            f"Columns are: {', '.join(columns)}."
        )

    match = _TRIALS.match(lhs)
    censoring = None
    censored_match = _CENSORED.match(lhs)
    if re.match(r"^\s*censored\s*\(", lhs) and censored_match is None:
        raise FormulaError(
            f"The response {lhs.strip()!r} must read censored(time, status) with two columns: the times and "
            "the status (0 = event observed, 1 = right-censored); interval censoring is not supported.")
    if censored_match:
        response, censoring = censored_match["y"].strip("` "), censored_match["s"].strip("` ")
        for col in (response, censoring):
            if col not in columns:
                raise FormulaError(f"censored({response}, {censoring}) names {col!r}, which is not a column of "
                                   "the data: both arguments must be columns (times, status).")
        trials = None
    elif match:
        response, trials = match["y"].strip("` "), match["n"].strip("` ")
        if trials not in columns:
            trials = None  # a constant number of trials, e.g. p(y, 10)
    else:
        response, trials = lhs.strip().strip("`"), None
    if response not in columns:
        response_vars = sorted(formulae.model_description(bambi_formula).response.var_names)
        response = response_vars[0] if response_vars else response

    group_factors = []
    for block in blocks:
        for name in block.factor.split(":"):
            if name not in group_factors:
                group_factors.append(name)
    offsets = []
    for term in desc.terms:
        if type(term).__name__ == "Term" and term.name.startswith("offset("):
            offsets.extend(sorted(term.var_names))
    return ParsedFormula(
        original=formula,
        bambi=bambi_formula,
        response=response,
        trials=trials,
        columns=tuple(used),
        group_factors=tuple(group_factors),
        offsets=tuple(offsets),
        derived_factors=tuple(derived),
        blocks=tuple(blocks),
        censoring=censoring,
    )


def _close(name: str, columns) -> str | None:
    import difflib

    hits = difflib.get_close_matches(name, columns, n=1)
    return hits[0] if hits else None
