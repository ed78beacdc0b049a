"""What every course analysis shares: the step template, the runner and the reference numbers.

An analysis module holds only what is particular to its exercise: ``DESCRIPTION``,
``TITLE``, its ``step_*`` functions (each decorated with :func:`step`), ``STEPS`` and its
data preparation; ``run = runner(__name__)`` gives it the common ``run(data_dir=None,
out=None, seed=1, quick=False)``. The course's material lives in ``reference/NAME.json``
beside this file: the numbers the course printed, each with its source (:func:`reference`,
:func:`reference_sources`), what the report's sections show (``intro``) and, per step, its
heading, the course's R code and the Python that replaces it (``steps``, used by :func:`step`).

Examples
--------
>>> reference("multicentre")["odds_ratio"]
(1.08, 0.77, 1.51)
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from importlib import resources

from bayesglmm.errors import UnknownModelError

__all__ = ["glm_against_glmm", "lme4_equivalent", "ordinal_checks", "reference", "reference_sources", "run_analysis",
           "runner", "stacked_share_figure", "step"]

_PARAMETERS = """
    Parameters
    ----------
    a : Analysis
        The running analysis (:func:`bayesglmm.course.start`){after}; the step adds its tables,
        figures and one-line answer to it.
"""
_EXAMPLES = """
    Examples
    --------
    >>> a = {start}  # doctest: +SKIP
    >>> {calls}  # doctest: +SKIP
"""
_RUN_DOC = """Run ``{name}`` end to end: every step of :data:`STEPS`, then the report.

    {description}.

    Parameters
    ----------
    data_dir : path, optional
        Folder of the course data (:func:`bayesglmm.datasets.find_data_dir`); unused by a
        simulated set.
    out : path, optional
        Folder for ``report.html``; nothing is written when None.
    seed : int
        Seed of every fit.
    quick : bool
        Small fits (4 x 300 draws) for tests; the default is 4 chains x 1000 after 1000 warm-up.

    Returns
    -------
    CourseResult
        ``print(result)`` gives one line per step; ``result.report`` everything.

    Examples
    --------
    >>> from bayesglmm.course import {name}
    >>> print({name}.run(quick=True))  # doctest: +SKIP
"""


def _analysis_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def step(func=None, *, after: tuple = (), check: tuple | None = None):
    """Mark a function of one :class:`~bayesglmm.course.Analysis` as a course step; complete its docstring.

    The step's own docstring says what it answers (and may carry its own Examples); the
    decorator adds the Parameters section every step shares and, where the step has none,
    an example that opens the analysis and runs ``after`` and then the step. Where the
    analysis' JSON file has an entry for the step under ``"steps"`` (``heading``, a
    paragraph ``text``, the course's R code ``r`` or, for an item the course leaves open,
    ``r_lme4``, and the ``python`` that replaces it, as lists of lines; with ``"format":
    true`` the lines are formatted with the module's constants), the step first adds them
    to the report.

    Parameters
    ----------
    func : callable
        ``step_NAME(a) -> None``.
    after : tuple of str
        Names of the steps the example runs first (the ones whose fits this step reads).
    check : (str, str), optional
        An expression to evaluate after the step and its printed value: the example then
        runs as a doctest (for steps that fit nothing).

    Returns
    -------
    callable
        ``func`` with its docstring completed (wrapped so that it first adds its JSON
        entry to the report, where it has one).

    Examples
    --------
    >>> @step(after=("step_fit",))
    ... def step_demo(a):
    ...     '''9. A demo.'''
    >>> "a : Analysis" in step_demo.__doc__ and "step_fit(a); step_demo(a)" in step_demo.__doc__
    True
    """
    if func is None:
        return functools.partial(step, after=after, check=check)
    module_globals = func.__globals__
    text = _texts(_analysis_name(func.__module__)).get("steps", {}).get(func.__name__, {})
    if text.get("format"):  # code written with the module's constants, e.g. "{FORMULAS[GLM]}"
        text = {k: [line.format_map(module_globals) for line in v] if isinstance(v, list) else v
                for k, v in text.items()}
    if text:
        func = _with_text(func, text)
    doc = inspect.cleandoc(func.__doc__ or func.__name__)
    head, marker, examples = doc.partition("\nExamples\n--------\n")
    after_text = f", after :func:`{'` and :func:`'.join(after)}`" if after else ""
    parts = [head.rstrip("\n").replace("\n", "\n    "), _PARAMETERS.format(after=after_text).rstrip("\n")]
    if marker:
        parts.append("\n    Examples\n    --------\n    " + examples.replace("\n", "\n    "))
    else:
        start = module_globals.get("EXAMPLE_START", f'start("{_analysis_name(func.__module__)}", TITLE, quick=True)')
        calls = "; ".join(f"{name}(a)" for name in (*after, func.__name__))
        examples = _EXAMPLES.format(start=start, calls=calls).rstrip("\n")
        if check is not None:
            examples = examples.replace("  # doctest: +SKIP", "") + f"\n    >>> {check[0]}\n    {check[1]}"
        parts.append(examples)
    func.__doc__ = "\n".join(parts) + "\n    "
    return func


def _with_text(func, text: dict):
    """``func`` preceded by its section's heading and code, as the analysis' JSON gives them."""

    @functools.wraps(func)
    def course_step(a) -> None:
        if "heading" in text:
            a.report.heading(text["heading"])
        if "text" in text:
            a.report.text(text["text"])
        if "r" in text:
            a.r_and_python("\n".join(text["r"]), "\n".join(text["python"]))
        elif "r_lme4" in text:
            lme4_equivalent(a, "\n".join(text["r_lme4"]), "\n".join(text["python"]))
        func(a)

    return course_step


def lme4_equivalent(a, r_code: str, py_code: str) -> None:
    """For an item the course leaves to the student: what one would write in lme4, then the Python.

    Parameters
    ----------
    a : Analysis
        The running analysis.
    r_code, py_code : str
        The lme4 code and the Python that replaces it.

    Examples
    --------
    >>> lme4_equivalent(a, "drop1(M1)", "bg.fixed_effect_needed(fit, smaller, 'Bonus')")  # doctest: +SKIP
    """
    a.report.text("The course leaves this item to the student and prints no code or result. In lme4 one would "
                  "write:")
    a.report.code(r_code)
    a.report.text("Here, in Python:")
    a.report.code(py_code)


def glm_against_glmm(a, group: str, observed: str):
    """Step body shared by the two-model analyses: are the group intercepts needed (``"GLM"`` vs ``"GLMM"``)?

    Adds the cross-validation table, the group SD's posterior against its prior, the notes
    and a posterior predictive check of each model; records ``a.values["random_effects"]``.

    Parameters
    ----------
    a : Analysis
        The running analysis, with fits ``"GLM"`` and ``"GLMM"``.
    group : str
        Column of the grouping factor (the GLM's check is drawn per level of it).
    observed : str
        What the checks compare, e.g. ``"observed proportions against 95% intervals of replicated ones"``.

    Returns
    -------
    RandomEffectsAnswer
        The answer of :func:`bayesglmm.questions.random_effects_needed` (``verdict``, ``decision``, ...).

    Examples
    --------
    >>> ans = glm_against_glmm(a, "centre", "observed proportions")  # doctest: +SKIP
    """
    from bayesglmm.plots import plot_ppc
    from bayesglmm.questions import random_effects_needed

    ans = random_effects_needed(a.fits["GLM"], a.fits["GLMM"], seed=a.seed, allow_unconverged=True)
    a.report.table(ans.comparison.table, "Cross-validation: GLM vs GLMM")
    a.report.table(ans.table, "Centre SD: posterior against prior")
    for note in ans.comparison.notes:
        a.report.text(f"Note: {note}")
    for key in ("GLM", "GLMM"):
        a.report.figure(plot_ppc(a.fits[key], kind="groups", group=a.data[group] if key == "GLM" else None,
                                 seed=a.seed), f"Posterior predictive check of the {key}: {observed}")
    a.values["random_effects"] = {"decision": ans.decision, "elpd_diff": ans.elpd_diff, "dse": ans.dse}
    return ans


def ordinal_checks(a, fit, cells, *, bars: str, table: str, qq: str) -> tuple:
    """Step body shared by the ordinal analyses: replicated categories, mean category per cell, QQ plot.

    Records the flagged cells in ``a.values["ppc_flagged"]``.

    Parameters
    ----------
    a : Analysis
        The running analysis.
    fit : Fit
        The ordinal model checked.
    cells : pandas.Series
        Categorical cell of each fitted row (e.g. arm x week).
    bars, table, qq : str
        Captions of the category bars, of the table of Bayesian p-values and of the QQ plot.

    Returns
    -------
    tuple
        ``(inside, cells, ending)``: the cells whose observed mean lies inside its replicated
        95% interval, the number of cells, and ``"; flagged: ..."`` or ``"."`` to end an answer.

    Examples
    --------
    >>> inside, n, ending = ordinal_checks(a, fit, cells, bars="...", table="...", qq="...")  # doctest: +SKIP
    """
    from bayesglmm.checks import ppc_pvalues
    from bayesglmm.plots import plot_ppc, plot_ranef_qq

    a.report.figure(plot_ppc(fit, kind="bars", seed=a.seed), bars)
    pv = ppc_pvalues(fit, stats=("mean",), by_group=cells, seed=a.seed)
    a.report.table(pv, table)
    a.report.figure(plot_ranef_qq(fit), qq)
    groups = pv[pv["group"] != ""]
    flagged = groups.loc[groups["flag"], "level"].tolist()
    a.values["ppc_flagged"] = flagged
    ending = f"; flagged: {', '.join(map(str, flagged))}." if flagged else "."
    return len(groups) - len(flagged), len(groups), ending


def stacked_share_figure(share, titles: dict, labels: list, colors: list, *, xlabel: str, ylabel: str):
    """Bars of the share of each response category, one panel per group (e.g. per arm).

    Parameters
    ----------
    share : pandas.DataFrame
        Shares per category (columns), indexed by (panel, x) as ``pandas.crosstab(..., normalize="index")``
        gives them.
    titles : dict
        Panel key -> its title, in the order drawn.
    labels, colors : list
        Legend label and colour of each category (column).
    xlabel, ylabel : str
        Axis labels.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> share = pd.DataFrame({1: [0.5, 0.2], 2: [0.5, 0.8]}, index=pd.MultiIndex.from_tuples([("a", 0), ("b", 0)]))
    >>> fig = stacked_share_figure(share, {"a": "A", "b": "B"}, ["1 low", "2 high"], ["red", "green"],
    ...                            xlabel="week", ylabel="share")
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(titles), figsize=(11, 3.8), sharey=True)
    for ax, (panel, title) in zip(axes, titles.items()):
        sub = share.loc[panel]
        bottom = np.zeros(len(sub))
        for k, label, color in zip(sub.columns, labels, colors):
            ax.bar([str(x) for x in sub.index], sub[k], bottom=bottom, color=color, label=label)
            bottom += sub[k].to_numpy()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(frameon=False, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def run_analysis(module, data_dir=None, out=None, seed: int = 1, quick: bool = False):
    """Run one analysis module: open it, state what the report shows, run its steps, write the report.

    Parameters
    ----------
    module : module
        A course analysis with ``TITLE``, ``DESCRIPTION`` and ``STEPS`` (and ``intro`` in its JSON file).
    data_dir, out, seed, quick
        As for ``run()`` of the module (:func:`runner`).

    Returns
    -------
    CourseResult

    Examples
    --------
    >>> from bayesglmm.course import hr
    >>> print(run_analysis(hr, quick=True))  # doctest: +SKIP
    """
    from bayesglmm.course import start

    name = _analysis_name(module.__name__)
    a = start(name, module.TITLE, data_dir=data_dir, seed=seed, quick=quick)
    a.report.text(f"{module.DESCRIPTION}. {_texts(name)['intro']}")
    a.run_steps(module.STEPS)
    return a.finish(out)


def runner(module_name: str):
    """The ``run(data_dir=None, out=None, seed=1, quick=False)`` of an analysis module.

    Parameters
    ----------
    module_name : str
        ``__name__`` of the module; its ``TITLE``, ``DESCRIPTION`` and ``STEPS`` are read
        when ``run`` is called.

    Returns
    -------
    callable
        ``run(data_dir=None, out=None, seed=1, quick=False) -> CourseResult``.

    Examples
    --------
    >>> run = runner("bayesglmm.course.hr")
    >>> list(inspect.signature(run).parameters)
    ['data_dir', 'out', 'seed', 'quick']
    """

    def run(data_dir=None, out=None, seed: int = 1, quick: bool = False):
        return run_analysis(sys.modules[module_name], data_dir=data_dir, out=out, seed=seed, quick=quick)

    module = sys.modules.get(module_name)
    name = _analysis_name(module_name)
    description = getattr(module, "DESCRIPTION", name)
    run.__doc__ = _RUN_DOC.format(name=name, description=description)
    run.__module__ = module_name
    run.__qualname__ = "run"
    return run


@functools.cache
def _texts(name: str) -> dict:
    """The analysis' JSON file (``{"numbers": {}, "steps": {}}`` for a module that has none)."""
    path = resources.files("bayesglmm.course").joinpath("reference", f"{name}.json")
    if not path.is_file():
        return {"analysis": name, "numbers": {}, "steps": {}, "missing": True}
    return json.loads(path.read_text(encoding="utf-8"))


def _frozen(value):
    """JSON lists as tuples, so the cached numbers cannot be changed by a caller."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _numbers(name: str) -> dict:
    data = _texts(name)
    if data.get("missing"):
        known = sorted(p.name[:-5] for p in resources.files("bayesglmm.course").joinpath("reference").iterdir()
                       if p.name.endswith(".json"))
        raise UnknownModelError(f"no reference file for analysis {name!r}; the analyses: {', '.join(known)}")
    return data["numbers"]


def reference(name: str) -> dict:
    """The numbers the course printed for an analysis: key -> value (a number, or tuples and dicts of them).

    Read from ``bayesglmm/course/reference/NAME.json``, where each number stands with the
    course file and line it comes from (:func:`reference_sources`).

    Parameters
    ----------
    name : str
        The analysis (``"multicentre"``).

    Returns
    -------
    dict
        Key -> value; lists of the file come back as tuples.

    Examples
    --------
    >>> reference("multicentre")["odds_ratio"]
    (1.08, 0.77, 1.51)
    """
    return {key: _frozen(entry["value"]) for key, entry in _numbers(name).items()}


def reference_sources(name: str) -> dict:
    """Where each reference number of an analysis comes from: key -> course file, line and what it is.

    Examples
    --------
    >>> reference_sources("multicentre")["icc"]
    'shared/course/ch2-glmm-exercises.txt:145 (item 8: ICC, printed as 0.29347 and quoted as 0.293)'
    """
    return {key: entry["source"] for key, entry in _numbers(name).items()}
