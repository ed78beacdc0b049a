"""Notebook HTML of every result: the text form's key numbers, verdict first, user strings escaped.

A tiny gaussian fit whose factor level is ``<script>alert(1)</script>`` checks the escaping
of the summary, hypothesis and R² views; the comparison and SBC views are built from
hand-made tables (no sampling), with a model and a parameter named ``<script>``.
"""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import quick_fit, tiny_data

from bayesglmm import html
from bayesglmm.compare import Comparison
from bayesglmm.sbc import SBCResult

EVIL = "<script>alert(1)</script>"


def _safe(out: str) -> None:
    """No raw user markup, no scripts, no external assets."""
    assert "<script" not in out and "&lt;script&gt;" in out
    assert not re.search(r"(src|href)\s*=|@import|url\(|https?://", out)
    assert out.startswith('<div class="bayesglmm">') and out.endswith("</div>")


def _verdict_first(out: str, verdict: str) -> None:
    assert out.index('class="bg-verdict') < out.index("<table") and html.text(verdict) in out


@pytest.fixture(scope="module")
def evil_fit():
    data = tiny_data()
    data["t"] = pd.Categorical(np.where(np.arange(len(data)) % 2, EVIL, "ctl"), categories=["ctl", EVIL])
    return quick_fit("y ~ x + t + (1|g)", data, "gaussian", draws=200, tune=300)


def test_helpers_escape_everything():
    out = html.page(html.verdict(EVIL, ok=False), html.facts({EVIL: EVIL}), html.paragraph(EVIL), html.pre(EVIL),
                    html.table(pd.DataFrame({EVIL: [EVIL]}, index=pd.Index([EVIL], name=EVIL)), caption=EVIL))
    _safe(out)
    assert out.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 10  # caption, column, index name and label, cell


def test_fit_and_summary_html(evil_fit):
    s = evil_fit.summary()
    out = evil_fit._repr_html_()
    assert out == s._repr_html_()
    _safe(out)
    _verdict_first(out, f"Convergence: {s.verdict}")
    assert ('class="bg-verdict bg-ok"' in out) == evil_fit.ok
    assert ('class="bg-verdict bg-bad"' in out) == (not evil_fit.ok)
    term = f"t[{EVIL}]"
    assert html.text(term) in out
    for value in s.fixef.loc[term, ["mean", "sd", "lower", "upper"]]:
        assert f"{value:.4f}" in out and f"{value:.4f}" in str(s)
    assert f"{s.varcorr.iloc[0]['median']:.4f}" in out
    assert f"{s.fixef.loc['x', 'r_hat']:.3f}" in out
    assert html.text(s.header["Formula"]) in out


def test_hypothesis_and_r2_html(evil_fit):
    term = f"t[{EVIL}]"
    h = evil_fit.hypothesis([f"{term} > 0", f"x - {term} = 0"])
    out = h._repr_html_()
    _safe(out)
    row = h.table.iloc[0]
    _verdict_first(out, f"{term} > 0: posterior probability {row['post_prob']:.3f}")
    for value in (row["estimate"], row["lower"], row["upper"]):
        assert f"{value:.4f}" in out and f"{value:.4f}" in str(h)
    assert f"{h.table.iloc[1]['p_rope']:.3f}" in out
    r = evil_fit.r2(loo=False)
    out = r._repr_html_()
    assert out.startswith('<div class="bayesglmm">') and "<script" not in out
    _verdict_first(out, f"bayes_R2: {r.table.iloc[0]['mean']:.4f}")
    for name in ("bayes_R2", "marginal", "conditional"):
        for col in ("mean", "lower", "upper"):
            assert f"{r.table.loc[name, col]:.4f}" in out and f"{r.table.loc[name, col]:.4f}" in str(r)


def test_icc_html(evil_fit):
    r = evil_fit.icc()
    out = r._repr_html_()
    _verdict_first(out, f"ICC g: median {r.loc['g', 'median']:.4f}")
    assert "<pre>" in out and html.text(r.definition) in out
    for col in ("median", "mean", "lower", "upper"):
        assert f"{r.loc['g', col]:.4f}" in out and f"{r.loc['g', col]:.4f}" in str(r)


def test_comparison_html_names_the_best_model_first():
    table = pd.DataFrame({"elpd": [-50.25, -61.73], "se": [4.1, 5.2], "p": [12.3, 3.1], "elpd_diff": [0.0, -11.48],
                          "dse": [0.0, 3.94], "weight": [0.93, 0.07], "n_high_k": [2, 0], "method": ["loo", "loo"],
                          "refits": [0, 0], "converged": [True, True]},
                         index=pd.Index([EVIL, "glm"], name="model"))
    res = Comparison(table, "loo", 22, {}, notes=[f"note about {EVIL}"])
    out = res._repr_html_()
    _safe(out)
    _verdict_first(out, f"Best model: {EVIL} (next: glm, elpd_diff -11.5, dse 3.9)")
    text = str(res)
    for number in ("-50.2", "-61.7", "-11.5", "3.9", "0.93", "0.07"):
        assert number in text and number in out
    assert html.text(f"Note: note about {EVIL}") in out


def test_sbc_html_says_calibrated_or_not_first():
    rng = np.random.default_rng(3)
    ranks = pd.DataFrame({"b": rng.integers(0, 100, 60), EVIL: rng.integers(0, 100, 60)})
    good = SBCResult(ranks, 99, "gaussian", "y ~ x", {"wall": 2.5}, np.zeros(60, int), 1)
    out = good._repr_html_()
    _safe(out)
    _verdict_first(out, "calibrated: no parameter's ranks reject uniformity")
    assert 'class="bg-verdict bg-ok"' in out and f"{good.tests.loc['b', 'p_value']:.4f}" in out
    skewed = pd.DataFrame({"b": np.full(60, 99), "a": rng.integers(0, 100, 60)})  # every truth above every draw
    bad = SBCResult(skewed, 99, "gaussian", "y ~ x", {}, None, 1)._repr_html_()
    assert "NOT CALIBRATED: ranks not uniform for b" in bad and 'class="bg-verdict bg-bad"' in bad
