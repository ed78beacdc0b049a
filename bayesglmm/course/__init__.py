"""The course's analyses, step by step, each answering the course's questions with posteriors.

Each analysis is a module with ``DESCRIPTION``, ``STEPS`` (its steps, in the course's
order, each a function of one :class:`Analysis`) and ``run(data_dir=None, out=None,
seed=1, quick=False) -> CourseResult``, the one runner of :mod:`bayesglmm.course.framework`.
The course's material (its printed numbers with their sources, each step's heading and R
code) is data: ``bayesglmm/course/reference/NAME.json``. ``bayesglmm course NAME --out DIR``
runs one; ``examples/NAME.py`` walks through the same steps as a tutorial.

* ``multicentre``: course Exercise 1 (Beitler & Landis multicentre trial), items 1-9.
* ``betablocker``: lecture 8 (beta-blocker meta-analysis), GLM against GLMM.
* ``hr``: McLain's notes, section 4 (heart rates): random intercept against random slope.
* ``schizo``: notes section 5: cumulative logit mixed model, sign convention against mixcat.
* ``housing``: notes section 6: cumulative logit with missing responses dropped and reported.
* ``bloodpressure``: the blog's simulated blood pressures (gaussian, hospitals and patients).
* ``patients``: course Exercise 2 (lung-cancer remission; patients, doctors, hospitals), items 1-8.
* ``motorins``: course Exercise 3 (Swedish motor insurance), Poisson GLMM with exposure, items 1-7.
* ``muscatine``: notes section 3 (Muscatine obesity): uncounted to one row per child and year, child intercepts.
* ``rehab``: the slides' simulated rehab centres (Poisson): bottom-up model building, steps 1-6.

Examples
--------
>>> from bayesglmm.course import ANALYSES
>>> sorted(ANALYSES)  # doctest: +NORMALIZE_WHITESPACE
['betablocker', 'bloodpressure', 'housing', 'hr', 'motorins', 'multicentre', 'muscatine', 'patients', 'rehab',
 'schizo']
>>> result = ANALYSES["multicentre"].run(quick=True)  # doctest: +SKIP
>>> print(result)                                     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import platform
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from bayesglmm import datasets
from bayesglmm.diagnostics import ConvergenceWarning
from bayesglmm.errors import DatasetNotFoundError
from bayesglmm.report import Report

__all__ = ["ANALYSES", "Analysis", "CourseResult", "REPORT_FILE", "interval_text", "package_versions",
           "posterior_figure", "start"]

REPORT_FILE = "report.html"
FULL = {"draws": 1000, "tune": 1000, "chains": 4}
QUICK = {"draws": 300, "tune": 300, "chains": 4}
VERSIONED = ("bayesglmm", "bambi", "pymc", "pytensor", "nutpie", "arviz", "arviz-stats", "formulae",
             "numpy", "pandas", "scipy", "xarray", "matplotlib")


@dataclass
class CourseResult:
    """What a course analysis returns.

    Attributes
    ----------
    name : str
        The analysis (``"multicentre"``).
    answers : OrderedDict
        Step -> one line answering it, with the number (and the course's for comparison).
    report : Report
        Every table and figure; ``str(report)`` is the full text account.
    fits : dict
        Name -> :class:`bayesglmm.Fit`.
    out : pathlib.Path or None
        The written ``report.html``, or None when no folder was given.
    values : dict
        The key numbers behind the answers, e.g. ``values["odds_ratio"]`` = (median,
        lower, upper); the keys are listed in each analysis module's docstring.

    Examples
    --------
    >>> r = CourseResult("demo", OrderedDict(step="answer"), Report("Demo"), {}, None)
    >>> print(r)
    demo: the course's questions, answered
    <BLANKLINE>
    step: answer
    """

    name: str
    answers: OrderedDict
    report: Report
    fits: dict
    out: Path | None = None
    values: dict = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.name}: the course's questions, answered", ""]
        lines += [f"{step}: {answer}" for step, answer in self.answers.items()]
        if self.out is not None:
            lines += ["", f"Report with every table and figure: {self.out}"]
        return "\n".join(lines)


def package_versions() -> dict:
    """Python and the versions of the packages behind the results.

    Examples
    --------
    >>> "pymc" in package_versions()
    True
    """
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _data_file(name: str, data_dir) -> Path:
    folder = datasets.find_data_dir(data_dir, name)
    for file_name in datasets._FILE_DATASETS[name][0]:
        if (folder / file_name).is_file():
            return folder / file_name
    raise DatasetNotFoundError(f"no data file for {name!r} in {folder}")  # find_data_dir found one: unreachable


@dataclass
class Analysis:
    """The state of one course analysis while its steps run.

    Create it with :func:`start`; each step adds fits, report sections and an answer;
    :meth:`finish` adds the convergence and reproducibility sections and writes the report.

    Attributes
    ----------
    name, data, report, seed, quick : as given to :func:`start`
    data_file : pathlib.Path
        The file the data were read from; ``data_sha256`` its SHA-256.
    fits : dict
        Name -> Fit, in the order fitted.
    answers : OrderedDict
        Step -> one-line answer.
    warnings : list of str
        Convergence warnings raised while fitting.
    best : str or None
        Key of the fit a step chose for the later steps (the course's "best model").
    values : dict
        Key numbers behind the answers (see :class:`CourseResult`).
    timings : dict
        Step name -> wall seconds (filled by :meth:`run_steps`).
    closed : bool
        True once :meth:`finish` has added the closing sections.

    Examples
    --------
    >>> from bayesglmm.course import multicentre
    >>> a = start("multicentre", multicentre.TITLE, quick=True)
    >>> multicentre.step_describe(a)
    >>> list(a.answers)
    ['1. Descriptive plot']
    >>> a.finish().out is None
    True
    """

    name: str
    data: pd.DataFrame
    report: Report
    seed: int
    quick: bool
    data_file: Path
    data_sha256: str
    fits: dict = field(default_factory=dict)
    answers: OrderedDict = field(default_factory=OrderedDict)
    warnings: list = field(default_factory=list)
    best: str | None = None
    values: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    closed: bool = False

    @property
    def sizes(self) -> dict:
        """Draws, warm-up and chains of every fit (small with ``quick=True``).

        Examples
        --------
        >>> start("multicentre", "Demo", quick=True).sizes
        {'draws': 300, 'tune': 300, 'chains': 4}
        """
        return QUICK if self.quick else FULL

    def fit(self, key: str, formula: str, family: str, *, scale: int = 1, **kwargs):
        """Fit ``formula`` with the analysis' seed and sizes; record it (and any convergence warning).

        ``scale`` multiplies the draws and warm-up (for weakly identified models), except in
        quick mode, where every fit stays small; other keyword arguments go to
        :func:`bayesglmm.fit` (``target_accept``, ``priors``, ...).

        Examples
        --------
        >>> a = start("multicentre", "Demo", quick=True)           # doctest: +SKIP
        >>> glm = a.fit("GLM", "p(y, n) ~ treat", "binomial")      # doctest: +SKIP
        """
        from bayesglmm.fit import fit

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            scale = 1 if self.quick else scale
            sizes = {**self.sizes, "draws": self.sizes["draws"] * scale, "tune": self.sizes["tune"] * scale}
            if self.quick:
                # Quick fits (4 x 300) are for tests of the plumbing: no retry ladder, whose
                # extra attempts would triple their time without changing what they test.
                kwargs.setdefault("retry", False)
            result = fit(formula, self.data, family, seed=self.seed, progressbar=False, **sizes, **kwargs)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.warnings.append(f"{key} ({formula}): {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.fits[key] = result
        return result

    def r_and_python(self, r_code: str, py_code: str) -> None:
        """Show the course's R code for a step, then the Python that replaces it.

        Examples
        --------
        >>> a.r_and_python("VarCorr(M1a)", "null.varcorr()")  # doctest: +SKIP
        """
        self.report.text("The course in R:")
        self.report.code(r_code)
        self.report.text("Here, in Python:")
        self.report.code(py_code)

    def answer(self, step: str, text: str) -> None:
        """Record the one-line answer of a step and repeat it in the report.

        Examples
        --------
        >>> a.answer("6. Odds ratio", "1.08 [0.77, 1.51]")  # doctest: +SKIP
        """
        self.answers[step] = text
        self.report.text(f"Answer: {text}")

    def run_steps(self, steps) -> None:
        """Run the steps in order, timing each.

        Examples
        --------
        >>> a.run_steps(multicentre.STEPS)  # doctest: +SKIP
        """
        for step in steps:
            t0 = time.perf_counter()
            step(self)
            self.timings[step.__name__] = time.perf_counter() - t0

    def finish(self, out=None, command: str | None = None) -> CourseResult:
        """Add the convergence and reproducibility sections; write ``out/report.html`` if ``out``.

        The sections are added once; a second call only writes (or returns) the result again.

        Parameters
        ----------
        out : str or path, optional
            Folder of ``report.html`` (created if needed); nothing is written when None.
        command : str, optional
            The command that reproduces the run, shown in the report (default: the CLI's).

        Returns
        -------
        CourseResult

        Examples
        --------
        >>> result = a.finish(out="results")  # doctest: +SKIP
        """
        if not self.closed:
            self._close(command)
            self.closed = True
        path = None if out is None else self.report.write(Path(out) / REPORT_FILE)
        return CourseResult(self.name, OrderedDict(self.answers), self.report, dict(self.fits), path,
                            dict(self.values))

    def _close(self, command: str | None) -> None:
        rep = self.report
        if self.fits:
            rep.heading("Convergence of every fit")
            rows = {}
            for key, f in self.fits.items():
                d = f.diagnostics
                rows[key] = {"formula": f.formula, "converged": f.ok, "max R-hat": d.max_rhat,
                             "min bulk ESS": d.min_ess_bulk, "divergences": d.divergences}
            rep.table(pd.DataFrame.from_dict(rows, orient="index"),
                      "R-hat <= 1.01, bulk ESS >= 400 and no divergences count as converged")
        if self.warnings:
            advice = "quick mode uses few draws, so some are expected" if self.quick else "rerun with more draws"
            rep.text(f"Warnings while fitting (results of these fits are less reliable; {advice}):")
            rep.code("\n\n".join(self.warnings))
        rep.heading("Reproducibility")
        s = self.sizes
        rep.text(f"Seed {self.seed}; fits: {s['chains']} chains x {s['draws']} draws after {s['tune']} warm-up "
                 f"unless the step says otherwise, sampler nutpie{' (quick mode)' if self.quick else ''}. "
                 f"Data: {self.data_file} (SHA-256 {self.data_sha256}).")
        if self.fits:
            settings = {key: {k: f.settings.get(k) for k in ("sampler", "chains", "draws", "tune", "seed",
                                                              "target_accept", "low_rank")}
                        for key, f in self.fits.items()}
            rep.table(pd.DataFrame.from_dict(settings, orient="index"), "Sampler settings of every fit")
        if command is None:
            command = f"bayesglmm course {self.name} --seed {self.seed} --out DIR"
            if self.quick:
                command = (f"python -c 'from bayesglmm.course import {self.name}; "
                           f"{self.name}.run(seed={self.seed}, quick=True, out=\"DIR\")'")
        rep.code(command)
        if self.timings:
            rep.table(pd.DataFrame({"seconds": self.timings}), "Wall time of each step")
        versions = package_versions()
        rep.table(pd.DataFrame({"version": versions}), "Package versions")


def interval_text(median: float, lower: float, upper: float, digits: int = 3) -> str:
    """``"0.376 [0.220, 0.564]"``.

    Examples
    --------
    >>> interval_text(0.3761, 0.2203, 0.5641)
    '0.376 [0.220, 0.564]'
    """
    return f"{median:.{digits}f} [{lower:.{digits}f}, {upper:.{digits}f}]"


def posterior_figure(panels: list, *, reference_label: str = "course (lme4)"):
    """Histograms of posterior draws, each with its 95% interval and the course's estimate.

    Parameters
    ----------
    panels : list of (draws, label, reference)
        ``reference`` is ``(estimate, lower, upper)``, ``(estimate,)`` or None.
    reference_label : str
        How the reference is named in the legend.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = posterior_figure([(np.random.default_rng(1).normal(size=500), "x", (0.0, -2.0, 2.0))])
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt

    from bayesglmm.summary import interval_bounds

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (draws, label, ref) in zip(axes[0], panels):
        draws = np.asarray(draws, dtype=float).ravel()
        lo, hi = interval_bounds(draws)
        med = float(np.median(draws))
        ax.hist(draws, bins=60, color="#3b75af", alpha=0.6, density=True)
        ax.axvline(med, color="#3b75af", lw=2, label=f"posterior median {med:.3g}")
        ax.axvspan(lo, hi, color="#3b75af", alpha=0.12, label=f"95% credible interval [{lo:.3g}, {hi:.3g}]")
        if ref:
            ax.axvline(ref[0], color="black", ls="--", lw=1.5, label=f"{reference_label} {ref[0]:.3g}")
            if len(ref) == 3:
                ax.axvline(ref[1], color="black", ls=":", lw=1)
                ax.axvline(ref[2], color="black", ls=":", lw=1,
                           label=f"{reference_label} 95% CI [{ref[1]:.3g}, {ref[2]:.3g}]")
        ax.set_xlabel(label)
        ax.set_ylabel("posterior density")
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def start(name: str, title: str, *, data_dir=None, seed: int = 1, quick: bool = False) -> Analysis:
    """Load a course data set and open its report.

    A simulated set (``"rehab"``, ``"bloodpressure"``) is simulated with its default seed;
    having no file, its ``data_file`` names the simulation and ``data_sha256`` is the
    SHA-256 of the table written as CSV.

    Parameters
    ----------
    name : str
        Data set name (:func:`bayesglmm.datasets.load`).
    title : str
        Report title.
    data_dir : path, optional
        Folder of the course data (see :func:`bayesglmm.datasets.find_data_dir`).
    seed : int
        Seed of every fit.
    quick : bool
        Small fits (4 chains x 300 draws after 300 warm-up) for tests.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> a = start("multicentre", "Exercise 1", quick=True)
    >>> a.data.shape
    (22, 5)
    >>> start("rehab", "Rehab").data_file
    PosixPath('simulated: bayesglmm.datasets.simulate_rehab(seed=2016)')
    """
    if name in datasets._SIMULATED_DATASETS:
        data = datasets.load(name)
        sha = hashlib.sha256(data.to_csv(index=False).encode()).hexdigest()
        source = Path(f"simulated: bayesglmm.datasets.simulate_{name}(seed={data.attrs['seed']})")
        return Analysis(name, data, Report(title), int(seed), bool(quick), source, sha)
    data = datasets.load(name, data_dir=data_dir)
    data_file = _data_file(name, data_dir)
    sha = hashlib.sha256(data_file.read_bytes()).hexdigest()
    return Analysis(name, data, Report(title), int(seed), bool(quick), data_file, sha)


# The analyses import the names above, so they come last.
from bayesglmm.course import (betablocker, bloodpressure, housing, hr, motorins, multicentre,  # noqa: E402
                              muscatine, patients, rehab, schizo)

#: Name -> module with ``DESCRIPTION`` and ``run()``; ``bayesglmm course NAME`` runs one.
ANALYSES = {"multicentre": multicentre, "betablocker": betablocker, "hr": hr,
            "schizo": schizo, "housing": housing, "bloodpressure": bloodpressure,
            "patients": patients, "motorins": motorins, "muscatine": muscatine, "rehab": rehab}

