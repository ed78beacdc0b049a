"""A small, self-contained HTML report: headings, paragraphs, tables, figures and code.

:class:`Report` collects the pieces of an analysis in order and writes them as one HTML
file with its figures embedded as base64 PNG images and its style inline, so the file
opens anywhere without a network. The same content is available as plain text
(:meth:`Report.text_account`, also ``str(report)``), where each figure is named by its
caption. :meth:`Report.write` is atomic: the file appears complete or not at all.

Examples
--------
>>> import pandas as pd
>>> rep = Report("Example")
>>> rep.heading("Data")
>>> rep.text("Two rows.")
>>> rep.table(pd.DataFrame({"x": [1.5, 2.25]}), "A small table")
>>> print(rep.text_account().splitlines()[0])
Example
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Report", "format_number"]

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5;
       color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { border-bottom: 2px solid #3b75af; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p { max-width: 75ch; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f0f4f8; }
tbody tr:nth-child(even) { background: #fafafa; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; max-width: 75ch; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .8em; overflow-x: auto; font-size: .85em; }
.table-wrap { overflow-x: auto; }
"""


def format_number(value) -> str:
    """Format one table cell: 4 significant digits, whole numbers above 1000 without decimals.

    Examples
    --------
    >>> format_number(0.074712), format_number(1.16923), format_number(3068.4), format_number("drug")
    ('0.07471', '1.169', '3068', 'drug')
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if not np.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.map(format_number) if len(frame) else frame


class Report:
    """An ordered list of headings, paragraphs, tables, figures and code, written as HTML.

    Parameters
    ----------
    title : str
        The report's title (the HTML ``<title>`` and first heading).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> rep = Report("Demo")
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> rep.figure(fig, "A line")
    >>> rep.n_figures
    1
    >>> "data:image/png;base64," in rep.html()
    True
    """

    def __init__(self, title: str):
        self.title = str(title)
        self._blocks: list[tuple[str, object]] = []

    # ------------------------------------------------------------------ building
    def heading(self, text: str) -> None:
        """Start a section.

        Examples
        --------
        >>> Report("R").heading("1. Descriptive plot")
        """
        self._blocks.append(("heading", str(text)))

    def text(self, paragraph: str) -> None:
        """Add a paragraph of plain text (HTML special characters are escaped).

        Examples
        --------
        >>> Report("R").text("The centres differ more than the treatments.")
        """
        self._blocks.append(("text", str(paragraph)))

    def table(self, frame: pd.DataFrame, caption: str = "") -> None:
        """Add a table; numbers are shown with 4 significant digits (:func:`format_number`).

        Examples
        --------
        >>> Report("R").table(pd.DataFrame({"OR": [1.08]}, index=["treat[drug]"]), "Odds ratio")
        """
        if isinstance(frame, pd.Series):
            frame = frame.to_frame()
        self._blocks.append(("table", (pd.DataFrame(frame).copy(), str(caption))))

    def figure(self, fig, caption: str = "", dpi: int = 96) -> None:
        """Add a matplotlib figure, embedded as a base64 PNG; the figure is closed.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> Report("R").figure(fig, "Empty axes")
        """
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        finally:
            plt.close(fig)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        self._blocks.append(("figure", (encoded, str(caption))))

    def code(self, text: str) -> None:
        """Add preformatted text (code, or a printed summary).

        Examples
        --------
        >>> Report("R").code("glmer(obs ~ treat + (1|centre), weights = n)")
        """
        self._blocks.append(("code", str(text)))

    @property
    def n_figures(self) -> int:
        """Number of figures added.

        Examples
        --------
        >>> Report("R").n_figures
        0
        """
        return sum(kind == "figure" for kind, _ in self._blocks)

    # ------------------------------------------------------------------ output
    def html(self) -> str:
        """The whole report as one self-contained HTML document.

        Examples
        --------
        >>> Report("T").html().startswith("<!DOCTYPE html>")
        True
        """
        esc = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head><body>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        n_fig = 0
        for kind, payload in self._blocks:
            if kind == "heading":
                parts.append(f"<h2>{esc(payload)}</h2>")
            elif kind == "text":
                parts.append(f"<p>{esc(payload)}</p>")
            elif kind == "code":
                parts.append(f"<pre>{esc(payload)}</pre>")
            elif kind == "table":
                frame, caption = payload
                table = _formatted(frame).to_html(border=0, escape=True)
                if caption:
                    table = table.replace(">", f"><caption>{esc(caption)}</caption>", 1)
                parts.append(f'<div class="table-wrap">{table}</div>')
            elif kind == "figure":
                n_fig += 1
                encoded, caption = payload
                alt = esc(caption or f"Figure {n_fig}")
                parts.append(f'<figure><img src="data:image/png;base64,{encoded}" alt="{alt}">'
                             f"<figcaption>Figure {n_fig}. {esc(caption)}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def text_account(self, width: int = 100) -> str:
        """The report as plain text: headings underlined, tables printed, figures named.

        Examples
        --------
        >>> rep = Report("T")
        >>> rep.heading("Step")
        >>> print(rep.text_account())
        T
        =
        <BLANKLINE>
        Step
        ----
        """
        lines = [self.title, "=" * len(self.title)]
        n_fig = 0
        for kind, payload in self._blocks:
            lines.append("")
            if kind == "heading":
                lines += [payload, "-" * len(payload)]
            elif kind == "text":
                lines.append(textwrap.fill(payload, width))
            elif kind == "code":
                lines.append(textwrap.indent(payload, "    "))
            elif kind == "table":
                frame, caption = payload
                if caption:
                    lines.append(caption + ":")
                with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 200):
                    lines.append(_formatted(frame).to_string())
            elif kind == "figure":
                n_fig += 1
                lines.append(f"[Figure {n_fig}: {payload[1]}]")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text_account()

    def write(self, path) -> Path:
        """Write the HTML atomically: a temporary file in the same folder, then ``os.replace``.

        If anything fails, the temporary file is removed and an existing file at ``path``
        is left as it was. The folder is created if needed.

        Parameters
        ----------
        path : str or path-like
            The HTML file to write.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> Report("T").write(folder / "report.html").name
        'report.html'
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        content = self.html().encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return path
