"""Chains drawn by one nutpie sampler each, so that a run can stop at a checkpoint or draw on.

nutpie draws every chain of one call to a length fixed when it starts. :func:`draw_chains`
starts one nutpie sampler per chain instead, each with its own seed derived from the run's
(:func:`chain_seeds`), at most ``cores`` of them running at a time, and pauses each chain
when it reaches the checkpoint. There a judge (``more``) sees the draws so far and asks for
more draws or stops. A chain's first n draws depend only on its seed: not on how many
draws follow, on when it was paused, nor on the machine's load. So a run that draws on to
1,500 draws begins with the 1,000 draws of the run that stopped there, and the same seed
gives the same draws whichever checkpoint decides.

Why: a first attempt whose only fault is an R-hat a little above the limit or an ESS a
little short needs more draws from the same, already adapted chains, not a new warm-up
(issue 16). For the patients model, drawing on to 1,500 draws per chain takes 49 s; the
first attempt and the ladder's restart with twice the warm-up take 106 s
(``bash dev.sh bench draw_on_cost``, ``benchmarks/DRAW_ON.md``).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from bayesglmm.errors import ComputationError
from bayesglmm.executor import Progress

#: How often the scheduler looks at the chains' progress (seconds).
POLL_SECONDS = 0.01
#: Most often the progress line is written (seconds).
PROGRESS_SECONDS = 0.5


def chain_seeds(seed: int, chains: int) -> list[int]:
    """One seed per chain, derived from the run's seed (numpy's ``SeedSequence.spawn``).

    Examples
    --------
    >>> chain_seeds(1, 2) == chain_seeds(1, 2), len(set(chain_seeds(1, 4)))
    (True, 4)
    """
    children = np.random.SeedSequence(int(seed)).spawn(chains)
    return [int(child.generate_state(1, dtype=np.uint64)[0]) for child in children]


def draw_chains(compiled, settings, options: dict, more: Callable | None = None):
    """Draw ``settings.chains`` chains of ``settings.draws`` draws, then more while ``more`` asks.

    ``more(tree)`` gets the draws so far (a DataTree with ``/posterior`` and
    ``/sample_stats``, the same number of draws per chain) and returns the draws per chain
    wanted in all, or 0 to stop; requests are capped at ``settings.max_draws``. Where it
    stops the run, the tree it got is returned, as ``more`` left it (the fit finishes it in
    place: one copy of the draws, not two). ``options`` go to ``nutpie.sample`` (adaptation,
    target_accept).

    Examples
    --------
    >>> tree = draw_chains(compiled, DrawSettings(draws=500, max_draws=2000), {})  # doctest: +SKIP
    """
    import nutpie

    chains, tune = settings.chains, max(1, settings.tune)  # nuts-rs needs at least one warm-up step
    most = max(settings.draws, settings.max_draws or 0) if more is not None else settings.draws
    seeds = chain_seeds(settings.seed, chains)
    done = [0] * chains  # each chain's finished iterations (warm-up included), from nutpie's callback
    samplers: dict[int, object] = {}
    finished: dict[int, object] = {}  # traces of chains that have drawn all ``most`` draws

    def start(c: int):
        def record(progress):
            done[c] = progress[0].finished_draws

        return nutpie.sample(compiled, draws=most, tune=tune, chains=1, cores=1, seed=seeds[c], progress_bar=False,
                             save_warmup=False, blocking=False, progress_callback=record,
                             progress_rate=max(1, int(POLL_SECONDS * 1000)), **options)

    def run_to(draws: int) -> None:
        needed, running = tune + draws, []
        counted = sum(min(d, needed) for d in done)  # iterations of earlier stages
        progress, shown = Progress(chains * needed - counted, "sampling iterations", settings.progressbar), 0.0
        while True:
            for c in list(running):
                trace = _finished_trace(samplers[c])
                if trace is not None:
                    finished[c] = trace
                    done[c] = tune + trace["posterior"].sizes["draw"]
                elif done[c] >= needed:
                    samplers[c].pause()
                else:
                    continue
                running.remove(c)
            for c in range(chains):
                if len(running) >= max(1, settings.cores):
                    break
                if c in running or c in finished or done[c] >= needed:
                    continue
                if c in samplers:
                    samplers[c].resume()
                else:
                    samplers[c] = start(c)
                running.append(c)
            now = sum(min(d, needed) for d in done)
            if now > counted and (time.perf_counter() - shown > PROGRESS_SECONDS or not running):
                progress.update(now - counted)
                counted, shown = now, time.perf_counter()
            if not running:
                return
            time.sleep(POLL_SECONDS)

    try:
        draws = settings.draws
        while True:
            run_to(draws)
            if more is None:
                break
            judged = _combined(_traces(samplers, finished, draws), draws)
            wanted = min(int(more(judged)), most)
            if wanted <= draws:
                return judged  # what the judge saw (and may have finished in place): not built twice
            draws = wanted
        for c, sampler in samplers.items():
            if c not in finished:
                finished[c] = sampler.abort()
        short = {c: n for c, t in finished.items() if (n := t["posterior"].sizes.get("draw", 0)) < draws}
        if short:
            raise ComputationError(f"chain(s) stopped short of {draws} draws: {short}")
        return _combined(finished, draws)
    finally:
        for c, sampler in samplers.items():
            if c not in finished:
                sampler.cancel()


def _finished_trace(sampler):
    """The chain's trace if it has drawn all its draws, else None; raises the chain's error.

    (nutpie's ``is_finished`` raises TimeoutError while the chain runs: its own wait times out.)
    """
    try:
        return sampler.wait(timeout=0.001)
    except TimeoutError:
        return None


#: Longest wait for a paused chain's last reported draw to show in its trace (seconds).
TRACE_WAIT_SECONDS = 10.0


def _traces(samplers: dict, finished: dict, draws: int) -> dict:
    """Each chain's trace so far, every one with at least ``draws`` draws.

    nuts-rs counts a draw in its progress just before it stores it: a chain paused at that
    moment has the draw in a moment. Wait for it rather than judge fewer draws.
    """
    traces, waited = {}, 0.0
    for c in samplers:
        traces[c] = finished[c] if c in finished else samplers[c].inspect()
        while traces[c]["posterior"].sizes.get("draw", 0) < draws:
            if waited > TRACE_WAIT_SECONDS:
                raise ComputationError(f"chain {c} reported {draws} draws but its trace holds "
                                       f"{traces[c]['posterior'].sizes.get('draw', 0)}")
            time.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            traces[c] = samplers[c].inspect()
    return traces


def _combined(traces: dict, draws: int):
    """One DataTree of every chain's first ``draws`` draws, chains numbered from 0."""
    import xarray as xr

    groups = {}
    for group in ("posterior", "sample_stats"):
        parts = [traces[c][group].to_dataset().isel(draw=slice(0, draws)) for c in sorted(traces)]
        groups[group] = xr.concat(parts, dim="chain", combine_attrs="override").assign_coords(
            chain=np.arange(len(parts)))
    return xr.DataTree.from_dict(groups)


__all__ = ["chain_seeds", "draw_chains"]
