"""Does the prior-sensitivity check flag a prior that decides the answer? An ordinal case, measured.

Small ordinal data sets like the one issue 16 found (72 ratings by 9 raters, two effects of
2 and 3 logits, rater SD 2, five categories), simulated with known truths. Each is fitted
twice: with the default cut-point prior (Normal around the marginal cumulative logits,
SD 2.5, ordered, on the cut-points at the predictors' means) and with the same prior at SD 10
(nearly flat: the maximum-likelihood-like reference clmm would give). The first table shows
the effects' posterior means under both and the power-scaling diagnosis of the default fit.

The second table is a prior that does decide the answer, as a user might set it: Normal(0, 0.5)
on ``b`` (true effect 3 logits), fitted to the same data sets; the check should flag it.

Run: ``bash dev.sh bench prior_sensitivity`` (writes benchmarks/PRIOR_SENSITIVITY.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm

import bayesglmm as bg
from bayesglmm.families import get_family
from bayesglmm.io import write_atomically

OUT = Path(__file__).with_name("PRIOR_SENSITIVITY.md")
SEEDS = (0, 1, 2, 3)
TRUTH = {"a": 2.0, "b": 3.0}


def ratings(seed: int) -> pd.DataFrame:
    """72 ratings by 9 raters: latent = 2 a + 3 b + rater effect (SD 2) + logistic noise, 5 categories."""
    rng = np.random.default_rng(seed)
    rater = np.repeat(np.arange(9), 8)
    a, b = np.tile([0, 1], 36), np.tile([0, 0, 1, 1], 18)
    latent = TRUTH["a"] * a + TRUTH["b"] * b + rng.normal(0, 2, 9)[rater] + rng.logistic(size=72)
    y = np.searchsorted([0.5, 2.5, 4.5, 6.5], latent)
    return pd.DataFrame({"y": pd.Categorical(y, ordered=True), "a": a, "b": b, "rater": [f"r{i}" for i in rater]})


def wide_threshold_prior(data: pd.DataFrame):
    """The default cut-point prior's location with SD 10 instead of 2.5."""
    default = get_family("cumulative").extra_priors(data["y"], "logit")["threshold"]
    return bg.Prior("Normal", mu=default.args["mu"], sigma=10.0, transform=pm.distributions.transforms.ordered)


def markdown(table: pd.DataFrame) -> str:
    """A pipe table (numbers to 3 decimals) without the optional tabulate package."""
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    rows, tight_rows = [], []
    for seed in SEEDS:
        data = ratings(seed)
        fits = {}
        for name, priors in {"default": None, "wide": {"threshold": wide_threshold_prior(data)}}.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits[name] = bg.fit("y ~ a + b + (1|rater)", data, "cumulative", priors=priors, seed=seed + 1,
                                    progressbar=False)
        sens = fits["default"].sensitivity()
        for term in TRUTH:
            rows.append({"data seed": seed, "effect": term, "truth": TRUTH[term],
                         "default prior": fits["default"].fixef().loc[term, "mean"],
                         "SD 10 prior": fits["wide"].fixef().loc[term, "mean"],
                         "posterior SD": fits["default"].fixef().loc[term, "sd"],
                         "prior sensitivity": sens.loc[term, "prior"], "diagnosis": sens.loc[term, "diagnosis"],
                         "wide fit's diagnosis": fits["wide"].sensitivity().loc[term, "diagnosis"],
                         "converged": fits["default"].ok and fits["wide"].ok})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tight = bg.fit("y ~ a + b + (1|rater)", data, "cumulative", priors={"b": bg.Prior("Normal", mu=0, sigma=0.5)},
                           seed=seed + 1, progressbar=False)
        tight_sens = tight.sensitivity()
        tight_rows.append({"data seed": seed, "effect": "b", "truth": TRUTH["b"],
                           "default prior": fits["default"].fixef().loc["b", "mean"],
                           "Normal(0, 0.5) prior": tight.fixef().loc["b", "mean"],
                           "prior sensitivity": tight_sens.loc["b", "prior"],
                           "likelihood sensitivity": tight_sens.loc["b", "likelihood"],
                           "diagnosis": tight_sens.loc["b", "diagnosis"], "converged": tight.ok})
    table = pd.DataFrame(rows)
    table["shift (posterior SDs)"] = (table["SD 10 prior"] - table["default prior"]) / table["posterior SD"]
    text = ["# Prior sensitivity on small ordinal data: the default cut-point prior, measured", "",
            "Command: `bash dev.sh bench prior_sensitivity` (defaults, 4 chains x 1000 draws, retry ladder on).",
            "Posterior means of each effect with the default cut-point prior and with the same prior at SD 10;",
            "the power-scaling diagnosis is the default fit's, as its summary prints it.", "",
            markdown(table), "",
            "Before the cut-points were sampled at the predictors' means (commit 8ce1dd5, the prior on the",
            "cut-points at x = 0), the same run gave shifts of 0.44-0.81 posterior SDs and flagged all 8 rows",
            "`prior-data conflict`. Now the shifts are 0.09-0.30 SDs; the rows still flagged sit just above the",
            "0.05 threshold (the smallest data set, seed 3, is flagged with the SD 10 prior too).", "",
            "## A prior that decides the answer: Normal(0, 0.5) on b (true effect 3)", "",
            "The same data sets, with a user's tight prior on `b`; the diagnosis is the one its summary prints.", "",
            markdown(pd.DataFrame(tight_rows)), ""]
    write_atomically({OUT: "\n".join(text)})
    print("\n".join(text))


if __name__ == "__main__":
    main()
