"""Faster copies of other libraries' functions: version-checked, used only in bayesglmm's own steps.

bayesglmm carries three copies of upstream code, each faster or leaner than the original
and tested equal to it: :mod:`bayesglmm.bambi_speedups` (Bambi's group-effect product),
:mod:`bayesglmm.formulae_speedups` (formulae's grouping factors as level codes) and
:mod:`bayesglmm.nutpie_compile` (nutpie's numba compile with cached C callbacks). None is
installed for the whole process: a user's own ``bmb.Model``, formulae design or nutpie
compile behaves as upstream.
They reach bayesglmm's objects in one of two ways:

* per instance, on objects bayesglmm built itself (the components and terms of the Bambi
  model that :func:`bayesglmm.build_model` returns get a subclass carrying the fast method,
  so everything that later predicts through that model, in any process it is copied or
  pickled to, takes the fast path);
* as bayesglmm's own function built from upstream's parts, called only by bayesglmm
  (:func:`bayesglmm.nutpie_compile.compile_numba`, used by the engine);
* for the duration of one of bayesglmm's own calls, through :func:`swapped`, which replaces
  an attribute by a dispatcher that runs the copy only in the thread that entered the block
  (other threads keep the upstream function) and restores the attribute when the last
  block exits.

Before a copy is used, :func:`require` compares the source of each upstream function it
replaces or mirrors with the hash recorded when the copy was taken. On any other source it
raises :class:`~bayesglmm.errors.UpstreamVersionError`, naming the package, the installed
and the tested version and what to do, rather than run a copy of code that has changed.
Setting the environment variable ``BAYESGLMM_SPEEDUPS=0`` turns every copy off (the
upstream code runs: same results, slower, more memory on large models). nutpie's own compile
then also goes without the engine's rewrite of softplus and sigmoid
(:mod:`bayesglmm.logistic_rewrite`), so the draws of logit-link models differ in the last bits
(the same posterior).
:mod:`bayesglmm.nutpie_compile` checks the nutpie code it mirrors the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import inspect
import os
import threading
from collections.abc import Callable, Iterator

from bayesglmm.errors import UpstreamVersionError

__all__ = ["ENV_VAR", "enabled", "require", "source_hash", "swapped"]

#: Environment variable that turns bayesglmm's copies of upstream code off (``0``, ``off``, ``false``, ``no``).
ENV_VAR = "BAYESGLMM_SPEEDUPS"

_LOCK = threading.Lock()
_ACTIVE: dict[tuple[int, str], _Swap] = {}


def enabled() -> bool:
    """Whether bayesglmm uses its copies of upstream code (``BAYESGLMM_SPEEDUPS`` unset or true).

    Examples
    --------
    >>> enabled()
    True
    """
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "off", "false", "no")


def source_hash(function: Callable) -> str:
    """The first 16 hex digits of the SHA-256 of ``function``'s source text.

    Examples
    --------
    >>> len(source_hash(source_hash))
    16
    """
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def _hash_or_none(function: Callable) -> str | None:
    """:func:`source_hash`, or None where the source cannot be read (an install without .py files)."""
    try:
        return source_hash(function)
    except (OSError, TypeError):
        return None


def installed_version(package: str) -> str:
    """The installed version of ``package`` (``"unknown"`` where its metadata is missing)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def require(package: str, tested_version: str, functions: dict[str, tuple[Callable, str]]) -> None:
    """Check that the upstream functions a copy was taken from are unchanged; raise if not.

    Parameters
    ----------
    package : str
        The distribution the functions belong to (``"bambi"``).
    tested_version : str
        The version the copy was taken from and tested against.
    functions : dict
        ``{qualified name: (upstream function, source hash when copied)}``.

    The source decides, not the version number: a release that leaves these functions as
    they were is accepted, and any change to one of them is refused.

    Raises
    ------
    bayesglmm.errors.UpstreamVersionError
        When the source of one of ``functions`` differs from the one copied.

    Examples
    --------
    >>> require("bayesglmm", "0.1.0", {"source_hash": (source_hash, source_hash(source_hash))})
    """
    changed = [name for name, (function, expected) in functions.items() if _hash_or_none(function) != expected]
    if not changed:
        return
    installed = installed_version(package)
    which = "that function" if len(changed) == 1 else "those functions"
    found = (f"the installed {package} is {installed}" if installed != tested_version else
             f"the installed {package} {installed} has been modified or replaced (by an edited install or other code)")
    raise UpstreamVersionError(
        f"bayesglmm's faster copy of {package}'s {', '.join(changed)} was taken from {package} {tested_version}, "
        f"but {found}, and the source of {which} differs from the one copied, so bayesglmm will not use its copy. "
        f"Install the tested version "
        f"(pip install '{package}=={tested_version}'), or run without bayesglmm's copies of upstream code "
        f"(set the environment variable {ENV_VAR}=0: same results, slower and more memory on large models), "
        f"and report the {package} version to bayesglmm's maintainers."
    )


class _Swap:
    """One replaced attribute: the upstream value, and each thread's stack of open blocks' copies."""

    def __init__(self, owner, name: str):
        self.original = vars(owner)[name]
        self.stacks: dict[int, list[Callable]] = {}
        original, stacks = self.original, self.stacks

        def dispatch(*args, **kwargs):
            stack = stacks.get(threading.get_ident())
            return (stack[-1] if stack else original)(*args, **kwargs)

        dispatch.__name__ = getattr(original, "__name__", name)
        dispatch.__qualname__ = getattr(original, "__qualname__", name)
        dispatch.__doc__ = getattr(original, "__doc__", None)
        dispatch.__wrapped__ = original
        self.dispatch = dispatch


@contextlib.contextmanager
def swapped(owner, name: str, replacement: Callable) -> Iterator[None]:
    """``owner.name`` runs ``replacement`` in this thread for the duration of the block.

    ``owner`` is a class or a module that defines ``name`` itself. While a block is open in
    any thread, ``owner.name`` is a dispatcher that calls the replacement of the thread's
    innermost open block, and the upstream function in every thread without one; the
    upstream attribute is put back when the last block exits (unless someone replaced the
    dispatcher meanwhile). Blocks nest and may be entered by several threads at once.

    Examples
    --------
    >>> import types
    >>> ns = types.SimpleNamespace(f=lambda: "upstream")
    >>> with swapped(ns, "f", lambda: "copy"):
    ...     ns.f()
    'copy'
    >>> ns.f()
    'upstream'
    """
    key, me = (id(owner), name), threading.get_ident()
    with _LOCK:
        swap = _ACTIVE.get(key)
        if swap is None:
            swap = _ACTIVE[key] = _Swap(owner, name)
            setattr(owner, name, swap.dispatch)
        swap.stacks.setdefault(me, []).append(replacement)
    try:
        yield
    finally:
        with _LOCK:
            stack = swap.stacks[me]
            stack.pop()
            if not stack:
                del swap.stacks[me]
            if not swap.stacks:
                del _ACTIVE[key]
                if vars(owner).get(name) is swap.dispatch:
                    setattr(owner, name, swap.original)
