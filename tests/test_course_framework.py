"""The course framework without sampling: the reference files, the step template and the runner.

Every analysis keeps its course material in ``bayesglmm/course/reference/NAME.json``: the
numbers the course printed (each with its source), what the report's sections show, and per
step its heading and the course's code. These tests check that the files are whole and agree
with the modules, and that a step adds its heading and code before its own content.
"""

import inspect
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from bayesglmm.course import ANALYSES, start
from bayesglmm.course import multicentre as multicentre_module
from bayesglmm.course.framework import reference, reference_sources, runner, step

from conftest import needs_data

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _file(name: str) -> dict:
    return json.loads(resources.files("bayesglmm.course").joinpath("reference", f"{name}.json").read_text())


@pytest.mark.parametrize("name", list(ANALYSES))
def test_reference_file_is_whole(name):
    data = _file(name)
    assert data["analysis"] == name and data["source"].strip() and data["intro"].strip()
    for key, entry in data["numbers"].items():
        assert set(entry) == {"value", "source"} and entry["source"].strip(), key
    module = ANALYSES[name]
    step_names = [s.__name__ for s in module.STEPS]
    assert set(data["steps"]) <= set(step_names)  # no entry for a step that does not exist
    for key, text in data["steps"].items():
        assert set(text) <= {"heading", "text", "r", "r_lme4", "python", "format"}, key
        assert ("r" in text or "r_lme4" in text) == ("python" in text), key


@pytest.mark.parametrize("name", [n for n in ANALYSES if _file(n)["numbers"]])
def test_reference_sources_point_at_the_course_files(name):
    cited = 0
    for key, source in reference_sources(name).items():
        m = re.match(r"shared/(\S+?):(\d+) ", source)
        if m is None:  # a number of an lme4 run made for this package, described in words
            continue
        path = SHARED / m.group(1)
        if not path.is_file():
            pytest.skip(f"{path} not here")
        assert int(m.group(2)) <= len(path.read_text().splitlines()), key
        cited += 1
    assert cited or name in {"motorins", "patients", "muscatine"}


def test_reference_values_are_immutable_and_unknown_names_teach():
    ref = reference("multicentre")
    assert ref["odds_ratio"] == (1.08, 0.77, 1.51) and isinstance(ref["sd"], tuple)
    assert multicentre_module.COURSE["icc"] == 0.293
    with pytest.raises(KeyError, match="multicentre"):
        reference("multicenter")


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_step_has_the_template_and_run_is_the_runner(name):
    module = ANALYSES[name]
    for s in module.STEPS:
        doc = inspect.getdoc(s)
        assert "a : Analysis" in doc and "Examples" in doc, s.__name__
        assert s.__module__ == module.__name__
    assert list(inspect.signature(module.run).parameters) == ["data_dir", "out", "seed", "quick"]
    assert f"{name}.run(quick=True)" in module.run.__doc__


class _Stop(Exception):
    pass


class _Recorder:
    """Stands in for an Analysis: records what a step adds first, then stops the step's own code."""

    def __init__(self):
        self.shown = []
        self.report = self

    def heading(self, text):
        self.shown.append(("heading", text))

    def text(self, text):
        self.shown.append(("text", text))

    def code(self, text):
        self.shown.append(("code", text))

    def r_and_python(self, r_code, py_code):
        self.shown.append(("r", r_code))
        self.shown.append(("python", py_code))

    def __getattr__(self, name):  # the step's own code starts: stop here
        raise _Stop(name)


def test_step_decorator_formats_code_with_the_module_constants():
    from bayesglmm.course import rehab

    text = _file("rehab")["steps"]["step_random_slopes"]
    assert text["format"] and "{FORMULAS[step 4 Treatment slope]}" in text["python"][0]
    a = _Recorder()
    with pytest.raises(_Stop):
        rehab.step_random_slopes(a)
    shown = dict(a.shown)
    assert shown["heading"] == text["heading"]
    assert f'bg.fit("{rehab.FORMULAS["step 4 Treatment slope"]}"' in shown["python"]
    assert "bg.compare({'random slope': m4, 'step 3': m3})" in shown["python"]


def test_items_the_course_leaves_open_show_the_lme4_equivalent():
    from bayesglmm.course import patients

    a = _Recorder()
    with pytest.raises(_Stop):
        patients.step_checks(a)
    kinds = [k for k, _ in a.shown]
    assert kinds == ["heading", "text", "code", "text", "code"]
    assert "prints no code or result" in a.shown[1][1] and "qqnorm" in a.shown[2][1]


def test_step_without_course_text_keeps_its_function():
    def step_demo(a):
        """9. A demo."""
        a.append("ran")

    decorated = step(step_demo)
    assert decorated is step_demo  # no JSON entry (this module has none): nothing wrapped
    assert "step_demo(a)" in decorated.__doc__


def test_runner_builds_run_for_a_module_name():
    run = runner("bayesglmm.course.hr")
    assert run.__module__ == "bayesglmm.course.hr" and "hr.run(quick=True)" in run.__doc__


@needs_data
def test_a_step_adds_heading_text_and_code_before_its_own_content():
    a = start("multicentre", multicentre_module.TITLE, quick=True)
    multicentre_module.step_design(a)
    text = str(a.report)
    order = [text.index(s) for s in ("2. Fixed or random effects, and the design plot",
                                     "treat is an experimental factor",
                                     "plot.design(obs ~ treat + centre, data = multicentre)",
                                     "Answer: treat fixed, centre random")]
    assert order == sorted(order)
