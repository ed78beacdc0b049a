"""Bad input: one row per kind, each caught before any sampling, with a message that names it.

Every row checks the exception type, that the message names the column, the value and the
row or level (as far as the case has them), that sampling never started and that nothing
was written. ``docs/errors.md`` shows the message of every row (regenerate it with
``python tests/test_bad_input.py``). Rows the current code gets wrong are marked
``xfail(strict=True)`` with the fix they need, so fixing the code turns them into passes.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field

import bambi
import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg
from bayesglmm import cli
from bayesglmm.errors import (
    BayesGLMMError,
    DataError,
    DatasetNotFoundError,
    FamilyError,
    FormulaError,
    PriorError,
)


class SamplingStarted(Exception):
    """Raised by the patched sampler: the bad input was not caught before sampling."""


def base() -> pd.DataFrame:
    """A small valid data set: bernoulli y, binomial (y, n), counts n, predictor x, group g, exposure t."""
    return pd.DataFrame({
        "y": [0, 1, 1, 0, 1, 0, 1, 1],
        "n": [3, 4, 5, 3, 4, 5, 2, 3],
        "x": [0.1, 0.5, 1.2, 2.0, 0.3, 0.9, 1.5, 2.2],
        "g": list("aabbccdd"),
        "t": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0],
    })


def edit(**changes) -> pd.DataFrame:
    """base() with columns replaced (a list) or single cells set (a dict row -> value)."""
    df = base()
    for col, value in changes.items():
        if not isinstance(value, dict):
            df[col] = value
            continue
        for row, v in value.items():
            if isinstance(v, str) or isinstance(v, float) and df[col].dtype.kind in "iu":
                df[col] = df[col].astype(object if isinstance(v, str) else float)
            df.loc[row, col] = v
    return df


def ordinal(values, categories) -> pd.DataFrame:
    df = base()
    df["o"] = pd.Categorical(values, categories=categories, ordered=True)
    return df


@dataclass
class Case:
    """One kind of bad input: how to call, what must be raised and what the message names."""

    id: str
    what: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    error: type = BayesGLMMError
    names: tuple = ()
    xfail: str | None = None
    call: str = "fit"  # or "load" (datasets.load)

    def run(self):
        if self.call == "load":
            return bg.datasets.load(*self.args, **self.kwargs)
        return bg.fit(*self.args, **self.kwargs)


F = "y ~ x + (1|g)"
COUNTS = "n ~ x + (1|g)"
BIN = "p(y, n) ~ x + (1|g)"
ORD = "o ~ x + (1|g)"
CASES = [
    Case("unknown-column", "the formula names a column the data lack",
         ("y ~ xx + (1|g)", base(), "bernoulli"), error=FormulaError, names=("'xx'", "did you mean 'x'")),
    Case("unknown-group-column", "the grouping factor is not a column",
         ("y ~ x + (1|h)", base(), "bernoulli"), error=FormulaError, names=("'h'", "Columns are")),
    Case("missing-response", "missing values in the response",
         (F, edit(y={1: np.nan, 4: np.nan}), "bernoulli"), error=DataError,
         names=("column 'y'", "2 missing", "rows 1, 4", "dropna=True")),
    Case("missing-predictor", "missing values in a predictor",
         (F, edit(x={3: np.nan}), "bernoulli"), error=DataError, names=("column 'x'", "1 missing", "row 3")),
    Case("missing-group", "missing values in a grouping factor",
         (F, edit(g={2: None, 6: None}), "bernoulli"), error=DataError,
         names=("column 'g'", "2 missing", "rows 2, 6")),
    Case("missing-trials", "missing number of trials",
         (BIN, edit(n={5: np.nan}), "binomial"), error=DataError, names=("column 'n'", "1 missing", "row 5")),
    Case("string-in-numeric-predictor", "a numeric predictor with one stray string",
         (F, edit(x={3: "abc"}), "bernoulli"), error=DataError, names=("'x'", "'abc'", "row 3")),
    Case("numeric-strings-predictor", "a predictor read as text: numbers with one non-numeric string",
         (F, edit(x=["0.1", "0.5", "1.2", "2.0", "n/a", "0.9", "1.5", "2.2"]), "bernoulli"), error=DataError,
         names=("'x'", "'n/a'", "row 4")),
    Case("string-in-response", "a numeric response with a stray string",
         (F, edit(y={3: "abc"}), "gaussian"), error=DataError, names=("'y'", "'abc'", "row 3")),
    Case("nonfinite-predictor", "an infinite predictor value",
         (F, edit(x={5: np.inf}), "bernoulli"), error=DataError, names=("'x'", "inf", "row 5")),
    Case("nonfinite-response", "an infinite gaussian response",
         (F, edit(y={3: -np.inf}), "gaussian"), error=DataError, names=("'y'", "-inf", "row 3")),
    Case("negative-count", "a negative count",
         (COUNTS, edit(n={5: -2}), "poisson"), error=DataError, names=("'n'", "-2", "row 5", "non-negative")),
    Case("noninteger-count", "a count that is not a whole number",
         (COUNTS, edit(n={5: 2.5}), "poisson"), error=DataError, names=("'n'", "2.5", "row 5", "whole")),
    Case("successes-exceed-trials", "y > n",
         (BIN, edit(y={5: 9}), "binomial"), error=DataError, names=("'y' = 9", "'n' = 5", "row 5")),
    Case("zero-trials", "n = 0",
         (BIN, edit(y={5: 0}, n={5: 0}), "binomial"), error=DataError, names=("'n'", "0", "row 5", "at least 1")),
    Case("bernoulli-not-binary", "a bernoulli response of 2",
         (F, edit(y={2: 2}), "bernoulli"), error=DataError, names=("'y'", "2", "row 2", "0 or 1")),
    Case("bernoulli-yes-no", "a bernoulli response of 'yes'/'no' (True/False is accepted)",
         (F, edit(y=["yes", "no"] * 4), "bernoulli"), error=DataError,
         names=("'y'", "'yes'", "row", "True/False", "== 'yes'")),
    Case("ordinal-single-category", "an ordinal response with one category",
         (ORD, ordinal([1] * 8, [1]), "cumulative"), error=DataError, names=("'o'", "single category", "1")),
    Case("ordinal-empty-level", "an ordinal response with a category no row has",
         (ORD, ordinal([1, 2] * 4, [1, 2, 3]), "cumulative"), error=DataError,
         names=("'o'", "no rows: 3", "remove_unused_categories")),
    Case("group-one-level", "a grouping factor with a single level",
         (F, edit(g=["a"] * 8), "bernoulli"), error=DataError, names=("'g'", "single level", "'a'")),
    Case("group-level-per-row", "a bernoulli model with a grouping level per row",
         (F, edit(g=list("abcdefgh")), "bernoulli"), error=DataError, names=("'g'", "8 levels for 8 rows", "bernoulli")),
    Case("empty-data", "a DataFrame with columns but no rows",
         (F, base().iloc[:0], "bernoulli"), error=DataError, names=("no rows",)),
    Case("data-not-dataframe", "data as a dict",
         (F, base().to_dict("list"), "bernoulli"), error=DataError, names=("DataFrame", "dict")),
    Case("formula-does-not-parse", "a dangling '+'",
         ("y ~ x +", base(), "bernoulli"), error=FormulaError, names=("'y ~ x +'", "does not parse")),
    Case("formula-without-tilde", "no '~'",
         ("y x", base(), "bernoulli"), error=FormulaError, names=("'y x'", "'~'")),
    Case("group-term-without-factor", "(1|) with nothing after the bar",
         ("y ~ x + (1|)", base(), "bernoulli"), error=FormulaError, names=("(1|)", "grouping factor")),
    Case("binomial-without-trials", "a binomial response without p(y, n)",
         (F, base(), "binomial"), error=FormulaError, names=("p(successes, trials)", F)),
    Case("unknown-family", "a misspelt family",
         (F, base(), "bernouli"), error=FamilyError, names=("'bernouli'", "Did you mean 'bernoulli'")),
    Case("unknown-link", "a link the family does not have",
         (F, base(), "bernoulli"), {"link": "log"}, error=FamilyError, names=("'log'", "'bernoulli'", "logit")),
    Case("offset-zero-exposure", "offset(log(t)) with t = 0",
         ("n ~ x + offset(log(t)) + (1|g)", edit(t={2: 0.0}), "poisson"), error=DataError,
         names=("'t'", "positive", "0", "row 2")),
    Case("offset-negative-exposure", "offset(log(t)) with t < 0",
         ("n ~ x + offset(log(t)) + (1|g)", edit(t={6: -1.0}), "poisson"), error=DataError,
         names=("'t'", "positive", "-1", "row 6")),
    Case("constant-predictor", "a predictor with one value in every row",
         (F, edit(x=[1.0] * 8), "bernoulli"), error=DataError, names=("'x'", "constant")),
    Case("draws-zero", "draws=0",
         (F, base(), "bernoulli"), {"draws": 0}, names=("draws", "0")),
    Case("chains-fractional", "chains=2.5",
         (F, base(), "bernoulli"), {"chains": 2.5}, names=("chains", "2.5")),
    Case("target-accept-out-of-range", "target_accept=1.5",
         (F, base(), "bernoulli"), {"target_accept": 1.5}, names=("target_accept", "1.5")),
    Case("unknown-sampler", "sampler='stan'",
         (F, base(), "bernoulli"), {"sampler": "stan"}, names=("sampler", "'stan'", "nutpie")),
    Case("unknown-parameterization", "parameterization='centered' (US spelling)",
         (F, base(), "bernoulli"), {"parameterization": "centered"}, names=("'centered'", "'centred'")),
    Case("unknown-prior-term", "a prior for a term the model lacks",
         (F, base(), "bernoulli"), {"priors": {"xx": bg.Prior("Normal", mu=0, sigma=1)}}, error=PriorError,
         names=("'xx'", "did you mean 'x'", "Intercept")),
    Case("unknown-prior-distribution", "a misspelt distribution name",
         (F, base(), "bernoulli"), {"priors": {"x": bg.Prior("Nromal", mu=0, sigma=1)}}, error=PriorError,
         names=("'x'", "'Nromal'", "Normal")),
    Case("prior-not-a-prior", "a prior given as text",
         (F, base(), "bernoulli"), {"priors": {"x": "Normal(0, 1)"}}, error=PriorError,
         names=("'x'", "Normal(0, 1)", "bg.Prior")),
    Case("dataset-unknown-name", "datasets.load with a misspelt name",
         ("multicenter",), error=DatasetNotFoundError, names=("'multicenter'", "Did you mean 'multicentre'"),
         call="load"),
    Case("dataset-folder-missing", "datasets.load from a folder that does not exist",
         ("multicentre",), {"data_dir": "/nonexistent/folder"}, error=DatasetNotFoundError,
         names=("/nonexistent/folder", "no such folder", "BAYESGLMM_DATA"), call="load"),
]


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    """No sampling (the samplers raise SamplingStarted), and run in an empty folder."""

    def refuse(*args, **kwargs):
        raise SamplingStarted("sampling started: the bad input was not caught before sampling")

    fit_module = importlib.import_module("bayesglmm.fit")  # bg.fit is the function, not the module
    monkeypatch.setattr(fit_module, "sample", refuse)
    monkeypatch.setattr(bambi.Model, "fit", refuse)
    monkeypatch.setattr(bambi.Model, "prior_predictive", refuse)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, guarded):
    with pytest.raises(case.error) as info:
        case.run()
    message = str(info.value)
    missing = [name for name in case.names if name not in message]
    assert not missing, f"message does not name {missing}: {message}"
    assert os.listdir(guarded) == []


@dataclass
class CLICase:
    id: str
    what: str
    argv: list
    names: tuple


CLI_CASES = [
    CLICase("cli-missing-data-file", "bayesglmm fit with a data file that does not exist",
            ["fit", "y ~ x + (1|g)", "--data", "nothere.csv", "--family", "bernoulli", "--out", "out"],
            ("'nothere.csv'", "not found")),
    CLICase("cli-unknown-analysis", "bayesglmm course with an unknown analysis name",
            ["course", "no-such-analysis", "--out", "out"], ("unknown analysis 'no-such-analysis'",)),
    CLICase("cli-bad-data", "bayesglmm fit on a CSV whose response is not 0/1",
            ["fit", "y ~ x + (1|g)", "--data", "{csv}", "--family", "bernoulli", "--out", "out"],
            ("'y'", "2", "row 2")),
    CLICase("cli-unreadable-csv", "bayesglmm fit on an empty file",
            ["fit", "y ~ x", "--data", "{empty}", "--family", "gaussian", "--out", "out"], ("cannot read", "as CSV")),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLI_CASES])
def test_bad_cli_input(case, guarded, capsys):
    edit(y={2: 2}).to_csv(guarded / "data.csv", index=False)
    (guarded / "empty.csv").write_text("")
    before = sorted(os.listdir(guarded))
    argv = [a.format(csv="data.csv", empty="empty.csv") for a in case.argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    missing = [name for name in case.names if name not in err]
    assert not missing, f"message does not name {missing}: {err}"
    assert sorted(os.listdir(guarded)) == before  # no out/ folder, no temporary file


def test_bernoulli_true_false_is_accepted(guarded):
    """True/False is a valid bernoulli response (converted to 1/0): the checks pass and sampling starts."""
    with pytest.raises(SamplingStarted):
        bg.fit(F, edit(y=[True, False] * 4), "bernoulli")


def test_messages_show_plain_values(guarded):
    with pytest.raises(DataError) as info:
        bg.fit(F, edit(y={2: 2}), "bernoulli")
    assert "np." not in str(info.value)


def test_docs_list_every_case():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    missing = [c.id for c in [*CASES, *CLI_CASES] if f"`{c.id}`" not in doc]
    assert not missing, f"docs/errors.md lacks {missing}: regenerate it with python tests/test_bad_input.py"


def _markdown() -> str:
    """The table of docs/errors.md, from running every case (no sampling: guarded like the tests)."""
    import tempfile

    def refuse(*args, **kwargs):
        raise SamplingStarted("sampling started")

    importlib.import_module("bayesglmm.fit").sample = refuse
    rows = ["| case | input | exception | message |", "|---|---|---|---|"]

    def cell(text):
        return text.replace("|", "\\|").replace("\n", " ")

    for case in CASES:
        try:
            case.run()
            got, message = "(none)", "no error: sampling would start"
        except SamplingStarted:
            got, message = "(none)", "no error: sampling starts"
        except Exception as err:  # noqa: BLE001 - documenting whatever is raised
            got, message = type(err).__name__, str(err)
        flag = " (to fix)" if case.xfail else ""
        rows.append(f"| `{case.id}`{flag} | {cell(case.what)} | {got} | {cell(message)} |")
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            edit(y={2: 2}).to_csv("data.csv", index=False)
            open("empty.csv", "w").close()
            for case in CLI_CASES:
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    status = cli.main([a.format(csv="data.csv", empty="empty.csv") for a in case.argv])
                rows.append(f"| `{case.id}` | {cell(case.what)} | exit status {status} | {cell(err.getvalue().strip())} |")
        finally:
            os.chdir(cwd)
    return "\n".join(rows)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    print(_markdown())
