"""The engine seam: data as inputs, one compile per spec, bit-identical draws in any process.

The draws test runs the same seeded fit in this process and in two fresh processes that
share an empty PyTensor compile directory (the first compiles cold, the second loads the
first's cache), while a third process fits the same model beside them. Before the engine
compiled without numba's fastmath flags, the cold process's draws differed from the warm
ones.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm.engine import HELDOUT, RESPONSE, DrawSettings, _shared_inputs, compiled_for, get_engine, inputs_model
from bayesglmm.errors import SettingsError
from bayesglmm.model import build_model
from conftest import tiny_data

SCRIPT = Path(__file__).with_name("engine_draws.py")
SIZE = {"draws": 100, "tune": 100, "chains": 2}


def _random_points(model, rng, n=3):
    start = model.initial_point()
    return [{k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()} for _ in range(n)]


@pytest.mark.parametrize("formula,family,make", [
    ("y ~ x + (1|g)", "gaussian", lambda d: d),
    ("y ~ x + (1 + x|g)", "gaussian", lambda d: d),
    ("p(k, n) ~ x + (1|g)", "binomial", lambda d: d.assign(n=10, k=(d.y > 1).astype(int) * 3 + 2)),
])
def test_inputs_model_has_the_same_log_density(formula, family, make):
    data = make(tiny_data())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model(formula, data, family)
    new = inputs_model(spec)
    names = {v.name for v in _shared_inputs(new)}
    assert RESPONSE in names and any(n.startswith("bayesglmm_data_") for n in names)
    points = _random_points(spec.pymc_model, np.random.default_rng(1))
    a = [float(spec.pymc_model.compile_logp()(p)) for p in points]
    b = [float(new.compile_logp()(p)) for p in points]
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # The held-out mask removes exactly the held-out rows' log-likelihood.
    masked = inputs_model(spec, heldout=True)
    shared = {v.name: v for v in _shared_inputs(masked)}
    point = spec.pymc_model.initial_point()
    full = float(masked.compile_logp()(point))
    shared[HELDOUT].set_value(np.r_[1.0, np.zeros(spec.n_obs - 1)])
    row0 = float(spec.pymc_model.compile_logp(vars=[spec.pymc_model.observed_RVs[0]], sum=False)(point)[0][0])
    assert float(masked.compile_logp()(point)) == pytest.approx(full - row0, rel=1e-12)


def test_compiled_once_per_spec_and_data_swapped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = build_model("y ~ x + (1|g)", tiny_data())
    engine = get_engine("nutpie")
    compiled, seconds = compiled_for(spec, engine)
    again, seconds_again = compiled_for(spec, engine)
    assert again is compiled and seconds > 0 and seconds_again == 0
    run = DrawSettings(draws=20, tune=20, chains=1, cores=1, seed=5)
    y = spec.data.frame["y"].to_numpy()
    same = engine.draw(compiled, run, data={RESPONSE: y})["posterior"]["sigma"].values
    shifted = engine.draw(compiled, run, data={RESPONSE: y * 10})["posterior"]["sigma"].values
    np.testing.assert_array_equal(same, engine.draw(compiled, run)["posterior"]["sigma"].values)
    assert shifted.mean() > 3 * same.mean()  # the response really was swapped
    with pytest.raises(SettingsError, match="sampler must be one of"):
        get_engine("stan")


def test_seed_none_is_drawn_and_recorded():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bg.fit("y ~ x + (1|g)", tiny_data(), seed=None, progressbar=False, retry=False, draws=30, tune=30,
                     chains=1)
    seed = fit.settings["seed"]
    assert isinstance(seed, int)
    with pytest.raises(SettingsError, match="seed"):
        bg.fit("y ~ x", tiny_data(), seed=-1)


def _draws_in_fresh_process(compile_dir: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compile_dir}")
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_same_draws_cold_warm_and_under_load(tmp_path):
    """One seed, bit-identical draws: here, in a cold process, in a warm one, with a fit running beside them."""
    compile_dir = tmp_path / "pytensor"
    cold, warm, beside = tmp_path / "cold.json", tmp_path / "warm.json", tmp_path / "beside.json"
    first = _draws_in_fresh_process(compile_dir, cold)  # compiles cold; `beside` races it for the cache
    load = _draws_in_fresh_process(compile_dir, beside)
    assert first.wait(timeout=600) == 0, first.stdout.read()
    second = _draws_in_fresh_process(compile_dir, warm)  # loads the cache (while `load` may still run)
    assert second.wait(timeout=600) == 0, second.stdout.read()
    assert load.wait(timeout=600) == 0, load.stdout.read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = bg.fit("y ~ x + (1|g)", tiny_data(), seed=2, progressbar=False, retry=False, cores=1, **SIZE)
    expected = here.idata["posterior"]["Intercept"].values
    for path in (cold, warm, beside):
        np.testing.assert_array_equal(np.asarray(json.loads(path.read_text())), expected)


def test_a_run_that_draws_on_begins_with_the_draws_of_the_run_that_stopped():
    """Each chain's first draws depend on its seed only: not on the draws that follow, the pauses or the cores."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)})
    spec = build_model("y ~ x + (1|g)", data)
    engine = get_engine("nutpie")
    compiled, _ = compiled_for(spec, engine)
    short = engine.draw(compiled, DrawSettings(draws=100, tune=50, chains=3, cores=2, seed=5))
    seen = []

    def more(tree):
        seen.append(tree["posterior"].sizes["draw"])
        return 160 if len(seen) == 1 else 0

    longer = engine.draw(compiled, DrawSettings(draws=100, tune=50, chains=3, cores=1, seed=5, max_draws=400), more=more)
    assert seen == [100, 160] and longer["posterior"].sizes["draw"] == 160
    for name in ("sigma", "x"):
        np.testing.assert_array_equal(longer["posterior"][name].values[:, :100], short["posterior"][name].values)
    assert not np.array_equal(longer["posterior"]["sigma"].values[0], longer["posterior"]["sigma"].values[1])
    np.testing.assert_array_equal(longer["sample_stats"]["diverging"].shape, (3, 160))


def test_a_chain_that_fails_or_an_interrupted_judge_stops_the_run_with_its_error():
    """A chain's error reaches the caller, and Ctrl-C at a checkpoint leaves no sampler behind, instead of a hang."""
    import nutpie
    import pymc as pm

    from bayesglmm.chains import draw_chains

    with pm.Model() as nowhere:  # no initial point has a finite log density
        x = pm.Normal("x")
        pm.Potential("outside", pm.math.switch(x > 100, 0.0, -np.inf))
    with pytest.raises(RuntimeError, match="initialization"):
        draw_chains(nutpie.compile_pymc_model(nowhere, backend="numba"),
                    DrawSettings(draws=50, tune=50, chains=2, cores=1, seed=1), {})

    def interrupted(tree):
        raise KeyboardInterrupt

    with pm.Model() as fine:
        pm.Normal("x")
    with pytest.raises(KeyboardInterrupt):
        draw_chains(nutpie.compile_pymc_model(fine, backend="numba"),
                    DrawSettings(draws=50, tune=50, chains=2, cores=1, seed=1, max_draws=100), {}, interrupted)
