"""Model comparison (bayesglmm.compare) and the course questions (bayesglmm.questions).

Numbers come from the session fixtures of conftest.py (multicentre, seed 1):
GLM ``p(y, n) ~ treat`` (4 x 500), GLMM ``p(y, n) ~ treat + (1|centre)`` and the
intercept-only GLMM ``p(y, n) ~ 1 + (1|centre)`` (4 x 1000). Refits are seeded from the
fits' seeds, so the results are reproducible. Measured with these fixtures:

* PSIS-LOO flags 10 of 22 GLMM rows (Pareto-k > 0.7), 8 of the null model's, 1 of the
  GLM's; with those rows refitted exactly the GLMM's elpd is higher than the GLM's by
  29.5 (SE of the difference 13.9, i.e. 2.1 SE: the GLM's misfit is concentrated on a
  few centres, which makes the pointwise differences very unequal), by 34.2 (SE 9.7)
  with leave-one-centre-out.
* With the treatment term the elpd is lower by 6.9 (SE 4.1, 1.7 SE): within 2 SE.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from xarray_einstats.stats import logsumexp

from bayesglmm.compare import Comparison, _psis, check_same_data, compare, refit, with_new_levels
from bayesglmm.errors import FitError
from bayesglmm.questions import fixed_effect_needed, random_effects_needed
from bayesglmm.refit import _Refitter
from conftest import quick_fit

COLUMNS = ["elpd", "se", "p", "elpd_diff", "dse", "weight", "n_high_k", "method", "refits", "converged"]


@pytest.fixture(scope="module")
def glm_vs_glmm(mc_glm, mc_glmm):
    return compare({"GLM": mc_glm, "GLMM": mc_glmm})


def test_table_columns_order_and_numbers(glm_vs_glmm, mc_glmm):
    res = glm_vs_glmm
    assert isinstance(res, Comparison)
    t = res.table
    assert list(t.columns) == COLUMNS
    assert t.index.name == "model"
    # Best first: elpd decreasing, the best has elpd_diff 0 and dse 0.
    assert list(t.index) == ["GLMM", "GLM"]
    assert res.best == "GLMM"
    assert t["elpd"].is_monotonic_decreasing
    assert t.loc["GLMM", "elpd_diff"] == 0 and t.loc["GLMM", "dse"] == 0
    assert t["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert t["weight"].between(0, 1).all()
    assert t["converged"].all()
    d, se = res.difference("GLMM", "GLM")
    assert t.loc["GLM", "elpd_diff"] == pytest.approx(-d)
    assert t.loc["GLM", "dse"] == pytest.approx(se, rel=1e-6)
    # The GLMM predicts much better: elpd about 30 higher (29.5 measured), SE about 14.
    assert 20 < d < 40
    assert 8 < se < 20
    assert d / se > 1.5
    # elpd and its SE of the GLMM: -73.8 (SE 10.8) measured; p_loo about the number of rows.
    assert -80 < t.loc["GLMM", "elpd"] < -66
    assert 15 < t.loc["GLMM", "p"] < 30
    assert -110 < t.loc["GLM", "elpd"] < -96  # GLM elpd about -103
    text = str(res)
    assert "GLMM" in text and "psis-loo" in text


def test_high_pareto_k_rows_are_refitted_and_reported(glm_vs_glmm, mc_glmm):
    res = glm_vs_glmm
    t = res.table
    psis = _psis(mc_glmm)
    flagged = np.flatnonzero(np.asarray(psis.pareto_k) > psis.good_k)
    # Aggregated binomial rows with one effect per centre: many high Pareto-k (10 of 22 measured).
    assert 5 <= len(flagged) <= 16
    assert psis.good_k == pytest.approx(0.7)
    assert t.loc["GLMM", "n_high_k"] == len(flagged)
    assert t.loc["GLMM", "method"] == f"psis-loo + exact refits of {len(flagged)} rows"
    assert t.loc["GLMM", "refits"] == len(flagged)
    # The refitted rows changed, the others kept their PSIS values.
    exact = np.asarray(res.elpd["GLMM"].elpd_i)
    approx = np.asarray(psis.elpd_i)
    keep = np.setdiff1d(np.arange(len(exact)), flagged)
    np.testing.assert_allclose(exact[keep], approx[keep])
    assert np.all(exact[flagged] != approx[flagged])
    assert np.all(np.asarray(res.elpd["GLMM"].pareto_k)[flagged] == 0)
    assert res.elpd["GLMM"].elpd == pytest.approx(t.loc["GLMM", "elpd"])
    # The GLM has few flagged rows; the method says what was done either way.
    glm_high = t.loc["GLM", "n_high_k"]
    assert t.loc["GLM", "method"] == ("psis-loo" if glm_high == 0 else f"psis-loo + exact refits of {glm_high} rows")


def test_masked_refit_matches_a_rebuilt_refit(glm_vs_glmm, mc_glmm):
    """The fast refit (same compiled model, held-out row masked) equals refitting without the row."""
    psis = _psis(mc_glmm)
    i = int(np.flatnonzero(np.asarray(psis.pareto_k) > psis.good_k)[0])
    frame = mc_glmm.spec.data.frame
    rebuilt = refit(mc_glmm, frame.drop(index=frame.index[i]), seed=11, priors="all")
    assert rebuilt.spec.n_obs == len(frame) - 1
    for key in ("draws", "tune", "chains", "sampler"):
        assert rebuilt.settings[key] == mc_glmm.settings[key]
    # priors="all" holds the full-data priors fixed (including the data-scaled defaults).
    original = mc_glmm.spec.prior_table().set_index("term")["prior"]
    again = rebuilt.spec.prior_table().set_index("term")["prior"]
    assert again.loc[original.index].tolist() == original.tolist()
    assert rebuilt.spec.parameterization == mc_glmm.spec.parameterization
    ll = mc_glmm.spec.bambi_model.compute_log_likelihood(rebuilt.idata, data=frame.iloc[[i]], inplace=False)
    ll = ll["log_likelihood"]["p(y, n)"]
    elpd_rebuilt = float(logsumexp(ll, dims=["chain", "draw"], b=1 / (ll.sizes["chain"] * ll.sizes["draw"])).values.squeeze())
    elpd_masked = float(np.asarray(glm_vs_glmm.elpd["GLMM"].elpd_i)[i])
    assert elpd_masked == pytest.approx(elpd_rebuilt, abs=0.15)


def test_refuses_fits_on_different_data(mc, mc_glm, mc_glmm):
    dropped = quick_fit("p(y, n) ~ treat", mc.drop(index=mc.index[3]), "binomial", draws=100, tune=100, chains=2)
    with pytest.raises(FitError, match="different data"):
        compare({"GLM": mc_glm, "GLM, one row less": dropped})
    # Same number of rows, other row labels.
    frame = mc_glmm.spec.data.frame
    relabelled = dataclasses.replace(
        mc_glmm, spec=dataclasses.replace(mc_glmm.spec, data=dataclasses.replace(
            mc_glmm.spec.data, frame=frame.set_axis([f"r{i}" for i in range(len(frame))]))))
    with pytest.raises(FitError, match="different rows"):
        check_same_data({"a": mc_glm, "b": relabelled})
    # Same rows, another response.
    changed = frame.copy()
    changed.loc[changed.index[0], "y"] = changed["y"].iloc[0] + 1
    other_y = dataclasses.replace(
        mc_glmm, spec=dataclasses.replace(mc_glmm.spec, data=dataclasses.replace(mc_glmm.spec.data, frame=changed)))
    with pytest.raises(FitError, match="different response values"):
        compare({"a": mc_glm, "b": other_y})
    check_same_data({"a": mc_glm, "b": mc_glmm})  # same data: no error


def test_refuses_unconverged_fits_unless_allowed(mc, mc_glm):
    bad = quick_fit("p(y, n) ~ treat", mc, "binomial", tune=5, draws=50)
    assert bad.ok is False
    with pytest.raises(FitError, match="did not converge.*allow_unconverged=True"):
        compare({"GLM": mc_glm, "bad": bad})
    res = compare({"GLM": mc_glm, "bad": bad}, allow_unconverged=True)
    assert not res.table.loc["bad", "converged"]
    assert res.table.loc["GLM", "converged"]
    assert any("converged=False" in note for note in res.notes)


def test_leave_one_group_out(mc_glm, mc_glmm):
    res = compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="logo", group="centre")
    t = res.table
    assert (t["method"] == "logo (group=centre)").all()
    assert (t["refits"] == 11).all()  # one refit per centre
    assert res.best == "GLMM"
    d, se = res.difference("GLMM", "GLM")
    # Measured: 34.2 (SE 9.7). A new centre's effect is drawn from Normal(0, sigma), so the
    # GLMM's held-out predictions are wide but not wrong; the GLM stays where it was.
    assert 25 < d < 45
    assert d / se > 2.5
    assert -76 < t.loc["GLMM", "elpd"] < -62
    assert abs(t.loc["GLM", "elpd"] - res.elpd["GLM"].elpd) < 1e-9
    # The refit without centre 3's rows: its effect is a new group's, Normal(0, sigma) per draw.
    refitter = _Refitter(mc_glmm, {}, True, seed=5)
    rows = np.flatnonzero(mc_glmm.spec.data.frame["centre"].astype(str).to_numpy() == "3")
    idata = refitter.run(rows)
    post = idata["posterior"]
    z = (post["1|centre"].sel(centre__factor_dim="3") / post["1|centre_sigma"]).values.ravel()
    assert abs(z.mean()) < 0.1
    assert 0.9 < z.std() < 1.1
    # ... whereas a centre that kept its rows is pinned down by them.
    z_kept = (post["1|centre"].sel(centre__factor_dim="10") / post["1|centre_sigma"]).values.ravel()
    assert z_kept.std() < 0.5


def test_many_high_k_rows_switch_to_kfold_for_all_models(mc_glmm, mc_null):
    res = compare({"treat": mc_glmm, "null": mc_null}, reloo_max=0, k=5, seed=3)
    t = res.table
    assert (t["method"] == "k-fold (k=5)").all()
    assert (t["refits"] == 5).all()
    assert (t["n_high_k"] > 0).all()
    assert any("k-fold instead of PSIS-LOO" in note for note in res.notes)
    d, se = res.difference("treat", "null")
    assert abs(d) < 2 * se + 1e-9  # the treatment term does not help here either


def test_random_effects_needed(mc_glm, mc_glmm, glm_vs_glmm):
    ans = random_effects_needed(mc_glm, mc_glmm)
    assert ans.decision == "needed"
    assert ans.verdict.startswith("Random effects are needed: the GLMM's elpd is higher by")
    d, se = glm_vs_glmm.difference("GLMM", "GLM")
    assert ans.elpd_diff == pytest.approx(d) and ans.dse == pytest.approx(se)
    sd = ans.table.loc["1|centre_sigma"]
    # Posterior of the centre SD: median about 1.2-1.4 (lme4's estimate 1.17), clearly above 0.1.
    assert 0.9 < sd["median"] < 1.8
    assert sd["lower"] > 0.4
    assert sd["p_above"] > 0.99
    # Prior HalfNormal(2.5): median 2.5 * 0.6745 = 1.686, 97.5% quantile 2.5 * 2.2414 = 5.60.
    assert sd["prior"] == "HalfNormal(sigma=2.5)"
    assert sd["prior_median"] == pytest.approx(1.686, abs=0.05)
    assert sd["prior_upper"] == pytest.approx(5.60, abs=0.2)
    assert sd["prior_p_above"] == pytest.approx(0.968, abs=0.01)  # P(|N(0, 2.5)| > 0.1)
    assert "Verdict: Random effects are needed" in str(ans)


def test_fixed_effect_not_needed(mc_glmm, mc_null):
    ans = fixed_effect_needed(mc_glmm, mc_null, "treat")
    assert ans.decision == "not needed"
    assert abs(ans.z) <= 2  # measured -1.7: the model with treat predicts a little worse
    assert ans.verdict.startswith("The term 'treat' is not needed: with 'treat' the elpd is")
    row = ans.table.loc["treat[drug]"]
    # The course's glmer: OR 1.08 [0.77, 1.51].
    assert row["ratio"] == pytest.approx(1.08, abs=0.06)
    assert 0.65 < row["ratio_lower"] < 0.9 and 1.3 < row["ratio_upper"] < 1.7
    assert row["p_positive"] + row["p_negative"] == pytest.approx(1.0)
    assert 0.55 < row["p_positive"] < 0.8
    b = mc_glmm.draws["treat"].values.ravel()
    assert row["p_rope"] == pytest.approx(np.mean((np.exp(b) > 0.9) & (np.exp(b) < 1.1)))
    assert 0.25 < row["p_rope"] < 0.55
    # A ROPE on the coefficient's scale instead.
    coef = fixed_effect_needed(mc_glmm, mc_null, "treat[drug]", rope_coef=(-0.1, 0.1))
    assert coef.table.loc["treat[drug]", "p_rope"] == pytest.approx(np.mean(np.abs(b) < 0.1))
    assert coef.elpd_diff == pytest.approx(ans.elpd_diff)  # cached cross-validation


def test_fixed_effect_argument_checks(mc_glmm, mc_null):
    with pytest.raises(ValueError, match="No fixed term 'age'"):
        fixed_effect_needed(mc_glmm, mc_null, "age")
    with pytest.raises(ValueError, match="also has the term"):
        fixed_effect_needed(mc_glmm, mc_glmm, "treat")
    identity = dataclasses.replace(mc_glmm, spec=dataclasses.replace(mc_glmm.spec, link="identity"))
    with pytest.raises(ValueError, match="rope_coef"):
        fixed_effect_needed(identity, mc_null, "treat")


def test_compare_argument_checks(mc_glm, mc_glmm):
    with pytest.raises(ValueError, match="at least two"):
        compare({"GLM": mc_glm})
    with pytest.raises(ValueError, match="cv must be"):
        compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="waic")
    with pytest.raises(ValueError, match="needs group"):
        compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="logo")
    with pytest.raises(ValueError, match="not a column"):
        compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="logo", group="hospital")
    with pytest.raises(ValueError, match="refit_settings"):
        compare({"GLM": mc_glm, "GLMM": mc_glmm}, refit_settings={"seed": 1})


def test_new_levels_of_a_correlated_block_are_drawn_from_its_covariance():
    from bayesglmm.model import build_model

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=12), "x": np.tile([0.0, 1.0, 2.0, 3.0], 3), "g": list("aaaabbbbcccc")})
    spec = build_model("y ~ x + (1 + x | g)", df, "gaussian")
    chains, draws = 2, 3000
    dims = ("chain", "draw", "g__factor_dim")

    def effects(levels):
        return xr.DataArray(np.zeros((chains, draws, len(levels))), dims=dims, coords={"g__factor_dim": levels})

    corr = np.broadcast_to(np.array([[1.0, 0.6], [0.6, 1.0]]), (chains, draws, 2, 2))
    posterior = xr.Dataset({
        "1|g": effects(["a", "b"]), "x|g": effects(["a", "b"]),
        "1|g_sigma": (("chain", "draw"), np.full((chains, draws), 1.0)),
        "x|g_sigma": (("chain", "draw"), np.full((chains, draws), 2.0)),
        "g_corr": (("chain", "draw", "g__effect", "g__effect_bis"), corr),
    })
    reference = xr.Dataset({"1|g": effects(["a", "b", "c"]), "x|g": effects(["a", "b", "c"])})
    out = with_new_levels(spec, posterior, reference, rng=1)
    assert list(out["1|g"]["g__factor_dim"].values) == ["a", "b", "c"]
    u0 = out["1|g"].sel(g__factor_dim="c").values.ravel()
    u1 = out["x|g"].sel(g__factor_dim="c").values.ravel()
    cov = np.cov(u0, u1)
    assert cov[0, 0] == pytest.approx(1.0, abs=0.1)
    assert cov[1, 1] == pytest.approx(4.0, abs=0.4)
    assert cov[0, 1] == pytest.approx(1.2, abs=0.15)  # 0.6 * 1 * 2
    assert np.all(out["1|g"].sel(g__factor_dim="a").values == 0)  # existing levels untouched


@pytest.mark.slow
def test_leave_one_group_out_by_rebuilding_agrees_with_masked_refits(mc_glm, mc_glmm):
    """Every fold rebuilt on the training rows (22 refits, small draws): about 2 minutes."""
    settings = {"draws": 500, "tune": 500, "chains": 2}
    masked = compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="logo", group="centre", refit_settings=settings)
    rebuilt = compare({"GLM": mc_glm, "GLMM": mc_glmm}, cv="logo", group="centre", refit_settings=settings,
                      reuse_compiled=False)
    for name in ("GLM", "GLMM"):
        assert rebuilt.table.loc[name, "elpd"] == pytest.approx(masked.table.loc[name, "elpd"], abs=2.0)
    assert rebuilt.best == "GLMM"


def test_a_fit_without_its_log_likelihood_gets_it_when_compared(mc_glm, mc_glmm, glm_vs_glmm):
    """fit(log_likelihood=False) leaves it out (large data); compare computes the same values."""
    tree = mc_glmm.idata.copy()
    del tree["log_likelihood"]
    bare = dataclasses.replace(mc_glmm, idata=tree)
    table = compare({"GLM": mc_glm, "GLMM": bare}).table
    assert "log_likelihood" in bare.idata.children and "p" not in bare.idata["posterior"]
    xr.testing.assert_allclose(bare.idata["log_likelihood"].to_dataset(), mc_glmm.idata["log_likelihood"].to_dataset(),
                               rtol=1e-12)
    np.testing.assert_allclose(table["elpd"], glm_vs_glmm.table["elpd"], rtol=1e-10)
