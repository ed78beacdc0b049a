"""Tests of bayesglmm.datasets: the course data, read as the course prepares them.

The data files are not in the repository. These tests find them the default way, in
``shared/datasets`` beside the checkout, and skip when that folder does not exist. The
numbers checked come from ``SOURCES.md`` and the course printouts.
"""

import csv
import doctest

import numpy as np
import pandas as pd
import pytest

from bayesglmm import datasets
from bayesglmm.datasets import find_data_dir, load, names, uncount_muscatine
from bayesglmm.errors import BayesGLMMError, DatasetNotFoundError

DATA_DIR = datasets.DEFAULT_DATA_DIR

needs_data = pytest.mark.skipif(
    not DATA_DIR.is_dir(),
    reason=f"course data folder {DATA_DIR} does not exist (third-party data, not in the repo)",
)


@pytest.fixture(autouse=True)
def _no_env_var(monkeypatch):
    """Make every test use the default resolution unless it sets the variable itself."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


FILE_SETS = [
    "multicentre", "patients", "motorins", "betablocker", "hr",
    "schizo", "housing", "muscatine", "muscatine_long", "cbpp",
]


def test_names_lists_files_then_simulations():
    assert names() == [*FILE_SETS, "rehab", "bloodpressure"]


# ---------------------------------------------------------------------------
# Real data: sizes and the course's preparation
# ---------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("multicentre", 22), ("patients", 8525), ("motorins", 1797), ("betablocker", 44),
        ("hr", 120), ("schizo", 1603), ("housing", 1448), ("muscatine", 16),
        ("muscatine_long", 14568), ("cbpp", 56),
    ],
)
def test_row_counts_match_sources(name, rows):
    df = load(name)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == rows


@needs_data
def test_default_resolution_finds_shared_folder():
    assert find_data_dir() == DATA_DIR
    assert find_data_dir(name="patients") == DATA_DIR


@needs_data
def test_multicentre_levels_and_values():
    df = load("multicentre")
    assert list(df.columns) == ["centre", "treat", "y", "n", "obs"]
    assert df["centre"].cat.categories.tolist() == [str(k) for k in range(1, 12)]
    assert not df["centre"].cat.ordered
    assert df["treat"].cat.categories.tolist() == ["control", "drug"]
    assert isinstance(df["treat"].cat.categories[0], str)
    # head() of the course
    assert df["treat"].head(6).tolist() == ["drug", "control"] * 3
    assert df["y"].head(6).tolist() == [11, 10, 16, 22, 14, 7]
    assert df["n"].head(6).tolist() == [36, 37, 20, 32, 19, 19]
    np.testing.assert_allclose(df["obs"], df["y"] / df["n"])
    # str(): codes 1 1 2 2 3 3 ... for centre, 2 1 2 1 ... for treat
    assert (df["centre"].cat.codes.head(10) + 1).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert (df["treat"].cat.codes.head(4) + 1).tolist() == [2, 1, 2, 1]


@needs_data
def test_patients_levels():
    df = load("patients")
    assert df["ID.doctor"].cat.categories.size == 407
    assert df["ID.hospital"].cat.categories.size == 35
    assert df["ID.doctor"].cat.categories[:11].tolist() == [str(k) for k in range(1, 12)]
    assert df["CancerStage"].cat.categories.tolist() == ["I", "II", "III", "IV"]
    assert not df["CancerStage"].cat.ordered
    # str(): CancerStage codes 2 2 2 1 2 1 2 2 2 2
    assert (df["CancerStage"].cat.codes.head(10) + 1).tolist() == [2, 2, 2, 1, 2, 1, 2, 2, 2, 2]


@needs_data
def test_patients_smoking_swap_reproduces_course():
    df = load("patients")
    assert df["Smoking"].cat.categories.tolist() == ["never", "former", "current"]
    counts = df["Smoking"].value_counts()
    assert counts["never"] == 1705  # the file's "current"
    assert counts["current"] == 5115  # the file's "never"
    assert counts["former"] == 1705
    # the course's str(): Smoking codes 2 2 3 2 3 3 1 2 2 3
    assert (df["Smoking"].cat.codes.head(10) + 1).tolist() == [2, 2, 3, 2, 3, 3, 1, 2, 2, 3]


@needs_data
def test_patients_true_smoking_labels():
    df = load("patients", true_smoking_labels=True)
    raw = pd.read_csv(DATA_DIR / "patients.csv")
    assert df["Smoking"].cat.categories.tolist() == ["never", "former", "current"]
    assert df["Smoking"].astype(str).tolist() == raw["Smoking"].tolist()
    counts = df["Smoking"].value_counts()
    assert (counts["never"], counts["former"], counts["current"]) == (5115, 1705, 1705)
    # the swap exchanges exactly never and current
    swapped = load("patients")["Smoking"].astype(str)
    relabel = {"never": "current", "current": "never", "former": "former"}
    assert swapped.tolist() == [relabel[s] for s in raw["Smoking"]]


@needs_data
def test_motorins():
    df = load("motorins")
    assert df["rate"].head(5).round(4).tolist() == [0.2373, 0.2747, 0.1784, 0.0959, 0.2094]
    assert df["Km"].cat.categories.tolist() == ["1", "2", "3", "4", "5"]
    assert df["Zone"].cat.categories.tolist() == [f"Z{k}" for k in range(1, 8)]
    assert df["Make"].cat.categories.size == 9
    assert df["Bonus"].dtype == np.int64
    assert df["Claims"].head(10).tolist() == [108, 19, 13, 124, 40, 57, 23, 14, 1704, 45]
    assert df["Bonus"].head(10).tolist() == [1] * 9 + [2]


@needs_data
def test_betablocker():
    df = load("betablocker")
    assert df.shape == (44, 4)
    assert df["treat"].cat.categories.tolist() == ["0", "1"]
    assert df["center"].cat.categories.tolist() == [str(k) for k in range(1, 23)]
    assert df["r"].head(4).tolist() == [3, 3, 14, 7]
    assert df["n"].head(4).tolist() == [39, 38, 116, 114]
    assert df["treat"].astype(str).head(4).tolist() == ["0", "1", "0", "1"]


@needs_data
def test_hr_incr_follows_the_notes():
    df = load("hr")
    assert df["Patient"].cat.categories.size == 24
    assert df["Patient"].cat.categories[0] == "201"
    assert df["Drug"].cat.categories.tolist() == ["a", "b", "p"]
    # HR_incr = 1*I(HR > baseHR): strictly greater
    assert df["HR_incr"].tolist() == (df["HR"] > df["baseHR"]).astype(int).tolist()
    assert df["HR_incr"].head(10).tolist() == [0, 0, 0, 1, 0, 1, 1, 1, 1, 1]
    assert df["HR_incr"].sum() == 36
    assert set(df["HR_incr"].unique()) == {0, 1}


@needs_data
def test_schizo():
    df = load("schizo")
    assert df["y"].cat.ordered
    assert df["y"].cat.categories.tolist() == [1, 2, 3, 4]
    assert df["id"].cat.categories.size == 437
    assert df["y"].head(6).tolist() == [4, 2, 2, 2, 4, 2]
    np.testing.assert_allclose(df["sqrt_wk"], np.sqrt(df["wk"]))
    assert df["trt"].dtype == np.int64 and df["wk"].dtype == np.int64


@needs_data
def test_housing_keeps_missing():
    df = load("housing")
    assert df["Housing"].isna().sum() == 159
    assert df["Housing"].cat.ordered
    assert df["Housing"].cat.categories.tolist() == [0, 1, 2]
    assert df["House"].cat.categories.tolist() == [1, 2, 3]
    assert df["House"].isna().sum() == 159
    present = df["Housing"].notna()
    house = df.loc[present, "House"].astype(int)
    assert (house == df.loc[present, "Housing"].astype(int) + 1).all()
    assert df["Time"].cat.categories.tolist() == ["0", "6", "12", "24"]
    assert df["Sec"].cat.categories.tolist() == ["0", "1"]
    assert df["ID"].cat.categories.size == 362
    # head() of the notes
    assert df["Housing"].head(4).tolist() == [1, 2, 2, 2]
    assert df["Time"].astype(str).head(4).tolist() == ["0", "6", "12", "24"]


@needs_data
def test_muscatine_wide_matches_course_head():
    df = load("muscatine")
    expected = [
        [0, 1, 1, 1, 8, 20, 25, 16, 15],
        [0, 1, 1, 0, 1, 7, 9, 11, 6],
        [0, 1, 0, 1, 1, 9, 7, 4, 0],
        [0, 1, 0, 0, 0, 8, 7, 13, 8],
        [0, 0, 1, 1, 7, 8, 10, 3, 7],
        [0, 0, 1, 0, 3, 8, 8, 8, 2],
    ]
    assert df.head(6).to_numpy().tolist() == expected


@needs_data
def test_uncount_muscatine_reproduces_course():
    long = uncount_muscatine(load("muscatine"))
    assert list(long.columns) == ["Gender", "Cohort", "Year", "OB_ind", "ID", "Age_k", "child"]
    assert len(long) == 3 * 1770
    assert long["child"].nunique() == 1770
    # head(MCRS_longest, 10): cohort 1, pattern 111, eight children, ID 1..8 then year 79
    head = long.head(10)
    assert head["Year"].tolist() == [77] * 8 + [79] * 2
    assert head["ID"].astype(int).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 1, 2]
    assert head["OB_ind"].tolist() == [1] * 10
    # tail(MCRS_longest, 10): Gender 1, cohort 5, 1981, not obese, IDs 82..91
    tail = long.tail(10)
    assert tail["Gender"].tolist() == [1] * 10
    assert tail["Cohort"].astype(str).tolist() == ["5"] * 10
    assert tail["Year"].tolist() == [81] * 10
    assert tail["ID"].astype(int).tolist() == list(range(82, 92))
    # Age_k = cohort mid age in 1977 + (Year - 77)
    mid_age = {"1": 6, "2": 8, "3": 10, "4": 12, "5": 14}
    expected = long["Cohort"].astype(str).map(mid_age) + (long["Year"] - 77)
    assert long["Age_k"].tolist() == expected.tolist()
    # each child is seen in all three years
    assert long.groupby("child", observed=True)["Year"].nunique().eq(3).all()


@needs_data
def test_muscatine_long_keeps_missing():
    df = load("muscatine_long")
    assert df["obese"].isna().sum() == 4712
    assert df["numobese"].isna().sum() == 4712
    assert df["numobese"].dtype == np.float64
    assert df["id"].cat.categories.size == 4856
    assert df["gender"].cat.categories.tolist() == ["F", "M"]
    assert df["obese"].cat.categories.tolist() == ["no", "yes"]


@needs_data
def test_cbpp():
    df = load("cbpp")
    assert df["herd"].cat.categories.tolist() == [str(k) for k in range(1, 16)]
    assert df["period"].cat.categories.tolist() == ["1", "2", "3", "4"]
    assert df["obs"].cat.categories.tolist() == [str(k) for k in range(1, 57)]
    assert df["obs"].astype(str).tolist() == [str(k) for k in range(1, 57)]


@needs_data
def test_loads_are_independent():
    first = load("multicentre")
    first.loc[0, "y"] = -1
    assert load("multicentre").loc[0, "y"] == 11


# ---------------------------------------------------------------------------
# The course's own file formats
# ---------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC])
def test_reads_course_txt_when_csv_absent(tmp_path, quoting):
    raw = pd.read_csv(DATA_DIR / "multicentre.csv")
    raw.to_csv(tmp_path / "multicentre.txt", sep=" ", index=False, quoting=quoting)
    from_txt = load("multicentre", data_dir=tmp_path)
    pd.testing.assert_frame_equal(from_txt, load("multicentre"))


@needs_data
def test_reads_course_motorins_txt(tmp_path):
    raw = pd.read_csv(DATA_DIR / "motorins.csv")
    # the course's MotorIns.txt has five columns
    raw[["Claims", "Insured", "Km", "Bonus", "Zone"]].to_csv(
        tmp_path / "MotorIns.txt", sep=" ", index=False
    )
    df = load("motorins", data_dir=tmp_path)
    assert list(df.columns) == ["Claims", "Insured", "Km", "Bonus", "Zone", "rate"]
    assert df["rate"].head(3).round(4).tolist() == [0.2373, 0.2747, 0.1784]
    assert df["Zone"].cat.categories.tolist() == [f"Z{k}" for k in range(1, 8)]


@needs_data
def test_reads_course_patients_txt(tmp_path):
    raw = pd.read_csv(DATA_DIR / "patients.csv")
    raw.to_csv(tmp_path / "patients.txt", sep=" ", index=False)
    df = load("patients", data_dir=tmp_path)
    assert df["Smoking"].value_counts()["never"] == 1705


@needs_data
def test_reads_betablok_dat(tmp_path):
    raw = pd.read_csv(DATA_DIR / "betablocker.csv")
    raw[["r", "n"]].to_csv(tmp_path / "betablok.dat", sep=" ", index=False, header=False)
    pd.testing.assert_frame_equal(load("betablocker", data_dir=tmp_path), load("betablocker"))


@needs_data
def test_txt_dot_is_missing(tmp_path):
    raw = pd.read_csv(DATA_DIR / "housing.csv")
    raw.to_csv(tmp_path / "housing.txt", sep=" ", index=False, na_rep=".")
    df = load("housing", data_dir=tmp_path)
    assert df["Housing"].isna().sum() == 159
    pd.testing.assert_frame_equal(df, load("housing"))


@needs_data
def test_env_var_is_used(tmp_path, monkeypatch):
    pd.read_csv(DATA_DIR / "cbpp.csv").head(8).to_csv(tmp_path / "cbpp.csv", index=False)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert find_data_dir(name="cbpp") == tmp_path
    assert len(load("cbpp")) == 8


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unknown_name_suggests_close_match():
    with pytest.raises(DatasetNotFoundError) as info:
        load("multicenter")
    message = str(info.value)
    assert "Did you mean 'multicentre'" in message
    for name in names():
        assert name in message
    assert isinstance(info.value, BayesGLMMError)


def test_unknown_name_without_close_match():
    with pytest.raises(DatasetNotFoundError, match="Valid names: multicentre"):
        load("zzzz")


def test_name_is_case_insensitive_for_simulations():
    assert len(load("Rehab")) == 1000


def test_missing_file_in_given_data_dir(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(datasets.ENV_VAR, str(other))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load("multicentre", data_dir=empty)
    message = str(info.value)
    assert str(empty) in message
    assert "multicentre.csv" in message and "multicentre.txt" in message
    assert "data_dir=" in message and datasets.ENV_VAR in message
    # a given data_dir is the only place searched
    assert str(other) not in message
    assert str(datasets.DEFAULT_DATA_DIR) not in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_everywhere_lists_every_place(tmp_path, monkeypatch):
    env_dir = tmp_path / "from_env"
    env_dir.mkdir()
    default_dir = tmp_path / "no_such_folder"
    monkeypatch.setenv(datasets.ENV_VAR, str(env_dir))
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", default_dir)
    with pytest.raises(DatasetNotFoundError) as info:
        load("patients")
    message = str(info.value)
    assert str(env_dir) in message
    assert str(default_dir) in message
    assert "no such folder" in message
    assert "data_dir=" in message and datasets.ENV_VAR in message
    with pytest.raises(DatasetNotFoundError, match="no_such_folder"):
        find_data_dir()


def test_missing_env_var_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEFAULT_DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match=f"{datasets.ENV_VAR}: not set"):
        load("cbpp")


def test_seed_only_for_simulations(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        load("multicentre", data_dir=tmp_path, seed=1)
    with pytest.raises(ValueError, match="true_smoking_labels"):
        load("rehab", true_smoking_labels=True)


def test_find_data_dir_rejects_simulated_name():
    with pytest.raises(DatasetNotFoundError, match="simulated"):
        find_data_dir(name="rehab")


# ---------------------------------------------------------------------------
# Simulated data
# ---------------------------------------------------------------------------


def test_rehab_size_and_truth():
    df = load("rehab")
    assert list(df.columns) == ["rehab", "Treatment", "Gender", "Hours", "Incidents"]
    assert len(df) == 1000
    assert df["rehab"].cat.categories.size == 110
    assert df["rehab"].value_counts().min() >= 2
    assert set(df["Treatment"].unique()) == {0, 1}
    assert set(df["Gender"].unique()) == {0, 1}
    assert (df["Incidents"] >= 0).all() and df["Incidents"].dtype == np.int64
    # Hours is a centre-level variable
    assert df.groupby("rehab", observed=True)["Hours"].nunique().eq(1).all()
    truth = df.attrs["truth"]
    assert truth["Intercept"] == -0.40933
    assert truth["Treatment"] == -0.31192
    assert truth["Gender"] == 0.36029
    assert truth["Hours"] == 0.28809
    assert truth["Treatment:Hours"] == 0.0
    assert truth["1|rehab_sigma"] == pytest.approx(np.sqrt(1.263 - 0.28809**2))
    assert truth["Treatment|rehab_sigma"] > 0
    assert len(df.attrs["random_effects"]["1|rehab"]) == 110


def test_rehab_reproducible_with_seed():
    pd.testing.assert_frame_equal(load("rehab", seed=7), load("rehab", seed=7))
    pd.testing.assert_frame_equal(load("rehab", seed=7), datasets.simulate_rehab(seed=7))
    pd.testing.assert_frame_equal(load("rehab"), datasets.simulate_rehab())
    assert not load("rehab", seed=7)["Incidents"].equals(load("rehab", seed=8)["Incidents"])
    assert load("rehab", seed=7).attrs["seed"] == 7


def test_bloodpressure_structure_and_truth():
    df = load("bloodpressure")
    assert list(df.columns) == ["hospital_id", "patient_id", "time", "bp"]
    assert len(df) == 500
    assert df["hospital_id"].cat.categories.size == 10
    assert df["patient_id"].cat.categories.size == 100
    assert df.groupby("patient_id", observed=True).size().eq(5).all()
    assert df.groupby("hospital_id", observed=True)["patient_id"].nunique().eq(10).all()
    # patients are nested in hospitals, as rep(1:10, each = 50) and rep(1:100, each = 5)
    assert df.groupby("patient_id", observed=True)["hospital_id"].nunique().eq(1).all()
    assert df["time"].tolist() == [1, 2, 3, 4, 5] * 100
    assert df.attrs["truth"] == {
        "Intercept": 120.0, "time": 0.5,
        "1|hospital_id_sigma": 2.0, "1|patient_id_sigma": 1.0, "sigma": 5.0,
    }
    # the rows follow the generating model exactly, given the drawn effects
    effects = df.attrs["random_effects"]
    mean = (
        120
        + df["hospital_id"].astype(str).map(effects["1|hospital_id"])
        + df["patient_id"].astype(str).map(effects["1|patient_id"])
        + 0.5 * df["time"]
    )
    residual = df["bp"] - mean
    assert abs(residual.mean()) < 1.0 and 4.0 < residual.std() < 6.0


def test_bloodpressure_reproducible_with_seed():
    pd.testing.assert_frame_equal(load("bloodpressure", seed=5), load("bloodpressure", seed=5))
    assert not load("bloodpressure", seed=5)["bp"].equals(load("bloodpressure", seed=6)["bp"])
    pd.testing.assert_frame_equal(load("bloodpressure"), datasets.simulate_bloodpressure(seed=123))


# ---------------------------------------------------------------------------
# The docstring examples run
# ---------------------------------------------------------------------------


@needs_data
def test_docstring_examples():
    result = doctest.testmod(datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10
    assert result.failed == 0
