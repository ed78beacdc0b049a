"""Saving and loading fits: exact round trips, damaged files, no code execution, atomic writes.

Also the reproducibility promise: the same seed gives bit-identical draws in two processes.
"""

import hashlib
import io
import json
import os
import pickle
import re
import struct
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


# ---------------------------------------------------------------------------------------
# Untrusted files: signatures with a key, and bounds checked before anything is read
# ---------------------------------------------------------------------------------------

KEY = b"our lab's secret"


@pytest.fixture(scope="module")
def signed_glmm(mc_glmm, tmp_path_factory):
    path = tmp_path_factory.mktemp("signed") / "mc.bglmm"
    mc_glmm.save(path, key=KEY)
    return path


def _load_quietly(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bio.load(path, **kwargs)
    return fit, [str(w.message) for w in caught if "signature" in str(w.message)]


def test_signed_round_trip_gives_identical_draws(mc_glmm, signed_glmm):
    with zipfile.ZipFile(signed_glmm) as zf:
        assert "signature.json" in zf.namelist()
        signature = json.loads(zf.read("signature.json"))
    assert set(signature["manifest"]["members"]) == set(_spec(signed_glmm)["draws"]["files"]) | {"spec.json"}
    for key in (KEY, KEY.decode()):  # bytes or str
        loaded, warned = _load_quietly(signed_glmm, key=key)
        assert warned == []
        for group in mc_glmm.idata.children:
            assert mc_glmm.idata[group].to_dataset().identical(loaded.idata[group].to_dataset()), group
    assert str(loaded.summary()) == str(mc_glmm.summary())


def test_signed_file_without_key_loads_on_checksums_and_warns_once(signed_glmm, saved_glmm):
    loaded, warned = _load_quietly(signed_glmm)
    assert len(warned) == 1 and "signature was not verified" in warned[0] and "not tampering" in warned[0]
    assert _load_quietly(saved_glmm)[1] == []  # an unsigned file: nothing to warn about


def _tamper(src, dst):
    """Change one data value and recompute every checksum, as a forger would; keep the signature."""
    spec = _spec(src)
    y = next(c for c in spec["data"]["frame"]["columns"] if c["name"] == "y")
    y["values"][0] += 1
    spec["data_sha256"] = hashlib.sha256(bio._canonical(spec["data"])).hexdigest()
    _rewrite(src, dst, lambda n, d: (n, _reseal(spec) if n == "spec.json" else d))
    return spec


def test_tampered_file_with_recomputed_checksums_fails_only_with_key(signed_glmm, tmp_path):
    path = tmp_path / "tampered.bglmm"
    _tamper(signed_glmm, path)
    loaded, warned = _load_quietly(path)  # the checksums cannot tell
    assert loaded.spec.data.frame["y"].iloc[0] == bio.load(signed_glmm, key=KEY).spec.data.frame["y"].iloc[0] + 1
    assert len(warned) == 1
    with pytest.raises(bio.FitFileError, match="spec.json is not the one it was signed with"):
        bio.load(path, key=KEY)


def test_tampered_file_with_forged_manifest_fails_with_key(signed_glmm, tmp_path):
    """Recomputing the manifest too does not help: the HMAC needs the key."""
    path = tmp_path / "forged.bglmm"
    _tamper(signed_glmm, path)
    with zipfile.ZipFile(path) as zf:
        spec_bytes, signature = zf.read("spec.json"), json.loads(zf.read("signature.json"))
    signature["manifest"]["members"]["spec.json"] = hashlib.sha256(spec_bytes).hexdigest()
    forged = tmp_path / "forged2.bglmm"
    _rewrite(path, forged, lambda n, d: (n, json.dumps(signature).encode() if n == "signature.json" else d))
    with pytest.raises(bio.FitFileError, match="signed with another key, or edited after it was signed"):
        bio.load(forged, key=KEY)


def test_wrong_key(signed_glmm):
    with pytest.raises(bio.FitFileError, match="does not match the key: it was signed with another key"):
        bio.load(signed_glmm, key=b"another secret")


def test_unsigned_file_or_removed_signature_with_key(saved_glmm, signed_glmm, tmp_path):
    with pytest.raises(bio.FitFileError, match="it is not signed, but a key was given"):
        bio.load(saved_glmm, key=KEY)
    path = tmp_path / "stripped.bglmm"
    _rewrite(signed_glmm, path, lambda n, d: None if n == "signature.json" else (n, d))
    with pytest.raises(bio.FitFileError, match="it is not signed"):
        bio.load(path, key=KEY)


def test_member_added_to_a_signed_file(signed_glmm, tmp_path):
    path = tmp_path / "added.bglmm"
    spec = _spec(signed_glmm)
    extra = "draws.zarr/posterior/extra/zarr.json"
    payload = b'{"zarr_format": 3, "node_type": "group"}'
    spec["draws"]["files"][extra] = hashlib.sha256(payload).hexdigest()
    _rewrite(signed_glmm, path, lambda n, d: (n, _reseal(spec) if n == "spec.json" else d))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(extra, payload)
    _load_quietly(path)  # loads on checksums
    with pytest.raises(bio.FitFileError, match="not those it was signed with"):
        bio.load(path, key=KEY)


def test_bad_keys(saved_glmm, tmp_path):
    with pytest.raises(bg.errors.ArgumentError, match="key must be bytes or str, not int"):
        bio.load(saved_glmm, key=1234)
    with pytest.raises(bg.errors.SettingsError, match="key is empty"):
        bio.load(saved_glmm, key="")
    with pytest.raises(bg.errors.SettingsError, match="key is empty"):
        bio.save(None, tmp_path / "x.bglmm", key=b"")
    assert list(tmp_path.iterdir()) == []


def test_key_from_env(monkeypatch):
    monkeypatch.delenv("BAYESGLMM_FIT_KEY", raising=False)
    assert bio.key_from_env() is None
    with pytest.raises(bg.errors.SettingsError, match="BAYESGLMM_FIT_KEY holds no key"):
        bio.key_from_env(required=True)
    monkeypatch.setenv("BAYESGLMM_FIT_KEY", "sécret")
    assert bio.key_from_env() == "sécret".encode()


def test_environment_key_is_not_used_implicitly(saved_glmm, monkeypatch):
    monkeypatch.setenv("BAYESGLMM_FIT_KEY", "sécret")
    assert _load_quietly(saved_glmm)[0].settings["seed"] == 1  # an unsigned file still loads


# Crafted containers --------------------------------------------------------------------


def _declare_size(data: bytes, name: str, size: int) -> bytes:
    """A zip whose index says ``name`` holds ``size`` bytes (compressed and not), whatever it holds."""
    buf = bytearray(data)
    count, _, pos = struct.unpack_from("<HLL", buf, buf.rfind(b"PK\x05\x06") + 10)
    for _ in range(count):
        n, m, k = struct.unpack_from("<3H", buf, pos + 28)
        if buf[pos + 46: pos + 46 + n].decode() == name:
            struct.pack_into("<LL", buf, pos + 20, size, size)
            return bytes(buf)
        pos += 46 + n + m + k
    raise AssertionError(f"{name} not in the zip")


def _first_chunk(path):
    return next(n for n in _spec(path)["draws"]["files"] if "/posterior/" in n and "/c/" in n)


def test_member_declaring_a_huge_size_is_refused_before_reading(saved_glmm, tmp_path):
    chunk = _first_chunk(saved_glmm)
    path = tmp_path / "huge.bglmm"
    path.write_bytes(_declare_size(saved_glmm.read_bytes(), chunk, 3 * 2**30))
    with pytest.raises(bio.FitFileError, match=re.escape(f"{chunk} declares 3.0 GiB, more than the 256.0 MiB allowed "
                                                         "(MAX_MEMBER_BYTES)")):
        bio.load(path)


def test_member_holding_more_than_its_header_says_is_not_read_past_it(saved_glmm, tmp_path):
    path = tmp_path / "lying.bglmm"
    path.write_bytes(_declare_size(saved_glmm.read_bytes(), _first_chunk(saved_glmm), 10))
    with pytest.raises(bio.FitFileError, match="truncated or damaged|compressed in the container"):
        bio.load(path)


def test_chunk_bigger_than_its_declared_shape(saved_glmm, tmp_path):
    """A chunk may hold at most its array's declared chunk shape (plus zstd's overhead)."""
    spec = _spec(saved_glmm)
    chunk = "draws.zarr/posterior/Intercept/c/0/0"  # 4 x 1000 float64: 32,000 bytes
    payload = b"\0" * 200_000
    spec["draws"]["files"][chunk] = hashlib.sha256(payload).hexdigest()
    path = tmp_path / "fat.bglmm"
    _rewrite(saved_glmm, path, lambda n, d: (n, _reseal(spec) if n == "spec.json" else payload if n == chunk else d))
    with pytest.raises(bio.FitFileError, match=r"Intercept/c/0/0 declares 200,000 bytes, more than the 97,856 bytes "
                                                "its array's declared chunk shape allows"):
        bio.load(path)


def _zstd_bomb(size: int) -> bytes:
    from numcodecs import Zstd

    return Zstd(level=3).encode(np.zeros(size, np.uint8))


def _forge_chunk(src, dst, chunk, payload):
    spec = _spec(src)
    spec["draws"]["files"][chunk] = hashlib.sha256(payload).hexdigest()
    _rewrite(src, dst, lambda n, d: (n, _reseal(spec) if n == "spec.json" else payload if n == chunk else d))


def test_zstd_chunk_declaring_more_than_its_shape_is_not_decompressed(saved_glmm, tmp_path):
    chunk = "draws.zarr/posterior/Intercept/c/0/0"
    path = tmp_path / "zbomb.bglmm"
    _forge_chunk(saved_glmm, path, chunk, _zstd_bomb(64 * 2**20))  # 64 MiB of zeros in a few KB
    with pytest.raises(bio.FitFileError, match=r"Intercept/c/0/0 would decompress to 64.0 MiB, more than the "
                                                "32,000 bytes its array's chunk shape holds"):
        bio.load(path)
    # Two frames: the first declares a small size, the second holds the bomb.
    frames = _zstd_bomb(32_000) + _zstd_bomb(64 * 2**20)
    _forge_chunk(saved_glmm, path, chunk, frames)
    with pytest.raises(bio.FitFileError, match="is not one Zstandard frame that declares its decompressed size"):
        bio.load(path)


def test_arrays_declaring_more_than_the_file_can_hold(saved_glmm, tmp_path):
    """Zarr fills absent chunks: a huge declared shape with no chunks is a decompression bomb."""
    spec = _spec(saved_glmm)
    meta_name = "draws.zarr/posterior/Intercept/zarr.json"
    with zipfile.ZipFile(saved_glmm) as zf:
        meta = json.loads(zf.read(meta_name))
    meta["shape"] = [4, 1000, 100_000]  # 3.2 GB of float64
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [1, 1000, 1000]
    meta["dimension_names"] = ["chain", "draw", "x"]
    payload = json.dumps(meta).encode()
    spec["draws"]["files"] = {n: h for n, h in spec["draws"]["files"].items() if "/Intercept/c/" not in n}
    spec["draws"]["files"][meta_name] = hashlib.sha256(payload).hexdigest()
    path = tmp_path / "fill.bglmm"
    _rewrite(saved_glmm, path, lambda n, d: None if "/Intercept/c/" in n else
             (n, _reseal(spec) if n == "spec.json" else payload if n == meta_name else d))
    with pytest.raises(bio.FitFileError, match="a decompression bomb"):
        bio.load(path)


def test_vlen_chunk_declaring_billions_of_items(tmp_path):
    """numcodecs would allocate an object array of the count in a text chunk's first 4 bytes."""
    from numcodecs import Zstd

    tree = xr.DataTree.from_dict({"/g": xr.Dataset({"t": ("k", np.array(["a", "bb"], dtype=object))})})
    files = bio._draws_files(tree)
    name = "draws.zarr/g/t/c/0"
    files[name] = Zstd(level=0).encode(b"\xff\xff\xff\x7f" + b"\0" * 8)
    meta = {n: d for n, d in files.items() if bio._is_metadata(n)}
    sizes = {n: len(d) for n, d in files.items() if n not in meta}
    limits, arrays = bio._check_zarr_metadata("x.bglmm", meta, sizes)
    with pytest.raises(bio.FitFileError, match="does not hold the 2 items its array declares"):
        bio._check_chunks("x.bglmm", files, limits, arrays)


def test_too_many_members(tmp_path):
    path = tmp_path / "many.bglmm"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("spec.json", "{}")
        for i in range(bio.MAX_MEMBERS + 1):
            zf.writestr(f"draws.zarr/x/c/{i}", b"")
    with pytest.raises(bio.FitFileError,
                       match=r"declares 20,002 members, more than the 20,000 allowed \(MAX_MEMBERS\)"):
        bio.load(path)


def test_central_directory_too_big(tmp_path):
    path = tmp_path / "longnames.bglmm"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(2_000):
            zf.writestr(f"draws.zarr/{'x' * 3000}/{i}", b"")
    with pytest.raises(bio.FitFileError, match=r"index of members takes .* \(MAX_CENTRAL_DIRECTORY_BYTES\)"):
        bio.load(path)


def _deep(depth: int) -> bytes:
    return b'{"format": "bayesglmm-fit", "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("member", ["spec.json", "draws.zarr/zarr.json"])
def test_deeply_nested_json_is_refused_not_recursed(saved_glmm, tmp_path, member):
    path = tmp_path / "deep.bglmm"
    if member == "spec.json":
        _rewrite(saved_glmm, path, lambda n, d: (n, _deep(200_000) if n == member else d))
    else:
        spec = _spec(saved_glmm)
        spec["draws"]["files"][member] = hashlib.sha256(_deep(200_000)).hexdigest()
        _rewrite(saved_glmm, path,
                 lambda n, d: (n, _reseal(spec) if n == "spec.json" else _deep(200_000) if n == member else d))
    with pytest.raises(bio.FitFileError, match=rf"{member} nests 200,?001 levels deep, more than the 64 allowed"):
        bio.load(path)


def test_json_depth_ignores_brackets_in_strings():
    assert bio._json_depth(b'{"a": "[[[[{{", "b": [[1, {"c": "\\"]]"}]]}') == 4
    assert bio._json_depth(b'"{[" ') == 0 and bio._json_depth(b"[]" * 1000) == 1


def test_real_spec_nests_well_within_the_limit(saved_glmm):
    with zipfile.ZipFile(saved_glmm) as zf:
        assert bio._json_depth(zf.read("spec.json")) <= bio.MAX_JSON_DEPTH // 4


_BOMB = textwrap.dedent("""
    import sys, tracemalloc, zipfile
    path = sys.argv[1]
    if sys.argv[2] == "make":  # 512 MiB of spaces, deflated to about 0.5 MB, written in pieces
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            with zf.open("spec.json", "w") as handle:
                block = b" " * 2**20
                for _ in range(512):
                    handle.write(block)
        sys.exit(0)
    from bayesglmm import io as bio
    tracemalloc.start()
    try:
        if sys.argv[2] == "load":
            bio.load(path)
        else:  # what load did before the bounds: read the member whole
            with zipfile.ZipFile(path) as zf:
                zf.read("spec.json")
    except bio.FitFileError as err:
        print("ERROR", err)
    print("PEAK_MB", tracemalloc.get_traced_memory()[1] / 2**20)
""")


def test_deflate_bomb_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.bglmm"

    def run(mode):
        out = subprocess.run([sys.executable, "-c", _BOMB, str(path), mode], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    run("make")
    assert path.stat().st_size < 4 * 2**20
    out = run("load")
    assert "spec.json declares 512.0 MiB, more than the 64.0 MiB allowed (MAX_SPEC_BYTES)" in out
    peak = float(out.split("PEAK_MB")[1])
    assert peak < 200, out
    # The same file with an index that understates the size: read no further than the index says.
    path.write_bytes(_declare_size(path.read_bytes(), "spec.json", 1000))
    out = run("load")
    assert "truncated or damaged" in out and float(out.split("PEAK_MB")[1]) < 200, out


def test_limits_admit_a_large_real_fit(tmp_path):
    """4 chains x 1000 draws of 2,000 parameters plus 1,000 log-likelihood values (96 MB) pass every bound."""
    rng = np.random.default_rng(0)
    tree = xr.DataTree.from_dict({
        "/posterior": xr.Dataset({"b": (("chain", "draw", "k"), rng.normal(size=(4, 1000, 2000))),
                                  "Intercept": (("chain", "draw"), rng.normal(size=(4, 1000)))},
                                 coords={"k": [f"level {i}" for i in range(2000)]}),
        "/log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), rng.normal(size=(4, 1000, 1000)))}),
        "/sample_stats": xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 1000), bool)),
                                     "tree_depth": (("chain", "draw"), rng.integers(1, 6, (4, 1000)))}),
    })
    files = bio._draws_files(tree)
    spec = {"format": bio.FORMAT, "format_version": bio.FORMAT_VERSION, "data": {}, "draws": {
        "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()},
        "groups": {g: list(tree[g].data_vars) for g in tree.children}}}
    spec["data_sha256"] = hashlib.sha256(bio._canonical({})).hexdigest()
    path = tmp_path / "large.bglmm"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("spec.json", _reseal(spec), compress_type=zipfile.ZIP_DEFLATED)
    got, read, trust = bio._read_container(path, None)
    assert trust == "unsigned" and read.keys() == files.keys()
    draws = bio._read_draws(path, got, read)
    np.testing.assert_array_equal(draws["posterior"]["b"].values, tree["posterior"]["b"].values)
