"""The README's quick start runs and prints what the README shows."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import needs_data

ROOT = Path(__file__).resolve().parents[1]


@needs_data
def test_readme_quick_start_runs_and_matches_its_printed_output():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.S).group(1)
    code = code.replace("fit.ok ", "assert fit.ok ").replace("print(fit.summary())", "print(fit.summary()); print(fit.ratios().round(3).to_string())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    shown = readme.split("examples/quickstart.py` prints")[1]
    ratio_line = re.search(r"treat\[drug\]\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+odds ratio", shown).group(0)
    assert ratio_line.split()[:4] == re.search(re.escape("treat[drug]") + r".*odds ratio", out.stdout).group(0).split()[:4]


@needs_data
def test_every_readme_python_block_runs():
    """All ```python blocks, in order, as one script (later blocks use earlier names)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks) + "\nprint('README BLOCKS OK')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0 and "README BLOCKS OK" in out.stdout, out.stderr[-3000:]
