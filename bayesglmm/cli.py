"""The ``bayesglmm`` command: fit a model to a CSV file, or run a course analysis.

::

    bayesglmm fit "p(y, n) ~ treat + (1|centre)" --data multicentre.csv --family binomial --out results
    bayesglmm course list
    bayesglmm course NAME --out results [--executor local|serial|tcp://scheduler:8786]
    bayesglmm sbc "p(y, n) ~ treat + (1|centre)" --data multicentre.csv --family binomial --sims 200 --out sbc

Errors print one line on standard error and exit with status 2; Ctrl-C exits with 130.
Output files are written only at the end, atomically: an interrupted run writes nothing.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import signal
import sys
import warnings
from pathlib import Path

from bayesglmm.errors import BayesGLMMError, MissingFileError

FIT_FILE = "fit.bglmm"
SUMMARY_FILE = "summary.txt"
SBC_FILES = ("sbc_ranks.csv", "sbc_tests.csv", "sbc_ecdf.png")
EXECUTOR_HELP = ("where the batch's fits run: 'local' (this machine's cores, the default), 'serial' "
                 "(one after the other), or a Dask scheduler address such as tcp://scheduler:8786")
NO_ANALYSES = "no analyses are installed yet"


class CLIError(BayesGLMMError):
    """A command-line request that cannot be carried out (e.g. an unknown analysis)."""


def _whole(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesglmm", description="Bayesian generalized linear mixed models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fit,course,sbc}")

    fit = sub.add_parser("fit", help="fit a model to a CSV file and print its summary")
    fit.add_argument("formula", help="lme4-style formula, e.g. 'p(y, n) ~ treat + (1|centre)'")
    fit.add_argument("--data", required=True, metavar="FILE.csv", help="the data, a CSV file with a header row")
    fit.add_argument("--family", required=True,
                     help="gaussian, bernoulli, binomial, poisson, negativebinomial, cumulative or student_t")
    fit.add_argument("--link", default=None, help="link function (default: the family's)")
    fit.add_argument("--draws", type=_whole(1), default=1000, help="draws kept per chain (1000)")
    fit.add_argument("--tune", type=_whole(0), default=1000, help="warm-up iterations per chain (1000)")
    fit.add_argument("--chains", type=_whole(1), default=4, help="number of chains (4)")
    fit.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same draws")
    fit.add_argument("--retry", choices=["auto", "always", "never"], default="auto",
                     help="retry ladder when the fit fails: on divergences or high R-hat (auto), on any failure, or never")
    fit.add_argument("--out", metavar="DIR", default=None, help=f"write {SUMMARY_FILE} and {FIT_FILE} to DIR")
    fit.set_defaults(run=_run_fit)

    course = sub.add_parser("course", help="list or run the course analyses")
    course.add_argument("name", metavar="NAME", help="'list', or the analysis to run")
    course.add_argument("--out", metavar="DIR", default=None, help="folder for the analysis' outputs")
    course.add_argument("--data-dir", metavar="DIR", default=None, help="folder holding the course data files")
    course.add_argument("--seed", type=int, default=None, help="random seed (default: the analysis' own)")
    course.add_argument("--quick", action="store_true", help="small fits (4 chains x 300 draws) for a fast look")
    course.add_argument("--executor", default=None, metavar="WHERE",
                        help=EXECUTOR_HELP + "; used by the analysis' model comparisons (cross-validation refits)")
    course.set_defaults(run=_run_course)

    sbc = sub.add_parser("sbc", help="simulation-based calibration of a model on template data")
    sbc.add_argument("formula", help="lme4-style formula, e.g. 'p(y, n) ~ treat + (1|centre)'")
    sbc.add_argument("--data", required=True, metavar="FILE.csv",
                     help="template data (CSV): every simulated data set keeps its predictors and groups")
    sbc.add_argument("--family", required=True,
                     help="gaussian, bernoulli, binomial, poisson, negativebinomial, cumulative or student_t")
    sbc.add_argument("--link", default=None, help="link function (default: the family's)")
    sbc.add_argument("--sims", type=_whole(2), default=200, help="simulated data sets, one fit each (200)")
    sbc.add_argument("--draws", type=_whole(10), default=200, help="draws kept per chain of each fit (200)")
    sbc.add_argument("--tune", type=_whole(0), default=200, help="warm-up iterations per chain (200)")
    sbc.add_argument("--chains", type=_whole(1), default=2, help="chains per fit (2)")
    sbc.add_argument("--thin", type=_whole(1), default=2, help="rank among every THIN-th draw (2)")
    sbc.add_argument("--seed", type=int, default=None, help="batch seed: the same seed gives the same ranks")
    sbc.add_argument("--executor", default="local", metavar="WHERE", help=EXECUTOR_HELP)
    sbc.add_argument("--out", metavar="DIR", default=None, help=f"write {', '.join(SBC_FILES)} to DIR")
    sbc.set_defaults(run=_run_sbc)
    return parser


def _read_csv(path: str):
    import pandas as pd

    if Path(path).is_dir():
        raise CLIError(f"--data names the folder {path!r}; give the CSV file inside it")
    if not Path(path).is_file():
        raise MissingFileError(f"data file {path!r} not found")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CLIError(f"cannot read {path!r} as CSV: {err}") from err


def _show_warnings(caught) -> None:
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"warning: {w.message}", file=sys.stderr)


def _run_fit(args) -> int:
    import bayesglmm as bg
    from bayesglmm.io import dump

    data = _read_csv(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bg.fit(args.formula, data, args.family, link=args.link, draws=args.draws, tune=args.tune,
                     chains=args.chains, seed=args.seed, retry={"auto": "auto", "always": True, "never": False}[args.retry])
    if args.interrupts.hit:  # nutpie catches Ctrl-C and returns the draws so far: do not use them
        raise KeyboardInterrupt
    _show_warnings(caught)
    text = str(fit.summary())
    print(text)
    if args.out is not None:
        _write_outputs(Path(args.out), {FIT_FILE: lambda handle: dump(fit, handle), SUMMARY_FILE: text + "\n"})
    return 0


def _write_outputs(out: Path, files: dict) -> None:
    """All files or none; a folder made here is removed again if writing fails."""
    from bayesglmm.io import write_atomically

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically({out / name: content for name, content in files.items()})
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _analyses() -> dict | None:
    """The registry ``bayesglmm.course.ANALYSES``, or None when no course module is installed."""
    try:
        course = importlib.import_module("bayesglmm.course")
    except ModuleNotFoundError as err:
        if err.name == "bayesglmm.course":
            return None
        raise  # the course module is there but broken: show the real error
    return dict(course.ANALYSES)


def _executor(where):
    """The executor named on the command line (None: the default), checked before any work."""
    from bayesglmm.executor import get_executor

    if where is None:
        return None
    try:
        return get_executor(where)
    except ImportError as err:
        raise CLIError(str(err)) from err


def _run_sbc(args) -> int:
    import bayesglmm as bg

    data = _read_csv(args.data)
    executor = _executor(args.executor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = bg.sbc(args.formula, data, args.family, link=args.link, draws=args.sims, chains=args.chains,
                     sample_draws=args.draws, tune=args.tune, thin=args.thin, seed=args.seed, executor=executor)
    if args.interrupts.hit:
        raise KeyboardInterrupt
    _show_warnings(caught)
    tests = cal.tests
    rejected = list(tests.index[tests["rejected"]])
    print(f"SBC of {args.formula} ({args.family}): {len(cal.ranks)} simulations, ranks among {cal.n_draws} "
          f"draws, seed {cal.seed}, {cal.seconds['wall']:.0f} s")
    print(tests[["p_value", "points_outside", "rejected"]].to_string(float_format=lambda v: f"{v:.3f}"))
    alpha = 1 - float(tests["band_level"].iloc[0])
    if rejected:
        print(f"Verdict: NOT calibrated: uniformity rejected for {', '.join(rejected)} "
              f"(p < {alpha:.4f}: 1% level, Bonferroni over {len(tests)} parameters).")
    else:
        print(f"Verdict: no evidence of miscalibration: no parameter rejected at the 1% level "
              f"(p >= {alpha:.4f}, Bonferroni over {len(tests)} parameters).")
    if args.out is not None:
        fig = cal.plot()
        ranks, table, png = SBC_FILES
        _write_outputs(Path(args.out), {ranks: cal.ranks.to_csv(), table: tests.to_csv(),
                                        png: lambda handle: fig.savefig(handle, format="png", dpi=100)})
    return 0


def _run_course(args) -> int:
    from bayesglmm.executor import use_executor

    analyses = _analyses()
    if args.name == "list":
        if analyses is None:
            print(NO_ANALYSES)
        for name, module in (analyses or {}).items():
            print(f"{name:<20} {getattr(module, 'DESCRIPTION', '').strip()}")
        return 0
    if analyses is None:
        raise CLIError(f"unknown analysis {args.name!r}: {NO_ANALYSES}")
    if args.name not in analyses:
        close = difflib.get_close_matches(args.name, list(analyses), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"unknown analysis {args.name!r}.{hint} Available: {', '.join(analyses) or 'none'} "
                       "(see 'bayesglmm course list').")
    kwargs = {"data_dir": args.data_dir, "out": None if args.out is None else Path(args.out)}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.quick:
        kwargs["quick"] = True
    with use_executor(_executor(args.executor)):
        result = analyses[args.name].run(**kwargs)
    if result is not None:
        print(result)
    return 0


class _Interrupts:
    """Remember a Ctrl-C even when the sampler catches it (nutpie returns partial draws)."""

    def __init__(self):
        self.hit = False
        self._previous = None

    def _handler(self, signum, frame):
        self.hit = True
        raise KeyboardInterrupt

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: signals cannot be watched
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the ``bayesglmm`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for an error in the input (one line on standard error, no
        traceback), 130 when interrupted with Ctrl-C (nothing written).

    Examples
    --------
    >>> main(["course", "list"])  # doctest: +SKIP
    no analyses are installed yet
    0
    >>> main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", "multicentre.csv",
    ...       "--family", "binomial", "--out", "results"])  # doctest: +SKIP
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error argparse has already printed
        return done.code if isinstance(done.code, int) else 2
    try:
        with _Interrupts() as args.interrupts:
            return args.run(args)
    except KeyboardInterrupt:
        print("interrupted: no files were written", file=sys.stderr)
        return 130
    except (BayesGLMMError, OSError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
