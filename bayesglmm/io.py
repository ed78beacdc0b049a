"""Save a fit to one file and load it back, without running any code from the file.

A fit file (``.bglmm`` by convention) is a zip container with two parts:

``spec.json``
    Formula, family, link, the user's priors, the sampler settings, the model frame (each
    column with its dtype, categorical categories and order, so it round-trips exactly),
    the package versions, and SHA-256 checksums of the data, of the draws and of
    ``spec.json`` itself.
``draws.zarr/``
    The ArviZ ``DataTree`` (``/posterior``, ``/sample_stats``, ``/log_likelihood``, ...) as
    a Zarr v3 store: ``xarray.open_datatree(folder, engine="zarr")`` or
    ``arviz.from_zarr`` read it once unzipped. (netCDF needs h5netcdf or netCDF4 to write
    groups; neither is a dependency, while zarr comes with nutpie.)
``signature.json`` (only when saved with ``key=``)
    An HMAC-SHA256, made with the key, of a manifest listing the SHA-256 of every other
    member.

:func:`load` reads only JSON and Zarr chunks with a fixed list of codecs (no pickle, no
code), checks every checksum, rebuilds the model with :func:`bayesglmm.build_model` (no
sampling) and recomputes the diagnostics, so a loaded fit gives the same summary,
predictions and LOO as the one saved. :func:`save` writes a temporary file in the target
folder, fsyncs it and renames it over the target: an interrupted save leaves the old file
(or none), never a broken one.

Trust. The SHA-256 checksums detect accidental damage (a truncated copy, a flipped bit),
not tampering: anyone who edits a file can recompute them. To know that a file is the one
you saved, save it with ``key=`` and load it with the same key: only a holder of the key
can make a signature that :func:`load` accepts. Every file, signed or not, is read as
untrusted data: sizes are bounded before anything is read (the ``MAX_*`` constants below),
the JSON nesting depth before anything is parsed, and the decompressed size of every Zarr
chunk from its header before it is decompressed, so a crafted file is refused quickly and
in bounded memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import struct
import tempfile
import warnings
import zipfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from bambi import Prior

from bayesglmm.errors import ArgumentError, FitError, MissingFileError, SettingsError

FORMAT = "bayesglmm-fit"
FORMAT_VERSION = 1
SPEC_FILE = "spec.json"
SIGNATURE_FILE = "signature.json"
DRAWS_DIR = "draws.zarr/"
PACKAGES = ("bayesglmm", "bambi", "pymc", "arviz", "nutpie", "numpy", "pandas", "xarray", "zarr")
# Codecs zarr may use to decode the draws; anything else (numcodecs' pickle, gzip and blosc, whose
# decompressed size cannot be bounded from a header) is refused. A chunk's codecs must be an
# optional "transpose", one of the array-to-bytes codecs, then optionally "zstd", then "crc32c".
SAFE_CODECS = {"bytes", "zstd", "crc32c", "transpose", "vlen-utf8", "vlen-bytes"}
KEY_VARIABLE = "BAYESGLMM_FIT_KEY"  # read only by key_from_env(), never implicitly

_MiB, _GiB = 2**20, 2**30
# Limits on what load() reads, checked before reading (from the zip's central directory and
# the Zarr metadata). The largest fit they are sized for: 4 chains x 1000 draws of 5,000
# parameters plus 20,000 pointwise log-likelihood values, in float64, is 4,000 x 25,000 x 8 B
# = 800 MB of draws in about 800 Zarr chunks (Zarr cuts arrays into chunks of 1-64 MiB) and
# a spec.json of a few MB for a data set of 20,000 rows. Each limit leaves at least 5x margin.
MAX_MEMBERS = 20_000  # files in the container
MAX_CENTRAL_DIRECTORY_BYTES = MAX_MEMBERS * 256  # the zip's index, read before the members are listed
MAX_SPEC_BYTES = 64 * _MiB  # spec.json (data, priors, settings), decompressed
MAX_METADATA_BYTES = 8 * _MiB  # each zarr.json, and signature.json
MAX_MEMBER_BYTES = 256 * _MiB  # each chunk of draws, and at most its declared shape's size plus 1% + 64 KiB
MAX_TOTAL_BYTES = 4 * _GiB  # all members together
MAX_DRAWS_BYTES = 4 * _GiB  # all arrays together as declared in their zarr.json (shape x item size)
# A chunk may decompress to much more than it stores (a column of zeros), but all the draws
# together may take at most this many bytes plus EXPANSION_RATIO times the bytes stored:
# real draws (float64 noise) compress by about 1.1x, so only a crafted "zip bomb" gets near it.
MAX_EXPANSION_BYTES = 256 * _MiB
EXPANSION_RATIO = 4
MAX_TEXT_CHUNK_BYTES = 64 * _MiB  # a chunk of a text array (labels), decompressed; all text <= MAX_EXPANSION_BYTES
MAX_JSON_DEPTH = 64  # nesting of [ and { in any JSON member; a real spec.json nests about 12 deep
MAX_ARRAY_DIMS = 32

__all__ = ["FitFileError", "dump", "key_from_env", "load", "save", "write_atomically"]


class FitFileError(FitError):
    """A fit file is damaged, truncated, edited, or not a bayesglmm fit file."""


# ---------------------------------------------------------------------------------------
# Writing files atomically
# ---------------------------------------------------------------------------------------


#: Test-only hook: set to a number of seconds, it makes :func:`write_atomically` print
#: ``write_atomically: paused`` to standard error and sleep that long once its temporary files
#: are written, before they are renamed, so that a test can send a signal mid-write
#: (tests/test_cli.py). Never set it otherwise.
PAUSE_ENV = "BAYESGLMM_TEST_PAUSE_WRITE"


def write_atomically(outputs: dict, *, before_commit=None) -> list[Path]:
    """Write several files at once: each ends up complete or untouched, never partial.

    Every file is first written to a temporary file in its own folder and fsynced; only
    when all are written are they renamed over their targets (``os.replace``). On any
    error, Ctrl-C, or a signal turned into an exception (the command line turns SIGTERM
    into one), the temporary files are removed (in ``finally``) and the targets keep their
    old content. SIGINT and SIGTERM are held back while the files are renamed and while
    the temporary files are removed, so a signal cannot stop either half-way; it is
    delivered just after.

    Parameters
    ----------
    outputs : dict
        Path -> ``bytes``/``str`` content, or a function that writes to a binary file.
    before_commit : callable, optional
        Called with no arguments once every temporary file is written, just before the
        renames, with SIGINT and SIGTERM already held back; if it raises, nothing is
        written. The command line checks there that no Ctrl-C came (one a library
        swallowed) and that no other program wrote a fit meanwhile.

    Returns
    -------
    list of pathlib.Path
        The paths written.

    Raises
    ------
    MissingFileError
        A target's folder does not exist (named; nothing is written).
    OSError
        Writing failed (no permission, disk full); nothing is written.

    Notes
    -----
    Test-only: with the environment variable ``BAYESGLMM_TEST_PAUSE_WRITE`` set to a number
    of seconds, the function prints ``write_atomically: paused`` to standard error and
    sleeps that long before renaming, with the temporary files on disk.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in write_atomically({folder / "a.txt": "hello"})]
    ['a.txt']
    """
    staged: list[tuple[str, Path]] = []
    mode = 0o666 & ~_umask()  # the permissions open() would give, not mkstemp's 0o600
    try:
        for path, content in outputs.items():
            path = Path(path)
            if not path.parent.is_dir():
                raise MissingFileError(f"Cannot write {path}: the folder {path.parent} does not exist; create it "
                                       "first (nothing was written).")
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                os.chmod(tmp, mode)
                if callable(content):
                    content(handle)
                else:
                    handle.write(content.encode() if isinstance(content, str) else content)
                handle.flush()
                os.fsync(handle.fileno())
        _test_pause()
        with _signals_held():  # a signal from here on is delivered after the renames
            if before_commit is not None:
                before_commit()
            for tmp, path in staged:
                os.replace(tmp, path)
    finally:
        with _signals_held():
            for tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    for folder in {path.parent for _, path in staged}:
        _fsync_dir(folder)
    return [path for _, path in staged]


def _test_pause() -> None:
    """The test-only pause of :data:`PAUSE_ENV`; a no-op unless the variable is set."""
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        import sys
        import time

        print("write_atomically: paused", file=sys.stderr, flush=True)
        time.sleep(float(seconds))


@contextlib.contextmanager
def _signals_held():
    """Hold back SIGINT and SIGTERM for the block: they reach their own handlers at its end.

    The Python handlers are swapped for ones that only note the signal, then restored and the
    noted signals raised again (``signal.raise_signal``). A thread mask would not do: a signal
    sent to the process goes to any thread that does not block it (BLAS, the sampler's threads).
    Only the main thread can set handlers; elsewhere the block runs as it is.
    """
    import signal
    import threading

    noted: list = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if handler is not None and handler is not signal.SIG_IGN:  # None: a handler set from C, left alone
                previous[signum] = signal.signal(signum, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------
# Plain-data forms of the model frame and of priors
# ---------------------------------------------------------------------------------------


def _values_to_json(values, what: str) -> dict:
    """A pandas Index/Series as ``{"dtype", "values"}`` (categoricals as codes + categories)."""
    if isinstance(values, pd.RangeIndex):
        return {"dtype": "range", "values": [values.start, values.stop, values.step]}
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return {"dtype": "category", "ordered": bool(dtype.ordered),
                "categories": _values_to_json(dtype.categories, what), "codes": cat.codes.tolist()}
    if dtype.kind not in "biufOT" and str(dtype) not in ("str", "string", "Int64", "Float64", "boolean"):
        raise FitError(f"{what} has dtype {dtype}, which a fit file cannot hold; convert it to numbers or text.")
    out = [None if v is pd.NA else v for v in pd.Series(values).tolist()]
    try:
        json.dumps(out)
    except TypeError as err:
        raise FitError(f"{what} holds values a fit file cannot hold ({err}); convert it to numbers or text.") from err
    return {"dtype": str(dtype), "values": out}


def _values_from_json(obj: dict):
    if obj["dtype"] == "range":
        return pd.RangeIndex(*obj["values"])
    if obj["dtype"] == "category":
        categories = pd.Index(_values_from_json(obj["categories"]))
        return pd.Categorical.from_codes(obj["codes"], categories=categories, ordered=obj["ordered"])
    return pd.array(obj["values"], dtype=obj["dtype"])


def _frame_to_json(frame: pd.DataFrame) -> dict:
    return {
        "index": {"name": frame.index.name, **_values_to_json(frame.index, "the data's index")},
        "columns": [{"name": str(c), **_values_to_json(frame[c], f"column {c!r}")} for c in frame.columns],
    }


def _frame_from_json(obj: dict) -> pd.DataFrame:
    index_obj = obj["index"]
    index = pd.Index(_values_from_json(index_obj), name=index_obj["name"])
    columns = {c["name"]: pd.Series(_values_from_json(c), index=index) for c in obj["columns"]}
    return pd.DataFrame(columns, index=index)


def _arg_to_json(value, where: str):
    if isinstance(value, Prior):
        return {"prior": _prior_to_json(value, where)}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"value": value}
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float)) for v in value):
        return {"value": list(value)}
    if isinstance(value, np.generic):
        return {"value": value.item()}
    import pymc as pm

    if isinstance(value, pm.distributions.transforms.Ordered):
        return {"transform": "ordered"}
    raise FitError(f"The prior of {where} has an argument of type {type(value).__name__} that a fit file cannot hold.")


def _prior_to_json(prior, where: str) -> dict:
    if not isinstance(prior, Prior):
        return {"fixed": _arg_to_json(prior, where)}
    if prior.dist is not None:
        raise FitError(f"The prior of {where} uses a custom dist= function, which a fit file cannot hold.")
    return {"name": prior.name, "auto_scale": bool(prior.auto_scale), "noncentered": prior.noncentered,
            "args": {k: _arg_to_json(v, f"{where} ({k})") for k, v in prior.args.items()}}


def _arg_from_json(obj):
    if "prior" in obj:
        return _prior_from_json(obj["prior"])
    if "array" in obj:
        return np.array(obj["array"], dtype=obj["dtype"])
    if "transform" in obj:
        if obj["transform"] != "ordered":
            raise FitFileError(f"Unknown prior transform {obj['transform']!r} in the fit file.")
        import pymc as pm

        return pm.distributions.transforms.ordered
    return obj["value"]


def _prior_from_json(obj: dict):
    if "fixed" in obj:
        return _arg_from_json(obj["fixed"])
    import pymc as pm

    if not (isinstance(getattr(pm, obj["name"], None), type) and issubclass(getattr(pm, obj["name"]), pm.Distribution)):
        raise FitFileError(f"The fit file names a prior {obj['name']!r} that is not a PyMC distribution.")
    args = {k: _arg_from_json(v) for k, v in obj["args"].items()}
    return Prior(obj["name"], auto_scale=obj["auto_scale"], noncentered=obj["noncentered"], **args)


# ---------------------------------------------------------------------------------------
# The container
# ---------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise ArgumentError(f"{type(value).__name__} is not JSON serialisable")


def _plain(obj, what: str):
    """``obj`` if it is plain JSON data, else FitError."""
    try:
        _canonical(obj)
    except (TypeError, ValueError) as err:
        raise FitError(f"{what} hold a value a fit file cannot hold ({err}): {obj!r}.") from err
    return obj


def _versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _user_priors(spec) -> dict:
    out = {}
    for name, source in spec.prior_sources.items():
        if source != "user":
            continue
        if name.endswith("_corr") and name[: -len("_corr")] in spec.lkj_eta:
            out[name] = {"fixed": {"value": spec.lkj_eta[name[: -len("_corr")]]}}
        else:
            out[name] = _prior_to_json(spec.priors[name], repr(name))
    return out


def _spec_json(fit) -> dict:
    """Everything but the draws, as plain data (raises FitError for what cannot be saved)."""
    spec = fit.spec
    data = {"frame": _frame_to_json(spec.data.frame), "notes": list(spec.data.notes),
            "dropped_rows": [v.item() if isinstance(v, np.generic) else v for v in spec.data.dropped_rows]}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "model": {
            "formula": spec.formula.original,
            "family": spec.family.name,
            "link": spec.link,
            "priors": _user_priors(spec),
            "parameterization": spec.parameterization_choice(),
            # what was asked for: "auto" rebuilds the same choice from the same data and priors
            "fixed_design": spec.fixed_design if spec.fixed_design_reason == "requested" else "auto",
            **({"weights": spec.weights} if getattr(spec, "weights", None) else {}),  # a column of the saved frame
            **({"dpars": dict(spec.dpars)} if getattr(spec, "dpars", None) else {}),  # sigma ~ x: checked again on load
        },
        "settings": _plain(dict(fit.settings), "the fit's settings"),
        "attempts": _plain(list(fit.attempts), "the fit's attempts"),
        "data": data,
        "data_sha256": _sha256(_canonical(data)),
    }


def _draws_files(idata) -> dict:
    """The DataTree as a Zarr v3 store: member name -> bytes."""
    from zarr.storage import MemoryStore

    buffers: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.to_zarr(MemoryStore(buffers), mode="w", consolidated=False, zarr_format=3)
    return {DRAWS_DIR + key: buf.to_bytes() for key, buf in sorted(buffers.items())}


def _key_bytes(key) -> bytes | None:
    """``key`` as bytes (str is UTF-8 encoded); None stays None."""
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ArgumentError(f"key must be bytes or str, not {type(key).__name__}.")
    key = bytes(key)
    if not key:
        raise SettingsError("key is empty: pass the secret bytes or text the fit file is signed with, or key=None.")
    return key


def _manifest(members: dict) -> dict:
    """What a signature covers: the format and the SHA-256 of every other member."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "algorithm": "HMAC-SHA256",
            "members": {name: _sha256(data) for name, data in sorted(members.items())}}


def _hmac(key: bytes, manifest) -> str:
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def key_from_env(variable: str = KEY_VARIABLE, *, required: bool = False) -> bytes | None:
    """The signing key held in an environment variable, for an explicit ``key=``.

    :func:`save` and :func:`load` never read the environment on their own: a key that
    silently changes what ``load`` accepts (an unsigned file is refused with a key) would
    make the same script behave differently from one shell to the next, and would follow
    every subprocess and batch worker. Read it here and pass it on, so that the call
    shows that a signature is made or checked.

    Parameters
    ----------
    variable : str, default "BAYESGLMM_FIT_KEY"
        The environment variable.
    required : bool, default False
        Raise when the variable is unset or empty, instead of returning None.

    Returns
    -------
    bytes or None
        The variable's value, UTF-8 encoded; None when it is unset or empty.

    Raises
    ------
    SettingsError
        ``required=True`` and the variable is unset or empty.

    Examples
    --------
    >>> key_from_env("BAYESGLMM_UNSET_EXAMPLE_VARIABLE") is None  # unset: no key
    True
    >>> fit = load("fit.bglmm", key=key_from_env(required=True))  # doctest: +SKIP
    >>> save(fit, "fit.bglmm", key=key_from_env(required=True))  # doctest: +SKIP
    PosixPath('fit.bglmm')
    """
    value = os.environ.get(variable, "")
    if not value:
        if required:
            raise SettingsError(f"The environment variable {variable} holds no key: set it to the secret "
                                "the fit files are signed with.")
        return None
    return value.encode("utf-8")


def dump(fit, file, *, key=None) -> None:
    """Write a fit as a fit file to an open binary file (see :func:`save`).

    Parameters
    ----------
    fit : bayesglmm.Fit
        The fit.
    file : binary file object
        Where to write (e.g. ``open(path, "wb")`` or ``io.BytesIO()``).
    key : bytes or str, optional
        Sign the file with this secret (see :func:`save`).

    Examples
    --------
    >>> import io
    >>> buffer = io.BytesIO()
    >>> dump(fit, buffer, key=b"secret")  # doctest: +SKIP
    """
    key = _key_bytes(key)
    spec = _spec_json(fit)  # first, so that a fit that cannot be saved writes nothing
    files = _draws_files(fit.idata)
    groups = {g: list(fit.idata[g].data_vars) for g in fit.idata.children}  # zarr does not keep order
    spec["draws"] = {"format": "zarr", "zarr_format": 3, "groups": groups,
                     "files": {name: _sha256(data) for name, data in files.items()}}
    spec["spec_sha256"] = _sha256(_canonical(spec))
    spec_bytes = json.dumps(spec, indent=1, default=_json_default).encode()
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # chunks are zstd-compressed
        zf.writestr(SPEC_FILE, spec_bytes)
        if key is not None:
            manifest = _manifest({**files, SPEC_FILE: spec_bytes})
            zf.writestr(SIGNATURE_FILE, json.dumps({"manifest": manifest, "hmac": _hmac(key, manifest)}, indent=1))


def save(fit, path, *, key=None) -> Path:
    """Save a fit (draws, model, data, settings) to one file, atomically.

    Parameters
    ----------
    fit : bayesglmm.Fit
        The fit to save.
    path : str or path-like
        The file to write (``.bglmm`` by convention); an existing file is replaced only
        once the new one is completely written.
    key : bytes or str, optional
        A secret to sign the file with: an HMAC-SHA256 over the SHA-256 of every member.
        ``load(path, key=key)`` then refuses a file that was edited, even by someone who
        recomputed its checksums. Without a key the file holds SHA-256 checksums only,
        which detect accidental damage but not tampering (anyone can recompute them).
        See :func:`key_from_env` to take the key from an environment variable.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FitError
        The fit holds something a fit file cannot (a custom ``dist=`` prior, a column of
        dates); nothing is written.
    ArgumentError, SettingsError
        ``key`` is not bytes or str, or is empty.

    Examples
    --------
    >>> import bayesglmm as bg
    >>> from bayesglmm.io import save
    >>> fit = bg.fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", seed=1)  # doctest: +SKIP
    >>> save(fit, "multicentre.bglmm")  # or fit.save("multicentre.bglmm")  # doctest: +SKIP
    PosixPath('multicentre.bglmm')
    >>> save(fit, "multicentre.bglmm", key=b"our lab's secret")  # doctest: +SKIP
    PosixPath('multicentre.bglmm')
    """
    path = Path(path)
    key = _key_bytes(key)
    write_atomically({path: lambda handle: dump(fit, handle, key=key)})
    return path


def _damaged(path, why: str) -> FitFileError:
    return FitFileError(f"{path} is not a usable bayesglmm fit file: {why}. Save the fit again, or restore the file from a copy.")


def _too_big(path, why: str) -> FitFileError:
    return FitFileError(f"{path} is refused before it is read: {why}. Files bayesglmm writes stay far below "
                        "these limits (bayesglmm.io.MAX_*): this one is damaged or was crafted.")


def _untrusted(path, why: str) -> FitFileError:
    return FitFileError(f"{path} cannot be trusted: {why}. Load it without key= only if you trust where it came from.")


def _size(n: int) -> str:
    return f"{n / _GiB:.1f} GiB" if n >= _GiB else f"{n / _MiB:.1f} MiB" if n >= _MiB else f"{n:,} bytes"


def _json_depth(data: bytes) -> int:
    """The deepest nesting of [ and { outside strings, found in linear time without parsing."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for start in range(0, len(brackets), _MiB):  # in blocks: bounded memory for any size
        block = np.frombuffer(brackets, np.uint8, count=min(_MiB, len(brackets) - start), offset=start)
        levels = depth + np.cumsum(np.where((block == ord("[")) | (block == ord("{")), 1, -1), dtype=np.int64)
        deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _parse_json(path, name: str, data: bytes):
    """``data`` parsed as JSON, once its nesting depth is known to be within MAX_JSON_DEPTH."""
    depth = _json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise _too_big(path, f"{name} nests {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed "
                             "(MAX_JSON_DEPTH)")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise _damaged(path, f"{name} is not valid JSON ({err})") from err


_EOCD = struct.Struct("<4s4H2LH")  # the zip's end record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


def _check_central_directory(path, handle) -> None:
    """Bound the zip's index from its end record, before zipfile reads the index.

    Found as :mod:`zipfile` finds it (the last 22 bytes, else the last record in the final
    64 KiB; the Zip64 record just before its locator), so both see the same numbers.
    """
    size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, size - _EOCD.size - 65535)
    handle.seek(tail_start)
    tail = handle.read()
    at = len(tail) - _EOCD.size
    if not (at >= 0 and tail[at:at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return  # no end record: zipfile refuses the file itself, before reading anything
    entries, cd_size = _EOCD.unpack_from(tail, at)[4:6]
    locator = tail_start + at - _EOCD64_LOCATOR.size
    if locator - _EOCD64.size >= 0:
        handle.seek(locator - _EOCD64.size)
        record = handle.read(_EOCD64.size + _EOCD64_LOCATOR.size)
        if record[_EOCD64.size:_EOCD64.size + 4] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
            entries, cd_size = _EOCD64.unpack_from(record)[7:9]
    if entries > MAX_MEMBERS:
        raise _too_big(path, f"it declares {entries:,} members, more than the {MAX_MEMBERS:,} allowed (MAX_MEMBERS)")
    if cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _too_big(path, f"its index of members takes {_size(cd_size)}, more than the "
                             f"{_size(MAX_CENTRAL_DIRECTORY_BYTES)} allowed (MAX_CENTRAL_DIRECTORY_BYTES)")


def _is_metadata(name: str) -> bool:
    return name == DRAWS_DIR + "zarr.json" or (name.startswith(DRAWS_DIR) and name.endswith("/zarr.json"))


def _member_limit(path, info: zipfile.ZipInfo) -> int:
    """The most bytes ``info`` may hold; refuses what a fit file does not hold or store so."""
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _damaged(path, f"{name} is compressed with zip method {info.compress_type}, which is not read")
    if info.flag_bits & 0x1:
        raise _damaged(path, f"{name} is encrypted, which a fit file never is")
    if name == SPEC_FILE:
        return MAX_SPEC_BYTES
    if name == SIGNATURE_FILE or _is_metadata(name):
        return MAX_METADATA_BYTES
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise _damaged(path, f"{name} is compressed in the container, where a fit file stores chunks as they are")
    return MAX_MEMBER_BYTES


def _limit_name(limit: int) -> str:
    return {MAX_SPEC_BYTES: "MAX_SPEC_BYTES", MAX_METADATA_BYTES: "MAX_METADATA_BYTES"}.get(limit, "MAX_MEMBER_BYTES")


def _read_member(path, zf, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, never more than ``limit`` read whatever its header says."""
    with zf.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_big(path, f"{info.filename} holds more than the {_size(limit)} allowed ({_limit_name(limit)})")
    return data


def _read_container(path: Path, key: bytes | None) -> tuple[dict, dict, str]:
    """spec.json, the draws' files and "verified"/"unverified"/"unsigned", bounded before reading.

    Every checksum is checked, and with a key the signature.
    """
    try:
        with open(path, "rb") as handle:
            _check_central_directory(path, handle)
            with zipfile.ZipFile(handle) as zf:
                return _read_members(path, zf, key)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise _damaged(path, f"the container is truncated or damaged ({err})") from err


def _read_members(path: Path, zf: zipfile.ZipFile, key: bytes | None) -> tuple[dict, dict, str]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _too_big(path, f"it holds {len(infos):,} members, more than the {MAX_MEMBERS:,} allowed (MAX_MEMBERS)")
    members: dict[str, zipfile.ZipInfo] = {}
    unexpected = []
    for info in infos:
        name = info.filename
        if name in members:
            raise _damaged(path, f"it holds {name} twice")
        if name not in (SPEC_FILE, SIGNATURE_FILE) and not name.startswith(DRAWS_DIR):
            unexpected.append(name)
        members[name] = info
    if unexpected:
        raise _damaged(path, f"it holds files a fit file does not have ({', '.join(unexpected[:3])}), "
                             "which are not read")
    if SPEC_FILE not in members:
        raise _damaged(path, f"{SPEC_FILE} is missing")
    limits = {name: _member_limit(path, info) for name, info in members.items()}
    for name, info in members.items():
        if info.file_size > limits[name]:
            raise _too_big(path, f"{name} declares {_size(info.file_size)}, more than the {_size(limits[name])} "
                                 f"allowed ({_limit_name(limits[name])})")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise _too_big(path, f"its members declare {_size(total)} together, more than the {_size(MAX_TOTAL_BYTES)} "
                             "allowed (MAX_TOTAL_BYTES)")

    signed = _verify_signature(path, zf, members, key)
    spec_bytes = _read_member(path, zf, members[SPEC_FILE], MAX_SPEC_BYTES)
    _check_signed(path, signed, SPEC_FILE, spec_bytes)
    spec = _check_spec(path, _parse_json(path, SPEC_FILE, spec_bytes))
    listed = spec["draws"]["files"]
    draws = {name for name in members if name.startswith(DRAWS_DIR)}
    if set(listed) != draws:
        raise _damaged(path, f"the draws' files are not those listed in {SPEC_FILE}")

    files: dict[str, bytes] = {}
    metadata = sorted(name for name in draws if _is_metadata(name))
    for name in metadata:  # first the metadata: the chunks' sizes are bounded by the shapes declared there
        files[name] = _checked(path, name, _read_member(path, zf, members[name], MAX_METADATA_BYTES), listed, signed)
    chunk_limits, arrays = _check_zarr_metadata(path, files, {n: members[n].file_size for n in draws if n not in files})
    for name, limit in chunk_limits.items():
        files[name] = _checked(path, name, _read_member(path, zf, members[name], limit), listed, signed)
    _check_chunks(path, files, chunk_limits, arrays)
    trust = "unsigned" if SIGNATURE_FILE not in members else "verified" if signed is not None else "unverified"
    return spec, files, trust


def _verify_signature(path, zf, members: dict, key: bytes | None) -> dict | None:
    """The signed manifest of member checksums (None when unsigned, or not checked without a key)."""
    if SIGNATURE_FILE not in members:
        if key is not None:
            raise _untrusted(path, "it is not signed, but a key was given (it was saved without key=, or its "
                                   "signature was removed)")
        return None
    if key is None:
        return None  # load() warns that the signature was not verified
    data = _read_member(path, zf, members[SIGNATURE_FILE], MAX_METADATA_BYTES)
    signature = _parse_json(path, SIGNATURE_FILE, data)
    try:
        manifest, mac = signature["manifest"], signature["hmac"]
        ok = isinstance(mac, str) and mac.isascii() and hmac.compare_digest(_hmac(key, manifest).encode(), mac.encode())
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, f"{SIGNATURE_FILE} is malformed ({type(err).__name__}: {err})") from err
    if not ok:
        raise _untrusted(path, "its signature does not match the key: it was signed with another key, or edited "
                               "after it was signed")
    expected = {name for name in members if name != SIGNATURE_FILE}
    listed = manifest.get("members") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or set(listed) != expected:
        raise _untrusted(path, "its members are not those it was signed with (a member was added or removed)")
    return listed


def _check_signed(path, signed: dict | None, name: str, data: bytes) -> None:
    if signed is not None and not hmac.compare_digest(str(signed[name]).encode(), _sha256(data).encode()):
        raise _untrusted(path, f"{name} is not the one it was signed with (edited after it was signed)")


def _checked(path, name: str, data: bytes, listed: dict, signed: dict | None) -> bytes:
    _check_signed(path, signed, name, data)
    if _sha256(data) != listed[name]:
        raise _damaged(path, f"{name} was changed after it was saved (its SHA-256 does not match)")
    return data


def _check_spec(path, spec) -> dict:
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise _damaged(path, f"{SPEC_FILE} does not describe a bayesglmm fit")
    if spec.get("format_version") != FORMAT_VERSION:
        raise _damaged(path, f"format version {spec.get('format_version')!r} is not {FORMAT_VERSION} "
                             "(saved by another version of bayesglmm)")
    stored = spec.pop("spec_sha256", None)
    if stored != _sha256(_canonical(spec)):
        raise _damaged(path, f"{SPEC_FILE} was changed after it was saved (its SHA-256 does not match)")
    try:
        if spec["data_sha256"] != _sha256(_canonical(spec["data"])):
            raise _damaged(path, "the saved data were changed (their SHA-256 does not match)")
        spec["draws"]["files"] = dict(spec["draws"]["files"])
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, f"{SPEC_FILE} is incomplete ({type(err).__name__}: {err})") from err
    return spec


# Item sizes of the Zarr v3 data types a fit's arrays use; "vlen" ones are checked chunk by chunk.
_ITEM_BYTES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "int32": 4, "uint32": 4,
               "float32": 4, "int64": 8, "uint64": 8, "float64": 8, "complex64": 8, "complex128": 16,
               "numpy.datetime64": 8, "numpy.timedelta64": 8}
_VLEN_TYPES = {"string", "variable_length_utf8", "bytes", "variable_length_bytes"}
_VLEN_ITEM_BYTES = 64  # a Python str or bytes object, besides its text
_ARRAY_TO_BYTES = {"bytes", "vlen-utf8", "vlen-bytes"}
_BYTES_TO_BYTES = ([], ["zstd"], ["crc32c"], ["zstd", "crc32c"])


def _item_bytes(path, name: str, data_type, vlen: bool):
    """Bytes per item of a Zarr v3 data type, "vlen" for variable-length ones, or FitFileError."""
    type_name = data_type.get("name") if isinstance(data_type, dict) else data_type
    type_name = type_name if isinstance(type_name, str) else None
    if vlen and type_name in _VLEN_TYPES:
        return "vlen"
    if not vlen and type_name in _ITEM_BYTES:
        return _ITEM_BYTES[type_name]
    config = data_type.get("configuration") if isinstance(data_type, dict) else None
    length = config.get("length_bytes") if isinstance(config, dict) else None
    if not vlen and type(length) is int and 0 < length <= 2**20:
        return length  # fixed-length text or bytes
    raise _damaged(path, f"{name} declares data type {data_type!r}, which a fit file does not use")


def _ints(value, low: int) -> bool:
    return isinstance(value, list) and len(value) <= MAX_ARRAY_DIMS and all(type(v) is int and v >= low for v in value)


def _check_zarr_metadata(path, files: dict, chunk_sizes: dict) -> tuple[dict, dict]:
    """Check the Zarr v3 metadata and bound every chunk by its array's declared shape.

    Only known codecs and data types, no foreign code; every draws member other than
    metadata must be a chunk of a declared array. Returns chunk name -> the most bytes it may
    hold, and array folder -> its layout (for :func:`_check_chunks`).
    """
    arrays = {}
    for name, data in files.items():
        meta = _parse_json(path, name, data)
        if not isinstance(meta, dict) or meta.get("zarr_format") != 3:
            raise _damaged(path, f"{name} is not Zarr v3 metadata")
        if meta.get("node_type") == "array":
            arrays[name[: -len("zarr.json")]] = _array_layout(path, name, meta)
        elif meta.get("node_type") != "group":
            raise _damaged(path, f"{name} is neither a Zarr group nor a Zarr array")
    limits = {}
    declared = sum(layout["bytes"] for layout in arrays.values())
    for name, stored in chunk_sizes.items():
        if name.rsplit("/", 1)[-1] in (".zarray", ".zgroup", ".zattrs", ".zmetadata"):
            raise _damaged(path, f"{name} is Zarr v2 metadata, which a fit file does not use")
        folder, _, chunk = name.rpartition("/c/")
        layout = arrays.get(folder + "/") if folder else None
        if name.endswith("/c") and name[: -1] in arrays and not arrays[name[: -1]]["grid"]:
            layout, chunk = arrays[name[: -1]], ""  # the one chunk of a 0-d array
        elif layout is None or not _chunk_index_ok(chunk, layout["grid"]):
            raise _damaged(path, f"{name} is neither Zarr metadata nor a chunk of a declared array")
        limits[name] = min(MAX_MEMBER_BYTES, layout["chunk_bytes"] + layout["chunk_bytes"] // 100 + 64 * 1024)
        if stored > limits[name]:
            raise _too_big(path, f"{name} declares {_size(stored)}, more than the {_size(limits[name])} its "
                                 "array's declared chunk shape allows")
    if declared > MAX_DRAWS_BYTES:
        raise _too_big(path, f"its arrays declare {_size(declared)} of draws, more than the "
                             f"{_size(MAX_DRAWS_BYTES)} allowed (MAX_DRAWS_BYTES)")
    stored = sum(chunk_sizes.values())
    if declared > MAX_EXPANSION_BYTES + EXPANSION_RATIO * stored:
        raise _too_big(path, f"its arrays declare {_size(declared)} of draws from {_size(stored)} of chunks, more "
                             f"than {EXPANSION_RATIO} times that plus {_size(MAX_EXPANSION_BYTES)} "
                             "(EXPANSION_RATIO, MAX_EXPANSION_BYTES): a decompression bomb")
    return limits, arrays


def _array_layout(path, name: str, meta: dict) -> dict:
    shape, grid, codecs = meta.get("shape"), meta.get("chunk_grid"), meta.get("codecs")
    config = grid.get("configuration") if isinstance(grid, dict) else None
    chunk_shape = config.get("chunk_shape") if isinstance(config, dict) else None
    encoding = meta.get("chunk_key_encoding")
    if (not _ints(shape, 0) or not _ints(chunk_shape, 1) or len(chunk_shape) != len(shape)
            or grid.get("name") != "regular" or any(c > max(s, 1) for c, s in zip(chunk_shape, shape))):
        raise _damaged(path, f"{name} declares a shape or chunk grid a fit file does not use")
    if encoding not in ({"name": "default", "configuration": {"separator": "/"}}, {"name": "default"}):
        raise _damaged(path, f"{name} declares a chunk key encoding a fit file does not use")
    if meta.get("storage_transformers"):
        raise _damaged(path, f"{name} asks for storage transformers, which are not read")
    if not isinstance(codecs, list) or not codecs:
        raise _damaged(path, f"{name} declares no codecs")
    names = [c.get("name") if isinstance(c, dict) else c for c in codecs]
    names = [n if isinstance(n, str) else repr(n) for n in names]
    if not set(names) <= SAFE_CODECS:
        raise _damaged(path, f"{name} asks for codecs {sorted(set(map(str, names)) - SAFE_CODECS)}, which are not read")
    first = 1 if names[0] == "transpose" else 0
    if len(names) <= first or names[first] not in _ARRAY_TO_BYTES or names[first + 1:] not in _BYTES_TO_BYTES:
        raise _damaged(path, f"{name} chains its codecs as {names}, which a fit file does not")
    item = _item_bytes(path, name, meta.get("data_type"), names[first] != "bytes")
    items, chunk_items = math.prod(shape), math.prod(chunk_shape)
    vlen = item == "vlen"
    return {"grid": [-(-s // c) for s, c in zip(shape, chunk_shape)], "vlen": vlen, "chunk_items": chunk_items,
            "zstd": "zstd" in names, "crc32c": "crc32c" in names,
            # a vlen chunk holds a 4-byte count, then each item's 4-byte length and text
            "chunk_bytes": MAX_TEXT_CHUNK_BYTES if vlen else chunk_items * item,
            "bytes": items * (_VLEN_ITEM_BYTES if vlen else item)}


def _chunk_index_ok(chunk: str, grid: list) -> bool:
    parts = chunk.split("/")
    return (len(parts) == len(grid) and all(p.isdigit() and p == str(int(p)) for p in parts)
            and all(int(p) < n for p, n in zip(parts, grid)))


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd_frame(data: bytes, end: int, limit: int) -> int | None:
    """The decompressed size of the single Zstandard frame ``data[:end]``, from its header.

    None unless ``data[:end]`` is exactly one frame that declares its size: numcodecs then
    decompresses into a buffer of that size and fails past it, while it would decompress
    several frames, or one of unknown size, without bound. The blocks are walked (each a
    3-byte header), not decompressed; a size over ``limit`` is returned without walking.
    """
    if end < 6 or data[:4] != _ZSTD_MAGIC or data[4] & 0x08:
        return None
    descriptor = data[4]
    single = (descriptor >> 5) & 1
    size_bytes = (single, 2, 4, 8)[descriptor >> 6]
    pos = 5 + (1 - single) + (0, 1, 2, 4)[descriptor & 3]
    if size_bytes == 0 or pos + size_bytes > end:
        return None
    content = int.from_bytes(data[pos:pos + size_bytes], "little") + (256 if size_bytes == 2 else 0)
    if content > limit:
        return content
    pos += size_bytes
    for _ in range(content // 1024 + 64):  # blocks regenerate up to 128 KiB each; real ones far more than 1 KiB
        if pos + 3 > end:
            return None
        header = int.from_bytes(data[pos:pos + 3], "little")
        kind = (header >> 1) & 3
        if kind == 3:
            return None
        pos += 3 + (1 if kind == 1 else header >> 3)
        if header & 1:  # the last block
            pos += 4 if descriptor & 0x04 else 0  # the frame's checksum
            return content if pos == end else None
    return None


def _check_chunks(path, files: dict, limits: dict, arrays: dict) -> None:
    """Each chunk decompresses to at most its declared size, found from headers before zarr reads it.

    A text (vlen) chunk is decompressed here, within its bound, to check that the count of
    items it starts with is its chunk shape's: numcodecs allocates that count first.
    """
    from numcodecs import Zstd

    text_bytes = 0  # all text chunks together, decompressed
    for name in limits:
        layout = arrays[name.rpartition("/c")[0] + "/"]
        data = files[name]
        end = len(data) - (4 if layout["crc32c"] else 0)
        bound = layout["chunk_bytes"]
        if layout["vlen"]:
            bound = min(bound, MAX_EXPANSION_BYTES - text_bytes)
        content = end
        if layout["zstd"]:
            content = _zstd_frame(data, end, bound)
            if content is None:
                raise _too_big(path, f"{name} is not one Zstandard frame that declares its decompressed size, "
                                     "so that size cannot be bounded before decompressing")
        if content > bound:
            raise _too_big(path, f"{name} would decompress to {_size(content)}, more than the {_size(bound)} "
                                 + ("left for text (MAX_EXPANSION_BYTES)" if layout["vlen"]
                                    else "its array's chunk shape holds"))
        if layout["vlen"]:
            raw = Zstd().decode(data[:end]) if layout["zstd"] else data[:end]
            if len(raw) < 4 or int.from_bytes(bytes(raw[:4]), "little") != layout["chunk_items"]:
                raise _damaged(path, f"{name} does not hold the {layout['chunk_items']} items its array declares")
            text_bytes += content


def _read_draws(path, spec: dict, files: dict):
    import xarray as xr
    from zarr.core.buffer import cpu
    from zarr.storage import MemoryStore

    store = MemoryStore({name[len(DRAWS_DIR):]: cpu.Buffer.from_bytes(data) for name, data in files.items()})
    try:
        tree = xr.open_datatree(store, engine="zarr", consolidated=False, zarr_format=3).load()
    except Exception as err:  # zarr and xarray raise many kinds of errors on bad stores
        raise _damaged(path, f"the draws cannot be read ({type(err).__name__}: {err})") from err
    groups = {f"/{g}": tree[g].to_dataset()[names] for g, names in spec["draws"]["groups"].items()}
    return xr.DataTree.from_dict({"/": tree.to_dataset(), **groups})


def load(path, *, key=None):
    """Load a fit saved with :func:`save`: same summary, predictions and LOO, no sampling.

    Only JSON and Zarr arrays are read (nothing is unpickled or executed). The model is
    rebuilt from the saved data and settings with :func:`bayesglmm.build_model`, the
    draws are attached and the diagnostics recomputed.

    The file is read as untrusted data: the number and sizes of its members, the nesting of
    its JSON and the decompressed size of each chunk are bounded before they are read
    (``MAX_MEMBERS``, ``MAX_SPEC_BYTES``, ``MAX_METADATA_BYTES``, ``MAX_MEMBER_BYTES``,
    ``MAX_TOTAL_BYTES``, ``MAX_DRAWS_BYTES``, ``MAX_EXPANSION_BYTES``, ``MAX_JSON_DEPTH``
    in this module). Its SHA-256 checksums detect damage, not tampering: anyone can
    recompute them. Only a signature checked with ``key=`` shows that the file is the
    one saved with that key.

    Parameters
    ----------
    path : str or path-like
        The fit file.
    key : bytes or str, optional
        The secret the file was signed with (``save(..., key=)``). Then the file must be
        signed with this key and unchanged since. Without a key, a signed file loads on
        its checksums alone, with a warning that its signature was not verified. The key
        is never taken from the environment implicitly; see :func:`key_from_env`.

    Returns
    -------
    bayesglmm.Fit

    Raises
    ------
    FileNotFoundError
        No such file.
    FitFileError
        (a :class:`bayesglmm.FitError`) The file is truncated, damaged or was edited
        (a checksum does not match), is not a bayesglmm fit file, goes over a limit
        above, or (with ``key=``) is unsigned, signed with another key, or edited since.
    ArgumentError, SettingsError
        ``key`` is not bytes or str, or is empty.

    Warns
    -----
    UserWarning
        When it was saved with other versions of bambi, pymc, arviz, ... than installed,
        and when it is signed but loaded without ``key=``.

    Examples
    --------
    >>> from bayesglmm.io import load
    >>> fit = load("multicentre.bglmm")  # doctest: +SKIP
    >>> print(fit.summary())  # doctest: +SKIP
    >>> fit = load("multicentre.bglmm", key=b"our lab's secret")  # doctest: +SKIP
    """
    from bayesglmm.diagnostics import diagnose
    from bayesglmm.result import Fit
    from bayesglmm.model import build_model

    path = Path(path)
    key = _key_bytes(key)
    if not path.is_file():
        raise MissingFileError(f"No fit file at {path}.")
    spec_json, files, trust = _read_container(path, key)
    if trust == "unverified":
        warnings.warn(f"{path} is signed, but its signature was not verified (no key= given): its SHA-256 "
                      "checksums detect damage, not tampering. Pass key= to verify it.", UserWarning, stacklevel=2)
    try:
        idata = _read_draws(path, spec_json, files)
        model = spec_json["model"]
        data = spec_json["data"]
        frame = _frame_from_json(data["frame"])
        priors = {name: _prior_from_json(p) for name, p in model["priors"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, f"{SPEC_FILE} is incomplete or malformed ({type(err).__name__}: {err})") from err
    _warn_versions(path, spec_json.get("versions", {}))
    with warnings.catch_warnings():  # Bambi's notes were shown when the model was first fitted
        warnings.filterwarnings("ignore", category=UserWarning, module="bambi")
        spec = build_model(model["formula"], frame, model["family"], link=model["link"], priors=priors or None,
                           parameterization=model["parameterization"] or "auto",
                           fixed_design=model.get("fixed_design", "auto"), weights=model.get("weights"),
                           dpars=model.get("dpars"))
    spec.data.notes = list(data["notes"])
    spec.data.dropped_rows = list(data["dropped_rows"])
    diagnostics = diagnose(idata) if "posterior" in idata.children and "sample_stats" in idata.children else None
    return Fit(spec, idata, diagnostics, dict(spec_json["settings"]), list(spec_json.get("attempts", [])))


def _warn_versions(path, saved: dict) -> None:
    now = _versions()
    differ = [f"{k} {saved[k]} (now {now.get(k)})" for k in saved if saved[k] != now.get(k)]
    if differ:
        warnings.warn(f"{path} was saved with other package versions: {', '.join(differ)}. "
                      "Summaries of the saved draws are unchanged; predictions may differ.", UserWarning, stacklevel=3)

