"""Cost of one log density and gradient of the InstEval model, as the sampler compiles it (issue 20).

Run: ``.venv/bin/python benchmarks/gradient_cost.py [--repeats 300]``
(needs R with lme4 for the data, written to a temporary folder and removed; writes nothing else).

For each variant it builds ``y ~ service + lectage + studage + (1|s) + (1|d) + (1|dept)`` on
InstEval with the defaults, compiles the log density and its gradient with numba (PyTensor's
``NUMBA`` mode, the backend nutpie's code is compiled with) and prints the milliseconds per
evaluation, the median of five rounds of ``--repeats`` calls at the initial point. Variants:

- ``auto``: the defaults (students integrated out, the fixed effects on the design's distinct rows);
- ``joint``: every group term in the sampler, centred (no term integrated out by :mod:`bayesglmm.marginal`);
- ``dense design``: as ``auto``, with the product of the dense QR design taken row by row
  (:data:`bayesglmm.backend.DISTINCT_ROWS_SHARE` set to 0);
- ``auto, JAX``: as ``auto``, compiled by JAX (PyTensor's ``JAX`` mode, jitted) on whatever
  device JAX finds, when JAX is importable (it is not a dependency; e.g.
  ``pip install --target /tmp/jaxpkgs "jax[cpu]"`` and ``PYTHONPATH=/tmp/jaxpkgs``).

All variants run in one process, one after the other: compare their ratios, not the absolute
times of different runs.
"""

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
from scaling import FACTORS, FORMULA  # the InstEval model of benchmarks/scaling.py (this script's folder)


def insteval(folder: Path) -> pd.DataFrame:
    """lme4's InstEval, written by R into ``folder`` and read back with its factors as categories."""
    path = folder / "insteval.csv"
    subprocess.run(["Rscript", "-e", f'write.csv(lme4::InstEval, "{path}", row.names = FALSE)'], check=True)
    df = pd.read_csv(path)
    for col in FACTORS:
        df[col] = pd.Categorical(df[col].astype(str))
    return df


def milliseconds(df: pd.DataFrame, *, marginalise: bool, distinct_share: float, repeats: int,
                 mode: str = "NUMBA") -> float:
    """Median ms per log density and gradient of the model compiled in PyTensor's ``mode``."""
    import pytensor
    import pytensor.tensor as pt

    from bayesglmm import backend, engine, marginal
    from bayesglmm.model import build_model

    saved = backend.DISTINCT_ROWS_SHARE
    backend.DISTINCT_ROWS_SHARE = distinct_share
    try:
        spec = build_model(FORMULA, df, "gaussian", parameterization="auto" if marginalise else "centred")
    finally:
        backend.DISTINCT_ROWS_SHARE = saved
    model = engine.inputs_model(spec)
    if marginalise:
        model = marginal.integrate_out(model, spec.marginalised, engine.marginalised_index(spec),
                                       engine.marginalised_levels(spec))
    values = model.value_vars
    logp = model.logp()
    point = model.initial_point(0)
    with engine.compile_flags():
        function = pytensor.function(values, [logp, *pt.grad(logp, values)], mode=mode)
    args = [point[v.name] for v in values]
    function(*args)
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            outputs = function(*args)
        getattr(outputs[0], "block_until_ready", lambda: None)()  # JAX returns before it has computed
        rounds.append(1000 * (time.perf_counter() - start) / repeats)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        df = insteval(Path(folder))
    variants = {"auto": (True, None, "NUMBA"), "joint": (False, None, "NUMBA"), "dense design": (True, 0.0, "NUMBA")}
    if importlib.util.find_spec("jax") is not None:
        variants["auto, JAX"] = (True, None, "JAX")
    from bayesglmm.backend import DISTINCT_ROWS_SHARE

    for name, (marginalise, share, mode) in variants.items():
        ms = milliseconds(df, marginalise=marginalise, distinct_share=DISTINCT_ROWS_SHARE if share is None else share,
                          repeats=args.repeats, mode=mode)
        print(f"{name:>13}: {ms:.3f} ms per log density and gradient ({len(df)} rows)", flush=True)


if __name__ == "__main__":
    main()
