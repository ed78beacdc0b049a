"""Course data sets, read and prepared the way the course prepares them.

The GLMM course uses ten data files (see ``SOURCES.md`` in the data folder) and two
data sets that exist only as simulations. :func:`load` returns any of them as a
:class:`pandas.DataFrame` whose factors are already categorical, with the level order the
course's R code gives them (for example ``centre`` has levels ``"1"``, ``"2"``, ...,
``"11"``, in numeric order, and the baseline of ``treat`` is ``"control"``).

The data files are third-party data and are not shipped with the package. :func:`load`
looks for them in this order:

1. the ``data_dir=`` argument (if given, no other place is searched);
2. the folder named by the environment variable ``BAYESGLMM_DATA``;
3. ``shared/datasets`` beside the checkout (:data:`DEFAULT_DATA_DIR`).

In each folder the CSV file (``multicentre.csv``, ...) is used if it is there; otherwise
the course's own file, e.g. the whitespace-separated ``multicentre.txt`` that the course
reads with ``read.table(header=TRUE)``.

Examples
--------
>>> from bayesglmm import datasets
>>> "multicentre" in datasets.names()
True
>>> df = datasets.load("multicentre")
>>> df["centre"].cat.categories[:3].tolist()
['1', '2', '3']
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayesglmm.errors import DataError, DatasetNotFoundError, SettingsError

__all__ = [
    "DEFAULT_DATA_DIR",
    "ENV_VAR",
    "find_data_dir",
    "load",
    "names",
    "read_csv",
    "simulate_bloodpressure",
    "simulate_rehab",
    "uncount_muscatine",
]

#: Environment variable that can name the folder holding the course data files.
ENV_VAR = "BAYESGLMM_DATA"

#: Folder searched last: ``shared/datasets`` beside the checkout.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"

#: Default seeds of the simulated data sets (the blog uses ``set.seed(123)``).
REHAB_SEED = 2016
BLOODPRESSURE_SEED = 123


# ---------------------------------------------------------------------------
# Small helpers for factors
# ---------------------------------------------------------------------------


def _as_labels(values: pd.Series) -> pd.Series:
    """Return the values as strings; whole numbers are written without a decimal point."""
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        if not np.all(np.mod(present, 1) == 0):
            raise DataError(f"column {values.name!r} should hold whole numbers (ids/codes)")
        as_int = values.astype("Int64")
        return as_int.astype("str").where(as_int.notna(), np.nan)
    return values.astype("str").where(values.notna(), np.nan)


def _factor(values: pd.Series, levels: list | None = None, ordered: bool = False) -> pd.Categorical:
    """Categorical like R's ``factor()``.

    Without ``levels`` the levels are the values sorted numerically when the column is
    numeric (``"1", "2", ..., "10"``) and alphabetically otherwise (R's default).
    Values outside ``levels`` raise :class:`DataError` instead of becoming missing.
    """
    labels = _as_labels(values)
    if levels is None:
        present = values.dropna().unique()
        if pd.api.types.is_numeric_dtype(values):
            levels = [str(int(v)) for v in sorted(present)]
        else:
            levels = sorted(str(v) for v in present)
    unexpected = sorted(set(labels.dropna()) - set(levels))
    if unexpected:
        raise DataError(
            f"column {values.name!r} has values {unexpected} outside the expected levels {levels}"
        )
    return pd.Categorical(labels, categories=levels, ordered=ordered)


def _ordinal(values: pd.Series, levels: list[int]) -> pd.Categorical:
    """Ordered categorical with integer levels (an ordinal response); NaN stays NaN."""
    unexpected = sorted(set(values.dropna()) - set(levels))
    if unexpected:
        raise DataError(
            f"column {values.name!r} has values {unexpected} outside the levels {levels}"
        )
    return pd.Categorical(values, categories=levels, ordered=True)


def _require(df: pd.DataFrame, columns: list[str], name: str) -> None:
    """Raise :class:`DataError` if ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"data set {name!r} lacks the columns {missing}; it has {list(df.columns)}"
        )


# ---------------------------------------------------------------------------
# Preparing functions: raw table as read from the file -> table as the course uses it
# ---------------------------------------------------------------------------


def _prepare_multicentre(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["centre", "treat", "y", "n", "obs"], "multicentre")
    df["centre"] = _factor(df["centre"])
    df["treat"] = _factor(df["treat"], ["control", "drug"])
    return df


# read.table sorts the levels (current, former, never); the course then runs
# levels(patients$Smoking) <- c("never", "former", "current"), which relabels by position.
_COURSE_SMOKING_RELABEL = {"current": "never", "former": "former", "never": "current"}
_SMOKING_LEVELS = ["never", "former", "current"]


def _prepare_patients(df: pd.DataFrame, true_smoking_labels: bool = False) -> pd.DataFrame:
    _require(df, ["remission", "CancerStage", "Smoking", "ID.doctor", "ID.hospital"], "patients")
    df["CancerStage"] = _factor(df["CancerStage"], ["I", "II", "III", "IV"])
    smoking = _factor(df["Smoking"], _SMOKING_LEVELS)
    if not true_smoking_labels:
        smoking = smoking.rename_categories(
            [_COURSE_SMOKING_RELABEL[level] for level in smoking.categories]
        ).reorder_categories(_SMOKING_LEVELS)
    df["Smoking"] = smoking
    df["ID.doctor"] = _factor(df["ID.doctor"])
    df["ID.hospital"] = _factor(df["ID.hospital"])
    return df


def _prepare_motorins(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["Claims", "Insured", "Km", "Bonus", "Zone"], "motorins")
    df["Km"] = _factor(df["Km"], ["1", "2", "3", "4", "5"])
    zone = df["Zone"]
    if pd.api.types.is_numeric_dtype(zone):  # faraway codes the zones 1..7
        zone = "Z" + _as_labels(zone)
    df["Zone"] = _factor(zone.rename("Zone"), [f"Z{k}" for k in range(1, 8)])
    if "Make" in df.columns:  # not in the course's 5-column file
        df["Make"] = _factor(df["Make"])
    df["Bonus"] = df["Bonus"].astype("int64")
    df["rate"] = df["Claims"] / df["Insured"]
    return df


def _prepare_betablocker(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["r", "n", "treat", "center"], "betablocker")
    df["treat"] = _factor(df["treat"], ["0", "1"])
    df["center"] = _factor(df["center"])
    return df


def _prepare_hr(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["Patient", "Drug", "baseHR", "HR", "Time"], "hr")
    df["Patient"] = _factor(df["Patient"])
    df["Drug"] = _factor(df["Drug"], ["a", "b", "p"])
    # McLain's notes: HR <- HR %>% mutate(HR_incr = 1*I(HR > baseHR))
    df["HR_incr"] = (df["HR"] > df["baseHR"]).astype("int64")
    return df


def _prepare_schizo(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["id", "y", "trt", "wk"], "schizo")
    df["id"] = _factor(df["id"])
    df["y"] = _ordinal(df["y"], [1, 2, 3, 4])
    df["trt"] = df["trt"].astype("int64")
    df["wk"] = df["wk"].astype("int64")
    # the notes' model is y ~ trt + sqrt(wk) + trt*sqrt(wk)
    df["sqrt_wk"] = np.sqrt(df["wk"])
    return df


def _prepare_housing(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["ID", "Housing", "Time", "Sec"], "housing")
    df["ID"] = _factor(df["ID"])
    df["Housing"] = _ordinal(df["Housing"], [0, 1, 2])
    # the notes: house <- house %>% mutate(House = Housing + 1), the response of npmlt
    df["House"] = _ordinal(df["Housing"].astype("float64") + 1, [1, 2, 3])
    # the notes' model uses factor(Sec) * factor(Time)
    df["Time"] = _factor(df["Time"], ["0", "6", "12", "24"])
    df["Sec"] = _factor(df["Sec"], ["0", "1"])
    return df


def _prepare_muscatine(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["Gender", *_MUSCATINE_YEARS, *_MUSCATINE_COHORTS], "muscatine")
    return df


def _prepare_muscatine_long(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["id", "gender", "base_age", "age", "occasion", "obese", "numobese"],
             "muscatine_long")
    df["id"] = _factor(df["id"])
    df["gender"] = _factor(df["gender"], ["F", "M"])
    df["obese"] = _factor(df["obese"], ["no", "yes"])
    df["numobese"] = df["numobese"].astype("float64")
    return df


def _prepare_cbpp(df: pd.DataFrame) -> pd.DataFrame:
    _require(df, ["herd", "incidence", "size", "period"], "cbpp")
    df["herd"] = _factor(df["herd"])
    df["period"] = _factor(df["period"], ["1", "2", "3", "4"])
    # one level per row, for the observation-level random effect (1 | obs)
    df["obs"] = _factor(pd.Series(np.arange(1, len(df) + 1), index=df.index, name="obs"))
    return df


# ---------------------------------------------------------------------------
# Muscatine: the course's uncount
# ---------------------------------------------------------------------------

_MUSCATINE_YEARS = ["OB77", "OB79", "OB81"]
_MUSCATINE_COHORTS = ["CT1", "CT2", "CT3", "CT4", "CT5"]
#: Mid age in 1977 of the five cohorts (initially aged 5-7, 7-9, 9-11, 11-13, 13-15).
_MUSCATINE_AGE_1977 = {"1": 6, "2": 8, "3": 10, "4": 12, "5": 14}


def uncount_muscatine(wide: pd.DataFrame) -> pd.DataFrame:
    """Expand the wide Muscatine table to one row per child and year, as the course does.

    McLain's notes (section 3) pivot ``MCRS_wide`` twice and then de-aggregate it::

        MCRS_kinda_long <- pivot_longer(MCRS_wide, cols = starts_with("CT"),
                                        names_to = "Cohort", names_prefix = "CT",
                                        values_to = "Count", values_drop_na = TRUE)
        MCRS_longer <- pivot_longer(MCRS_kinda_long, cols = starts_with("OB"),
                                    names_to = "Year", names_prefix = "OB",
                                    values_to = "OB_ind", values_drop_na = TRUE)
        MCRS_longest <- MCRS_longer %>% uncount(weights = Count, .id = "ID")

    This function reproduces ``MCRS_longest`` row for row, in the same order, and adds
    ``Age_k`` and ``child``.

    Parameters
    ----------
    wide : pandas.DataFrame
        The wide table, as returned by ``load("muscatine")``: ``Gender``, ``OB77``,
        ``OB79``, ``OB81`` and the counts ``CT1`` .. ``CT5``.

    Returns
    -------
    pandas.DataFrame
        One row per child and year, with columns

        - ``Gender``: 0 male, 1 female (as in the wide table);
        - ``Cohort``: categorical ``"1"`` .. ``"5"``;
        - ``Year``: 77, 79 or 81 (int);
        - ``OB_ind``: 1 obese, 0 not (int);
        - ``ID``: the course's id, i.e. the copy number 1..Count that ``uncount(.id =
          "ID")`` writes *within each (Gender, Cohort, pattern)* cell. It is **not** unique
          per child: ``ID == "1"`` occurs in every cell. The course's ``(1 | ID)`` uses it
          as it is, so a random effect on ``ID`` pools unrelated children; use ``child``
          for one level per child;
        - ``Age_k``: the cohort's mid age in 1977 (6, 8, 10, 12, 14) plus ``Year - 77``.
          The notes' definition is cut off; this is the reading in ``SOURCES.md`` and it
          is an inference;
        - ``child``: categorical, one level per child (Gender, Cohort, response pattern
          and copy number), numbered 1, 2, ... in table order.

    Examples
    --------
    >>> wide = load("muscatine")
    >>> long = uncount_muscatine(wide)
    >>> len(long), long["child"].nunique()
    (5310, 1770)
    >>> long.head(3)[["Gender", "Cohort", "Year", "OB_ind", "ID", "Age_k"]]
       Gender Cohort  Year  OB_ind ID  Age_k
    0       0      1    77       1  1      6
    1       0      1    77       1  2      6
    2       0      1    77       1  3      6
    """
    _require(wide, ["Gender", *_MUSCATINE_YEARS, *_MUSCATINE_COHORTS], "muscatine")
    rows = []
    child = 0
    for record in wide.to_dict("records"):
        for cohort_col in _MUSCATINE_COHORTS:
            count = record[cohort_col]
            if pd.isna(count):  # values_drop_na = TRUE
                continue
            cohort = cohort_col.removeprefix("CT")
            first_child = child + 1
            child += int(count)
            for year_col in _MUSCATINE_YEARS:
                ob = record[year_col]
                if pd.isna(ob):  # values_drop_na = TRUE
                    continue
                year = int(year_col.removeprefix("OB"))
                for copy in range(1, int(count) + 1):  # uncount(weights = Count, .id = "ID")
                    rows.append(
                        {
                            "Gender": record["Gender"],
                            "Cohort": cohort,
                            "Year": year,
                            "OB_ind": int(ob),
                            "ID": copy,
                            "Age_k": _MUSCATINE_AGE_1977[cohort] + (year - 77),
                            "child": first_child + copy - 1,
                        }
                    )
    columns = ["Gender", "Cohort", "Year", "OB_ind", "ID", "Age_k", "child"]
    long = pd.DataFrame(rows, columns=columns)
    long["Cohort"] = _factor(long["Cohort"], ["1", "2", "3", "4", "5"])
    long["ID"] = _factor(long["ID"])
    long["child"] = _factor(long["child"])
    return long


# ---------------------------------------------------------------------------
# Simulated data sets
# ---------------------------------------------------------------------------

# Fixed effects of the slides' model with Hours (lme4 estimates, printed on slide 34).
_REHAB_FIXED = {"Intercept": -0.40933, "Treatment": -0.31192, "Gender": 0.36029, "Hours": 0.28809}
# Hours per centre: mean and SD backed out from the slides (see simulate_rehab).
_REHAB_HOURS_MEAN = 4.15
_REHAB_HOURS_SD = 1.0
# Slide 32 prints a rehab-intercept variance of 1.263 for the model without Hours; part of
# it is explained by Hours: 1.263 = 0.28809**2 * 1.0**2 + sd**2.
_REHAB_SD_INTERCEPT = float(np.sqrt(1.263 - 0.28809**2 * _REHAB_HOURS_SD**2))
_REHAB_SD_TREATMENT = 0.25  # not printed in the slides: our choice
_REHAB_INTERACTION = 0.0  # Treatment:Hours; the printed models have none


def simulate_rehab(seed: int | None = REHAB_SEED) -> pd.DataFrame:
    """Simulate the Analysis Factor slides' rehab-centre cardiac-incident data (Poisson).

    This is a **simulation**: the slides' data are not public. It has the slides' design
    (1000 cardiac patients nested in 110 rehab centres; response ``Incidents``, the number
    of cardiac incidents of a patient over 6 months) and uses the slides' printed
    estimates as the true values::

        Incidents ~ Poisson(mu)
        log(mu) = (b00 + b01 * Hours + u0) + (b10 + b11 * Hours + u1) * Treatment
                  + b20 * Gender
        (u0, u1) ~ Normal(0, diag(sd0**2, sd1**2)), one pair per rehab centre

    with b00 = -0.40933, b10 = -0.31192, b20 = 0.36029 and b01 = 0.28809 (slide 34).
    The rest was not printed and is our choice, so that every step of the slides'
    bottom-up model building has something to find:

    - ``sd0 = sqrt(1.263 - 0.28809**2) = 1.086``: slide 32's centre variance 1.263
      (model without Hours) minus the part that Hours explains;
    - ``Hours`` ~ Normal(4.15, 1.0), rounded to 0.1 and at least 0.5. This mean and SD
      are what the slides' numbers imply: adding Hours moves the intercept from 0.787 to
      -0.409 (0.787 + 0.409 = 0.288 * 4.15), and its SE 0.109 fits an SD of about 1;
    - a random Treatment slope with ``sd1 = 0.25`` and no correlation (steps 4 and 5);
    - a cross-level interaction ``Treatment:Hours`` of 0 (step 6 should find none; the
      slides' models have no interaction);
    - Treatment and Gender are each 0/1 with probability 1/2; centre sizes are 2 plus a
      multinomial share of the remaining 780 patients.

    The slides' log-likelihood (-5778 for 1000 patients) implies far more extra-Poisson
    variation than this pure Poisson simulation has, so fits of it will not reproduce the
    slides' AIC, only (roughly) their coefficients.

    Parameters
    ----------
    seed : int or None, default 2016
        Seed of :func:`numpy.random.default_rng`. ``None`` draws a fresh data set.

    Returns
    -------
    pandas.DataFrame
        1000 rows with columns ``rehab`` (categorical centre ``"1"``..``"110"``),
        ``Treatment`` (0 standard, 1 new), ``Gender`` (0 female, 1 male: the slides say
        males have more incidents and the coefficient is positive), ``Hours`` (hours per
        week the centre is open to cardiac patients; constant within centre) and
        ``Incidents`` (int). ``df.attrs["truth"]`` holds the true parameters, named as
        Bambi names them (``"Intercept"``, ``"Treatment"``, ``"Gender"``, ``"Hours"``,
        ``"Treatment:Hours"``, ``"1|rehab_sigma"``, ``"Treatment|rehab_sigma"``);
        ``df.attrs["random_effects"]`` the drawn centre effects; ``df.attrs["seed"]``.

    Examples
    --------
    >>> df = simulate_rehab(seed=1)
    >>> df.shape, df["rehab"].nunique()
    ((1000, 5), 110)
    >>> df.attrs["truth"]["Treatment"]
    -0.31192
    """
    n_patients, n_centres = 1000, 110
    rng = np.random.default_rng(seed)
    sizes = 2 + rng.multinomial(n_patients - 2 * n_centres, np.full(n_centres, 1 / n_centres))
    centre = np.repeat(np.arange(n_centres), sizes)
    hours = np.round(np.maximum(rng.normal(_REHAB_HOURS_MEAN, _REHAB_HOURS_SD, n_centres), 0.5), 1)
    u0 = rng.normal(0.0, _REHAB_SD_INTERCEPT, n_centres)
    u1 = rng.normal(0.0, _REHAB_SD_TREATMENT, n_centres)
    treatment = rng.binomial(1, 0.5, n_patients)
    gender = rng.binomial(1, 0.5, n_patients)
    b = _REHAB_FIXED
    eta = (
        b["Intercept"] + b["Hours"] * hours[centre] + u0[centre]
        + (b["Treatment"] + _REHAB_INTERACTION * hours[centre] + u1[centre]) * treatment
        + b["Gender"] * gender
    )
    incidents = rng.poisson(np.exp(eta))
    labels = [str(k) for k in range(1, n_centres + 1)]
    df = pd.DataFrame(
        {
            "rehab": pd.Categorical([labels[j] for j in centre], categories=labels),
            "Treatment": treatment.astype("int64"),
            "Gender": gender.astype("int64"),
            "Hours": hours[centre],
            "Incidents": incidents.astype("int64"),
        }
    )
    df.attrs["truth"] = {
        **_REHAB_FIXED,
        "Treatment:Hours": _REHAB_INTERACTION,
        "1|rehab_sigma": _REHAB_SD_INTERCEPT,
        "Treatment|rehab_sigma": _REHAB_SD_TREATMENT,
    }
    df.attrs["random_effects"] = {
        "1|rehab": dict(zip(labels, u0.tolist())),
        "Treatment|rehab": dict(zip(labels, u1.tolist())),
    }
    df.attrs["seed"] = seed
    return df


def simulate_bloodpressure(seed: int | None = BLOODPRESSURE_SEED) -> pd.DataFrame:
    """Simulate the blog's blood-pressure data (Gaussian; patients within hospitals).

    This is a **simulation** that mimics the R code of the blog post "Understanding
    Generalized Linear Mixed Models (GLMMs)" with numpy: the same structure and parameter
    values, drawn in the same order::

        hospital_id <- factor(rep(1:10, each = 50))     # 10 hospitals
        patient_id  <- factor(rep(1:100, each = 5))     # 100 patients, 10 per hospital
        hospital_effect <- rnorm(10, 0, 2)
        patient_effect  <- rnorm(100, 0, 1)
        time <- rep(1:5, times = 100)
        bp <- 120 + hospital_effect[hospital_id] + patient_effect[patient_id]
              + 0.5 * time + rnorm(500, 0, 5)

    The numbers are not the blog's: R's ``set.seed(123)``/``rnorm`` stream cannot be
    reproduced with numpy, so only the distribution is the same.

    Parameters
    ----------
    seed : int or None, default 123
        Seed of :func:`numpy.random.default_rng` (123 echoes the blog's
        ``set.seed(123)``, but gives different numbers). ``None`` draws a fresh data set.

    Returns
    -------
    pandas.DataFrame
        500 rows with columns ``hospital_id`` (categorical ``"1"``..``"10"``),
        ``patient_id`` (categorical ``"1"``..``"100"``; patients 1-10 are in hospital 1,
        and so on), ``time`` (1..5, int) and ``bp`` (float). ``df.attrs["truth"]`` holds
        the true parameters, named as Bambi names them for
        ``bp ~ time + (1|hospital_id) + (1|patient_id)``: ``"Intercept"`` 120,
        ``"time"`` 0.5, ``"1|hospital_id_sigma"`` 2, ``"1|patient_id_sigma"`` 1,
        ``"sigma"`` 5; ``df.attrs["random_effects"]`` the drawn effects;
        ``df.attrs["seed"]``.

    Examples
    --------
    >>> df = simulate_bloodpressure()
    >>> df.shape
    (500, 4)
    >>> df.groupby("hospital_id", observed=True)["patient_id"].nunique().tolist() == [10] * 10
    True
    """
    n_patients, n_hospitals, n_times = 100, 10, 5
    n_obs = n_patients * n_times
    rng = np.random.default_rng(seed)
    hospital = np.repeat(np.arange(n_hospitals), n_obs // n_hospitals)
    patient = np.repeat(np.arange(n_patients), n_times)
    hospital_effect = rng.normal(0.0, 2.0, n_hospitals)
    patient_effect = rng.normal(0.0, 1.0, n_patients)
    time = np.tile(np.arange(1, n_times + 1), n_patients)
    bp = 120 + hospital_effect[hospital] + patient_effect[patient] + 0.5 * time
    bp = bp + rng.normal(0.0, 5.0, n_obs)
    hospital_labels = [str(k) for k in range(1, n_hospitals + 1)]
    patient_labels = [str(k) for k in range(1, n_patients + 1)]
    df = pd.DataFrame(
        {
            "hospital_id": pd.Categorical(
                [hospital_labels[j] for j in hospital], categories=hospital_labels
            ),
            "patient_id": pd.Categorical(
                [patient_labels[j] for j in patient], categories=patient_labels
            ),
            "time": time.astype("int64"),
            "bp": bp,
        }
    )
    df.attrs["truth"] = {
        "Intercept": 120.0,
        "time": 0.5,
        "1|hospital_id_sigma": 2.0,
        "1|patient_id_sigma": 1.0,
        "sigma": 5.0,
    }
    df.attrs["random_effects"] = {
        "1|hospital_id": dict(zip(hospital_labels, hospital_effect.tolist())),
        "1|patient_id": dict(zip(patient_labels, patient_effect.tolist())),
    }
    df.attrs["seed"] = seed
    return df


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

#: name -> (file names tried in order, preparing function). The course's own files come
#: after the CSV; ``.txt`` files are whitespace-separated with a header (read.table).
_FILE_DATASETS = {
    "multicentre": (("multicentre.csv", "multicentre.txt"), _prepare_multicentre),
    "patients": (("patients.csv", "patients.txt"), _prepare_patients),
    "motorins": (("motorins.csv", "MotorIns.txt", "motorins.txt"), _prepare_motorins),
    "betablocker": (("betablocker.csv", "betablocker.txt", "betablok.dat"), _prepare_betablocker),
    "hr": (("hr.csv", "HR.txt", "hr.txt"), _prepare_hr),
    "schizo": (("schizo.csv", "schizo.txt"), _prepare_schizo),
    "housing": (("housing.csv", "housing.txt", "Housing.txt"), _prepare_housing),
    "muscatine": (("muscatine.csv", "MCRS.csv", "muscatine.txt"), _prepare_muscatine),
    "muscatine_long": (("muscatine_long.csv", "muscatine_long.txt"), _prepare_muscatine_long),
    "cbpp": (("cbpp.csv", "cbpp.txt"), _prepare_cbpp),
}

#: name -> simulating function (takes ``seed=``).
_SIMULATED_DATASETS = {
    "rehab": simulate_rehab,
    "bloodpressure": simulate_bloodpressure,
}


def names() -> list[str]:
    """List the names :func:`load` accepts.

    Returns
    -------
    list of str
        The ten course data files first, then the simulated sets ``"rehab"`` and
        ``"bloodpressure"``.

    Examples
    --------
    >>> names()[:3]
    ['multicentre', 'patients', 'motorins']
    >>> "rehab" in names()
    True
    """
    return [*_FILE_DATASETS, *_SIMULATED_DATASETS]


def _check_name(name: str) -> str:
    """Return the registry key of ``name`` or raise with the valid names."""
    key = str(name).strip().lower()
    if key in _FILE_DATASETS or key in _SIMULATED_DATASETS:
        return key
    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise DatasetNotFoundError(
        f"unknown data set {name!r}.{hint} Valid names: {', '.join(names())}."
    )


def _file_in(folder: Path, file_names: tuple[str, ...]) -> Path | None:
    """First of ``file_names`` that is a file in ``folder``, or None."""
    for file_name in file_names:
        path = folder / file_name
        if path.is_file():
            return path
    return None


def _search(data_dir, name: str | None) -> tuple[Path | None, Path | None, list[str]]:
    """Walk the places in order; return (folder, file, notes on each place looked at)."""
    if name is None:
        wanted = tuple(f for files, _ in _FILE_DATASETS.values() for f in files)
    else:
        wanted = _FILE_DATASETS[name][0]
    places, notes = [], []
    if data_dir is not None:  # an explicit folder is the only place searched
        places.append((Path(data_dir).expanduser(), "data_dir= argument"))
    else:
        env = os.environ.get(ENV_VAR, "")
        if env:
            places.append((Path(env).expanduser(), f"environment variable {ENV_VAR}"))
        else:
            notes.append(f"environment variable {ENV_VAR}: not set")
        places.append((DEFAULT_DATA_DIR, "default: shared/datasets beside the checkout"))
    for folder, origin in places:
        if not folder.is_dir():
            notes.append(f"{folder} ({origin}): no such folder")
            continue
        found = _file_in(folder, wanted)
        if found is not None:
            return folder, found, notes
        notes.append(f"{folder} ({origin}): folder has none of the files")
    return None, None, notes


def _not_found(name: str | None, data_dir, notes: list[str]) -> DatasetNotFoundError:
    """Build the error that says where we looked and how to point at the data."""
    what = f"the data file for {name!r}" if name else "a folder with the course data files"
    if name:
        what += f" ({', '.join(_FILE_DATASETS[name][0])})"
    scope = (
        "Only the data_dir= folder was searched, because it was given."
        if data_dir is not None
        else "Places looked in, in order:"
    )
    lines = [f"Could not find {what}.", scope, *(f"  - {note}" for note in notes)]
    lines.append(
        "Point bayesglmm at the folder holding the course data files: pass "
        "data_dir='/path/to/datasets' (e.g. load(name, data_dir=...)) or set the "
        f"environment variable {ENV_VAR}=/path/to/datasets."
    )
    return DatasetNotFoundError("\n".join(lines))


def find_data_dir(data_dir: str | os.PathLike | None = None, name: str | None = None) -> Path:
    """Find the folder that holds the course data files.

    The places are tried in order: ``data_dir`` (if given, it is the only place
    searched), then the folder in the environment variable ``BAYESGLMM_DATA``, then
    ``shared/datasets`` beside the checkout (:data:`DEFAULT_DATA_DIR`). The first folder
    that holds a file for ``name`` (any course data file, if ``name`` is None) wins.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Folder to use instead of searching.
    name : str, optional
        Data set whose file must be in the folder (e.g. ``"multicentre"``, which accepts
        ``multicentre.csv`` or the course's ``multicentre.txt``).

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    DatasetNotFoundError
        If no place holds the file. The message lists every place looked at and why it
        did not qualify, and says how to point at the course files (``data_dir=`` or
        ``BAYESGLMM_DATA``). Also raised for an unknown ``name``, or a simulated one,
        which has no file.

    Examples
    --------
    >>> folder = find_data_dir(name="cbpp")
    >>> (folder / "cbpp.csv").is_file()
    True
    """
    if name is not None:
        name = _check_name(name)
        if name in _SIMULATED_DATASETS:
            raise DatasetNotFoundError(f"{name!r} is simulated in code; it has no data file")
    folder, _, notes = _search(data_dir, name)
    if folder is None:
        raise _not_found(name, data_dir, notes)
    return folder


def check_header(path, **read_options) -> None:
    """Raise DataError when a data file's header names a column twice.

    pandas renames the second ``x`` to ``x.1`` without a word, so a formula naming ``x``
    would silently use the first column only. ``read_options`` are those of the read
    (``sep``, ``header``, ``names``); a file read without a header is not checked.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("y,x,x\\n1,2,3\\n")
    >>> try:
    ...     check_header(f.name)
    ... except DataError as err:
    ...     print("names column 'x' twice (columns 2 and 3)" in str(err))
    True
    >>> os.remove(f.name)
    """
    if read_options.get("header", "infer") is None or read_options.get("names") is not None:
        return
    options = {k: v for k, v in read_options.items() if k in ("sep", "delimiter", "encoding", "comment", "skiprows")}
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **options)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return  # the read itself reports it
    names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
    seen: dict = {}
    for position, name in enumerate(names, start=1):
        if name:  # pandas names empty header cells "Unnamed: i", each its own
            seen.setdefault(name, []).append(position)
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    if twice:
        parts = "; ".join(f"column {name!r} {'twice' if len(w) == 2 else f'{len(w)} times'} (columns "
                          f"{', '.join(map(str, w[:-1]))} and {w[-1]})" for name, w in twice.items())
        first = next(iter(twice))
        raise DataError(
            f"The header of {str(path)!r} names {parts}. pandas would rename the second to "
            f"{first + '.1'!r} silently and a formula naming {first!r} would use only the first; rename the "
            "columns in the file so that every name is different."
        )


def read_csv(path, **read_options) -> pd.DataFrame:
    """Read a data CSV, refusing what pandas would silently misread.

    The reader for every user CSV (the command line's ``--data`` too): a missing file is a
    MissingFileError, an unreadable one a DataError ("cannot read ... as CSV"), and a
    header naming a column twice a DataError naming the column (:func:`check_header`).

    Examples
    --------
    >>> read_csv("no-such-file.csv")
    Traceback (most recent call last):
    ...
    bayesglmm.errors.MissingFileError: data file 'no-such-file.csv' not found
    """
    from bayesglmm.errors import MissingFileError

    if Path(path).is_dir():
        raise DataError(f"{str(path)!r} is a folder; give the CSV file inside it")
    if not Path(path).is_file():
        raise MissingFileError(f"data file {str(path)!r} not found")
    check_header(path, **read_options)
    try:
        return pd.read_csv(path, **read_options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {str(path)!r} as CSV: {err}") from err


def _read(path: Path) -> pd.DataFrame:
    """Read one data file: CSV, the course's read.table text file, or ``betablok.dat``."""
    if path.name == "betablok.dat":
        # Golightly's file: two unnamed columns; the lecture adds treat and center with gl()
        df = pd.read_csv(path, sep=r"\s+", header=None, names=["r", "n"])
        df["treat"] = np.tile([0, 1], len(df) // 2 + 1)[: len(df)]  # gl(2, 1)
        df["center"] = np.arange(len(df)) // 2 + 1  # gl(22, 2)
        return df
    if path.suffix == ".csv":
        return read_csv(path)
    # read.table(header = TRUE): whitespace-separated; "." is the course's missing code
    return read_csv(path, sep=r"\s+", na_values=["NA", "."])


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    true_smoking_labels: bool = False,
    seed: int | None = None,
) -> pd.DataFrame:
    """Load a course data set, prepared as the course prepares it.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive):

        - ``"multicentre"``: Beitler & Landis 11-centre trial, 22 rows. ``centre``
          categorical ``"1"``..``"11"``; ``treat`` categorical ``["control", "drug"]``
          (R's alphabetical levels: control is the baseline); ``y``, ``n``, ``obs = y/n``.
        - ``"patients"``: UCLA hdp lung-cancer remission, 8525 rows. ``ID.doctor`` (407
          levels) and ``ID.hospital`` (35 levels) categorical in numeric order;
          ``CancerStage`` categorical I, II, III, IV; ``Smoking``, see
          ``true_smoking_labels``.
        - ``"motorins"``: Swedish motor insurance 1977, 1797 rows. ``Km`` categorical
          ``"1"``..``"5"``, ``Zone`` categorical ``"Z1"``..``"Z7"``, ``Make`` categorical,
          ``Bonus`` int, and ``rate = Claims / Insured``.
        - ``"betablocker"``: 22-centre meta-analysis, 44 rows. ``treat`` categorical
          ``["0", "1"]``, ``center`` categorical ``"1"``..``"22"``; ``r`` deaths of ``n``.
        - ``"hr"``: heart rates (SASmixed ``HR``), 120 rows. ``Patient`` categorical,
          ``Drug`` categorical ``["a", "b", "p"]``, and ``HR_incr = 1*(HR > baseHR)`` as
          in McLain's notes.
        - ``"schizo"``: NIMH schizophrenia study, 1603 rows. ``id`` categorical; ``y``
          ordered categorical 1 < 2 < 3 < 4 (the form Bambi's ``"cumulative"`` family
          wants); ``trt``, ``wk`` int; ``sqrt_wk = sqrt(wk)``, used by the notes' model
          ``y ~ trt*sqrt(wk)``.
        - ``"housing"``: housing of homeless mentally ill subjects, 1448 rows. ``ID``
          categorical; ``Housing`` ordered categorical 0 < 1 < 2 (0 street, 1 community,
          2 independent) with its 159 missing values kept as NaN; ``House = Housing + 1``
          (ordered 1 < 2 < 3, the notes' response); ``Sec`` categorical ``["0", "1"]``
          and ``Time`` categorical ``["0", "6", "12", "24"]``, because the notes fit
          ``factor(Sec) * factor(Time)``.
        - ``"muscatine"``: the course's wide ``MCRS`` table, 16 rows (``Gender``,
          ``OB77``, ``OB79``, ``OB81``, ``CT1``..``CT5``), as in the file. For one row per
          child and year (the course's ``MCRS_longest``) use
          ``uncount_muscatine(load("muscatine"))``.
        - ``"muscatine_long"``: geepack's long Muscatine data, 14568 rows. ``id``,
          ``gender`` (``["F", "M"]``) and ``obese`` (``["no", "yes"]``) categorical;
          missing ``obese`` is NaN and ``numobese`` is float with NaN.
        - ``"cbpp"``: lme4's cbpp, 56 rows. ``herd`` categorical ``"1"``..``"15"``,
          ``period`` categorical ``"1"``..``"4"``, and ``obs`` (categorical ``"1"``..
          ``"56"``, one level per row) for an observation-level random effect.
        - ``"rehab"``, ``"bloodpressure"``: simulated, see :func:`simulate_rehab` and
          :func:`simulate_bloodpressure`.
    data_dir : str or path-like, optional
        Folder holding the data files; see :func:`find_data_dir` for the search when it
        is not given. Not used for simulated sets.
    true_smoking_labels : bool, default False
        Only for ``"patients"``. The course reads ``patients.txt`` with
        ``read.table(stringsAsFactors=TRUE)``, which sorts the Smoking levels
        alphabetically (``current``, ``former``, ``never``), and then runs
        ``levels(patients$Smoking) <- c("never", "former", "current")``. That line
        renames the levels **by position**, so it swaps two labels: the file's
        ``current`` smokers (1705 patients) become ``"never"`` and the file's ``never``
        smokers (5115 patients) become ``"current"``; ``former`` stays. By default this
        swap is applied, so that results match the course's printouts (its baseline
        level ``"never"`` is then the file's current smokers). With
        ``true_smoking_labels=True`` the file's (true, UCLA hdp) labels are kept. Either
        way the categories are ``["never", "former", "current"]``.
    seed : int, optional
        Only for simulated sets: the simulation's seed. ``None`` uses the fixed default
        seed, so ``load("rehab")`` always returns the same data.

    Returns
    -------
    pandas.DataFrame
        A new table (changing it does not affect later calls).

    Raises
    ------
    DatasetNotFoundError
        Unknown ``name`` (the message lists the valid names and suggests close ones), or
        no data file found (the message lists the places searched).
    DataError
        The file lacks a column the course uses, or has an unexpected factor level.
    ValueError
        ``seed`` given for a data file, or ``true_smoking_labels`` for another set
        than ``"patients"``.

    Examples
    --------
    >>> df = load("multicentre")
    >>> df.shape
    (22, 5)
    >>> df["treat"].cat.categories.tolist()
    ['control', 'drug']
    >>> load("patients")["Smoking"].value_counts()["never"]
    np.int64(1705)
    >>> load("rehab", seed=3).shape
    (1000, 5)
    """
    key = _check_name(name)
    if true_smoking_labels and key != "patients":
        raise SettingsError("true_smoking_labels= only applies to the 'patients' data set")
    if key in _SIMULATED_DATASETS:
        simulate = _SIMULATED_DATASETS[key]
        return simulate() if seed is None else simulate(seed=seed)
    if seed is not None:
        raise SettingsError(f"seed= only applies to the simulated data sets, not {key!r}")
    prepare = _FILE_DATASETS[key][1]
    _, path, notes = _search(data_dir, key)
    if path is None:
        raise _not_found(key, data_dir, notes)
    raw = _read(path)
    if key == "patients":
        return _prepare_patients(raw, true_smoking_labels=true_smoking_labels)
    return prepare(raw)
