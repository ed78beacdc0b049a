"""Every module's docstring examples run (examples that need a fit are marked +SKIP)."""

import doctest
import importlib
import pkgutil

import pytest

import bayesglmm

MODULES = sorted(m.name for m in pkgutil.walk_packages(bayesglmm.__path__, "bayesglmm."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
