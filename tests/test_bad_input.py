"""Bad input: one row per kind, each caught before any sampling, with a message that names it.

Every row checks the exception type, that the message names the column, the value and the
row or level (as far as the case has them), that sampling never started and that nothing
was written. ``docs/errors.md`` shows the message of every row (regenerate it with
``python tests/test_bad_input.py``; ``--print`` prints it instead). Rows the current code gets wrong are marked
``xfail(strict=True)`` with the fix they need, so fixing the code turns them into passes.
"""

from __future__ import annotations

import importlib
import json
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
    FitError,
    FormulaError,
    MissingFileError,
    PriorError,
    SettingsError,
)
from bayesglmm.request import ModelRequest
from bayesglmm.validate import DegenerateResponseWarning


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


_FAKE_FITS: dict = {}


def fake_fit(formula: str = "y ~ x + (1|g)", family: str = "bernoulli"):
    """A Fit whose 'posterior' is 20 prior draws (forward sampling, no NUTS), made once per model.

    Enough for the argument checks of predict, icc, summaries and compare, which run before
    any draw is used.
    """
    if (formula, family) not in _FAKE_FITS:
        import warnings

        import pymc as pm
        import xarray as xr

        from bayesglmm.result import Fit

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = bg.build_model(formula, base(), family)
            with spec.pymc_model:
                prior = pm.sample_prior_predictive(draws=20, random_seed=1, var_names=[
                    v.name for v in spec.pymc_model.free_RVs + spec.pymc_model.deterministics])
        idata = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
        _FAKE_FITS[formula, family] = Fit(spec, idata, None, {"sampler": "fake", "draws": 20, "chains": 1, "seed": 1})
    return _FAKE_FITS[formula, family]


def _zip(members: dict) -> bytes:
    """A zip archive (stored, not compressed) of name -> bytes."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _spec_json(draws: dict | None = None, reseal: bool = True, **changes) -> bytes:
    """A fit file's spec.json: well-formed, checksums right (unless ``reseal`` is False), then ``changes``."""
    import hashlib
    import json

    from bayesglmm import io as bio

    draws = draws or {}
    spec = {"format": bio.FORMAT, "format_version": bio.FORMAT_VERSION, "data": {"frame": {}},
            "data_sha256": hashlib.sha256(bio._canonical({"frame": {}})).hexdigest(),
            "draws": {"files": {n: hashlib.sha256(d).hexdigest() for n, d in draws.items()}, "groups": {}}}
    spec.update(changes)
    spec = {k: v for k, v in spec.items() if v is not None}
    if reseal:
        spec["spec_sha256"] = hashlib.sha256(bio._canonical(spec)).hexdigest()
    else:
        spec["spec_sha256"] = "0" * 64
    return json.dumps(spec).encode()


def fit_file(*, draws: dict | None = None, spec: bytes | None = None, extra: dict | None = None) -> bytes:
    """A fit-file container: spec.json (well-formed unless given) and the draws' files."""
    draws = draws or {}
    members = {"spec.json": _spec_json(draws) if spec is None else spec, **draws, **(extra or {})}
    return _zip(members)


def _write_files(folder, files: dict) -> None:
    """Write name -> text or bytes (None: an empty folder) under ``folder``, making parent folders."""
    from pathlib import Path

    for name, content in files.items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@dataclass
class Case:
    """One kind of bad input: how to call, what must be raised and what the message names.

    ``call`` says what is called: ``fit`` (bg.fit(*args, **kwargs), also checked through
    ``ModelRequest(...).build(data)`` when the keywords are the model's), ``load``
    (datasets.load), ``read_csv`` (datasets.read_csv), ``load_fit`` (bg.load), ``method``
    (``args[0]`` called on a stand-in fit of ``model`` with the remaining arguments),
    ``function`` (``bg.<args[0]>(fit, ...)``), ``io`` (a ``bayesglmm.io`` function),
    ``compare`` (bg.compare of two fits) and ``compare_empty``. ``files`` are written into the (empty) working folder first. An
    ``error`` that is a Warning class means the input is legal but suspicious: the warning
    must name the problem and sampling must still start.
    """

    id: str
    what: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    error: type = BayesGLMMError
    names: tuple = ()
    xfail: str | None = None
    call: str = "fit"
    files: dict = field(default_factory=dict)
    model: tuple = ("y ~ x + (1|g)", "bernoulli")  # the stand-in fit of ``method`` cases (fake_fit)

    @property
    def warns(self) -> bool:
        return issubclass(self.error, Warning)

    def write_files(self, folder) -> None:
        _write_files(folder, self.files)

    def run(self):
        if self.call == "load":
            return bg.datasets.load(*self.args, **self.kwargs)
        if self.call == "read_csv":
            return bg.datasets.read_csv(*self.args, **self.kwargs)
        if self.call == "load_fit":
            return bg.load(*self.args, **self.kwargs)
        if self.call == "method":
            name, *args = self.args
            return getattr(fake_fit(*self.model), name)(*args, **self.kwargs)
        if self.call == "io":  # a bayesglmm.io function
            from bayesglmm import io as bio

            name, *args = self.args
            return getattr(bio, name)(*args, **self.kwargs)
        if self.call == "function":  # a bg function taking the fit first
            name, *args = self.args
            return getattr(bg, name)(fake_fit(*self.model), *args, **self.kwargs)
        if self.call == "compare_empty":
            return bg.compare({}, **self.kwargs)
        if self.call == "compare":
            fit = fake_fit()
            return bg.compare({"a": fit, "b": fit, **dict(self.args)}, **self.kwargs)
        return bg.fit(*self.args, **self.kwargs)

    def builds(self) -> bool:
        """A model-building case that ModelRequest(...).build(data) must catch too."""
        return self.call == "fit" and len(self.args) == 3 and set(self.kwargs) <= MODEL_KEYS

    def run_build(self):
        formula, data, family = self.args
        return ModelRequest(formula, family, **self.kwargs).build(data)


MODEL_KEYS = {"link", "priors", "dropna", "parameterization", "fixed_design"}


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
    Case("priors-as-pairs", "priors given as a list of (term, prior) pairs",
         (F, base(), "bernoulli"), {"priors": [("x", bg.Prior("Normal", mu=0, sigma=1))]}, error=PriorError,
         names=("priors must be a dict", "list")),
    Case("prior-wrong-length", "a prior array with more values than the term has columns",
         (F, base(), "bernoulli"), {"priors": {"x": bg.Prior("Normal", mu=0, sigma=np.array([1.0, 2.0]))}},
         error=PriorError, names=("'x'",)),
    Case("formula-number-term", "a number other than 0/1 as a term",
         ("y ~ x + 5", base(), "bernoulli"), error=FormulaError, names=("'y ~ x + 5'", "number 5", "I(")),
    Case("formula-two-responses", "two names left of '~'",
         ("y x ~ x", base(), "bernoulli"), error=FormulaError, names=("'y x'", "single response")),
    Case("dataset-unknown-name", "datasets.load with a misspelt name",
         ("multicenter",), error=DatasetNotFoundError, names=("'multicenter'", "Did you mean 'multicentre'"),
         call="load"),
    Case("dataset-folder-missing", "datasets.load from a folder that does not exist",
         ("multicentre",), {"data_dir": "/nonexistent/folder"}, error=DatasetNotFoundError,
         names=("/nonexistent/folder", "no such folder", "BAYESGLMM_DATA"), call="load"),
]


# Issue 17: no silent misreading. Each of these used to pass silently (or fail inside a library).
CASES += [
    # -- formulas ---------------------------------------------------------------------------------
    Case("bar-outside-parentheses", "a group term without parentheses: y ~ x + 1|g (was a plain GLM)",
         ("y ~ x + 1|g", base(), "bernoulli"), error=FormulaError,
         names=("'y ~ x + 1|g'", "outside parentheses", "need parentheses", "(1|g)")),
    Case("bar-slope-outside-parentheses", "y ~ x | g (was a plain GLM)",
         ("y ~ x | g", base(), "bernoulli"), error=FormulaError, names=("'y ~ x | g'", "(x|g)", "parentheses")),
    Case("bar-after-group-term", "a second group term without parentheses after a proper one",
         ("y ~ x + (1|g) + x|t", base(), "gaussian"), error=FormulaError, names=("(x|t)", "parentheses")),
    Case("double-bar-outside-parentheses", "y ~ x || g: an uncorrelated group term without parentheses",
         ("y ~ x || g", base(), "gaussian"), error=FormulaError, names=("(x||g)", "parentheses")),
    Case("bar-in-response", "a bar left of '~'",
         ("y|g ~ x", base(), "bernoulli"), error=FormulaError, names=("'y|g ~ x'", "left of '~'")),
    Case("unbalanced-open-parenthesis", "a group term that is never closed",
         ("y ~ x + (1|g", base(), "bernoulli"), error=FormulaError, names=("Unbalanced '('",)),
    Case("unbalanced-close-parenthesis", "a ')' without its '('",
         ("y ~ x) + (1|g)", base(), "bernoulli"), error=FormulaError, names=("Unbalanced ')'",)),
    Case("formula-no-response", "nothing left of '~'",
         ("~ x", base(), "bernoulli"), error=FormulaError, names=("'~ x'", "no response")),
    Case("formula-no-predictors", "nothing right of '~'",
         ("y ~ ", base(), "bernoulli"), error=FormulaError, names=("nothing right of '~'", "'1'")),
    Case("formula-not-text", "a formula that is not a string",
         (None, base(), "bernoulli"), error=FormulaError, names=("got None", "'y ~ x + (1|g)'")),
    Case("formula-calls-code", "a call outside the allowed transforms (eval)",
         ("y ~ eval(x)", base(), "bernoulli"), error=FormulaError, names=("'eval'", "not an allowed transform")),
    Case("formula-reaches-module", "a module attribute in a formula (np.pi)",
         ("y ~ np.pi + x", base(), "bernoulli"), error=FormulaError, names=("'np.pi'", "not a column")),
    Case("unknown-column-in-transform", "a misspelt column inside log()",
         ("y ~ log(xx)", base(), "gaussian"), error=FormulaError, names=("'xx'", "did you mean 'x'")),
    Case("unknown-slope-column", "a group slope on a column the data lack",
         ("y ~ x + (1 + z|g)", base(), "bernoulli"), error=FormulaError, names=("'z'", "Columns are")),
    Case("unknown-nested-factor", "(1|g/h) with h not a column",
         ("y ~ x + (1|g/h)", base(), "bernoulli"), error=FormulaError, names=("'h'",)),
    Case("group-term-without-effects", "(|g): nothing before the bar",
         ("y ~ x + (|g)", base(), "bernoulli"), error=FormulaError, names=("(|g)", "effects | grouping factor")),
    Case("group-term-two-bars", "(1|g|x): two bars in one term",
         ("y ~ x + (1|g|x)", base(), "bernoulli"), error=FormulaError, names=("(1|g|x)",)),
    Case("trials-column-missing", "p(y, nn) with nn not a column",
         ("p(y, nn) ~ x + (1|g)", base(), "binomial"), error=FormulaError, names=("'nn'", "did you mean 'n'")),
    Case("transform-log-of-zero", "log(x) of x = 0 (was a LinAlgError)",
         ("y ~ log(x) + (1|g)", edit(x={2: 0.0}), "bernoulli"), error=DataError,
         names=("'log(x)'", "-inf", "row 2", "transform")),
    Case("transform-sqrt-of-negative", "np.sqrt(x) of x = -1",
         ("y ~ np.sqrt(x) + (1|g)", edit(x={6: -1.0}), "bernoulli"), error=DataError,
         names=("'np.sqrt(x)'", "nan", "row 6")),
    Case("transform-divide-by-zero", "I(1/x) of x = 0",
         ("y ~ I(1/x) + (1|g)", edit(x={2: 0.0}), "bernoulli"), error=DataError, names=("inf", "row 2")),
    Case("transform-log-response", "np.log(y) of a response of 0",
         ("np.log(x) ~ n + (1|g)", edit(x={5: 0.0}), "gaussian"), error=DataError,
         names=("response 'np.log(x)'", "-inf", "row 5")),
    Case("transform-offset-log10-of-zero", "offset(log10(t)) of t = 0",
         ("n ~ x + offset(log10(t)) + (1|g)", edit(t={3: 0.0}), "poisson"), error=DataError,
         names=("offset", "-inf", "row 3")),
    Case("transform-group-slope", "a group slope on log(x) of x = 0",
         ("y ~ x + (log(x)|g)", edit(x={3: 0.0}), "gaussian"), error=DataError,
         names=("'log(x)|g'", "-inf", "row 3")),
    Case("transform-row-label", "log(x) of 0 in data indexed by text: the row is named by its label",
         ("y ~ log(x) + (1|g)", edit(x={2: 0.0}).set_index(pd.Index(list("abcdefgh"))), "bernoulli"),
         error=DataError, names=("row 'c'",)),
    # -- families and links -----------------------------------------------------------------------
    Case("unknown-family-poisson", "a misspelt count family",
         (COUNTS, base(), "possion"), error=FamilyError, names=("'possion'", "Did you mean 'poisson'")),
    Case("family-not-text", "family given as a number",
         (F, base(), 1), error=FamilyError, names=("Unknown family 1", "gaussian")),
    Case("link-for-other-family", "a logit link for a poisson model",
         (COUNTS, base(), "poisson"), {"link": "logit"}, error=FamilyError, names=("'logit'", "'poisson'", "log")),
    Case("misspelt-link", "link='idenity'",
         (F, base(), "gaussian"), {"link": "idenity"}, error=FamilyError, names=("'idenity'", "identity")),
    # -- responses that make no sense ---------------------------------------------------------------
    Case("bernoulli-all-zero", "a bernoulli response with no successes (legal: warns, estimates are prior-driven)",
         (F, edit(y=[0] * 8), "bernoulli"), error=DegenerateResponseWarning,
         names=("'y'", "every row is 0", "priors alone")),
    Case("bernoulli-all-one", "a bernoulli response with no failures (legal: warns)",
         (F, edit(y=[1] * 8), "bernoulli"), error=DegenerateResponseWarning, names=("'y'", "every row is 1")),
    Case("binomial-all-successes", "successes equal trials in every row (legal: warns)",
         (BIN, edit(y=[3, 4, 5, 3, 4, 5, 2, 3]), "binomial"), error=DegenerateResponseWarning,
         names=("'y'", "'n'", "no failures")),
    Case("binomial-no-successes", "no successes in any row (legal: warns)",
         (BIN, edit(y=[0] * 8), "binomial"), error=DegenerateResponseWarning, names=("'y'", "0 successes")),
    Case("cumulative-continuous-response", "family='cumulative' on a continuous response (was 7 cut-points)",
         (F, base().assign(y=lambda d: d.x), "cumulative"), error=DataError,
         names=("'y'", "not whole", "0.1", "rows 0, 1", "gaussian", "ordered=True")),
    Case("cumulative-too-many-values", "family='cumulative' on whole numbers with 25 distinct values",
         ("o ~ x", pd.DataFrame({"o": np.arange(50) % 25, "x": np.linspace(0, 1, 50)}), "cumulative"),
         error=DataError, names=("'o'", "25 distinct", "24 cut-points", "pd.Categorical", "ordered=True")),
    Case("cumulative-text-response", "an ordinal response of unordered text",
         (ORD, base().assign(o=list("abababab")), "cumulative"), error=DataError,
         names=("'o'", "ordered categorical", "ordered=True")),
    Case("gaussian-response-overflows", "a gaussian response of 1e300 (was a sampler RuntimeError)",
         (F, edit(y={3: 1e300}), "gaussian"), error=DataError, names=("'y'", "1e+300", "row 3", "too large")),
    Case("student-t-response-overflows", "a Student-t response of -1e200",
         (F, edit(y={6: -1e200}), "student_t"), error=DataError, names=("'y'", "-1e+200", "row 6")),
    Case("predictor-overflows", "a predictor of 1e200",
         (F, edit(x={4: 1e200}), "gaussian"), error=DataError, names=("'x'", "1e+200", "row 4", "predictor")),
    Case("gaussian-text-response", "a gaussian response of letters",
         (F, edit(y=list("abcdefgh")), "gaussian"), error=DataError, names=("'y'", "non-numeric", "'a'")),
    Case("student-t-infinite-response", "an infinite Student-t response",
         (F, edit(y={2: np.inf}), "student_t"), error=DataError, names=("'y'", "inf", "row 2")),
    Case("binomial-fractional-successes", "successes of 0.5",
         (BIN, edit(y={2: 0.5}), "binomial"), error=DataError, names=("'y'", "0.5", "row 2", "whole")),
    Case("binomial-negative-successes", "successes of -1",
         (BIN, edit(y={2: -1}), "binomial"), error=DataError, names=("'y'", "-1", "row 2")),
    Case("binomial-negative-trials", "trials of -1",
         (BIN, edit(n={2: -1}), "binomial"), error=DataError, names=("'n'", "-1", "row 2", "at least 1")),
    Case("binomial-fractional-trials", "trials of 2.5",
         (BIN, edit(n={2: 2.5}), "binomial"), error=DataError, names=("'n'", "2.5", "row 2", "whole")),
    Case("poisson-infinite-count", "an infinite count",
         (COUNTS, edit(n={2: np.inf}), "poisson"), error=DataError, names=("'n'", "inf", "row 2")),
    Case("negbin-negative-count", "a negative count, negative binomial",
         (COUNTS, edit(n={2: -1}), "negativebinomial"), error=DataError, names=("'n'", "-1", "row 2")),
    Case("negbin-fractional-count", "a count of 1.5, negative binomial",
         (COUNTS, edit(n={2: 1.5}), "negativebinomial"), error=DataError, names=("'n'", "1.5", "row 2", "whole")),
    Case("missing-student-t-response", "a missing Student-t response",
         (F, edit(y={2: np.nan}), "student_t"), error=DataError, names=("column 'y'", "1 missing", "row 2")),
    Case("poisson-count-overflows", "a count of 1e200 (was converted to int64 and wrapped round)",
         (COUNTS, edit(n={1: 1e200}), "poisson"), error=DataError, names=("'n'", "1e+200", "row 1")),
    Case("poisson-count-beyond-int64", "a count of 1e19, past int64 (and 2**53, where counts stop being exact)",
         (COUNTS, edit(n={4: 1e19}), "poisson"), error=DataError, names=("'n'", "1e+19", "row 4", "9.0072e+15")),
    Case("binomial-trials-overflow", "trials of 1e18",
         (BIN, edit(n={3: 1e18}), "binomial"), error=DataError, names=("'n'", "the trials", "1e+18", "row 3")),
    Case("gamma-negative-response", "a negative gamma response",
         (F, edit(y=[0.5, 1.2, -1.0, 0.7, 1.1, 3.0, 0.9, 1.4]), "gamma"), error=DataError,
         names=("'y'", "-1.0", "row 2", "strictly positive")),
    Case("gamma-response-overflows", "a gamma response of 1e300",
         (F, edit(y=[0.5, 1.2, 1e300, 0.7, 1.1, 3.0, 0.9, 1.4]), "gamma"), error=DataError,
         names=("'y'", "1e+300", "row 2", "too large")),
    Case("lognormal-zero-response", "a zero lognormal response",
         (F, edit(y=[0.5, 1.2, 0.0, 0.7, 1.1, 3.0, 0.9, 1.4]), "lognormal"), error=DataError,
         names=("'y'", "0.0", "row 2", "logarithm")),
    Case("beta-response-one", "a beta response of exactly 1",
         (F, edit(y=[0.2, 0.5, 1.0, 0.3, 0.4, 0.6, 0.7, 0.1]), "beta"), error=DataError,
         names=("'y'", "1.0", "row 2", "strictly between 0 and 1")),
    Case("zero-inflated-negative-count", "a negative count, zero-inflated poisson",
         (COUNTS, edit(n={2: -1}), "zero_inflated_poisson"), error=DataError, names=("'n'", "-1", "row 2")),
    Case("hurdle-fractional-count", "a count of 1.5, hurdle poisson",
         (COUNTS, edit(n={2: 1.5}), "hurdle_poisson"), error=DataError, names=("'n'", "1.5", "row 2", "whole")),
    Case("beta-binomial-successes-exceed-trials", "y > n, beta-binomial",
         (BIN, edit(y={2: 9}), "beta_binomial"), error=DataError, names=("'y' = 9", "'n' = 5", "row 2")),
    Case("beta-binomial-without-trials", "a beta-binomial response without p(y, n)",
         (F, base(), "beta_binomial"), error=FormulaError, names=("p(successes, trials)",)),
    Case("beta-binomial-all-successes", "successes equal trials in every row, beta-binomial (legal: warns)",
         (BIN, edit(y=[3, 4, 5, 3, 4, 5, 2, 3]), "beta_binomial"), error=DegenerateResponseWarning,
         names=("'y'", "no failures")),
    # -- data --------------------------------------------------------------------------------------
    Case("duplicate-data-columns", "a DataFrame with two columns named x (was a pandas ValueError)",
         (F, pd.concat([base(), base()[["x"]]], axis=1), "bernoulli"), error=DataError,
         names=("more than one column named 'x'", "duplicated")),
    Case("data-none", "data=None",
         (F, None, "bernoulli"), error=DataError, names=("DataFrame", "NoneType")),
    Case("data-numpy-array", "data as a numpy array",
         (F, base().to_numpy(), "bernoulli"), error=DataError, names=("DataFrame", "ndarray")),
    Case("dropna-leaves-nothing", "dropna=True when every row has a missing value",
         (F, edit(x=[np.nan] * 8), "bernoulli"), {"dropna": True}, error=DataError,
         names=("Every row has a missing value", "nothing is left")),
    Case("dropna-not-bool", "dropna='yes'",
         (F, base(), "bernoulli"), {"dropna": "yes"}, error=SettingsError, names=("dropna", "'yes'", "True or False")),
    Case("offset-missing", "a missing exposure in offset(log(t))",
         ("n ~ x + offset(log(t)) + (1|g)", edit(t={2: np.nan}), "poisson"), error=DataError,
         names=("column 't'", "1 missing", "row 2")),
    Case("offset-text", "an exposure of 'abc'",
         ("n ~ x + offset(log(t)) + (1|g)", edit(t={2: "abc"}), "poisson"), error=DataError,
         names=("'t'", "offset", "'abc'", "row 2")),
    Case("offset-infinite", "an infinite exposure",
         ("n ~ x + offset(log(t)) + (1|g)", edit(t={2: np.inf}), "poisson"), error=DataError,
         names=("'t'", "inf", "row 2")),
    Case("group-one-level-after-dropna", "a grouping factor left with one level by dropna=True",
         (F, edit(x={2: np.nan, 3: np.nan, 4: np.nan, 5: np.nan, 6: np.nan, 7: np.nan}), "bernoulli"),
         {"dropna": True}, error=DataError, names=("'g'", "single level", "'a'")),
]


def _settings(id, what, value_kwargs, names, error=SettingsError):
    return Case(id, what, (F, base(), "bernoulli"), value_kwargs, error=error, names=names)


CASES += [
    # -- sampler settings: checked before the model is built -------------------------------------
    _settings("seed-float", "seed=1.5 (was a numpy error)", {"seed": 1.5}, ("seed", "1.5", "whole number")),
    _settings("seed-whole-float", "seed=42.0", {"seed": 42.0}, ("seed", "42.0", "a float is not accepted")),
    _settings("seed-text", "seed='42'", {"seed": "42"}, ("seed", "'42'", "text is not accepted")),
    _settings("seed-bool", "seed=True", {"seed": True}, ("seed", "True", "a bool is not accepted")),
    _settings("seed-negative", "seed=-1", {"seed": -1}, ("seed", "-1", "2**32 - 1")),
    _settings("seed-too-large", "seed=2**40", {"seed": 2**40}, ("seed", str(2**40), "2**32 - 1")),
    _settings("cores-text", "cores='2' (was a failure inside nutpie)", {"cores": "2"},
              ("cores", "'2'", "text is not accepted")),
    _settings("cores-zero", "cores=0", {"cores": 0}, ("cores", "at least 1", "got 0")),
    _settings("cores-float", "cores=2.0", {"cores": 2.0}, ("cores", "2.0", "a float is not accepted")),
    _settings("chains-zero", "chains=0", {"chains": 0}, ("chains", "at least 1", "got 0")),
    _settings("chains-bool", "chains=True", {"chains": True}, ("chains", "True", "a bool is not accepted")),
    _settings("draws-text", "draws='1000'", {"draws": "1000"}, ("draws", "'1000'", "text is not accepted")),
    _settings("draws-float", "draws=1000.0", {"draws": 1000.0}, ("draws", "1000.0", "a float is not accepted")),
    _settings("draws-negative", "draws=-5", {"draws": -5}, ("draws", "-5", "at least 1")),
    _settings("tune-negative", "tune=-1", {"tune": -1}, ("tune", "-1", "at least 0")),
    _settings("tune-fractional", "tune=500.5", {"tune": 500.5}, ("tune", "500.5", "whole number")),
    _settings("target-accept-text", "target_accept='0.9' (was a TypeError)", {"target_accept": "0.9"},
              ("target_accept", "'0.9'", "text is not accepted")),
    _settings("target-accept-bool", "target_accept=True", {"target_accept": True},
              ("target_accept", "True", "a bool is not accepted")),
    _settings("target-accept-zero", "target_accept=0", {"target_accept": 0}, ("target_accept", "between 0 and 1", "got 0")),
    _settings("target-accept-one", "target_accept=1.0", {"target_accept": 1.0}, ("target_accept", "1.0")),
    _settings("target-accept-nan", "target_accept=nan", {"target_accept": float("nan")}, ("target_accept", "nan")),
    _settings("retry-unknown", "retry='sometimes'", {"retry": "sometimes"}, ("retry", "'sometimes'", "'auto'")),
    _settings("fixed-design-unknown", "fixed_design='QR' (upper case)", {"fixed_design": "QR"},
              ("fixed_design", "'QR'", "'qr'")),
    _settings("parameterization-term-unknown", "parameterization for a group term the model lacks",
              {"parameterization": {"1|h": "centred"}}, ("1|h",), error=BayesGLMMError),
    _settings("parameterization-term-misspelt", "a per-term parameterization spelt 'centered'",
              {"parameterization": {"1|g": "centered"}}, ("'1|g'", "'centered'", "'centred'")),
    _settings("low-rank-text", "low_rank='auto'", {"low_rank": "auto"}, ("low_rank", "'auto'", "True or False")),
    _settings("prior-only-number", "prior_only=1", {"prior_only": 1}, ("prior_only", "got 1", "True or False")),
    _settings("log-likelihood-text", "log_likelihood='no'", {"log_likelihood": "no"},
              ("log_likelihood", "'no'", "True or False")),
    _settings("progressbar-text", "progressbar='yes'", {"progressbar": "yes"}, ("progressbar", "'yes'")),
]


def _prior(id, what, priors, names, formula=F, family="bernoulli"):
    return Case(id, what, (formula, base(), family), {"priors": priors}, error=PriorError, names=names)


P = bg.Prior
CASES += [
    # -- priors: every keyword checked against the PyMC distribution --------------------------------
    _prior("prior-sd-alias", "Prior('Normal', mu=0, sd=10) (sd was ignored: SD 1 was used)",
           {"x": P("Normal", mu=0, sd=10)}, ("'x'", "'sd'", "sd=10", "did you mean sigma")),
    _prior("prior-negative-sigma", "sigma=-10 (was used as 10)", {"x": P("Normal", mu=0, sigma=-10)},
           ("'x'", "sigma=-10", "must be positive", "sigma=10")),
    _prior("prior-zero-sigma", "sigma=0", {"x": P("Normal", mu=0, sigma=0)}, ("'x'", "sigma=0", "positive")),
    _prior("prior-unknown-keyword", "an unknown keyword (was dropped)", {"x": P("Normal", mu=0, sigma=1, width=3)},
           ("'x'", "'width'", "width=3", "mu, sigma, tau")),
    _prior("prior-text-value", "mu='0'", {"x": P("Normal", mu="0", sigma=1)}, ("'x'", "mu='0'", "number")),
    _prior("prior-infinite-value", "mu=inf", {"x": P("Normal", mu=np.inf, sigma=1)}, ("'x'", "mu=inf", "finite")),
    _prior("prior-nan-scale", "sigma=nan", {"x": P("Normal", mu=0, sigma=np.nan)}, ("'x'", "sigma=nan", "finite")),
    _prior("prior-negative-in-array", "one negative SD in an array",
           {"x": P("Normal", mu=0, sigma=np.array([1.0, -2.0]))}, ("'x'", "sigma=[1, -2]", "positive")),
    _prior("prior-required-missing", "HalfCauchy without beta (was a PyMC TypeError)",
           {"sigma": P("HalfCauchy")}, ("'sigma'", "HalfCauchy needs beta"), family="gaussian"),
    _prior("prior-studentt-df", "StudentT(df=3): R's and scipy's name for nu",
           {"x": P("StudentT", df=3, mu=0, sigma=1)}, ("'x'", "'df'", "did you mean nu")),
    _prior("prior-exponential-rate", "Exponential(rate=1)",
           {"sigma": P("Exponential", rate=1)}, ("'sigma'", "'rate'", "did you mean lam"), family="gaussian"),
    _prior("prior-gamma-negative-shape", "Gamma(alpha=-2, beta=1)",
           {"sigma": P("Gamma", alpha=-2, beta=1)}, ("'sigma'", "alpha=-2", "positive"), family="gaussian"),
    _prior("prior-uniform-bounds-reversed", "Uniform(lower=1, upper=0)",
           {"x": P("Uniform", lower=1, upper=0)}, ("'x'", "lower < upper", "lower=1", "upper=0")),
    _prior("prior-negative-precision", "Normal(tau=-1)", {"x": P("Normal", mu=0, tau=-1)}, ("'x'", "tau=-1", "positive")),
    _prior("hyperprior-alias", "a hyperprior with sd= (nested priors are checked too)",
           {"1|g": P("Normal", mu=0, sigma=P("HalfNormal", sd=1))}, ("'1|g'", "HalfNormal", "'sd'", "did you mean sigma")),
    _prior("hyperprior-negative-scale", "HalfNormal(sigma=-1) as a group SD prior",
           {"1|g": P("Normal", mu=0, sigma=P("HalfNormal", sigma=-1))}, ("'1|g'", "HalfNormal", "sigma=-1", "positive")),
    _prior("hyperprior-real-line", "a group SD with a Normal prior (negative SDs)",
           {"1|g": P("Normal", mu=0, sigma=P("Normal", mu=0, sigma=1))}, ("'1|g'", "must be positive", "HalfNormal")),
    _prior("hyperprior-uniform-below-zero", "a group SD with a Uniform(-1, 1) prior",
           {"1|g": P("Normal", mu=0, sigma=P("Uniform", lower=-1, upper=1))}, ("'1|g'", "Uniform", "negative values")),
    _prior("hyperprior-misspelt", "a misspelt hyperprior distribution",
           {"1|g": P("Normal", mu=0, sigma=P("HalfNromal", sigma=1))}, ("'1|g'", "'HalfNromal'", "did you mean 'HalfNormal'")),
    _prior("group-prior-not-normal", "a group term given the SD's prior directly",
           {"1|g": P("HalfNormal", sigma=1)}, ("'1|g'", "must be a Normal whose sigma", "HalfNormal(sigma=1)")),
    _prior("group-prior-fixed-sd", "a group term with a fixed SD instead of a prior",
           {"1|g": P("Normal", mu=0, sigma=1)}, ("'1|g'", "prior of the group SD")),
    _prior("group-prior-nonzero-mean", "group effects given mean 2",
           {"1|g": P("Normal", mu=2, sigma=P("HalfNormal", sigma=1))}, ("'1|g'", "mu=2", "mean 0")),
    _prior("fixed-family-parameter-negative", "sigma fixed at -1",
           {"sigma": -1.0}, ("'sigma'", "sigma=-1", "positive"), family="gaussian"),
    _prior("fixed-family-parameter-infinite", "sigma fixed at inf",
           {"sigma": np.inf}, ("'sigma'", "inf", "finite"), family="gaussian"),
    _prior("fixed-coefficient", "a number for a coefficient (was a Bambi ValueError)",
           {"x": 1.0}, ("'x'", "only a family parameter", "offset()"), family="gaussian"),
    _prior("prior-for-response", "a prior for the response column", {"y": P("Normal", mu=0, sigma=1)},
           ("'y'", "Terms that take a prior", "Intercept")),
    _prior("corr-prior-without-block", "g_corr for a formula without a correlated block",
           {"g_corr": 2.0}, ("'g_corr'", "no correlated block", "none")),
    _prior("corr-prior-negative-eta", "an LKJ shape of -1",
           {"g_corr": -1.0}, ("'g_corr'", "eta > 0", "-1"), formula="y ~ x + (1 + x|g)", family="gaussian"),
]


DUPLICATE_HEADER = base()[["y", "x", "g", "t"]].rename(columns={"t": "x"}).to_csv(index=False)
DRAW = "draws.zarr/posterior/x/zarr.json"
PICKLE_ARRAY = (b'{"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "float64", '
                b'"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}, '
                b'"chunk_key_encoding": {"name": "default"}, "codecs": [{"name": "pickle"}]}')
CASES += [
    # -- reading CSV files: datasets.read_csv (the command line's reader too) -----------------------
    Case("csv-duplicate-column", "a CSV naming x twice (pandas renamed the second x.1 silently)",
         ("data.csv",), error=DataError, names=("'data.csv'", "column 'x' twice", "columns 2 and 4", "'x.1'"),
         call="read_csv", files={"data.csv": DUPLICATE_HEADER}),
    Case("csv-column-three-times", "a CSV naming y three times",
         ("data.csv",), error=DataError, names=("column 'y' 3 times", "columns 1, 2 and 3"),
         call="read_csv", files={"data.csv": "y,y,y\n1,2,3\n"}),
    Case("csv-missing-file", "a CSV file that does not exist",
         ("nothere.csv",), error=MissingFileError, names=("'nothere.csv'", "not found"), call="read_csv"),
    Case("csv-empty-file", "an empty CSV file",
         ("empty.csv",), error=DataError, names=("cannot read", "'empty.csv'", "as CSV"),
         call="read_csv", files={"empty.csv": ""}),
    Case("csv-is-folder", "a folder where a CSV file was expected",
         ("folder",), error=DataError, names=("'folder'", "is a folder"), call="read_csv", files={"folder": None}),
    Case("csv-not-text", "a binary file read as CSV",
         ("data.csv",), error=DataError, names=("cannot read", "'data.csv'"),
         call="read_csv", files={"data.csv": b"\xff\xfe\x00\x81\x00bad"}),
    Case("dataset-duplicate-column", "a course data file naming a column twice",
         ("multicentre",), {"data_dir": "."}, error=DataError, names=("multicentre.csv", "column 'y' twice"),
         call="load", files={"multicentre.csv": "centre,treat,y,n,y\n1,0,3,10,4\n"}),
    Case("dataset-duplicate-column-text", "a course read.table file naming a column twice",
         ("multicentre",), {"data_dir": "."}, error=DataError, names=("multicentre.txt", "column 'n' twice"),
         call="load", files={"multicentre.txt": "centre treat y n n\n1 0 3 10 4\n"}),
    Case("dataset-missing-column", "a course data file without a column the course uses",
         ("multicentre",), {"data_dir": "."}, error=DataError, names=("'multicentre'", "lacks the columns", "'obs'"),
         call="load", files={"multicentre.csv": "centre,treat,y,n\n1,0,3,10\n"}),
    Case("dataset-name-not-text", "datasets.load(3)",
         (3,), error=DatasetNotFoundError, names=("unknown data set 3", "Valid names"), call="load"),
    # -- fit files: bg.load ------------------------------------------------------------------------------
    Case("fitfile-missing", "bg.load of a file that does not exist",
         ("fit.bglmm",), error=MissingFileError, names=("No fit file", "fit.bglmm"), call="load_fit"),
    Case("fitfile-is-folder", "bg.load of a folder",
         ("fit.bglmm",), error=MissingFileError, names=("No fit file", "fit.bglmm"), call="load_fit",
         files={"fit.bglmm": None}),
    Case("fitfile-empty", "an empty fit file",
         ("fit.bglmm",), error=FitError, names=("fit.bglmm", "not a usable bayesglmm fit file", "truncated"),
         call="load_fit", files={"fit.bglmm": b""}),
    Case("fitfile-not-a-fit-file", "a CSV renamed .bglmm",
         ("fit.bglmm",), error=FitError, names=("not a usable bayesglmm fit file", "damaged"), call="load_fit",
         files={"fit.bglmm": DUPLICATE_HEADER}),
    Case("fitfile-truncated", "a fit file cut off half-way (an interrupted copy)",
         ("fit.bglmm",), error=FitError, names=("fit.bglmm", "truncated"), call="load_fit",
         files={"fit.bglmm": fit_file(draws={DRAW: b"{}"})[:150]}),
    Case("fitfile-foreign-member", "a fit file with a file it should not have (evil.py)",
         ("fit.bglmm",), error=FitError, names=("evil.py", "not read"), call="load_fit",
         files={"fit.bglmm": fit_file(extra={"evil.py": b"import os"})}),
    Case("fitfile-spec-missing", "a fit file without spec.json",
         ("fit.bglmm",), error=FitError, names=("spec.json is missing",), call="load_fit",
         files={"fit.bglmm": _zip({DRAW: b"{}"})}),
    Case("fitfile-spec-not-json", "spec.json that is not JSON",
         ("fit.bglmm",), error=FitError, names=("spec.json is not valid JSON",), call="load_fit",
         files={"fit.bglmm": fit_file(spec=b"{not json")}),
    Case("fitfile-other-format", "a zip whose spec.json describes something else",
         ("fit.bglmm",), error=FitError, names=("does not describe a bayesglmm fit",), call="load_fit",
         files={"fit.bglmm": fit_file(spec=_spec_json(format="something-else"))}),
    Case("fitfile-future-version", "a fit file of format version 99",
         ("fit.bglmm",), error=FitError, names=("format version 99", "another version of bayesglmm"), call="load_fit",
         files={"fit.bglmm": fit_file(spec=_spec_json(format_version=99))}),
    Case("fitfile-wrong-checksum", "spec.json edited after saving (its SHA-256 does not match)",
         ("fit.bglmm",), error=FitError, names=("spec.json was changed after it was saved", "SHA-256"),
         call="load_fit", files={"fit.bglmm": fit_file(spec=_spec_json(reseal=False))}),
    Case("fitfile-data-changed", "the saved data edited, spec.json resealed",
         ("fit.bglmm",), error=FitError, names=("saved data were changed",), call="load_fit",
         files={"fit.bglmm": fit_file(spec=_spec_json(data_sha256="0" * 64))}),
    Case("fitfile-spec-incomplete", "spec.json without its data",
         ("fit.bglmm",), error=FitError, names=("spec.json is incomplete", "'data'"), call="load_fit",
         files={"fit.bglmm": fit_file(spec=_spec_json(data=None))}),
    Case("fitfile-draws-unlisted", "a draws file spec.json does not list",
         ("fit.bglmm",), error=FitError, names=("not those listed",), call="load_fit",
         files={"fit.bglmm": fit_file(extra={DRAW: b"{}"})}),
    Case("fitfile-draws-changed", "a draws file edited after saving",
         ("fit.bglmm",), error=FitError, names=(DRAW, "changed after it was saved"), call="load_fit",
         files={"fit.bglmm": fit_file(spec=_spec_json({DRAW: b"{}"}), extra={DRAW: b"{ }"})}),
    Case("fitfile-zarr-v2", "draws stored as Zarr v2 metadata",
         ("fit.bglmm",), error=FitError, names=(".zarray", "not a usable bayesglmm fit file"), call="load_fit",
         files={"fit.bglmm": fit_file(draws={"draws.zarr/posterior/x/.zarray": b"{}"})}),
    Case("fitfile-pickle-codec", "draws asking for the pickle codec (would run code)",
         ("fit.bglmm",), error=FitError, names=("'pickle'", "not read"), call="load_fit",
         files={"fit.bglmm": fit_file(draws={DRAW: PICKLE_ARRAY})}),
    Case("fitfile-bad-zarr-json", "draws metadata that is not JSON",
         ("fit.bglmm",), error=FitError, names=(DRAW, "not valid JSON"), call="load_fit",
         files={"fit.bglmm": fit_file(draws={DRAW: b"{oops"})}),
]

def _zip_twice() -> bytes:
    """A container holding spec.json twice (zipfile warns, but writes it)."""
    import io
    import warnings
    import zipfile

    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("spec.json", _spec_json())
        zf.writestr("spec.json", _spec_json())
    return buffer.getvalue()


def _zip_bzip2() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr("spec.json", _spec_json())
    return buffer.getvalue()


def _declares_huge_spec() -> bytes:
    """A container whose index says spec.json is 4 GiB (a zip bomb's claim), read before anything else."""
    import struct

    data = bytearray(fit_file())
    at = data.find(b"PK\x01\x02")  # the central directory entry; its uncompressed size is at +24
    data[at + 24:at + 28] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def _signed(signed: dict, stored: dict, key: bytes = b"secret") -> bytes:
    """A container holding ``stored`` and a signature, made with ``key``, over ``signed`` members."""
    from bayesglmm import io as bio

    manifest = bio._manifest(signed)
    signature = json.dumps({"manifest": manifest, "hmac": bio._hmac(key, manifest)}).encode()
    return _zip({**stored, "signature.json": signature})


NO_CODECS = (b'{"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "float64", '
             b'"chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}, '
             b'"chunk_key_encoding": {"name": "default"}, "codecs": []}')
SIGNED_BY_OTHERS = json.dumps({"manifest": {"spec.json": "0" * 64}, "hmac": "0" * 64}).encode()
CASES += [
    # -- fit files: signatures (key=) and bounds on what is read ------------------------------------------
    Case("fitfile-key-for-unsigned", "load(key=...) of a file saved without a key",
         ("fit.bglmm",), {"key": "secret"}, error=FitError, names=("cannot be trusted", "not signed"),
         call="load_fit", files={"fit.bglmm": fit_file()}),
    Case("fitfile-wrong-key", "a signed file loaded with another key (HMAC mismatch)",
         ("fit.bglmm",), {"key": "secret"}, error=FitError, names=("cannot be trusted", "does not match the key"),
         call="load_fit", files={"fit.bglmm": fit_file(extra={"signature.json": SIGNED_BY_OTHERS})}),
    Case("fitfile-signature-malformed", "signature.json without its manifest",
         ("fit.bglmm",), {"key": "secret"}, error=FitError, names=("signature.json is malformed", "'manifest'"),
         call="load_fit", files={"fit.bglmm": fit_file(extra={"signature.json": b'{"hmac": "x"}'})}),
    Case("fitfile-key-empty", "load(key='')",
         ("fit.bglmm",), {"key": ""}, error=SettingsError, names=("key is empty",), call="load_fit",
         files={"fit.bglmm": fit_file()}),
    Case("fitfile-key-not-text", "load(key=123)",
         ("fit.bglmm",), {"key": 123}, error=BayesGLMMError, names=("key must be bytes or str", "int"),
         call="load_fit", files={"fit.bglmm": fit_file()}),
    Case("fitfile-json-too-deep", "spec.json nested 100 levels deep (a parser bomb)",
         ("fit.bglmm",), error=FitError, names=("refused before it is read", "100 levels deep", "MAX_JSON_DEPTH"),
         call="load_fit", files={"fit.bglmm": fit_file(spec=b"[" * 100 + b"]" * 100)}),
    Case("fitfile-declares-huge-member", "a container whose index claims a 4 GiB spec.json (oversized fit file)",
         ("fit.bglmm",), error=FitError, names=("refused before it is read", "4.0 GiB", "MAX_SPEC_BYTES"),
         call="load_fit", files={"fit.bglmm": _declares_huge_spec()}),
    Case("fitfile-signed-then-edited", "spec.json edited after the file was signed (right key)",
         ("fit.bglmm",), {"key": "secret"}, error=FitError,
         names=("cannot be trusted", "spec.json is not the one it was signed with"), call="load_fit",
         files={"fit.bglmm": _signed({"spec.json": _spec_json(format_version=1)},
                                     {"spec.json": _spec_json(data_sha256="1" * 64)})}),
    Case("fitfile-signed-member-added", "a member added to a signed file",
         ("fit.bglmm",), {"key": "secret"}, error=FitError,
         names=("cannot be trusted", "a member was added or removed"), call="load_fit",
         files={"fit.bglmm": _signed({"spec.json": _spec_json()}, {"spec.json": _spec_json(), DRAW: b"{}"})}),
    Case("fitfile-key-env-unset", "key_from_env(required=True) with the variable unset",
         ("key_from_env", "BAYESGLMM_TEST_UNSET_KEY_VARIABLE"), {"required": True}, error=SettingsError,
         names=("BAYESGLMM_TEST_UNSET_KEY_VARIABLE", "holds no key"), call="io"),
    Case("fitfile-array-without-codecs", "a draws array that declares no codecs",
         ("fit.bglmm",), error=FitError, names=(DRAW, "declares no codecs"), call="load_fit",
         files={"fit.bglmm": fit_file(draws={DRAW: NO_CODECS})}),
    Case("fitfile-member-twice", "a container holding spec.json twice",
         ("fit.bglmm",), error=FitError, names=("holds spec.json twice",), call="load_fit",
         files={"fit.bglmm": _zip_twice()}),
    Case("fitfile-unknown-compression", "spec.json compressed with bzip2",
         ("fit.bglmm",), error=FitError, names=("spec.json", "zip method 12", "not read"), call="load_fit",
         files={"fit.bglmm": _zip_bzip2()}),
]

CASES += [
    # -- verbs on a fit: predictions, summaries, ICC, comparison --------------------------------------
    Case("predict-unknown-kind", "predict(kind='foo')",
         ("predict",), {"kind": "foo"}, error=SettingsError, names=("kind", "'foo'", "'conditional'"), call="method"),
    Case("predict-unseen-group", "a new group level with kind='conditional'",
         ("predict", edit(g={0: "zz"})), error=DataError, names=("'g'", "'zz'", "row 0", "kind='new_group'"),
         call="method"),
    Case("predict-prob-out-of-range", "predict(prob=1.5)",
         ("predict",), {"prob": 1.5}, error=SettingsError, names=("prob", "1.5"), call="method"),
    Case("predict-negative-draws", "predict(draws=-1)",
         ("predict",), {"draws": -1}, error=SettingsError, names=("draws", "-1"), call="method"),
    Case("predict-missing-column", "new data without a predictor",
         ("predict", base().drop(columns="x")), error=DataError, names=("'x'", "lack"), call="method"),
    Case("predict-missing-group-column", "new data without the grouping column, kind='conditional'",
         ("predict", base().drop(columns="g")), error=DataError, names=("'g'", "kind='typical'"), call="method"),
    Case("predict-not-dataframe", "new data as a dict",
         ("predict", base().to_dict("list")), error=DataError, names=("DataFrame", "dict"), call="method"),
    Case("predict-no-rows", "new data with no rows",
         ("predict", base().iloc[:0]), error=DataError, names=("no rows",), call="method"),
    Case("predict-missing-value", "a missing predictor value in new data",
         ("predict", edit(x={2: np.nan})), error=DataError, names=("'x'", "1 missing", "row 2"), call="method"),
    Case("predict-text-in-numeric", "a string in a numeric column of new data",
         ("predict", edit(x={2: "abc"})), error=DataError, names=("'x'", "'abc'", "row 2"), call="method"),
    Case("predict-scale-for-ordinal", "scale='probability' for a bernoulli model",
         ("predict",), {"scale": "probability"}, error=FamilyError, names=("'probability'", "bernoulli", "'response'"),
         call="method"),
    Case("predict-unknown-keyword", "predict(foo=1)",
         ("predict",), {"foo": 1}, error=TypeError, names=("'foo'",), call="method"),
    Case("ranef-prob-out-of-range", "ranef(prob=1.5)",
         ("ranef",), {"prob": 1.5}, error=SettingsError, names=("prob", "1.5"), call="method"),
    Case("fixef-prob-zero", "fixef(prob=0)",
         ("fixef",), {"prob": 0}, error=SettingsError, names=("prob", "got 0"), call="method"),
    Case("summary-unknown-interval", "summary(interval='x')",
         ("summary",), {"interval": "x"}, error=SettingsError, names=("interval", "'x'", "'eti'", "'hdi'"),
         call="method"),
    Case("summary-prob-text", "summary(prob='0.9')",
         ("summary",), {"prob": "0.9"}, error=SettingsError, names=("prob", "'0.9'"), call="method"),
    Case("icc-prob-out-of-range", "icc(prob=2)",
         ("icc",), {"prob": 2}, error=SettingsError, names=("prob", "2"), call="method"),
    Case("hypothesis-unknown-term", "a hypothesis about a misspelt coefficient",
         ("hypothesis", "xx > 0"), error=BayesGLMMError, names=("'xx'", "Did you mean 'x'"), call="method"),
    Case("comparisons-unknown-variable", "comparisons of a variable the model lacks",
         ("comparisons", "xx"), error=BayesGLMMError, names=("'xx'", "did you mean 'x'"), call="method"),
    Case("save-into-missing-folder", "fit.save into a folder that does not exist",
         ("save", "/nonexistent/folder/fit.bglmm"), error=MissingFileError, names=("/nonexistent/folder", "does not exist"),
         call="method"),
    Case("icc-without-groups", "the ICC of a model without group terms",
         ("icc",), error=FitError, names=("'p(y, n) ~ x'", "no grouping factor"), call="method",
         model=("p(y, n) ~ x", "binomial")),
    Case("predict-missing-trials", "binomial new data without the trials column",
         ("predict", base().drop(columns="n")), error=DataError, names=("'n'",), call="method",
         model=("p(y, n) ~ x", "binomial")),
    Case("predict-zero-trials", "binomial new data with 0 trials",
         ("predict", edit(n={2: 0})), error=DataError, names=("'n'", "at least 1", "row 2"), call="method",
         model=("p(y, n) ~ x", "binomial")),
    Case("predict-fractional-trials", "binomial new data with 2.5 trials",
         ("predict", edit(n={5: 2.5})), error=DataError, names=("'n'", "2.5", "row 5"), call="method",
         model=("p(y, n) ~ x", "binomial")),
    Case("predict-zero-exposure", "new data with exposure 0 in offset(log(t))",
         ("predict", edit(t={2: 0.0})), error=DataError, names=("'t'", "positive", "row 2"), call="method",
         model=("n ~ x + offset(log(t)) + (1|g)", "poisson")),
    Case("predict-missing-exposure-column", "new data without the exposure column",
         ("predict", base().drop(columns="t")), error=DataError, names=("'t'",), call="method",
         model=("n ~ x + offset(log(t)) + (1|g)", "poisson")),
    Case("varcorr-unknown-interval", "varcorr(interval='x')",
         ("varcorr",), {"interval": "x"}, error=SettingsError, names=("interval", "'x'", "'hdi'"), call="method"),
    Case("r2-prob-out-of-range", "r2(prob=3)",
         ("r2",), {"prob": 3}, error=SettingsError, names=("prob", "3"), call="method"),
    Case("icc-unknown-keyword", "icc(group='g'): no such argument",
         ("icc",), {"group": "g"}, error=TypeError, names=("'group'",), call="method"),
    Case("hypothesis-no-comparison", "a hypothesis with three comparison signs",
         ("hypothesis", "x >>> 0"), error=SettingsError, names=("'x >>> 0'", "exactly one of <, >, ="), call="method"),
    Case("hypothesis-empty", "an empty hypothesis",
         ("hypothesis", ""), error=SettingsError, names=("exactly one of", "'x > 0'"), call="method"),
    Case("hypothesis-not-text", "a hypothesis given as a number",
         ("hypothesis", 3), error=BayesGLMMError, names=("3",), call="method"),
    Case("slopes-of-grouping-factor", "slopes of the grouping factor",
         ("slopes", "g"), error=BayesGLMMError, names=("'g'", "grouping factor"), call="method"),
    Case("slopes-unknown-variable", "slopes of a misspelt variable",
         ("slopes", "xx"), error=BayesGLMMError, names=("'xx'", "did you mean 'x'"), call="method"),
    Case("comparisons-unknown-contrast", "comparisons(contrast='foo')",
         ("comparisons", "x"), {"contrast": "foo"}, error=SettingsError, names=("contrast", "'foo'", "'ratio'"),
         call="method"),
    Case("predictions-unknown-grid-column", "a prediction grid naming a column the model lacks",
         ("predictions",), {"grid": {"xx": [1, 2]}}, error=BayesGLMMError, names=("'xx'", "did you mean 'x'"),
         call="method"),
    Case("plot-ppc-unknown-kind", "plot_ppc(kind='foo')",
         ("plot_ppc",), {"kind": "foo"}, error=SettingsError, names=("kind", "'foo'", "ecdf"), call="method"),
    Case("predict-fractional-draws", "predict(draws=1.5)",
         ("predict",), {"draws": 1.5}, error=SettingsError, names=("draws", "1.5"), call="method"),
    Case("sensitivity-threshold-text", "sensitivity(threshold='a')",
         ("sensitivity",), {"threshold": "a"}, error=SettingsError, names=("threshold", "'a'"), call="method"),
    Case("ratio-unknown-term", "population_averaged_ratio of a term the model lacks",
         ("population_averaged_ratio", "xx"), error=DataError, names=("'xx'", "fixed effects: x"), call="function"),
    Case("ratio-of-numeric-predictor", "population_averaged_ratio of a numeric (not 0/1) predictor",
         ("population_averaged_ratio", "x"), error=DataError, names=("'x'", "binary predictor"), call="function"),
    Case("datagrid-unknown-column", "datagrid naming a column the model lacks",
         ("datagrid",), {"xx": [1]}, error=BayesGLMMError, names=("'xx'", "did you mean 'x'"), call="function"),
    Case("compare-no-fits", "compare({})",
         (), error=SettingsError, names=("at least two fits",), call="compare_empty"),
    Case("compare-unknown-cv", "compare(cv='kfold5')",
         (), {"cv": "kfold5"}, error=SettingsError, names=("cv", "'kfold5'", "kfold"), call="compare"),
    Case("compare-logo-without-group", "compare(cv='logo') without group=",
         (), {"cv": "logo"}, error=SettingsError, names=("group=",), call="compare"),
    Case("compare-refit-settings-unknown", "a misspelt refit setting",
         (), {"cv": "kfold", "refit_settings": {"drawz": 10}}, error=SettingsError, names=("drawz", "draws"),
         call="compare"),
    Case("compare-not-a-fit", "a number among the fits",
         ((("c", 3),)), error=BayesGLMMError, names=("'c'", "int", "not a bayesglmm Fit"), call="compare"),
    Case("compare-k-too-large", "k-fold with more folds than rows",
         (), {"cv": "kfold", "k": 100}, error=SettingsError, names=("k", "100"), call="compare"),
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


def outcome(case: Case, build: bool = False) -> tuple[type | None, str]:
    """Run ``case`` (files already written): ``(the class raised or warned, its message)``.

    An error is returned as its class name; a warned case must then go on to sampling (or,
    built, return a model): ``(warning class, message)``; anything else is a failure
    of the case, reported as ``None``.
    """
    import warnings

    run = case.run_build if build else case.run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run()
            went_on = build
        except SamplingStarted:
            went_on = True
        except Exception as err:  # noqa: BLE001 - the case says which class is right
            return type(err), str(err)
    if case.warns:
        hits = [w for w in caught if issubclass(w.category, case.error)]
        if hits and went_on:
            return hits[0].category, str(hits[0].message)
    return None, "no error: sampling starts" if went_on else "no error"


def _check(case: Case, got, message: str) -> None:
    name = getattr(got, "__name__", "nothing")
    assert got is not None and issubclass(got, case.error), f"expected {case.error.__name__}, got {name}: {message}"
    missing = [name for name in case.names if name not in message]
    assert not missing, f"message does not name {missing}: {message}"


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, guarded):
    case.write_files(guarded)
    before = sorted(os.listdir(guarded))
    got, message = outcome(case)
    _check(case, got, message)
    assert sorted(os.listdir(guarded)) == before  # nothing written


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.builds() and not c.xfail])
def test_bad_input_build(case, guarded):
    """ModelRequest(...).build(data) catches the same problems with the same message as bg.fit."""
    got, message = outcome(case, build=True)
    _check(case, got, message)
    assert os.listdir(guarded) == []


@dataclass
class CLICase:
    """A bad command line: exit status 2, one line on standard error naming the problem, nothing written.

    ``usage`` marks an error argparse reports (a usage line, then ``bayesglmm ...: error: ...``);
    ``files`` are written into the working folder beside data.csv and empty.csv.
    """

    id: str
    what: str
    argv: list
    names: tuple
    usage: bool = False
    files: dict = field(default_factory=dict)
    xfail: str | None = None


CASES += [
    # -- the categorical family and distributional formulas (dpars) -----------------------------------------
    Case("categorical-two-categories", "a categorical response with two categories",
         (F, edit(y=list("abababab")), "categorical"), error=DataError,
         names=("'y'", "2 categories", "at least 3", "bernoulli")),
    Case("categorical-continuous-response", "a measurement given to the categorical family",
         (F, edit(y=[0.5, 1.5, 2.25, 3.5, 0.75, 1.25, 2.5, 3.0]), "categorical"), error=DataError,
         names=("'y'", "categorical", "gaussian")),
    Case("categorical-correlated-block", "(1 + x | g) with the categorical family",
         ("y ~ x + (1 + x|g)", edit(y=list("abcabcab")), "categorical"), error=FormulaError,
         names=("(1 + x | g)", "categorical", "(1 + x || g)")),
    Case("dpars-not-a-dict", "dpars given as a list",
         (F, edit(y=base()["x"]), "gaussian"), {"dpars": ["sigma ~ x"]}, error=FormulaError,
         names=("dpars", "dict", "list")),
    Case("dpars-unknown-parameter", "a sigma formula for a poisson model",
         (COUNTS, base(), "poisson"), {"dpars": {"sigma": "~ x"}}, error=FormulaError,
         names=("poisson", "'sigma'", "gaussian (sigma)")),
    Case("dpars-brms-zi", "brms's zi (= 1 - psi) given for a zero-inflated model",
         (COUNTS, base(), "zero_inflated_poisson"), {"dpars": {"zi": "~ x"}}, error=FormulaError,
         names=("'zi'", "psi = 1 - zi", "opposite sign")),
    Case("dpars-group-term", "a group term in a sigma formula",
         (F, edit(y=base()["x"]), "gaussian"), {"dpars": {"sigma": "~ x + (1|g)"}}, error=FormulaError,
         names=("(1|g)", "fixed effects only")),
    Case("dpars-calls-code", "a call outside the allowed transforms in a sigma formula",
         (F, edit(y=base()["x"]), "gaussian"), {"dpars": {"sigma": "~ eval(x)"}}, error=FormulaError,
         names=("dpars['sigma']", "'eval'", "not an allowed")),
    Case("dpars-unknown-column", "a sigma formula naming a column the data lack",
         (F, edit(y=base()["x"]), "gaussian"), {"dpars": {"sigma": "~ z"}}, error=FormulaError,
         names=("'z'", "not in the data")),
]

CLI_FILES = {"dup.csv": DUPLICATE_HEADER, "big.csv": "y,x,g\n1,0.1,a\n2e300,0.2,a\n3,0.3,b\n4,0.4,b\n"}


def _fit_argv(formula="y ~ x + (1|g)", data="{csv}", family="bernoulli", *extra):
    return ["fit", formula, "--data", data, "--family", family, *extra]


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
    CLICase("cli-duplicate-columns", "bayesglmm fit on a CSV naming x twice",
            _fit_argv("y ~ x + (1|g)", "dup.csv"), ("'dup.csv'", "column 'x' twice")),
    CLICase("cli-unknown-family", "a misspelt --family",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernouli"), ("'bernouli'", "Did you mean 'bernoulli'")),
    CLICase("cli-bar-outside-parentheses", "a formula with a group term outside parentheses",
            _fit_argv("y ~ x + 1|g"), ("outside parentheses", "(1|g)")),
    CLICase("cli-unknown-column", "a formula naming a column the CSV lacks",
            _fit_argv("y ~ xx + (1|g)"), ("'xx'", "did you mean 'x'")),
    CLICase("cli-response-overflows", "a gaussian response of 2e300 in the CSV",
            _fit_argv("y ~ x + (1|g)", "big.csv", "gaussian"), ("'y'", "2e+300", "row 1")),
    CLICase("cli-unknown-link", "--link the family lacks",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernoulli", "--link", "log"), ("'log'", "'bernoulli'")),
    CLICase("cli-seed-negative", "--seed -1",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernoulli", "--seed", "-1"), ("seed", "-1")),
    CLICase("cli-data-is-folder", "--data naming a folder",
            _fit_argv("y ~ x + (1|g)", "."), ("'.'", "folder")),
    CLICase("cli-draws-zero", "--draws 0",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--draws", "0"), ("--draws", "at least 1", "got 0"), usage=True),
    CLICase("cli-draws-text", "--draws many",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--draws", "many"), ("--draws", "whole number", "'many'"),
            usage=True),
    CLICase("cli-chains-fractional", "--chains 2.5",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--chains", "2.5"), ("--chains", "'2.5'"), usage=True),
    CLICase("cli-tune-negative", "--tune -5",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--tune", "-5"), ("--tune", "at least 0", "-5"), usage=True),
    CLICase("cli-seed-text", "--seed abc",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--seed", "abc"), ("--seed", "'abc'"), usage=True),
    CLICase("cli-retry-unknown", "--retry sometimes",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--retry", "sometimes"), ("--retry", "'sometimes'", "auto"),
            usage=True),
    CLICase("cli-data-option-missing", "bayesglmm fit without --data",
            ["fit", "y ~ x", "--family", "bernoulli"], ("--data", "required"), usage=True),
    CLICase("cli-unknown-option", "a misspelt option (--draw)",
            _fit_argv("y ~ x", "{csv}", "bernoulli", "--drawz", "10"), ("unrecognized arguments", "--drawz"),
            usage=True),
    CLICase("cli-out-is-a-file", "--out naming a file",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernoulli", "--out", "data.csv"), ("--out 'data.csv'", "is a file")),
    CLICase("cli-out-under-a-file", "--out inside a file (cannot be created)",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernoulli", "--out", "data.csv/results"),
            ("--out 'data.csv/results'", "cannot create the folder")),
    CLICase("cli-out-exists", "--out holding a fit.bglmm already, without --force",
            _fit_argv("y ~ x + (1|g)", "{csv}", "bernoulli", "--out", "old"), ("fit.bglmm", "already exists", "--force"),
            files={"old/fit.bglmm": b"an earlier fit"}),
    CLICase("cli-sbc-bad-formula", "bayesglmm sbc with a group term outside parentheses",
            ["sbc", "y ~ x + 1|g", "--data", "{csv}", "--family", "gaussian"], ("outside parentheses", "(1|g)")),
    CLICase("cli-sbc-one-simulation", "bayesglmm sbc --sims 1",
            ["sbc", "y ~ x", "--data", "{csv}", "--family", "gaussian", "--sims", "1"], ("--sims", "at least 2"),
            usage=True),
    CLICase("cli-course-seed-text", "bayesglmm course --seed abc",
            ["course", "multicentre", "--seed", "abc"], ("--seed", "'abc'"), usage=True),
    CLICase("cli-count-overflows", "a poisson count of 2e300 in the CSV",
            _fit_argv("y ~ x + (1|g)", "big.csv", "poisson"), ("'y'", "2e+300", "row 1", "not exact")),
    CLICase("cli-course-data-dir-missing", "bayesglmm course with --data-dir that does not exist",
            ["course", "multicentre", "--data-dir", "/nonexistent/folder"],
            ("'multicentre'", "/nonexistent/folder", "no such folder", "BAYESGLMM_DATA")),
    CLICase("cli-course-unknown-executor", "bayesglmm course --executor nowhere",
            ["course", "multicentre", "--executor", "nowhere"], ("executor", "'nowhere'", "'local'")),
    CLICase("cli-sbc-unknown-executor", "bayesglmm sbc --executor nowhere",
            ["sbc", "y ~ x", "--data", "{csv}", "--family", "gaussian", "--executor", "nowhere"],
            ("executor", "'nowhere'")),
    CLICase("cli-sbc-missing-data-file", "bayesglmm sbc with a data file that does not exist",
            ["sbc", "y ~ x", "--data", "nothere.csv", "--family", "gaussian"], ("'nothere.csv'", "not found")),
    CLICase("cli-sbc-duplicate-columns", "bayesglmm sbc on a CSV naming x twice",
            ["sbc", "y ~ x", "--data", "dup.csv", "--family", "gaussian"], ("'dup.csv'", "column 'x' twice")),
    CLICase("cli-sbc-too-few-draws", "bayesglmm sbc --draws 5",
            ["sbc", "y ~ x", "--data", "{csv}", "--family", "gaussian", "--draws", "5"], ("--draws", "at least 10"),
            usage=True),
    CLICase("cli-unknown-command", "bayesglmm fitt",
            ["fitt", "y ~ x"], ("invalid choice", "'fitt'"), usage=True),
]


def _cli_folder(folder) -> None:
    """The files every CLI case may name: data.csv (a bernoulli y of 2 in row 2), empty.csv and CLI_FILES."""
    from pathlib import Path

    edit(y={2: 2}).to_csv(Path(folder) / "data.csv", index=False)
    (Path(folder) / "empty.csv").write_text("")
    for name, text in CLI_FILES.items():
        (Path(folder) / name).write_text(text)


def _cli_message(case: CLICase, err: str) -> str:
    """The one line that names the problem (argparse's error line after its usage lines)."""
    lines = err.strip().splitlines()
    if case.usage:
        assert lines and lines[0].startswith("usage: ") and ": error: " in lines[-1], err
        return lines[-1]
    assert err.startswith("error: ") and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                               if c.xfail else []) for c in CLI_CASES])
def test_bad_cli_input(case, guarded, capsys):
    _cli_folder(guarded)
    _write_files(guarded, case.files)
    before = sorted(os.listdir(guarded))
    argv = [a.format(csv="data.csv", empty="empty.csv") for a in case.argv]
    assert cli.main(argv) == 2
    message = _cli_message(case, capsys.readouterr().err)
    missing = [name for name in case.names if name not in message]
    assert not missing, f"message does not name {missing}: {message}"
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
    bambi.Model.fit = refuse
    bambi.Model.prior_predictive = refuse
    rows = ["| case | input | exception | message |", "|---|---|---|---|"]

    def cell(text):
        return text.replace("|", "\\|").replace("\n", " ")

    for case in CASES:
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as folder:
            os.chdir(folder)
            try:
                case.write_files(folder)
                got, message = outcome(case)
            finally:
                os.chdir(cwd)
        flag = " (to fix)" if case.xfail else ""
        kind = "(none)" if got is None else f"warning: {got.__name__}" if case.warns else got.__name__
        rows.append(f"| `{case.id}`{flag} | {cell(case.what)} | {kind} | {cell(message)} |")
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            _cli_folder(folder)
            for case in CLI_CASES:
                _write_files(folder, case.files)
                err, out = io.StringIO(), io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    try:
                        status = cli.main([a.format(csv="data.csv", empty="empty.csv") for a in case.argv])
                    except SamplingStarted:
                        status = "(none)"
                        print("no error: sampling starts", file=err)
                text = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "(nothing)"
                flag = " (to fix)" if case.xfail else ""
                rows.append(f"| `{case.id}`{flag} | {cell(case.what)} | exit status {status} | {cell(text)} |")
        finally:
            os.chdir(cwd)
    return "\n".join(rows)


def write_docs(path=None) -> int:
    """Replace the table of docs/errors.md (from its ``| case |`` header to the blank line after it).

    Returns the number of rows written.
    """
    from pathlib import Path

    path = Path(path or Path(__file__).resolve().parents[1] / "docs" / "errors.md")
    table = _markdown()
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| case | input |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    path.write_text("\n".join(lines[:start] + table.splitlines() + lines[end:]) + "\n")
    return len(table.splitlines()) - 2


if __name__ == "__main__":
    import sys
    import warnings

    warnings.simplefilter("ignore")
    if "--print" in sys.argv:
        print(_markdown())
    else:
        print(f"docs/errors.md: {write_docs()} rows")
