"""One attempt per seed of a convergence target, with a chosen parameterisation: where do the divergences sit?

Run (never in CI; needs R for the R targets, as ``convergence_rate.py`` does)::

    .venv/bin/python benchmarks/parameterization_probe.py arabidopsis --parameterization centred \\
        --target-accept 0.99 --seeds 1,2,3 --sd "1|reg_sigma"

Each seed is one ``bg.fit(..., retry=False)``: one attempt, without the retry ladder and
without drawing on, so the line shows what these settings alone give. Prints one line per
seed: wall time, max R-hat, min bulk ESS, divergences, the parameterisation the summary
shows and, for each parameter of ``--sd``, its 5/50/95% quantiles over all draws and its
median and largest values among the divergent draws, and each chain's 5% quantile. A first
line gives each group term's level information and score (what the "auto" rule and partial
centring read, ``bayesglmm.model.level_information``). ``--tune`` and ``--draws`` are per
chain. ``--parameterization`` is ``auto``, ``centred``, ``non-centred``, ``partially
centred`` or a JSON object of term -> choice. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

import convergence_rate  # this script's folder: the targets and their data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a target of convergence_rate.py, e.g. arabidopsis")
    parser.add_argument("--parameterization", default="auto")
    parser.add_argument("--target-accept", type=float, default=0.9)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--sd", default=None, help="parameters to locate the divergences by, comma-separated, "
                                                   "e.g. '1|reg_sigma,1|popu_sigma'")
    args = parser.parse_args(argv)
    import bayesglmm as bg

    kind, name = convergence_rate.targets()[args.target]
    formula, data, family, link = convergence_rate.problem(kind, name)
    par = json.loads(args.parameterization) if args.parameterization.startswith("{") else args.parameterization
    spec = bg.build_model(formula, data, family, link=link, parameterization=par)
    print(f"{args.target} level information: " + "; ".join(
        f"{term} {info.information:g} (score {info.score:g})" for term, info in spec.level_information.items()))
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bg.fit(formula, data, family, link=link, seed=seed, parameterization=par, tune=args.tune,
                         draws=args.draws, target_accept=args.target_accept, retry=False, progressbar=False)
        d = fit.diagnostics
        line = (f"{args.target} {args.parameterization} target_accept {args.target_accept} tune {args.tune} "
                f"draws {args.draws} seed {seed}: "
                f"{time.perf_counter() - start:.1f} s, max R-hat {d.max_rhat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
                f"{d.divergences} divergences [{'; '.join(f'{k} {v}' for k, v in fit.spec.parameterization.items())}]")
        diverging = np.asarray(fit.idata["sample_stats"]["diverging"]).ravel().astype(bool)
        for name in (args.sd.split(",") if args.sd else []):
            values = np.asarray(fit.idata["posterior"][name]).ravel()
            q = np.quantile(values, [0.05, 0.5, 0.95])
            at = values[diverging]
            where = f"median {np.median(at):.3f}, largest {at.max():.3f}" if at.size else "-"
            per_chain = np.quantile(np.asarray(fit.idata["posterior"][name]), 0.05, axis=1)
            line += (f"; {name} 5/50/95%: {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}; in the divergent draws: {where}; "
                     f"5% per chain: {' / '.join(f'{v:.3f}' for v in per_chain)}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
