"""Convergence diagnostics of many scalars: ArviZ's ``az.summary`` against bayesglmm's vectorised table (issue 20).

Run: ``.venv/bin/python benchmarks/diagnostics_speed.py [--scalars 1100] [--draws 1000]``
(prints both wall times, their ratio and the largest difference; writes nothing).

The posterior: 4 chains of AR(1) draws (autocorrelation 0 to 0.9 across the scalars), as
one scalar and one vector variable of ``--scalars`` elements (the group effects of a
crossed model: 1,100 for the 20,000-row profile of ``profile_crossed.py``, 4,114 for the
73,421-row course-evaluation data). Both compute rank-normalised split R-hat and bulk and
tail ESS (Vehtari et al. 2021); the numbers must agree to 1e-8.
"""

import argparse
import time

import arviz as az
import numpy as np
import pandas as pd
from arviz_base import from_dict

from bayesglmm.diagnostics import _element_table


def posterior(scalars: int, draws: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    phi = np.linspace(0.0, 0.9, scalars)
    noise = rng.normal(size=(4, draws, scalars))
    x = np.empty_like(noise)
    x[:, 0] = noise[:, 0]
    for i in range(1, draws):
        x[:, i] = phi * x[:, i - 1] + noise[:, i]
    return from_dict({"posterior": {"sd": rng.normal(size=(4, draws)), "u": x}}, dims={"u": ["level"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=1100)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    idata = posterior(args.scalars, args.draws)
    start = time.perf_counter()
    theirs = pd.DataFrame(az.summary(idata, kind="diagnostics", round_to="none"))[["r_hat", "ess_bulk", "ess_tail"]]
    arviz_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = _element_table(idata)
    ours_s = time.perf_counter() - start
    assert list(ours.index) == list(theirs.index)
    diff = float(np.nanmax(np.abs(ours.to_numpy() - theirs.astype(float).to_numpy()) /
                           np.maximum(1.0, np.abs(theirs.astype(float).to_numpy()))))
    print(f"{args.scalars + 1} scalars x 4 chains x {args.draws} draws: az.summary {arviz_s:.1f} s, "
          f"bayesglmm {ours_s:.2f} s, ratio {arviz_s / ours_s:.0f}x; largest relative difference {diff:.1e}")
    assert diff < 1e-8


if __name__ == "__main__":
    main()
