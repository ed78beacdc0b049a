"""The HTML report builder: content, embedded figures, plain-text account, atomic writing (no sampling)."""

import base64
import os
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bayesglmm import report as report_module  # noqa: E402
from bayesglmm.report import Report, format_number  # noqa: E402


class _Collector(HTMLParser):
    """Collects tags and image sources, and fails on unbalanced tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()


def _figure(title):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ax.set_title(title)
    return fig


def _example_report():
    rep = Report("Trial <report>")
    rep.heading("Data & model")
    rep.text("Odds ratio 1.08 [0.77, 1.51] for drug vs control.")
    rep.table(pd.DataFrame({"treat": ["control", "drug"], "odds": [1.0, 1.0776], "n": [37, 36]}), "The table")
    rep.figure(_figure("one"), "First figure")
    rep.figure(_figure("two"), "Second figure")
    rep.code("glmer(obs ~ treat + (1|centre), weights = n)")
    return rep


def test_html_is_valid_and_has_tables_and_figures(tmp_path):
    rep = _example_report()
    path = rep.write(tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], "unclosed tags"
    assert html.startswith("<!DOCTYPE html>")
    assert html.count('<img src="data:image/png;base64,') == rep.n_figures == 2
    for src in parser.images:  # each image decodes to a PNG
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for value in ("control", "drug", "1.078", "37", "The table", "First figure", "Second figure"):
        assert value in html
    assert "Trial &lt;report&gt;" in html and "Data &amp; model" in html  # escaped
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "<caption>The table</caption>" in html
    assert plt.get_fignums() == []  # figures were closed


def test_text_account_names_everything():
    text = str(_example_report())
    assert text.splitlines()[0] == "Trial <report>"
    assert "Data & model\n------------" in text
    assert "1.078" in text and "drug" in text
    assert "[Figure 1: First figure]" in text and "[Figure 2: Second figure]" in text
    assert "    glmer(obs ~ treat" in text


def test_format_number():
    assert format_number(0.0747123) == "0.07471"
    assert format_number(4265.4) == "4265"
    assert format_number(7) == "7"
    assert format_number(True) == "True"
    assert format_number(float("nan")) == "nan"


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.html"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _example_report().write(target)
    assert list(tmp_path.iterdir()) == []  # neither the report nor a temporary file


def test_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    Report("old").write(target)
    before = target.read_text()

    real_fdopen = os.fdopen

    class HalfWay:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError("interrupted")

    monkeypatch.setattr(report_module.os, "fdopen", lambda fd, mode: HalfWay(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="interrupted"):
        _example_report().write(target)
    assert target.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_write_creates_the_folder(tmp_path):
    path = Report("T").write(tmp_path / "new" / "deeper" / "report.html")
    assert path.is_file()
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
