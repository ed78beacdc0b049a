"""Is R usable for a benchmark, and which versions does it have (shared by the benchmarks that call R).

R is never a dependency of bayesglmm: a benchmark that compares with it asks :func:`r_status`
first and records the versions of :func:`r_versions` beside its numbers.
"""

from __future__ import annotations

import shutil
import subprocess


def r_status(packages: tuple[str, ...], hint: str = "") -> str | None:
    """None when Rscript and every one of ``packages`` are usable, otherwise why not (with ``hint``).

    Examples
    --------
    >>> r_status(("brms",)) is None or isinstance(r_status(("brms",)), str)  # doctest: +SKIP
    True
    """
    suffix = f" ({hint})" if hint else ""
    if shutil.which("Rscript") is None:
        return f"Rscript is not installed{suffix}"
    wanted = ",".join(f"'{p}'" for p in packages)
    probe = subprocess.run(["Rscript", "-e", f"for (p in c({wanted})) "
                            "if (!requireNamespace(p, quietly=TRUE)) cat('missing', p, '\\n')"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or "missing" in probe.stdout:
        return f"R packages missing: {probe.stdout.strip() or probe.stderr.strip()[-300:]}{suffix}"
    return None


def r_versions(packages: tuple[str, ...]) -> dict:
    """``{"R": "R version ...", package: version}`` for the report.

    Examples
    --------
    >>> r_versions(("brms",))["brms"]  # doctest: +SKIP
    '2.18.0'
    """
    wanted = ",".join(f"'{p}'" for p in packages)
    code = f"cat(R.version.string, '\\n'); for (p in c({wanted})) cat(p, as.character(packageVersion(p)), '\\n')"
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True).stdout.strip().splitlines()
    return {"R": out[0].strip(), **{ln.split()[0]: ln.split()[1] for ln in out[1:] if len(ln.split()) == 2}}
