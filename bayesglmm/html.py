"""HTML rendering of bayesglmm's results for notebooks (``_repr_html_``), one shared look.

Every result (:class:`~bayesglmm.result.Fit`, :class:`~bayesglmm.summary.Summary`,
:class:`~bayesglmm.compare.Comparison`, :class:`~bayesglmm.icc.ICC`,
:class:`~bayesglmm.sbc.SBCResult`, :class:`~bayesglmm.hypothesis.Hypotheses`,
:class:`~bayesglmm.r2.R2`) renders the same content as its text form, verdict first
(converged or not, the best model, calibrated or not), then its tables. The output is one
self-contained ``<div>`` with an inline ``<style>`` scoped to it: no scripts, no external
assets. Every user string (formulas, model names, column and level names, notes) is
escaped: tables through pandas ``to_html(escape=True)``, text through :func:`html.escape`.

Examples
--------
>>> import pandas as pd
>>> out = page(verdict("converged", ok=True), table(pd.DataFrame({"<b>": [1.0]})))
>>> "&lt;b&gt;" in out and "<b>" not in out
True
"""

from __future__ import annotations

from html import escape

import pandas as pd

_STYLE = (
    "<style>"
    ".bayesglmm{font-family:sans-serif;font-size:13px}"
    ".bayesglmm .bg-verdict{font-weight:bold;padding:4px 8px;margin:4px 0;border-left:4px solid #888}"
    ".bayesglmm .bg-ok{border-color:#2a7;background:#eaf7ef}"
    ".bayesglmm .bg-bad{border-color:#c33;background:#fbeaea}"
    ".bayesglmm table{border-collapse:collapse;margin:4px 0 10px 0}"
    ".bayesglmm th,.bayesglmm td{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}"
    ".bayesglmm caption{text-align:left;font-style:italic;padding:2px 0}"
    ".bayesglmm pre{margin:4px 0}"
    ".bayesglmm dl{display:grid;grid-template-columns:max-content auto;gap:1px 12px;margin:4px 0}"
    ".bayesglmm dt{font-weight:bold}.bayesglmm dd{margin:0}"
    "</style>"
)


def text(value) -> str:
    """Escaped text (``<``, ``>``, ``&`` and quotes).

    Examples
    --------
    >>> text("<script>")
    '&lt;script&gt;'
    """
    return escape(str(value))


def verdict(message: str, ok: bool | None) -> str:
    """The first line of a result: green when ``ok``, red when not, grey when it does not apply.

    Examples
    --------
    >>> verdict("NOT CONVERGED", ok=False)
    '<p class="bg-verdict bg-bad">NOT CONVERGED</p>'
    """
    cls = "" if ok is None else (" bg-ok" if ok else " bg-bad")
    return f'<p class="bg-verdict{cls}">{text(message)}</p>'


def facts(items: dict) -> str:
    """A definition list of ``key: value`` facts (formula, family, draws...), escaped.

    Examples
    --------
    >>> facts({"Formula": "y ~ x"})
    '<dl><dt>Formula</dt><dd>y ~ x</dd></dl>'
    """
    rows = "".join(f"<dt>{text(k)}</dt><dd>{text(v)}</dd>" for k, v in items.items())
    return f"<dl>{rows}</dl>"


def paragraph(message: str) -> str:
    """One escaped paragraph (a note, a footer).

    Examples
    --------
    >>> paragraph("a < b")
    '<p>a &lt; b</p>'
    """
    return f"<p>{text(message)}</p>"


def pre(message: str) -> str:
    """Escaped preformatted text (a definition printed as the text form prints it).

    Examples
    --------
    >>> pre("x & y")
    '<pre>x &amp; y</pre>'
    """
    return f"<pre>{text(message)}</pre>"


def formatted(frame: pd.DataFrame, cols=None, digits: int = 4) -> pd.DataFrame:
    """Numbers as the text tables print them: ``r_hat`` 3 decimals, ESS whole, others ``digits``.

    Text columns are kept as they are; missing values show as empty cells.

    Examples
    --------
    >>> formatted(pd.DataFrame({"mean": [0.123456], "ess_bulk": [812.3]}))["mean"].iloc[0]
    '0.1235'
    """
    cols = list(frame.columns) if cols is None else [c for c in cols if c in frame.columns]
    shown = frame[cols].copy()
    for c in cols:
        if not pd.api.types.is_numeric_dtype(shown[c]) or pd.api.types.is_bool_dtype(shown[c]):
            continue
        if c.startswith("ess") or c in ("n_high_k", "refits", "points_outside"):
            fmt = "{:.0f}"
        elif c == "r_hat":
            fmt = "{:.3f}"
        else:
            fmt = f"{{:.{digits}f}}"
        shown[c] = shown[c].map(lambda v, f=fmt: "" if pd.isna(v) else f.format(v))
    return shown


def table(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A pandas table as HTML with escaping on (cells, column names and index labels).

    Examples
    --------
    >>> "&lt;script&gt;" in table(pd.DataFrame({"<script>": ["x"]}), caption="t")
    True
    """
    body = frame.to_html(escape=True, border=0, classes="bg-table", na_rep="")
    if caption:
        end = body.index(">", body.index("<table")) + 1
        body = body[:end] + f"<caption>{text(caption)}</caption>" + body[end:]
    return body


def page(*parts: str) -> str:
    """Wrap rendered parts in one self-contained block with its inline style.

    Examples
    --------
    >>> page("<p>x</p>").startswith('<div class="bayesglmm">')
    True
    """
    return '<div class="bayesglmm">' + _STYLE + "".join(parts) + "</div>"


__all__ = ["facts", "formatted", "page", "paragraph", "pre", "table", "text", "verdict"]
