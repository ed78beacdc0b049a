"""The robustness test set: GLMM data sets that break naive defaults, with known answers.

Each case is a function ``case(seed) -> Case`` returning the data, the formula, the family
and what the answer must contain: the true parameter values of a simulation (checked
against 90% intervals), or glmer's printed estimates with their standard errors (checked
within one SE). The default settings of :func:`bayesglmm.fit` must converge on every case;
``tests/test_testset.py`` checks it and ``benchmarks/testset.py`` times it.

* ``cbpp_obs``: lme4's ``cbpp`` with an observation-level effect (overdispersion remedy).
* ``thousands``: a predictor in the thousands and its square (bernoulli, group intercepts).
* ``crossed``: 500 subjects x 20 items, crossed intercepts (bernoulli, 10,000 rows).
* ``five_groups``: only 5 groups (poisson), the group SD barely identified.
* ``correlated_slopes``: a random intercept and slope with correlation 0.5 (gaussian).

Examples
--------
>>> case = CASES["thousands"](seed=1)
>>> case.formula
'y ~ x + I(x ** 2) + (1|g)'
>>> bool(case.data["x"].between(1000, 5000).all()), len(case.data)
(True, 1000)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CASES", "Case", "interval_of"]


@dataclass
class Case:
    """One test-set model: data, formula, family and the answer it must contain.

    Attributes
    ----------
    name, formula, family : str
        What :func:`bayesglmm.fit` is given.
    data : pandas.DataFrame
        The data.
    truth : dict
        Parameter label -> true value (simulations): must lie inside the 90% interval.
    reference : dict
        Parameter label -> (estimate, standard error) printed by glmer: the posterior
        median must lie within one standard error of the estimate.
    note : str
        Why the case is hard.
    """

    name: str
    formula: str
    family: str
    data: pd.DataFrame
    truth: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    note: str = ""


def interval_of(fit, label: str, prob: float = 0.90) -> tuple[float, float, float]:
    """(median, lower, upper) of a fixed effect, family parameter, SD or correlation label.

    Examples
    --------
    >>> interval_of(fit, "1|g_sigma")  # doctest: +SKIP
    (0.71, 0.48, 1.05)
    """
    for table in (fit.fixef(prob), fit.family_params(prob)):
        if label in table.index:
            row = table.loc[label]
            return float(row["median"]), float(row["lower"]), float(row["upper"])
    vc = fit.varcorr(prob).set_index("label")
    row = vc.loc[label]
    return float(row["median"]), float(row["lower"]), float(row["upper"])


def cbpp_obs(seed: int = 1, data_dir=None) -> Case:
    """lme4's ``cbpp`` example with an observation-level random effect.

    glmer (``example(cbpp)``): period2 -1.23 (SE 0.48), period3 -1.33 (0.52), period4 -1.87
    (0.59); see ../shared/STACK.md. ``seed`` is unused (real data).
    """
    from bayesglmm import datasets

    data = datasets.load("cbpp", data_dir=data_dir)
    return Case("cbpp_obs", "p(incidence, size) ~ period + (1|herd) + (1|obs)", "binomial", data,
                reference={"period[2]": (-1.23, 0.48), "period[3]": (-1.33, 0.52), "period[4]": (-1.87, 0.59)},
                note="an observation-level effect beside a 15-level herd effect: two weakly separated SDs")


def thousands(seed: int = 1) -> Case:
    """A predictor in the thousands and its square: bernoulli, 40 groups x 25 rows.

    On the standardised scale ``z = (x - 3000) / 1000`` the truth is
    ``logit p = -0.5 + 0.8 z - 0.4 z**2 + u_g``, ``u_g ~ Normal(0, 0.7)``; the truth on the
    user's scale (``x``, ``x**2``) follows by expanding the square.
    """
    rng = np.random.default_rng(seed)
    n_groups, per = 40, 25
    g = np.repeat(np.arange(n_groups), per)
    x = np.round(rng.uniform(1000, 5000, g.size))
    z = (x - 3000) / 1000
    sd_g = 0.7
    eta = -0.5 + 0.8 * z - 0.4 * z**2 + rng.normal(0, sd_g, n_groups)[g]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    # -0.5 + 0.8 (x - 3000)/1000 - 0.4 (x - 3000)**2/1e6 expanded in powers of x
    b2 = -0.4 / 1e6
    b1 = 0.8 / 1000 + 0.4 * 2 * 3000 / 1e6
    b0 = -0.5 - 0.8 * 3 - 0.4 * 9
    data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{i:02d}" for i in g])})
    return Case("thousands", "y ~ x + I(x ** 2) + (1|g)", "bernoulli", data,
                truth={"Intercept": b0, "x": b1, "I(x ** 2)": b2, "1|g_sigma": sd_g},
                note="coefficients of order 1e-3 and 1e-7, x and x**2 correlated 0.98")


def crossed(seed: int = 1, subjects: int = 500, items: int = 20) -> Case:
    """Crossed subject and item intercepts: bernoulli, every subject answers every item.

    ``logit p = 0.3 + 0.6 x + s_subject + t_item`` with SDs 1.0 and 0.5, ``x`` a
    row-level standard normal covariate.
    """
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(subjects), items)
    i = np.tile(np.arange(items), subjects)
    x = rng.normal(size=s.size)
    eta = 0.3 + 0.6 * x + rng.normal(0, 1.0, subjects)[s] + rng.normal(0, 0.5, items)[i]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    data = pd.DataFrame({"y": y, "x": x, "subject": pd.Categorical([f"s{k:03d}" for k in s]),
                         "item": pd.Categorical([f"i{k:02d}" for k in i])})
    return Case("crossed", "y ~ x + (1|subject) + (1|item)", "bernoulli", data,
                truth={"Intercept": 0.3, "x": 0.6, "1|subject_sigma": 1.0, "1|item_sigma": 0.5},
                note=f"{subjects} x {items} crossed levels, {s.size:,} rows")


def five_groups(seed: int = 1) -> Case:
    """Only 5 groups: poisson counts, 30 rows per group, group SD 0.4."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(5), 30)
    x = rng.normal(size=g.size)
    eta = 1.0 + 0.3 * x + rng.normal(0, 0.4, 5)[g]
    y = rng.poisson(np.exp(eta))
    data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{k}" for k in g])})
    return Case("five_groups", "y ~ x + (1|g)", "poisson", data,
                truth={"Intercept": 1.0, "x": 0.3, "1|g_sigma": 0.4},
                note="5 levels: the group SD's posterior is wide and reaches towards 0")


def correlated_slopes(seed: int = 1) -> Case:
    """A correlated random intercept and slope (correlation 0.5): gaussian, 50 groups x 8.

    The 50 effect pairs are drawn and then whitened and recoloured so that their sample
    SDs and correlation are exactly the truth: with 50 groups a drawn sample's SD misses
    the population's by about 10% (seed 1: slope SD 0.39 for 0.5), and the posterior
    follows the sample, not the population.
    """
    rng = np.random.default_rng(seed)
    n_groups, per = 50, 8
    sd = np.array([1.0, 0.5])
    cov = np.diag(sd) @ np.array([[1.0, 0.5], [0.5, 1.0]]) @ np.diag(sd)
    z = rng.normal(size=(n_groups, 2))
    z = z - z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T))).T
    u = z @ np.linalg.cholesky(cov).T
    g = np.repeat(np.arange(n_groups), per)
    t = np.tile(np.arange(per, dtype=float), n_groups)
    y = 2.0 + 0.3 * t + u[g, 0] + u[g, 1] * t + rng.normal(0, 1.0, g.size)
    data = pd.DataFrame({"y": y, "t": t, "g": pd.Categorical([f"g{k:02d}" for k in g])})
    return Case("correlated_slopes", "y ~ t + (1 + t|g)", "gaussian", data,
                truth={"Intercept": 2.0, "t": 0.3, "1|g_sigma": 1.0, "t|g_sigma": 0.5, "sigma": 1.0},
                note="the correlation of intercept and slope sampled with an LKJ prior")


#: Case name -> function(seed) returning the :class:`Case`.
CASES = {"cbpp_obs": cbpp_obs, "thousands": thousands, "crossed": crossed, "five_groups": five_groups,
         "correlated_slopes": correlated_slopes}
