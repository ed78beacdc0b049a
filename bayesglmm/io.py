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

:func:`load` reads only JSON and Zarr chunks with a fixed list of codecs (no pickle, no
code), checks every checksum, rebuilds the model with :func:`bayesglmm.build_model` (no
sampling) and recomputes the diagnostics, so a loaded fit gives the same summary,
predictions and LOO as the one saved. :func:`save` writes a temporary file in the target
folder, fsyncs it and renames it over the target: an interrupted save leaves the old file
(or none), never a broken one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from bambi import Prior

from bayesglmm.errors import ArgumentError, FitError, MissingFileError

FORMAT = "bayesglmm-fit"
FORMAT_VERSION = 1
SPEC_FILE = "spec.json"
DRAWS_DIR = "draws.zarr/"
PACKAGES = ("bayesglmm", "bambi", "pymc", "arviz", "nutpie", "numpy", "pandas", "xarray", "zarr")
# Codecs zarr may use to decode the draws; anything else (e.g. numcodecs' pickle) is refused.
SAFE_CODECS = {"bytes", "zstd", "gzip", "blosc", "crc32c", "transpose", "vlen-utf8", "vlen-bytes"}

__all__ = ["FitFileError", "dump", "load", "save", "write_atomically"]


class FitFileError(FitError):
    """A fit file is damaged, truncated, edited, or not a bayesglmm fit file."""


# ---------------------------------------------------------------------------------------
# Writing files atomically
# ---------------------------------------------------------------------------------------


def write_atomically(outputs: dict) -> list[Path]:
    """Write several files at once: each ends up complete or untouched, never partial.

    Every file is first written to a temporary file in its own folder and fsynced; only
    when all are written are they renamed over their targets (``os.replace``). On any
    error, or Ctrl-C, the temporary files are removed and the targets keep their old
    content.

    Parameters
    ----------
    outputs : dict
        Path -> ``bytes``/``str`` content, or a function that writes to a binary file.

    Returns
    -------
    list of pathlib.Path
        The paths written.

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
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for folder in {path.parent for _, path in staged}:
        _fsync_dir(folder)
    return [path for _, path in staged]


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


def dump(fit, file) -> None:
    """Write a fit as a fit file to an open binary file (see :func:`save`).

    Parameters
    ----------
    fit : bayesglmm.Fit
        The fit.
    file : binary file object
        Where to write (e.g. ``open(path, "wb")`` or ``io.BytesIO()``).

    Examples
    --------
    >>> import io
    >>> buffer = io.BytesIO()
    >>> dump(fit, buffer)  # doctest: +SKIP
    """
    spec = _spec_json(fit)  # first, so that a fit that cannot be saved writes nothing
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        files = _draws_files(fit.idata)
        for name, data in files.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # chunks are zstd-compressed
        groups = {g: list(fit.idata[g].data_vars) for g in fit.idata.children}  # zarr does not keep order
        spec["draws"] = {"format": "zarr", "zarr_format": 3, "groups": groups,
                         "files": {name: _sha256(data) for name, data in files.items()}}
        spec["spec_sha256"] = _sha256(_canonical(spec))
        zf.writestr(SPEC_FILE, json.dumps(spec, indent=1, default=_json_default))


def save(fit, path) -> Path:
    """Save a fit (draws, model, data, settings) to one file, atomically.

    Parameters
    ----------
    fit : bayesglmm.Fit
        The fit to save.
    path : str or path-like
        The file to write (``.bglmm`` by convention); an existing file is replaced only
        once the new one is completely written.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FitError
        The fit holds something a fit file cannot (a custom ``dist=`` prior, a column of
        dates); nothing is written.

    Examples
    --------
    >>> import bayesglmm as bg
    >>> from bayesglmm.io import save
    >>> fit = bg.fit("p(y, n) ~ treat + (1|centre)", mc, "binomial", seed=1)  # doctest: +SKIP
    >>> save(fit, "multicentre.bglmm")  # or fit.save("multicentre.bglmm")  # doctest: +SKIP
    PosixPath('multicentre.bglmm')
    """
    path = Path(path)
    write_atomically({path: lambda handle: dump(fit, handle)})
    return path


def _damaged(path, why: str) -> FitFileError:
    return FitFileError(f"{path} is not a usable bayesglmm fit file: {why}. Save the fit again, or restore the file from a copy.")


def _read_container(path: Path) -> tuple[dict, dict]:
    """spec.json and the draws' files, with every checksum checked."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            unexpected = [n for n in names if n != SPEC_FILE and not n.startswith(DRAWS_DIR)]
            if unexpected:
                raise _damaged(path, f"it holds files a fit file does not have ({', '.join(unexpected[:3])}), "
                                     "which are not read")
            if SPEC_FILE not in names:
                raise _damaged(path, f"{SPEC_FILE} is missing")
            spec = json.loads(zf.read(SPEC_FILE))
            files = {n: zf.read(n) for n in names if n.startswith(DRAWS_DIR)}
    except (zipfile.BadZipFile, EOFError) as err:
        raise _damaged(path, f"the container is truncated or damaged ({err})") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _damaged(path, f"{SPEC_FILE} is not valid JSON ({err})") from err
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
        listed = dict(spec["draws"]["files"])
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, f"{SPEC_FILE} is incomplete ({type(err).__name__}: {err})") from err
    if set(listed) != set(files):
        raise _damaged(path, f"the draws' files are not those listed in {SPEC_FILE}")
    for name, data in files.items():
        if _sha256(data) != listed[name]:
            raise _damaged(path, f"{name} was changed after it was saved (its SHA-256 does not match)")
    return spec, files


def _check_zarr_metadata(path, files: dict) -> None:
    """Only Zarr v3 metadata with known codecs: reading the chunks then runs no foreign code."""
    for name, data in files.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf in (".zarray", ".zgroup", ".zattrs", ".zmetadata"):
            raise _damaged(path, f"{name} is Zarr v2 metadata, which a fit file does not use")
        if leaf != "zarr.json":
            continue
        try:
            meta = dict(json.loads(data))
        except (ValueError, TypeError) as err:
            raise _damaged(path, f"{name} is not valid Zarr metadata ({err})") from err
        if meta.get("zarr_format") != 3:
            raise _damaged(path, f"{name} is not Zarr v3 metadata")
        codecs = {c.get("name") if isinstance(c, dict) else c for c in meta.get("codecs", [])}
        if not codecs <= SAFE_CODECS:
            raise _damaged(path, f"{name} asks for codecs {sorted(codecs - SAFE_CODECS)}, which are not read")


def _read_draws(path, spec: dict, files: dict):
    import xarray as xr
    from zarr.core.buffer import cpu
    from zarr.storage import MemoryStore

    _check_zarr_metadata(path, files)
    store = MemoryStore({name[len(DRAWS_DIR):]: cpu.Buffer.from_bytes(data) for name, data in files.items()})
    try:
        tree = xr.open_datatree(store, engine="zarr", consolidated=False, zarr_format=3).load()
    except Exception as err:  # zarr and xarray raise many kinds of errors on bad stores
        raise _damaged(path, f"the draws cannot be read ({type(err).__name__}: {err})") from err
    groups = {f"/{g}": tree[g].to_dataset()[names] for g, names in spec["draws"]["groups"].items()}
    return xr.DataTree.from_dict({"/": tree.to_dataset(), **groups})


def load(path):
    """Load a fit saved with :func:`save`: same summary, predictions and LOO, no sampling.

    Only JSON and Zarr arrays are read (nothing is unpickled or executed). The model is
    rebuilt from the saved data and settings with :func:`bayesglmm.build_model`, the
    draws are attached and the diagnostics recomputed.

    Parameters
    ----------
    path : str or path-like
        The fit file.

    Returns
    -------
    bayesglmm.Fit

    Raises
    ------
    FileNotFoundError
        No such file.
    FitFileError
        (a :class:`bayesglmm.FitError`) The file is truncated, damaged or was edited
        (a checksum does not match), or is not a bayesglmm fit file.

    Warns
    -----
    UserWarning
        When it was saved with other versions of bambi, pymc, arviz, ... than installed.

    Examples
    --------
    >>> from bayesglmm.io import load
    >>> fit = load("multicentre.bglmm")  # doctest: +SKIP
    >>> print(fit.summary())  # doctest: +SKIP
    """
    from bayesglmm.diagnostics import diagnose
    from bayesglmm.result import Fit
    from bayesglmm.model import build_model

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"No fit file at {path}.")
    spec_json, files = _read_container(path)
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
                           fixed_design=model.get("fixed_design", "auto"))
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

