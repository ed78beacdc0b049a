"""Course Exercises 2 (patients) and 3 (motorins): data preparation, helpers, and quick runs.

The course prints only the data's ``head()``/``str()`` for these exercises, so the fast
tests check the data preparation against that output and the helpers' arithmetic, and the
slow quick runs check the posteriors against lme4 1.1-31 (run for these modules; the
numbers are in ``patients.LME4`` and ``motorins.LME4``) and against facts that must hold:

* patients (UCLA's simulated ``hdp`` data): doctor SD > hospital SD, both near lme4's
  (1.99 and 0.47); stage IV's odds ratio near lme4's 0.079 and its interval below 1;
  the predictions for doctor 2 fall with stage.
* motorins: the Poisson GLMM is overdispersed (lme4: Pearson dispersion 2.88), the
  preferred model is not the Poisson GLMM, rate ratios of the Poisson GLMM near lme4's,
  and the predicted claims' ratios across Km equal the rate ratios.

The quick runs take minutes (the patients models have 8,525 rows): they are marked slow,
``pytest -m slow tests/test_course_patients_motorins.py``.
"""

import numpy as np
import pandas as pd
import pytest

from bayesglmm.course import REPORT_FILE, start
from bayesglmm.course import motorins as motorins_module
from bayesglmm.course import patients as patients_module

from conftest import needs_data

IMG = '<img src="data:image/png;base64,'


# ------------------------------------------------------------------ fast: no sampling
def test_sign_probability_picks_the_clearest_coefficient():
    import xarray as xr

    rng = np.random.default_rng(1)
    # One coefficient centred on 0, one clearly positive: the term is as clear as its clearest.
    draws = xr.DataArray(np.stack([rng.normal(0, 1, 4000), rng.normal(3, 1, 4000)], axis=-1).reshape(4, 1000, 2),
                         dims=("chain", "draw", "level"))
    assert patients_module.sign_probability(draws) == pytest.approx(0.9987, abs=0.003)
    assert patients_module.sign_probability(draws.isel(level=0)) == pytest.approx(0.5, abs=0.03)


def test_preferred_model_is_the_simplest_that_predicts_alike():
    from types import SimpleNamespace

    table = pd.DataFrame({"elpd_diff": [0.0, -3.0, -9.0, -400.0], "dse": [0.0, 2.5, 2.0, 40.0]},
                         index=["NB + Make", "NB", "Poisson + Make", "Poisson"])
    sizes = {"NB + Make": 23, "NB": 14, "Poisson + Make": 22, "Poisson": 13}
    preferred, alike = motorins_module.preferred_model(SimpleNamespace(table=table), sizes)
    assert alike == ["NB + Make", "NB"]  # -9 is 4.5 SE away; -400 is 10 SE away
    assert preferred == "NB"
    table.loc["NB", "elpd_diff"] = -30.0
    table.loc["NB", "dse"] = 5.0
    assert motorins_module.preferred_model(SimpleNamespace(table=table), sizes)[0] == "NB + Make"


def test_formula_and_linear_predictor_text():
    from types import SimpleNamespace

    assert patients_module.formula(["Age", "Smoking"], "(1|ID.hospital/ID.doctor)") == \
        "remission ~ Age + Smoking + (1|ID.hospital/ID.doctor)"
    fe = pd.DataFrame({"median": [0.357, -0.0585, -0.537]}, index=["Intercept", "IL6", "CancerStage[II]"])
    fit = SimpleNamespace(fixef=lambda: fe)
    text = patients_module.linear_predictor_text(fit)
    assert text == "0.357 - 0.0585*IL6 - 0.537*[CancerStage = II]"
    assert motorins_module._with_offset("-2.25 + 0.2*Km") == "log(Insured) - 2.25 + 0.2*Km"


@needs_data
def test_patients_data_and_descriptive_steps(tmp_path):
    a = start("patients", patients_module.TITLE, quick=True)
    # The course's head(patients) and str(patients).
    head = a.data.head(6)
    assert head["Age"].tolist() == [65, 54, 53, 41, 47, 52]
    assert head["IL6"].tolist() == [3.699, 2.627, 13.896, 3.008, 3.891, 1.418]
    assert head["CancerStage"].astype(str).tolist() == ["II", "II", "II", "I", "II", "I"]
    # str(): Smoking codes 2 2 3 2 3 3 1 2 2 3 after the course's levels<- (never, former, current).
    assert list(a.data["Smoking"].cat.categories) == ["never", "former", "current"]
    assert (a.data["Smoking"].cat.codes.head(10) + 1).tolist() == [2, 2, 3, 2, 3, 3, 1, 2, 2, 3]
    assert a.data["ID.doctor"].nunique() == 407 and a.data["ID.hospital"].nunique() == 35
    patients_module.step_describe(a)
    patients_module.step_plots(a)
    assert a.values["structure"] == {"patients": 8525, "doctors": 407, "hospitals": 35, "nested": True}
    assert "IV 0.10" in a.answers["2. Descriptive plots"]
    result = a.finish(tmp_path)
    assert (tmp_path / REPORT_FILE).read_text().count(IMG) == 4 == result.report.n_figures
    grid = patients_module.prediction_grid(a.data)
    assert len(grid) == 12 and set(grid["ID.doctor"]) == {"2"} and set(grid["ID.hospital"]) == {"1"}
    assert grid[["CancerStage", "Smoking"]].drop_duplicates().shape[0] == 12
    assert grid["Age"].iloc[0] == a.data["Age"].median() == 51


@needs_data
def test_motorins_data_and_descriptive_steps():
    a = start("motorins", motorins_module.TITLE, quick=True)
    d = a.data
    # The course's str(MotorIns).
    assert len(d) == 1797
    assert d["Claims"].head(10).tolist() == [108, 19, 13, 124, 40, 57, 23, 14, 1704, 45]
    assert d["Insured"].head(5).round(1).tolist() == [455.1, 69.2, 72.9, 1292.4, 191.0]
    assert list(d["Km"].cat.categories) == ["1", "2", "3", "4", "5"]
    assert d["Zone"].cat.categories[:3].tolist() == ["Z1", "Z2", "Z3"]
    assert d["rate"].head(5).round(4).tolist() == [0.2373, 0.2747, 0.1784, 0.0959, 0.2094]
    motorins_module.step_describe(a)
    motorins_module.step_plots(a)
    assert a.values["structure"]["cells"] == 1797  # one row per Km x Zone x Bonus x Make
    assert a.report.n_figures == 2
    grid = motorins_module.prediction_grid(a.data)
    assert len(grid) == 35 and set(grid["Insured"]) == {1000.0} and set(grid["Bonus"]) == {4}


# ------------------------------------------------------------------ quick runs (slow)
@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    return patients_module.run(out=tmp_path_factory.mktemp("patients"), seed=1, quick=True)


@pytest.fixture(scope="module")
def motorins(tmp_path_factory):
    return motorins_module.run(out=tmp_path_factory.mktemp("motorins"), seed=1, quick=True)


@needs_data
@pytest.mark.slow
def test_patients_quick_run(patients):
    v = patients.values
    lme4 = patients_module.LME4
    h, d = v["sd_hospital"], v["sd_doctor"]
    assert d[0] > h[0] > 0
    assert d[1] < lme4["sd_doctor"] < d[2]  # lme4's 1.99 inside the 95% interval
    assert h[1] < lme4["sd_hospital"] < h[2]  # and its 0.47
    assert v["random_effects"]["hospital"]["decision"] == "needed"
    assert v["random_effects"]["doctor"]["decision"] == "needed"
    # The model with every predictor agrees with lme4: each odds ratio within 15%.
    check = v["lme4_check"]
    assert np.all(np.abs(check["this fit (every predictor)"] / check["lme4 1.1-31"] - 1) < 0.15)
    assert v["or_stage_iv"][2] < 1 and abs(v["or_stage_iv"][0] / lme4["OR"]["CancerStage[IV]"][0] - 1) < 0.2
    assert {"CancerStage", "IL6", "Smoking"} <= set(v["final_terms"])
    assert v["fixed_effects"]["Age"]["decision"] == "not needed"  # lme4 drop1: p = 0.25
    icc = v["icc"]
    assert icc["ID.hospital:ID.doctor"][0] > icc["ID.hospital"][0]
    assert icc["ID.hospital:ID.doctor"][1] < lme4["icc_doctor"] < icc["ID.hospital:ID.doctor"][2]
    pred = v["predicted"]
    assert len(pred) == 12 and ((pred["doctor 2 lower"] > 0) & (pred["doctor 2 upper"] < 1)).all()
    stage = pred[pred["Smoking"] == "never"].set_index("CancerStage")["doctor 2 mean"]
    assert stage["I"] > stage["II"] > stage["III"] > stage["IV"]
    assert list(patients.answers) == [
        "1. The data", "2. Descriptive plots", "3. Random effects needed?", "4. Fixed effects needed?",
        "5. Final model and ICCs", "6. Model checks", "7. Odds ratios",
        "8. Predicted probabilities (doctor 2, hospital 1)"]
    html = patients.out.read_text()
    assert html.count(IMG) >= 12 and patients.report.n_figures == html.count(IMG)
    assert "Reproducibility" in html


@needs_data
@pytest.mark.slow
def test_motorins_quick_run(motorins):
    v = motorins.values
    lme4 = motorins_module.LME4
    assert v["dispersion"]["Poisson GLMM"][0] == "overdispersed"
    assert v["poisson_dispersion_ok"] is False
    assert v["preferred"] != "Poisson GLMM"
    assert v["random_effects"]["decision"] == "needed"
    assert all(t["decision"] == "needed" for t in v["fixed_effects"].values())
    poisson = motorins.fits["Poisson GLMM"].ratios()["ratio"]
    for term, ref in lme4["poisson_rr"].items():
        assert poisson[term] == pytest.approx(ref, rel=0.01)
    # lme4's AIC ranks NB + (1|Make) first (10203, then NB 10803, Poisson + Make 11282, Poisson 12696).
    assert list(v["overdispersion"].index) == ["NB + (1|Make)", "NB GLMM", "Poisson + (1|Make)", "Poisson GLMM"]
    if v["preferred"] == "NB + (1|Make)":
        for term, ref in lme4["nb_make_rr"].items():
            assert v["rate_ratios"].loc[term, "ratio"] == pytest.approx(ref, rel=0.02)
    pred = v["predicted"]
    assert (pred["lower"] > 0).all() and (pred["mean"] > 0).all()
    rr = v["rate_ratios"]
    for zone, sub in pred.groupby("Zone", observed=True):
        by_km = sub.set_index("Km")["mean"]
        # Km 2 vs Km 1 in the same zone is exp(beta_Km[2]), up to averaging over draws.
        assert by_km["2"] / by_km["1"] == pytest.approx(rr.loc["Km[2]", "ratio"], rel=0.02)
    assert v["consistency"]["per_draw_gap"] < 1e-9
    assert v["consistency"]["predict_gap"] < 1e-9
    html = motorins.out.read_text()
    assert html.count(IMG) >= 7 and motorins.report.n_figures == html.count(IMG)
