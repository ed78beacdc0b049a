"""Rank-normalised split R-hat and bulk/tail ESS, vectorised over parameters.

The same statistics as ArviZ's ``rhat`` and ``ess(method="bulk" | "tail")`` (Vehtari,
Gelman, Simpson, Carpenter & Bürkner 2021, doi:10.1214/20-BA1221), computed for every
scalar of a variable at once, a bounded block of scalars at a time. ArviZ (arviz-stats 1.3)
applies its functions scalar by scalar, and ``az.summary`` adds Monte Carlo standard errors
that the verdict does not need. The cost is the ranks (three sorts of every scalar's draws);
``benchmarks/diagnostics_speed.py`` measures about half of ``az.summary``'s time on 1,101
scalars. ``tests/test_rank_diagnostics.py`` checks the numbers against ArviZ's to 1e-10.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, special, stats

from bayesglmm.errors import SettingsError

#: Blom's offset for the normal scores of ranks (as ArviZ and Stan).
BLOM_C = 3 / 8
#: Scalars per block: about 100 MB of working arrays at 4 x 1000 draws.
BLOCK = 256


def split_chains(draws: np.ndarray) -> np.ndarray:
    """(k, chains, draws) -> (k, 2 chains, draws // 2): each chain's first and last half."""
    half = draws.shape[2] // 2
    return np.concatenate([draws[:, :, :half], draws[:, :, draws.shape[2] - half:]], axis=1)


def normal_scores(draws: np.ndarray) -> np.ndarray:
    """Rank-normalise each scalar's draws (pooled over chains): Blom's normal scores of the ranks."""
    k, chains, n = draws.shape
    ranks = stats.rankdata(draws.reshape(k, chains * n), method="average", axis=1)
    return special.ndtri((ranks - BLOM_C) / (chains * n - 2 * BLOM_C + 1)).reshape(k, chains, n)


def _rhat(draws: np.ndarray) -> np.ndarray:
    n = draws.shape[2]
    between = n * np.var(draws.mean(axis=2), axis=1, ddof=1)
    within = np.mean(np.var(draws, axis=2, ddof=1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _ess(draws: np.ndarray) -> np.ndarray:
    """Geyer's initial-monotone-sequence ESS of each scalar of (k, chains, draws)."""
    k, chains, n = draws.shape
    constant = np.ptp(draws.reshape(k, -1), axis=1) < np.finfo(float).resolution
    centred = draws - draws.mean(axis=2, keepdims=True)
    m = fft.next_fast_len(2 * n)
    spectrum = fft.rfft(centred, n=m, axis=2)
    acov = fft.irfft(spectrum * np.conjugate(spectrum), n=m, axis=2)[:, :, :n] / n
    mean_acov = acov.mean(axis=1)  # (k, n)
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus = var_plus + np.var(draws.mean(axis=2), axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]  # rho[:, t] for every lag t
    rho_hat = np.zeros((k, n))
    rho_hat[:, 0] = 1.0
    rho_hat[:, 1] = rho[:, 1]
    rows = np.arange(k)
    # Geyer's initial positive sequence: pairs (t + 1, t + 2) while the previous pair's sum is positive.
    t = np.ones(k, dtype=int)
    even, odd = np.ones(k), rho[:, 1].copy()
    active = (t < n - 3) & (even + odd > 0)
    while active.any():
        a = rows[active]
        ta = t[a]
        even[a], odd[a] = rho[a, ta + 1], rho[a, ta + 2]
        keep = even[a] + odd[a] >= 0
        rho_hat[a[keep], ta[keep] + 1] = even[a][keep]
        rho_hat[a[keep], ta[keep] + 2] = odd[a][keep]
        t[a] += 2
        active = (t < n - 3) & (even + odd > 0)
    max_t = t - 2
    improve = even > 0
    rho_hat[rows[improve], max_t[improve] + 1] = even[improve]
    # Geyer's initial monotone sequence: no pair sum larger than the one before it.
    s = np.ones(k, dtype=int)
    active = s <= max_t - 2
    while active.any():
        a = rows[active]
        sa = s[a]
        previous = rho_hat[a, sa - 1] + rho_hat[a, sa]
        fix = rho_hat[a, sa + 1] + rho_hat[a, sa + 2] > previous
        rho_hat[a[fix], sa[fix] + 1] = previous[fix] / 2.0
        rho_hat[a[fix], sa[fix] + 2] = previous[fix] / 2.0
        s[a] += 2
        active = s <= max_t - 2
    lags = np.arange(n)[None, :]
    tau = -1.0 + 2.0 * np.sum(np.where(lags <= max_t[:, None], rho_hat, 0.0), axis=1) \
        + np.sum(np.where(lags == max_t[:, None] + 1, rho_hat, 0.0), axis=1)
    total = chains * n
    tau = np.maximum(tau, 1 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho_hat).any(axis=1)] = np.nan
    ess[constant] = total
    return ess


def _quantile_ess(draws: np.ndarray, prob: float) -> np.ndarray:
    k = draws.shape[0]
    cut = np.quantile(draws.reshape(k, -1), prob, axis=1)
    return _ess(split_chains((draws <= cut[:, None, None]).astype(float)))


def rank_diagnostics(draws: np.ndarray, tail_prob: float | None = None) -> dict[str, np.ndarray]:
    """R-hat (rank-normalised, split, bulk and folded), bulk and tail ESS of every scalar.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape (chains, draws, k): k scalars.
    tail_prob : float, optional
        Tail ESS is the smaller of the ESS of the indicators "draw below the quantile
        ``1 - p``" and "draw below the quantile ``p``", as ArviZ computes it; ``p`` is
        ArviZ's ``rcParams["stats.ci_prob"]`` when None (what ``az.summary`` uses).

    Returns
    -------
    dict
        ``r_hat``, ``ess_bulk``, ``ess_tail``: arrays of length k (NaN where ArviZ gives NaN:
        fewer than 2 chains or 4 draws for R-hat, non-finite draws, constant scalars' R-hat).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = rank_diagnostics(rng.normal(size=(4, 500, 3)))
    >>> bool((np.abs(out["r_hat"] - 1) < 0.01).all()), bool((out["ess_bulk"] > 1500).all())
    (True, True)
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3:
        raise SettingsError(f"draws must be an array (chains, draws, k); got shape {draws.shape}.")
    chains, n, k = draws.shape
    if tail_prob is None:
        from arviz_base import rcParams

        tail_prob = rcParams["stats.ci_prob"]
    if k > BLOCK:  # bounded memory: the FFTs and ranks of a block, not of every scalar at once
        parts = [rank_diagnostics(draws[:, :, i:i + BLOCK], tail_prob) for i in range(0, k, BLOCK)]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    nan = np.full(k, np.nan)
    scalars = np.ascontiguousarray(np.moveaxis(draws, 2, 0))  # (k, chains, draws): each scalar contiguous
    bad = ~np.isfinite(scalars).all(axis=(1, 2))
    clean = np.where(bad[:, None, None], 0.0, scalars)
    out = {"r_hat": nan.copy(), "ess_bulk": nan.copy(), "ess_tail": nan.copy()}
    if n >= 4:
        split = split_chains(clean)
        scores = normal_scores(split)  # ranks are the cost: computed once for R-hat and bulk ESS
        if chains >= 2:
            folded = np.abs(split - np.median(split.reshape(k, -1), axis=1)[:, None, None])
            out["r_hat"] = np.maximum(_rhat(scores), _rhat(normal_scores(folded)))
        out["ess_bulk"] = _ess(scores)
        low, high = sorted((tail_prob, 1 - tail_prob))
        out["ess_tail"] = np.minimum(_quantile_ess(clean, low), _quantile_ess(clean, high))
    for values in out.values():
        values[bad] = np.nan
    return out
