"""Saving and loading fits: exact round trips, damaged files, no code execution, atomic writes.

Also the reproducibility promise: the same seed gives bit-identical draws in two processes.
"""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

import bayesglmm as bg
from bayesglmm import io as bio
from bayesglmm.errors import BayesGLMMError, FitError
from conftest import needs_data


def _rewrite(src, dst, change):
    """Copy a zip, passing each member's (name, bytes) through ``change`` (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            out = change(name, zin.read(name))
            if out is not None:
                zout.writestr(out[0], out[1])


def _spec(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("spec.json"))


def _reseal(spec):
    """Recompute spec.json's own checksum, as a forger would."""
    spec.pop("spec_sha256", None)
    spec["spec_sha256"] = hashlib.sha256(bio._canonical(spec)).hexdigest()
    return json.dumps(spec).encode()


@pytest.fixture(scope="module")
def saved_glmm(mc_glmm, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "mc.bglmm"
    mc_glmm.save(path)
    return path


@pytest.fixture(scope="module")
def loaded_glmm(saved_glmm):
    return bg.io.load(saved_glmm)


def _assert_same_fit(a, b):
    pd.testing.assert_frame_equal(a.fixef(), b.fixef(), check_exact=True)
    pd.testing.assert_frame_equal(a.varcorr(), b.varcorr(), check_exact=True)
    pd.testing.assert_frame_equal(a.ranef(), b.ranef(), check_exact=True)
    pd.testing.assert_frame_equal(a.family_params(), b.family_params(), check_exact=True)
    assert str(a.summary()) == str(b.summary())
    pd.testing.assert_frame_equal(a.spec.data.frame, b.spec.data.frame, check_exact=True)
    assert list(a.spec.data.frame.dtypes) == list(b.spec.data.frame.dtypes)
    assert a.spec.data.notes == b.spec.data.notes and a.spec.data.dropped_rows == b.spec.data.dropped_rows
    assert a.settings == b.settings
    assert a.spec.parameterization == b.spec.parameterization and a.spec.prior_sources == b.spec.prior_sources
    assert a.spec.fixed_design == b.spec.fixed_design and a.attempts == b.attempts
    for group in a.idata.children:
        assert a.idata[group].to_dataset().identical(b.idata[group].to_dataset()), group
    # The rebuilt PyMC model has the same log-density (same priors, same data).
    point = a.spec.pymc_model.initial_point()
    assert a.spec.pymc_model.compile_logp()(point) == b.spec.pymc_model.compile_logp()(point)


def test_round_trip_is_exact(mc_glmm, loaded_glmm):
    _assert_same_fit(mc_glmm, loaded_glmm)
    pd.testing.assert_frame_equal(mc_glmm.diagnostics.table, loaded_glmm.diagnostics.table, check_exact=True)
    assert loaded_glmm.ok == mc_glmm.ok


def test_round_trip_loo_and_predictions(mc_glmm, loaded_glmm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = az.loo(mc_glmm.idata, pointwise=True), az.loo(loaded_glmm.idata, pointwise=True)
    assert a.elpd == b.elpd and a.se == b.se and a.p == b.p
    np.testing.assert_array_equal(a.pareto_k, b.pareto_k)
    pa = mc_glmm.spec.bambi_model.predict(mc_glmm.idata, kind="response_params", inplace=False)
    pb = loaded_glmm.spec.bambi_model.predict(loaded_glmm.idata, kind="response_params", inplace=False)
    np.testing.assert_array_equal(pa.posterior["p"].values, pb.posterior["p"].values)


def test_round_trip_fit_predict(mc, mc_glmm, loaded_glmm):
    pytest.importorskip("bayesglmm.predict")
    pd.testing.assert_frame_equal(mc_glmm.predict(mc), loaded_glmm.predict(mc), check_exact=True)


def test_spec_json_records_model_settings_versions_and_checksums(mc_glmm, saved_glmm):
    spec = _spec(saved_glmm)
    assert spec["format"] == "bayesglmm-fit"
    assert spec["model"] == {"formula": "p(y, n) ~ treat + (1|centre)", "family": "binomial", "link": "logit",
                             "priors": {}, "parameterization": mc_glmm.spec.parameterization,
                             "fixed_design": "auto"}
    assert spec["settings"]["seed"] == 1 and spec["settings"]["draws"] == 1000
    assert set(spec["versions"]) >= {"bayesglmm", "bambi", "pymc", "arviz", "nutpie", "numpy", "pandas"}
    assert spec["versions"]["bambi"] == __import__("bambi").__version__
    assert len(spec["data_sha256"]) == 64 and len(spec["spec_sha256"]) == 64
    centre = next(c for c in spec["data"]["frame"]["columns"] if c["name"] == "centre")
    assert centre["dtype"] == "category" and centre["categories"]["values"][:3] == ["1", "2", "3"]
    assert any(name.startswith("draws.zarr/log_likelihood/") for name in spec["draws"]["files"])


def test_draws_open_with_plain_xarray(saved_glmm, tmp_path):
    """The draws are an ordinary Zarr DataTree: unzipped, xarray/ArviZ read them directly."""
    with zipfile.ZipFile(saved_glmm) as zf:
        zf.extractall(tmp_path)
    tree = xr.open_datatree(tmp_path / "draws.zarr", engine="zarr", consolidated=False)
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(tree.children)


@pytest.fixture
def prior_fit():
    """A prior-only ordinal fit with user priors, dropped rows and an ordered threshold prior."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "o": pd.Categorical(rng.choice(["low", "mid", "high"], 30), categories=["low", "mid", "high"], ordered=True),
        "x": rng.normal(size=30),
        "g": rng.choice([3, 1, 2, 10], 30),  # numbers: made a factor, with a note
    }, index=[f"r{i}" for i in range(30)])
    df.loc["r4", "x"] = np.nan
    priors = {
        "threshold": bg.Prior("Normal", mu=np.array([-1.0, 1.0]), sigma=2.0, transform=pm.distributions.transforms.ordered),
        "x": bg.Prior("StudentT", nu=3, mu=0, sigma=1.5),
        "1|g": bg.Prior("Normal", mu=0, sigma=bg.Prior("HalfNormal", sigma=1.0)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bg.fit("o ~ x + (1|g)", df, "cumulative", priors=priors, prior_only=True, draws=50, seed=3,
                      dropna=True)


def test_prior_only_ordinal_round_trip_with_user_priors(prior_fit, tmp_path):
    path = bio.save(prior_fit, tmp_path / "p.bglmm")
    loaded = bio.load(path)
    _assert_same_fit(prior_fit, loaded)
    assert loaded.diagnostics is None and loaded.prior_only
    assert loaded.spec.data.dropped_rows == ["r4"]
    assert {k: v for k, v in loaded.spec.prior_sources.items() if v == "user"} == {"threshold": "user", "x": "user", "1|g": "user"}
    assert loaded.spec.priors["x"].name == "StudentT"
    assert loaded.spec.priors["1|g"].args["sigma"].name == "HalfNormal"
    assert list(loaded.spec.data.frame["g"].cat.categories) == ["1", "2", "3", "10"]


def test_correlated_block_eta_and_family_prior_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcde"), 8)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = bg.fit("y ~ x + (1 + x | g)", df, "gaussian", prior_only=True, draws=30, seed=2,
                     priors={"g_corr": 2.0, "sigma": bg.Prior("HalfNormal", sigma=1.0)})
    loaded = bio.load(bio.save(fit, tmp_path / "c.bglmm"))
    _assert_same_fit(fit, loaded)
    assert loaded.spec.lkj_eta == {"g": 2.0}
    pd.testing.assert_frame_equal(fit.prior_summary(), loaded.prior_summary())


def test_save_refuses_what_a_file_cannot_hold(prior_fit, tmp_path):
    prior_fit.spec.priors["x"] = bg.Prior("Normal", dist=lambda name, **kw: None)
    with pytest.raises(FitError, match="custom dist"):
        bio.save(prior_fit, tmp_path / "p.bglmm")
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No fit file"):
        bio.load(tmp_path / "none.bglmm")


def test_not_a_fit_file(tmp_path):
    path = tmp_path / "x.bglmm"
    path.write_text("y,n\n1,2\n")
    with pytest.raises(bio.FitFileError, match="truncated or damaged"):
        bio.load(path)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file(saved_glmm, tmp_path, keep):
    data = saved_glmm.read_bytes()
    path = tmp_path / "cut.bglmm"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(bio.FitFileError, match="truncated or damaged") as info:
        bio.load(path)
    assert isinstance(info.value, FitError) and isinstance(info.value, BayesGLMMError)


def test_edited_json(saved_glmm, tmp_path):
    path = tmp_path / "edited.bglmm"

    def change(name, data):
        if name == "spec.json":
            data = data.replace(b"treat + (1|centre)", b"1 + (1|centre)")
        return name, data

    _rewrite(saved_glmm, path, change)
    with pytest.raises(bio.FitFileError, match="spec.json was changed"):
        bio.load(path)


def test_edited_data_even_with_resealed_spec(saved_glmm, tmp_path):
    spec = _spec(saved_glmm)
    y = next(c for c in spec["data"]["frame"]["columns"] if c["name"] == "y")
    y["values"][0] += 1
    path = tmp_path / "edited.bglmm"
    _rewrite(saved_glmm, path, lambda n, d: (n, _reseal(spec) if n == "spec.json" else d))
    with pytest.raises(bio.FitFileError, match="saved data were changed"):
        bio.load(path)


def test_edited_draws(saved_glmm, tmp_path):
    path = tmp_path / "edited.bglmm"
    target = "draws.zarr/posterior/Intercept/c/0/0"
    _rewrite(saved_glmm, path, lambda n, d: (n, d[:-1] + bytes([d[-1] ^ 1]) if n == target else d))
    with pytest.raises(bio.FitFileError, match="Intercept.*SHA-256"):
        bio.load(path)


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


def test_extra_pickle_member_is_refused_not_unpickled(saved_glmm, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bglmm"
    _rewrite(saved_glmm, path, lambda n, d: (n, d))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("fit.pkl", pickle.dumps(_Evil(marker)))
    with pytest.raises(bio.FitFileError, match="fit.pkl"):
        bio.load(path)
    assert not marker.exists()


def test_forged_pickle_draws_are_not_unpickled(saved_glmm, tmp_path):
    """Even with every checksum forged, pickle bytes or a pickle codec in the draws are refused."""
    marker = tmp_path / "pwned"
    spec = _spec(saved_glmm)
    evil = pickle.dumps(_Evil(marker))
    chunk, meta = "draws.zarr/posterior/Intercept/c/0/0", "draws.zarr/posterior/Intercept/zarr.json"
    with zipfile.ZipFile(saved_glmm) as zf:
        zmeta = json.loads(zf.read(meta))
    zmeta["codecs"] = [{"name": "numcodecs.pickle", "configuration": {}}]
    forged_meta = json.dumps(zmeta).encode()
    for member, payload in ((chunk, evil), (meta, forged_meta)):
        spec["draws"]["files"][member] = hashlib.sha256(payload).hexdigest()
        sealed = _reseal(dict(spec))
        path = tmp_path / "forged.bglmm"
        _rewrite(saved_glmm, path, lambda n, d: (n, sealed if n == "spec.json" else payload if n == member else d))
        with pytest.raises(bio.FitFileError):
            bio.load(path)
        spec = _spec(saved_glmm)
    assert not marker.exists()


@pytest.mark.parametrize("where, error", [
    ("xarray.DataTree.to_zarr", OSError("disk full")),
    ("xarray.DataTree.to_zarr", KeyboardInterrupt()),
    ("os.replace", OSError("rename failed")),
])
def test_interrupted_save_keeps_old_file(prior_fit, tmp_path, monkeypatch, where, error):
    path = tmp_path / "fit.bglmm"
    bio.save(prior_fit, path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(where, fail)
    with pytest.raises(type(error)):
        bio.save(prior_fit, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.bglmm"]  # no temporary file left
    assert str(bio.load(path).summary()) == str(prior_fit.summary())


def test_write_atomically_writes_all_or_nothing(tmp_path):
    (tmp_path / "a.txt").write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        bio.write_atomically({tmp_path / "a.txt": "new", tmp_path / "b.txt": broken})
    assert (tmp_path / "a.txt").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.txt"]
    bio.write_atomically({tmp_path / "a.txt": "new", tmp_path / "b.bin": lambda h: h.write(b"\x00")})
    assert (tmp_path / "a.txt").read_text() == "new" and (tmp_path / "b.bin").read_bytes() == b"\x00"


def test_dump_to_memory(prior_fit, tmp_path):
    buffer = io.BytesIO()
    bio.dump(prior_fit, buffer)
    (tmp_path / "m.bglmm").write_bytes(buffer.getvalue())
    assert str(bio.load(tmp_path / "m.bglmm").summary()) == str(prior_fit.summary())


def _draws_digest(fit) -> str:
    h = hashlib.sha256()
    for name in sorted(fit.idata["posterior"].data_vars):
        h.update(name.encode())
        h.update(np.ascontiguousarray(fit.idata["posterior"][name].values).tobytes())
    return h.hexdigest()


# The same fit as conftest's mc_glmm fixture (quick_fit: 4 chains x 1000 after 1000, seed 1).
_REPRO = textwrap.dedent("""
    import warnings
    import bayesglmm as bg
    from test_io import _draws_digest
    warnings.simplefilter("ignore")
    mc = bg.datasets.load("multicentre")
    fit = bg.fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", draws=1000, tune=1000, seed=1, progressbar=False)
    print("DRAWS", _draws_digest(fit))
""")


@needs_data
def test_same_seed_same_draws_in_another_process(mc_glmm):
    """A fresh process fitting with the same seed reproduces this process's draws bit for bit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _REPRO], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    digest = next(line for line in out.stdout.splitlines() if line.startswith("DRAWS")).split()[1]
    assert digest == _draws_digest(mc_glmm)


def test_model_frame_round_trips_exactly():
    frame = pd.DataFrame({
        "f": [0.1 + 0.2, 1e-300, -2.5, np.pi],
        "i": np.array([1, -2, 3, 2**40], dtype="int64"),
        "b": [True, False, True, True],
        "s": ["a", "b", "é", "a"],
        "o": pd.Series(["x", 1, "y", None], dtype=object),
        "c": pd.Categorical(["lo", "hi", "lo", "mid"], categories=["lo", "mid", "hi"], ordered=True),
        "ci": pd.Categorical([3, 1, 3, 2], categories=[3, 2, 1]),
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
    }, index=pd.Index(["r1", "r2", "r3", "r4"], name="row"))
    for f in (frame, frame.reset_index(drop=True), frame.iloc[[3, 1]]):
        back = bio._frame_from_json(json.loads(json.dumps(bio._frame_to_json(f))))
        pd.testing.assert_frame_equal(f, back, check_exact=True)
        pd.testing.assert_index_equal(f.index, back.index, exact=True)
        assert list(f.dtypes) == list(back.dtypes)


def test_model_frame_with_dates_cannot_be_saved():
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(FitError, match="column 'd' has dtype datetime64"):
        bio._frame_to_json(frame)
