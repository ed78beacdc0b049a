"""Fit the engine test's tiny model with seed 2 and write its intercept draws as JSON (run by test_engine.py).

Usage: python engine_draws.py OUT.json   (PYTENSOR_FLAGS may name a fresh compile directory)
"""

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bayesglmm as bg  # noqa: E402
from conftest import tiny_data  # noqa: E402
from test_engine import SIZE  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = bg.fit("y ~ x + (1|g)", tiny_data(), seed=2, progressbar=False, retry=False, cores=2, **SIZE)
Path(sys.argv[1]).write_text(json.dumps(fit.idata["posterior"]["Intercept"].values.tolist()))
