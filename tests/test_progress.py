"""Progress lines of batches (cross-validation refits, fit_many): on when asked, silent otherwise.

The batches' tasks are replaced by stand-ins that return at once (the fits' own
log-likelihood for refits, an empty posterior for fit_many), so these tests sample only
one small model and check the plumbing: how many steps are written, and that nothing is
written with ``progress=False`` or by default when standard error is not a terminal.
"""

import importlib
import re
import warnings

import numpy as np
import pytest
import xarray as xr

import bayesglmm as bg
import bayesglmm.batch as batch
from bayesglmm.executor import Progress

from conftest import quick_fit, tiny_data

refit_module = importlib.import_module("bayesglmm.refit")  # the module, not bayesglmm.refit (the function)

STEP = re.compile(r"^(?P<label>.+): (?P<done>\d+)/(?P<total>\d+) done")


def _steps(err: str, label: str) -> list[tuple[int, int]]:
    """(done, total) of every progress line of ``label`` in ``err``."""
    out = []
    for line in err.replace("\r", "\n").splitlines():
        m = STEP.match(line.strip())
        if m and m["label"] == label:
            out.append((int(m["done"]), int(m["total"])))
    return out


def test_progress_counts_each_step_and_is_silent_when_off(capsys):
    bar = Progress(3, "refits", enabled=True)
    for _ in range(3):
        bar.update()
    assert _steps(capsys.readouterr().err, "refits") == [(0, 3), (1, 3), (2, 3), (3, 3)]

    bar = Progress(3, "refits", enabled=False)
    for _ in range(3):
        bar.update()
    assert bar.done == 3
    assert capsys.readouterr().err == ""


def test_progress_is_off_by_default_when_stderr_is_not_a_terminal(capsys):
    bar = Progress(2, "refits")  # capsys' standard error is not a terminal
    bar.update(2)
    assert not bar.enabled
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def tiny_fits():
    data = tiny_data()
    return {"x": quick_fit("y ~ x", data, "gaussian", chains=2, draws=200, tune=200),
            "null": quick_fit("y ~ 1", data, "gaussian", chains=2, draws=200, tune=200)}


def _instant_refit(recipe, heldout, seed, settings, masked, reference, var, cores):
    """Stand-in for one refit: the held-out rows' log-likelihood under the full-data draws."""
    fit = next(f for f in _instant_refit.fits if refit_module._recipe(f).key == recipe.key)
    ll = fit.idata["log_likelihood"][var].isel(__obs__=np.asarray(heldout))
    ll = ll.rename({"__obs__": refit_module.OBS_DIM}).assign_coords({refit_module.OBS_DIM: np.asarray(heldout)})
    return {"loglik": ll, "converged": True, "compile_s": 0.0, "fit_s": 0.0, "fallback": None}


@pytest.mark.parametrize("cv, kwargs, folds", [("kfold", {"k": 3}, 3), ("logo", {"group": tiny_data()["g"]}, 4)])
def test_compare_reports_one_step_per_refit(tiny_fits, monkeypatch, capsys, cv, kwargs, folds):
    _instant_refit.fits = list(tiny_fits.values())
    monkeypatch.setattr(refit_module, "_refit_task", _instant_refit)
    refit_module._CACHE.clear()  # no cached cross-validation from an earlier test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bg.compare(tiny_fits, cv=cv, executor="serial", progress=True, seed=2,
                         allow_unconverged=True, **kwargs)
    err = capsys.readouterr().err
    assert res.refits == 2 * folds
    label = "k-fold (k=3)" if cv == "kfold" else "logo (group=g)"
    for name in tiny_fits:
        assert _steps(err, f"{name}: {label} refits") == [(i, folds) for i in range(folds + 1)], err

    refit_module._CACHE.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = bg.compare(tiny_fits, cv=cv, executor="serial", progress=False, seed=2,
                           allow_unconverged=True, **kwargs)
        default = bg.compare(tiny_fits, cv=cv, executor="serial", seed=3,
                             allow_unconverged=True, **kwargs)
    assert quiet.refits == 2 * folds and default.refits == 2 * folds
    assert capsys.readouterr().err == ""


def test_fit_many_reports_one_step_per_model(monkeypatch, capsys):
    calls = []

    def instant_fit(formula, data, family, kwargs):
        calls.append(formula)
        return xr.DataTree(), {"seed": kwargs["seed"]}, 0.0

    monkeypatch.setattr(batch, "_fit_task", instant_fit)
    models = {"null": "y ~ 1", "x": "y ~ x", "g": "y ~ x + (1|g)"}
    fits = bg.fit_many(models, tiny_data(), seed=1, executor="serial", progress=True)
    assert list(fits) == list(models) and len(calls) == 3
    assert _steps(capsys.readouterr().err, "fit_many") == [(i, 3) for i in range(4)]

    bg.fit_many(models, tiny_data(), seed=1, executor="serial", progress=False)
    bg.fit_many(models, tiny_data(), seed=1, executor="serial")
    assert len(calls) == 9
    assert capsys.readouterr().err == ""


def test_progress_must_be_true_false_or_none(tiny_fits):
    with pytest.raises(bg.SettingsError, match="progress must be True, False or None.*'yes'"):
        bg.compare(tiny_fits, cv="kfold", k=3, progress="yes", allow_unconverged=True)
    with pytest.raises(bg.SettingsError, match="progress must be True or False.*'yes'"):
        bg.fit_many({"null": "y ~ 1"}, tiny_data(), progress="yes")
