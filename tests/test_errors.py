"""Every error bayesglmm raises on purpose is a BayesGLMMError, and still its built-in type.

The scan reads every module of the package and checks what each ``raise`` names, so that a new
``raise ValueError("...")`` fails here; the behavioural tests check a few real errors; the CLI
test checks that such an error is one line on standard error with exit status 2 for each subcommand.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import typing
from pathlib import Path

import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm import cli, errors
from bayesglmm.errors import BayesGLMMError

PACKAGE = Path(bg.__file__).resolve().parent

#: Raises of a type that is not a BayesGLMMError, on purpose: (module, dotted name) -> why.
ALLOWED = {
    ("bayesglmm.cli", "argparse.ArgumentTypeError"): "argparse's type= protocol: argparse turns it into a usage error (exit 2)",
}
#: Built-in types allowed anywhere: Ctrl-C is re-raised on purpose (the CLI exits 130), and
#: SystemExit carries the command's exit status.
ALLOWED_ANYWHERE = (KeyboardInterrupt, SystemExit)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _local_imports(tree) -> dict:
    """Names bound by imports anywhere in the module (functions import lazily), name -> object."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                try:
                    found[alias.asname or alias.name] = getattr(importlib.import_module(node.module), alias.name)
                except (ImportError, AttributeError):
                    pass
        elif isinstance(node, ast.Import):
            for alias in node.names:
                try:
                    found[alias.asname or alias.name.split(".")[0]] = importlib.import_module(
                        alias.name if alias.asname else alias.name.split(".")[0])
                except ImportError:
                    pass
    return found


def _resolve(dotted: str, namespace: dict, imports: dict):
    head, *rest = dotted.split(".")
    for scope in (namespace, imports, vars(builtins)):
        if head in scope:
            obj = scope[head]
            break
    else:
        return None
    for attr in rest:
        obj = getattr(obj, attr, None)
    return obj


def _raised_types(tree):
    """(line, dotted name, is_call, in_method) for every ``raise X`` / ``raise X(...)``.

    ``in_method``: the raise is in a method of a class (where NotImplementedError marks one that a
    subclass must override, decorated with ``abstractmethod`` or not).
    """
    def visit(node, in_method):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = isinstance(node, ast.ClassDef)
            else:
                inner = in_method
            if isinstance(child, ast.Raise) and child.exc is not None:
                call = isinstance(child.exc, ast.Call)
                target = child.exc.func if call else child.exc
                yield child.lineno, _dotted(target), call, in_method
            yield from visit(child, inner)

    yield from visit(tree, False)


def offending_raises(source: str, module: str, namespace: dict) -> list[str]:
    """Each ``raise`` in ``source`` that does not raise a BayesGLMMError, as 'module:line name (why)'."""
    tree = ast.parse(source)
    imports = _local_imports(tree)
    bad = []
    for line, name, call, in_method in _raised_types(tree):
        where = f"{module}:{line} {name}"
        if name is None:
            bad.append(f"{where} (cannot tell what is raised)")
            continue
        if (module, name) in ALLOWED:
            continue
        obj = _resolve(name, namespace, imports)
        if obj is None:
            if not call and "." not in name:
                continue  # `raise err`: re-raising a caught exception held in a variable
            bad.append(f"{where} (cannot resolve the name)")
            continue
        if inspect.isfunction(obj):  # a factory such as io._damaged: check what it returns
            hint = typing.get_type_hints(obj).get("return")
            if isinstance(hint, type) and issubclass(hint, BayesGLMMError):
                continue
            bad.append(f"{where} (a function without a BayesGLMMError return annotation)")
            continue
        if not isinstance(obj, type):
            if not call:
                continue  # a module-level exception instance would land here; none exist today
            bad.append(f"{where} (not a class)")
            continue
        if issubclass(obj, BayesGLMMError) or issubclass(obj, ALLOWED_ANYWHERE):
            continue
        if obj is NotImplementedError and in_method:
            continue
        bad.append(f"{where} (not a BayesGLMMError)")
    return bad


def test_every_raise_in_the_package_is_a_bayesglmm_error():
    bad = []
    for module, path in _modules():
        try:
            namespace = vars(importlib.import_module(module))
        except ImportError as err:  # the module's names cannot be checked
            bad.append(f"{module} (does not import: {err})")
            continue
        bad += offending_raises(path.read_text(), module, namespace)
    assert not bad, "raise a BayesGLMMError subclass (bayesglmm/errors.py) instead:\n" + "\n".join(bad)


def test_the_scan_finds_plain_builtin_raises():
    source = '''
import argparse
from bayesglmm.errors import SettingsError

def good(x):
    if x:
        raise SettingsError("fine")
    try:
        pass
    except SettingsError as err:
        raise
    except OSError as err:
        raise err from None
    raise KeyboardInterrupt

def bad(x):
    if x == 1:
        raise ValueError("x")
    if x == 2:
        raise TypeError
    raise argparse.ArgumentTypeError("only allowed in the CLI")
'''
    namespace = {"SettingsError": errors.SettingsError, "argparse": __import__("argparse")}
    found = offending_raises(source, "bayesglmm.fake", namespace)
    assert [entry.split()[1] for entry in found] == ["ValueError", "TypeError", "argparse.ArgumentTypeError"], found


def test_the_scan_allows_not_implemented_in_methods_only():
    source = '''
from abc import abstractmethod

class Base:
    @abstractmethod
    def run(self):
        raise NotImplementedError

    def hook(self):
        raise NotImplementedError

def helper():
    def inner():
        raise NotImplementedError("not a method")
    raise NotImplementedError("not a method")
'''
    found = offending_raises(source, "bayesglmm.fake", {"abstractmethod": None})
    assert [entry.split()[0] for entry in found] == ["bayesglmm.fake:14", "bayesglmm.fake:15"], found


# -- the classes ------------------------------------------------------------------------------------

CLASSES = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, BayesGLMMError)]
PUBLIC = ["BayesGLMMError", "DataError", "FormulaError", "FamilyError", "DatasetNotFoundError", "PriorError",
          "SettingsError", "FitError", "NoPosteriorError", "TermError", "ArgumentError", "UnknownModelError",
          "MissingFileError", "MissingDependencyError", "ComputationError"]


@pytest.mark.parametrize("cls", [c for c in CLASSES if c is not BayesGLMMError], ids=lambda c: c.__name__)
def test_each_error_is_also_a_builtin_type(cls):
    assert any(base.__module__ == "builtins" and base is not Exception for base in cls.__mro__), cls
    assert cls.__doc__ and "\n" not in cls.__doc__.strip()


@pytest.mark.parametrize("name", PUBLIC)
def test_the_user_facing_errors_are_exported(name):
    assert getattr(bg, name) is getattr(errors, name) and name in bg.__all__


def test_unknown_model_error_is_a_key_error_with_a_plain_message():
    err = errors.UnknownModelError("No model 'x' in this comparison; models: a, b.")
    assert isinstance(err, KeyError) and isinstance(err, LookupError)
    assert str(err) == "No model 'x' in this comparison; models: a, b."  # KeyError alone would quote it


def test_no_posterior_error_is_a_fit_error_and_a_value_error():
    assert issubclass(errors.NoPosteriorError, errors.FitError)
    assert issubclass(errors.NoPosteriorError, RuntimeError) and issubclass(errors.NoPosteriorError, ValueError)


# -- representative errors raised by the package ----------------------------------------------------

def _both(info, ours, builtin):
    assert isinstance(info.value, ours) and isinstance(info.value, builtin) and isinstance(info.value, BayesGLMMError)


def test_compare_errors():
    with pytest.raises(ValueError) as info:
        bg.compare({}, cv="nothing")
    _both(info, bg.SettingsError, ValueError)
    with pytest.raises(ValueError) as info:
        bg.compare({"only": None})
    _both(info, bg.SettingsError, ValueError)
    with pytest.raises(TypeError) as info:
        bg.compare({"a": 1, "b": 2})
    _both(info, bg.ArgumentError, TypeError)
    assert "not a bayesglmm Fit" in str(info.value)


def test_fit_many_errors():
    data = pd.DataFrame({"y": [0.1, 0.2, 0.3], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError) as info:
        bg.fit_many({"m": "y ~ x"}, data, "gaussian", no_such_option=1)
    _both(info, bg.ArgumentError, TypeError)
    with pytest.raises(ValueError) as info:
        bg.fit_many([], data, "gaussian")
    _both(info, bg.SettingsError, ValueError)


def test_summary_and_executor_setting_errors():
    import numpy as np

    from bayesglmm.executor import get_executor
    from bayesglmm.formulae_speedups import LevelCodes
    from bayesglmm.summary import interval_bounds

    with pytest.raises(ValueError) as info:
        interval_bounds(np.zeros(10), prob=1.5)
    _both(info, bg.SettingsError, ValueError)
    with pytest.raises(ValueError) as info:
        interval_bounds(np.zeros(10), interval="hpd")
    _both(info, bg.SettingsError, ValueError)
    with pytest.raises(ValueError) as info:
        LevelCodes([0, 1], 2).argmax(axis=0)
    _both(info, bg.SettingsError, ValueError)
    with pytest.raises(ValueError) as info:
        get_executor("nowhere")
    _both(info, bg.SettingsError, ValueError)


def test_missing_fit_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        bg.load(tmp_path / "none.bglmm")
    _both(info, bg.MissingFileError, FileNotFoundError)


def test_missing_dask(monkeypatch):
    import sys

    from bayesglmm.executor import _require_dask

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(ImportError) as info:
        _require_dask()
    _both(info, bg.MissingDependencyError, ImportError)


# -- the command line -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["fit", "y ~ x", "--data", "nothere.csv", "--family", "gaussian"],
    ["sbc", "y ~ x", "--data", "nothere.csv", "--family", "gaussian"],
    ["course", "no-such-analysis"],
], ids=lambda argv: argv[0])
def test_cli_bad_input_is_one_line_and_status_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("cls", [bg.TermError, bg.ComputationError, bg.UnknownModelError], ids=lambda c: c.__name__)
def test_cli_turns_any_bayesglmm_error_into_one_line(cls, tmp_path, monkeypatch, capsys):
    def fails(*args, **kwargs):
        raise cls("first line\n  second line")

    (tmp_path / "d.csv").write_text("y,x\n1,2\n3,4\n")
    monkeypatch.setattr(bg, "fit", fails)
    assert cli.main(["fit", "y ~ x", "--data", str(tmp_path / "d.csv"), "--family", "gaussian"]) == 2
    assert capsys.readouterr().err == "error: first line second line\n"
