"""A formula is data, never code: only the allow-listed transforms can be called (bg.fit, CLI, build_model)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.formula import FORMULA_CALLS, check_calls

# pd.io.common.os.system is reachable from the module whose frame formulae evaluates calls in;
# without the allow-list the first ones ran the command (checked when the list was added).
ATTACKS = [
    "y ~ x + pd.io.common.os.system('touch {marker}')",
    "y ~ x + I(pd.io.common.os.system('touch {marker}'))",
    "y ~ x + {{pd.io.common.os.system('touch {marker}')}}",
    "y ~ os.system('touch {marker}')",
    "y ~ __import__('os').system('touch {marker}')",
    "y ~ (lambda: 1)",
    "y ~ globals()['os']",
    "y ~ C(g, levels=pd.io.common.os.environ)",
    "y ~ x + (1 | pd.io.common.os.system('touch {marker}'))",
    "p(y, pd.io.common.os.system('touch {marker}')) ~ x",
    "y ~ x + pd.io.common.os",
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"y": rng.normal(size=12), "x": rng.normal(size=12), "g": list("abcd") * 3})


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_formula_runs_code(attack, data, tmp_path):
    marker = tmp_path / "ran"
    formula = attack.format(marker=marker)
    with pytest.raises(bg.FormulaError):
        bg.build_model(formula, data)
    assert not marker.exists()


def test_allowed_transforms_still_work(data):
    spec = bg.build_model("y ~ np.log(np.abs(x) + 1) + exp(x) + C(g) + scale(x)", data)
    assert spec.n_obs == 12
    check_calls("p(y, n) ~ offset(log(e)) + I(x ** 2) + (1 + x || g)", ["y", "n", "e", "x", "g"])
    assert "os.system" not in FORMULA_CALLS


def test_cli_refuses_a_formula_that_calls_a_command(data, tmp_path):
    csv = tmp_path / "d.csv"
    data.to_csv(csv, index=False)
    marker = tmp_path / "ran"
    out = subprocess.run([sys.executable, "-m", "bayesglmm.cli", "fit", f"y ~ pd.io.common.os.system('touch {marker}')",
                          "--data", str(csv), "--family", "gaussian", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and not marker.exists()
    assert len(out.stderr.strip().splitlines()) == 1 and "not an allowed transform" in out.stderr
