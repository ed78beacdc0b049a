"""The example notebook runs: examples/multicentre.ipynb, executed by nbclient in a fresh kernel.

The kernel is this test's own Python (the venv's), through a kernel spec written to a
temporary folder, so that a ``python3`` kernel installed elsewhere on the machine is never
used. Every cell must run without error, and each cell that ends with a result object
must show that object's HTML form (``text/html``) with its key content. The notebook is
stored without outputs; this test is what keeps it from rotting.
"""

import json
import os
import sys
import time
from pathlib import Path

import pytest

from conftest import needs_data

nbclient = pytest.importorskip("nbclient", reason="nbclient is a test dependency: pip install -e '.[test]'")
nbformat = pytest.importorskip("nbformat", reason="nbformat is a test dependency: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is a test dependency: pip install -e '.[test]'")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "multicentre.ipynb"
KERNEL = "bayesglmm-test"

# Cell id -> text its text/html output must contain (HTML-escaped where it matters).
EXPECTED_HTML = {
    "data": ["centre", "treat", "control"],
    "fit": ["Convergence", "converged", "p(y, n) ~ treat + (1|centre)", "Fixed effects", "treat[drug]"],
    "odds-ratio": ["treat[drug]", "ratio", "lower", "upper"],
    "icc": ["ICC", "centre"],
    "random-effects": ["Best model: GLMM", "Model comparison (22 rows", "exact refits"],
    "comparisons": ["Comparisons", "drug - control"],
    "hypothesis": ["treat[drug]", "post_prob", "evid_ratio"],
    "predictions": ["Predictions", "control", "drug"],
    "predict": ["centre", "mean", "lower", "upper"],
    "r2": ["conditional", "marginal"],
    "sensitivity": ["prior", "likelihood"],
    "sbc": ["calibrated", "Uniformity of the ranks", "p_value"],
}


def _kernel_spec(folder: Path) -> None:
    """A kernel spec running ipykernel under this interpreter, in ``folder/kernels``."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "bayesglmm test (this venv)",
        "language": "python",
    }))


def _html(cell) -> str:
    return "\n".join(out.get("data", {}).get("text/html", "") for out in cell.get("outputs", [])
                     if out.get("output_type") in ("execute_result", "display_data"))


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code)
    ids = {c.id for c in code}
    assert set(EXPECTED_HTML) <= ids, f"cells the test checks are missing: {set(EXPECTED_HTML) - ids}"


@needs_data
def test_multicentre_notebook_runs_and_shows_html(tmp_path, monkeypatch):
    _kernel_spec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600, allow_errors=True,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    print(f"examples/multicentre.ipynb ran in {seconds:.0f} s")

    errors = [(c.id, out.get("ename"), out.get("evalue")) for c in nb.cells if c.cell_type == "code"
              for out in c.outputs if out.get("output_type") == "error"]
    assert not errors, f"cells raised: {errors}"
    cells = {c.id: c for c in nb.cells}
    for cid, needles in EXPECTED_HTML.items():
        html = _html(cells[cid])
        assert html, f"cell {cid!r} showed no text/html output: {cells[cid].outputs}"
        missing = [n for n in needles if n not in html]
        assert not missing, f"cell {cid!r}: its HTML lacks {missing}"
    assert "NOT CONVERGED" not in _html(cells["fit"]), "the notebook's GLMM did not converge"
    # The plots cell shows its two figures (conditional effects, caterpillar) as PNG images.
    pngs = [out for out in cells["plots"].outputs if "image/png" in out.get("data", {})]
    assert len(pngs) == 2, f"the plots cell showed {len(pngs)} PNG figures: {cells['plots'].outputs}"
    # The random-effects cell prints the answer's verdict as text too.
    text = "".join(out.get("text", "") for out in cells["random-effects"].outputs if out.get("name") == "stdout")
    assert "random effects" in text.lower()
