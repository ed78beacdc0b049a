"""Where the time of a crossed gaussian fit goes: cProfile of one ``bg.fit`` with the defaults (issue 20).

Run: ``.venv/bin/python benchmarks/profile_crossed.py [--rows 20000] [--log-likelihood auto|true|false]
[--parameterization auto|centred]``
(prints wall time of the fit and its summary, convergence,
peak RSS and the 45 most expensive calls by cumulative time; writes nothing).

Simulated data: ``rows`` rows, 800 students crossed with 300 instructors, one standard-normal
predictor; ``y = 3 + 0.3 x + u_s + v_d + e`` with SDs 0.5, 0.4 and 1.2.
"""

import argparse
import cProfile
import pstats
import resource
import time
import warnings

import numpy as np
import pandas as pd

import bayesglmm as bg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--log-likelihood", choices=["auto", "true", "false"], default="auto",
                        help="fit(..., log_likelihood=...): 'true' stores the rows x draws values whatever their size")
    parser.add_argument("--parameterization", choices=["auto", "centred", "non-centred"], default="auto",
                        help="of the group terms: 'auto' integrates the students out (bayesglmm.marginal); "
                        "'centred' keeps them in the sampler, for comparison")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    n, students, instructors = args.rows, 800, 300
    s, d, x = rng.integers(0, students, n), rng.integers(0, instructors, n), rng.normal(size=n)
    y = 3 + 0.3 * x + rng.normal(0, 0.5, students)[s] + rng.normal(0, 0.4, instructors)[d] + rng.normal(0, 1.2, n)
    df = pd.DataFrame({"y": y, "x": x, "s": pd.Categorical(s), "d": pd.Categorical(d)})
    profile = cProfile.Profile()
    start = time.time()
    profile.enable()
    log_likelihood = {"auto": "auto", "true": True, "false": False}[args.log_likelihood]
    fit = bg.fit("y ~ x + (1|s) + (1|d)", df, "gaussian", seed=1, progressbar=False, log_likelihood=log_likelihood,
                 parameterization=args.parameterization)
    header = str(fit.summary()).splitlines()  # the prior sensitivity too: what a user sees
    profile.disable()
    print(f"wall {time.time() - start:.1f} s, converged {fit.ok}, attempts {len(fit.attempts) or 1}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"leapfrog steps per draw {float(fit.idata['sample_stats']['n_steps'].mean()):.1f}, "
          f"sampling {fit.idata['posterior'].attrs.get('sampling_time', float('nan')):.1f} s, "
          f"min bulk ESS {fit.diagnostics.min_ess_bulk:.0f}")
    print("\n".join(line for line in header if line.startswith(("Log-likelihood", "Prior sensitivity", "Group effects"))))
    pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
