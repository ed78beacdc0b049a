"""bayesglmm's copies of upstream code: never installed process-wide, version-checked, fast paths kept."""

import subprocess
import sys
import threading
import types

import bambi as bmb
import nutpie.compile_pymc as cp
import pytest
from bambi.model_components import DistributionalComponent
from formulae.terms.terms import GroupSpecificTerm

import bayesglmm as bg
from bayesglmm import bambi_speedups, formulae_speedups, nutpie_compile, patching
from bayesglmm.errors import BayesGLMMError, UpstreamVersionError

UPSTREAM_ATTRIBUTES = [
    (DistributionalComponent, "predict_group_specific", bambi_speedups.BAMBI_PREDICT_GROUP_SPECIFIC),
    (GroupSpecificTerm, "set_data", formulae_speedups.FORMULAE_SET_DATA),
    (GroupSpecificTerm, "eval_new_data", formulae_speedups.FORMULAE_EVAL_NEW_DATA),
    (cp, "_make_c_logp_func", cp._make_c_logp_func),
    (cp, "_make_c_expand_func", cp._make_c_expand_func),
    (cp, "_compile_pymc_model_numba", cp._compile_pymc_model_numba),
]


def _assert_upstream_untouched():
    for owner, name, original in UPSTREAM_ATTRIBUTES:
        assert vars(owner)[name] is original, f"{owner.__name__}.{name} is patched"


def _assert_plain_bambi(model):
    assert all(type(c) is DistributionalComponent for c in model.conditional_parameters.values())
    terms = model.parameters[model.family.likelihood.parent].design.group.terms.values()
    assert terms and all(type(t) is GroupSpecificTerm for t in terms)
    assert not any(isinstance(t.factor.data, formulae_speedups.LevelCodes) for t in terms)


def test_import_patches_nothing():
    """A fresh process: Bambi's, formulae's and nutpie's functions are the same objects after ``import bayesglmm``."""
    code = (
        "import bambi.model_components as bc, formulae.terms.terms as ft, nutpie.compile_pymc as cp\n"
        "before = [bc.DistributionalComponent.predict_group_specific, ft.GroupSpecificTerm.set_data,\n"
        "          ft.GroupSpecificTerm.eval_new_data, cp._make_c_logp_func, cp._make_c_expand_func]\n"
        "import bayesglmm, bayesglmm.fit, bayesglmm.compare, bayesglmm.sbc, bayesglmm.engine\n"
        "after = [bc.DistributionalComponent.predict_group_specific, ft.GroupSpecificTerm.set_data,\n"
        "         ft.GroupSpecificTerm.eval_new_data, cp._make_c_logp_func, cp._make_c_expand_func]\n"
        "assert all(a is b for a, b in zip(before, after)), after\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_users_bambi_model_is_upstream_after_a_bayesglmm_fit(mc_glmm, mc):
    bm = mc_glmm.spec.bambi_model
    assert all(type(c) is bambi_speedups.FastComponent for c in bm.conditional_parameters.values())
    terms = bm.parameters[bm.family.likelihood.parent].design.group.terms.values()
    assert all(type(t) is formulae_speedups.LevelCodedTerm for t in terms)
    _assert_upstream_untouched()
    user = bmb.Model("p(y, n) ~ treat + (1|centre)", mc, family="binomial")
    _assert_plain_bambi(user)


def test_our_log_likelihood_and_predictions_take_the_fast_paths(mc_glmm, mc, monkeypatch):
    """fit.add_log_likelihood and Bambi's predict on new data go through the copies (bound by class)."""
    import xarray as xr

    from bayesglmm.fit import add_log_likelihood

    calls = []
    fast_predict = bambi_speedups.FastComponent.predict_group_specific
    fast_eval = formulae_speedups.LevelCodedTerm.eval_new_data
    monkeypatch.setattr(bambi_speedups.FastComponent, "predict_group_specific",
                        lambda self, *a, **kw: calls.append("bambi") or fast_predict(self, *a, **kw))
    monkeypatch.setattr(formulae_speedups.LevelCodedTerm, "eval_new_data",
                        lambda self, data: calls.append("formulae") or fast_eval(self, data))
    posterior = mc_glmm.idata["posterior"].to_dataset().isel(draw=slice(0, 20))
    tree = xr.DataTree.from_dict({"posterior": posterior})
    add_log_likelihood(tree, mc_glmm.spec.bambi_model, data=mc.iloc[:5])
    assert tree["log_likelihood"].to_dataset().sizes["__obs__"] == 5
    assert calls.count("bambi") == 1 and calls.count("formulae") == 1
    _assert_upstream_untouched()


def test_swapped_routes_by_thread_nests_and_restores():
    ns = types.SimpleNamespace(f=lambda: "upstream")
    original = ns.f
    inside, release, seen = threading.Event(), threading.Event(), []

    def other_thread():
        inside.wait(10)
        seen.append(ns.f())  # while the main thread holds the block
        release.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with patching.swapped(ns, "f", lambda: "copy"):
        assert ns.f() == "copy"
        inside.set()
        release.wait(10)
        assert ns.f() == "copy"
    worker.join(10)
    assert seen == ["upstream"]
    assert ns.f is original


def test_swapped_nested_blocks_restore_once_the_last_exits():
    ns = types.SimpleNamespace(f=lambda: "upstream")
    original, copy = ns.f, (lambda: "copy")
    with patching.swapped(ns, "f", copy):
        with patching.swapped(ns, "f", copy):
            assert ns.f() == "copy"
            with patching.swapped(ns, "f", lambda: "inner"):
                assert ns.f() == "inner"
            assert ns.f() == "copy"
        assert ns.f() == "copy"
    assert ns.f is original
    assert not patching._ACTIVE


def _fake_change(monkeypatch, module, installed="9.9.0"):
    package, version, functions = module.UPSTREAM
    changed = {name: (function, "0" * 16) for name, (function, _) in functions.items()}
    monkeypatch.setattr(module, "UPSTREAM", (package, version, changed))
    monkeypatch.setattr(patching, "installed_version", lambda name: installed)
    return package, version


@pytest.mark.parametrize("module, enter", [
    (formulae_speedups, lambda: formulae_speedups.patched().__enter__()),
    (nutpie_compile, lambda: nutpie_compile.compile_numba(None, [])),
    (bambi_speedups, lambda: bambi_speedups.apply(types.SimpleNamespace(conditional_parameters={}))),
])
def test_unknown_upstream_source_raises_and_patches_nothing(monkeypatch, module, enter):
    package, tested = _fake_change(monkeypatch, module)
    with pytest.raises(UpstreamVersionError) as info:
        enter()
    message = str(info.value)
    for part in (package, "9.9.0", tested, f"pip install '{package}=={tested}'", patching.ENV_VAR):
        assert part in message
    assert isinstance(info.value, BayesGLMMError)
    _assert_upstream_untouched()


def test_build_model_refuses_a_changed_formulae(monkeypatch, mc):
    _fake_change(monkeypatch, formulae_speedups)
    with pytest.raises(UpstreamVersionError, match="formulae"):
        bg.build_model("p(y, n) ~ treat + (1|centre)", mc, "binomial")
    _assert_upstream_untouched()


def test_same_source_under_another_version_is_accepted(monkeypatch):
    monkeypatch.setattr(patching, "installed_version", lambda name: "0.99.1")
    bambi_speedups.check()
    formulae_speedups.check()
    nutpie_compile.check()


def test_env_var_turns_the_copies_off(monkeypatch, mc):
    monkeypatch.setenv(patching.ENV_VAR, "0")
    for module in (bambi_speedups, formulae_speedups, nutpie_compile):
        _fake_change(monkeypatch, module)  # would raise if checked
    spec = bg.build_model("p(y, n) ~ treat + (1|centre)", mc, "binomial")
    _assert_plain_bambi(spec.bambi_model)
