"""The ``bayesglmm`` command line: fit, course list/run, one-line errors, Ctrl-C writes nothing."""

import os
import signal
import subprocess
import sys
import types
import warnings

import pytest

import bayesglmm as bg
from bayesglmm import cli
from bayesglmm.io import load

REAL_FIT = bg.fit


def _prior_fit(formula, data, family, **kwargs):
    """A stand-in for bg.fit that draws from the prior (no NUTS): for plumbing tests."""
    kwargs.update(prior_only=True, draws=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return REAL_FIT(formula, data, family, **kwargs)


@pytest.fixture
def csv(mc, tmp_path):
    path = tmp_path / "mc.csv"
    mc.to_csv(path, index=False)  # centre is written as 1..11: the CLI makes it a factor again
    return path


@pytest.fixture
def no_course(monkeypatch):
    monkeypatch.setitem(sys.modules, "bayesglmm.course", None)  # import fails as if not installed


@pytest.fixture
def course(monkeypatch):
    calls = []

    def run(data_dir=None, out=None, seed=2016):
        calls.append({"data_dir": data_dir, "out": out, "seed": seed})
        return "demo report"

    demo = types.SimpleNamespace(DESCRIPTION="Multicentre trial: GLMM with centre intercepts", run=run)
    module = types.ModuleType("bayesglmm.course")
    module.ANALYSES = {"multicentre": demo}
    monkeypatch.setitem(sys.modules, "bayesglmm.course", module)
    return calls


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "bayesglmm.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fit" in out.stdout and "course" in out.stdout


def test_fit_prints_summary_and_writes_outputs(csv, tmp_path, capsys):
    out = tmp_path / "results"
    code = cli.main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", str(csv), "--family", "binomial",
                     "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "3", "--retry", "never",
                     "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Formula: p(y, n) ~ treat + (1|centre)" in printed.out
    assert "Groups: centre (11 levels)" in printed.out
    assert "Draws: 2 chains x 100 (after 100 warm-up), sampler nutpie, seed 3" in printed.out
    assert "Traceback" not in printed.err
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert summary.strip() == printed.out.strip()
    assert str(load(out / "fit.bglmm").summary()) == summary.rstrip("\n")


def test_fit_without_out_writes_nothing(csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bg, "fit", _prior_fit)
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert cli.main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", str(csv), "--family", "binomial"]) == 0
    assert "prior draws" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == before


def test_ctrl_c_writes_nothing(csv, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bg, "fit", interrupted)
    out = tmp_path / "results"
    code = cli.main(["fit", "y ~ treat", "--data", str(csv), "--family", "binomial", "--out", str(out)])
    assert code == 130
    assert capsys.readouterr().err.strip() == "interrupted: no files were written"
    assert not out.exists()


def test_ctrl_c_caught_by_the_sampler_still_writes_nothing(csv, tmp_path, monkeypatch, capsys):
    """nutpie catches Ctrl-C and returns the draws so far; the CLI must not save those."""

    def sampler_swallows_sigint(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # let the signal handler run
                pass
        except KeyboardInterrupt:
            pass
        return _prior_fit(*args, **kwargs)

    monkeypatch.setattr(bg, "fit", sampler_swallows_sigint)
    out = tmp_path / "results"
    code = cli.main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", str(csv), "--family", "binomial",
                     "--out", str(out)])
    assert code == 130
    assert "interrupted: no files were written" in capsys.readouterr().err
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_writing_outputs_writes_nothing(csv, tmp_path, monkeypatch, capsys):
    import bayesglmm.io as bio

    def interrupted(fit, handle):
        handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(bg, "fit", _prior_fit)
    monkeypatch.setattr(bio, "dump", interrupted)
    out = tmp_path / "results"
    code = cli.main(["fit", "p(y, n) ~ treat + (1|centre)", "--data", str(csv), "--family", "binomial",
                     "--out", str(out)])
    assert code == 130 and not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["fit", "y ~ x", "--data", "missing.csv", "--family", "gaussian"], "error: data file 'missing.csv' not found"),
    (["fit", "y ~ x", "--data", ".", "--family", "gaussian"], "error: --data names the folder '.'; give the CSV file"),
    (["fit", "p(y, n) ~ treat", "--data", "{csv}", "--family", "binomial", "--seed", "-1"],
     "seed must be a whole number from 0 to 2**32 - 1"),
    (["fit", "p(y, n) ~ treat", "--data", "{csv}", "--family", "binomal"], "Unknown family 'binomal'. Did you mean 'binomial'?"),
    (["fit", "p(y, n) ~ tret", "--data", "{csv}", "--family", "binomial"], "'tret' (did you mean 'treat'?)"),
    (["fit", "y ~ x", "--data", "{empty}", "--family", "gaussian"], "cannot read"),
])
def test_errors_are_one_line_with_status_2(argv, message, csv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    argv = [a.format(csv=csv, empty=tmp_path / "empty.csv") for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert cli.main(["fit", "y ~ x", "--data", "d.csv", "--family", "gaussian", "--draws", "0"]) == 2
    assert "--draws: must be at least 1, got 0" in capsys.readouterr().err
    assert cli.main(["fit", "y ~ x", "--data", "d.csv"]) == 2
    assert "the following arguments are required: --family" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_course_list_without_course_module(no_course, capsys):
    assert cli.main(["course", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no analyses are installed yet"


def test_course_run_without_course_module(no_course, capsys):
    assert cli.main(["course", "multicentre"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown analysis 'multicentre': no analyses are installed yet"


def test_course_list(course, capsys):
    assert cli.main(["course", "list"]) == 0
    out = capsys.readouterr().out
    assert "multicentre" in out and "GLMM with centre intercepts" in out
    assert "no analyses" not in out


def test_course_run_passes_options(course, tmp_path, capsys):
    assert cli.main(["course", "multicentre", "--out", str(tmp_path), "--data-dir", "/data", "--seed", "5"]) == 0
    assert course == [{"data_dir": "/data", "out": tmp_path, "seed": 5}]
    assert "demo report" in capsys.readouterr().out
    assert cli.main(["course", "multicentre"]) == 0
    assert course[-1] == {"data_dir": None, "out": None, "seed": 2016}  # the analysis' own default seed


def test_course_unknown_name(course, capsys):
    assert cli.main(["course", "multicenter"]) == 2
    err = capsys.readouterr().err
    assert "unknown analysis 'multicenter'. Did you mean 'multicentre'?" in err and "Traceback" not in err


def test_course_interrupted(course, monkeypatch, capsys):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["bayesglmm.course"].ANALYSES["multicentre"], "run", interrupted)
    assert cli.main(["course", "multicentre"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_course_executor_reaches_the_analysis_comparisons(course, monkeypatch, capsys):
    from bayesglmm.executor import get_executor

    seen = []
    monkeypatch.setattr(sys.modules["bayesglmm.course"].ANALYSES["multicentre"], "run",
                        lambda **kwargs: seen.append(get_executor(None)))  # what bg.compare(...) would use
    assert cli.main(["course", "multicentre", "--executor", "serial"]) == 0
    assert cli.main(["course", "multicentre"]) == 0
    assert [ex.name for ex in seen] == ["serial", "local"]
    assert get_executor(None).name == "local"  # the default is restored after the analysis
    assert cli.main(["course", "multicentre", "--executor", "cluster"]) == 2
    err = capsys.readouterr().err
    assert "executor must be 'local', 'serial', a Dask scheduler address" in err and "'cluster'" in err
    assert len(seen) == 2  # refused before the analysis ran


def _canned_sbc(ranks):
    """A stand-in for bg.sbc returning fixed ranks (the SBC itself is tested in test_sbc.py)."""
    import numpy as np

    from bayesglmm.sbc import SBCResult

    calls = []

    def sbc(formula, data, family, **kwargs):
        calls.append(dict(kwargs, formula=formula, family=family, rows=len(data)))
        return SBCResult(ranks, 100, family, formula, {"compile": 1.0, "fit": 2.0, "wall": 3.0},
                         np.zeros(len(ranks), int), 7)

    return sbc, calls


def test_sbc_writes_ranks_tests_and_plot_and_prints_the_verdict(csv, tmp_path, monkeypatch, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    uniform = pd.DataFrame({"Intercept": rng.integers(0, 101, 300), "treat[1]": rng.integers(0, 101, 300)})
    sbc, calls = _canned_sbc(uniform)
    monkeypatch.setattr(bg, "sbc", sbc)
    out = tmp_path / "sbc"
    argv = ["sbc", "p(y, n) ~ treat + (1|centre)", "--data", str(csv), "--family", "binomial", "--sims", "300",
            "--draws", "50", "--thin", "1", "--seed", "7", "--executor", "serial", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert calls[0]["draws"] == 300 and calls[0]["sample_draws"] == 50 and calls[0]["thin"] == 1
    assert calls[0]["seed"] == 7 and calls[0]["executor"].name == "serial" and calls[0]["rows"] == 22
    assert "Verdict: no evidence of miscalibration" in printed and "Bonferroni over 2 parameters" in printed
    assert sorted(p.name for p in out.iterdir()) == ["sbc_ecdf.png", "sbc_ranks.csv", "sbc_tests.csv"]
    written = pd.read_csv(out / "sbc_ranks.csv", index_col=0)
    pd.testing.assert_frame_equal(written, uniform, check_names=False)
    assert (out / "sbc_ecdf.png").read_bytes()[:4] == b"\x89PNG"

    tails = uniform.assign(Intercept=np.r_[np.zeros(100), np.full(100, 100), rng.integers(0, 101, 100)].astype(int))
    sbc, _ = _canned_sbc(tails)
    monkeypatch.setattr(bg, "sbc", sbc)
    assert cli.main(argv[:-2]) == 0
    printed = capsys.readouterr().out
    assert "Verdict: NOT calibrated: uniformity rejected for Intercept (p < 0.0050" in printed


def test_sbc_refuses_a_bad_executor_before_sampling(csv, monkeypatch, capsys):
    sbc, calls = _canned_sbc(None)
    monkeypatch.setattr(bg, "sbc", sbc)
    assert cli.main(["sbc", "y ~ treat", "--data", str(csv), "--family", "gaussian", "--executor", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: executor must be") and "'nowhere'" in err and not calls


# --- --out is checked before any work; an existing fit is kept unless --force (issue 17) ---


@pytest.fixture
def spy_fit(monkeypatch):
    """bg.fit and the CSV reader replaced by spies: the --out checks must refuse before either runs."""
    calls = []
    monkeypatch.setattr(bg, "fit", lambda *a, **k: calls.append("fit") or _prior_fit(*a, **k))
    real_read = cli._read_csv
    monkeypatch.setattr(cli, "_read_csv", lambda path: calls.append("read") or real_read(path))
    return calls


FIT_ARGS = ["fit", "p(y, n) ~ treat + (1|centre)", "--family", "binomial"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def test_out_that_is_a_file_is_refused_before_reading_data(csv, tmp_path, spy_fit, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert spy_fit == []
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(tmp_path / "taken" / "sub")]) == 2
    assert "cannot create the folder" in _one_error_line(capsys) and spy_fit == []


@pytest.mark.parametrize("error, words", [(PermissionError(13, "Permission denied"), "Permission denied"),
                                          (OSError(30, "Read-only file system"), "Read-only file system")])
def test_out_that_is_not_writable_is_refused_before_reading_data(error, words, csv, tmp_path, spy_fit, capsys,
                                                                monkeypatch):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli.tempfile, "mkstemp", refuse)  # as a read-only disk or a folder not ours would
    out = tmp_path / "new" / "results"
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out)]) == 2
    message = _one_error_line(capsys)
    assert "is not writable" in message and words in message and str(out) in message
    assert spy_fit == [] and not (tmp_path / "new").exists()  # the folders made for the check are gone


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_without_permission_is_refused(csv, tmp_path, spy_fit, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(locked)]) == 2
        assert "is not writable" in _one_error_line(capsys) and spy_fit == []
    finally:
        locked.chmod(0o700)


def test_out_without_room_is_refused_before_reading_data(csv, tmp_path, spy_fit, capsys, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: usage._replace(free=500_000))
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(tmp_path / "results")]) == 2
    message = _one_error_line(capsys)
    assert "has 0.5 MB free but the fit needs about" in message and spy_fit == []
    assert not (tmp_path / "results").exists()


def test_space_estimate_grows_with_draws_chains_and_rows(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("y,x\n" + "1,2\n" * 100)
    big = tmp_path / "big.csv"
    big.write_text("y,x\n" + "1,2\n" * 100_000)
    base = cli._fit_bytes(str(small), draws=1000, chains=4, retry="never")
    assert 8 * 4000 * 100 < base < 8 * 4000 * 200 + 2_000_000  # draws x chains x (rows + parameters) x 8
    assert cli._fit_bytes(str(small), draws=1000, chains=4, retry="auto") > 1.9 * (base - 1_000_000)
    estimate = cli._fit_bytes(str(big), draws=1000, chains=4, retry="never")
    assert 0.9 * 8 * 4000 * 100_000 < estimate < 1.1 * 8 * 4000 * 100_000  # rows counted from the first 64 KiB


def test_existing_fit_is_kept_without_force(csv, tmp_path, spy_fit, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.bglmm").write_bytes(b"an earlier fit")
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out)]) == 2
    message = _one_error_line(capsys)
    assert str(out / "fit.bglmm") in message and "already exists" in message and "--force" in message
    assert spy_fit == [] and (out / "fit.bglmm").read_bytes() == b"an earlier fit"
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm"]


def test_force_replaces_only_with_a_complete_fit(csv, tmp_path, spy_fit, monkeypatch, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.bglmm").write_bytes(b"an earlier fit")

    def failing(*args, **kwargs):
        raise bg.DataError("the new fit failed")

    monkeypatch.setattr(bg, "fit", failing)
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out), "--force"]) == 2
    assert (out / "fit.bglmm").read_bytes() == b"an earlier fit"
    monkeypatch.setattr(bg, "fit", _prior_fit)
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm", "summary.txt"]  # no lock or temporary file
    assert "prior draws" in (out / "summary.txt").read_text()
    assert (out / "fit.bglmm").read_bytes()[:2] == b"PK"  # the new fit file (a zip)


def test_a_second_run_into_the_same_out_is_refused(csv, tmp_path, monkeypatch, capsys):
    """Two runs into one --out: the one that starts while the other works is refused at once."""
    out = tmp_path / "results"
    second = []

    def first_fit(*args, **kwargs):  # while the first run samples, a second run starts
        second.append(cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out), "--force"]))
        second.append(capsys.readouterr().err)
        return _prior_fit(*args, **kwargs)

    monkeypatch.setattr(bg, "fit", first_fit)
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out)]) == 0
    assert second[0] == 2
    assert "another bayesglmm run" in second[1] and f"(process {os.getpid()})" in second[1]
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm", "summary.txt"]


def test_a_fit_written_meanwhile_by_another_program_is_not_replaced(csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"

    def other_program_saves(*args, **kwargs):
        (out / "fit.bglmm").write_bytes(b"saved by another program")
        return _prior_fit(*args, **kwargs)

    monkeypatch.setattr(bg, "fit", other_program_saves)
    assert cli.main([*FIT_ARGS, "--data", str(csv), "--out", str(out)]) == 2
    message = _one_error_line(capsys)
    assert "appeared while this run was working" in message and "--force" in message
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm"]
    assert (out / "fit.bglmm").read_bytes() == b"saved by another program"


def test_sbc_outputs_are_kept_without_force(csv, tmp_path, monkeypatch, capsys):
    sbc, calls = _canned_sbc(None)
    monkeypatch.setattr(bg, "sbc", sbc)
    out = tmp_path / "sbc"
    out.mkdir()
    (out / "sbc_ranks.csv").write_text("earlier")
    assert cli.main(["sbc", "y ~ treat", "--data", str(csv), "--family", "gaussian", "--out", str(out)]) == 2
    message = _one_error_line(capsys)
    assert "sbc_ranks.csv already exists" in message and "--force" in message and not calls


def test_course_out_is_checked_and_locked(course, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["course", "multicentre", "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys) and course == []
    assert cli.main(["course", "multicentre", "--out", str(tmp_path / "new")]) == 0
    assert course[-1]["out"] == tmp_path / "new" and not (tmp_path / "new").exists()  # empty: removed again


# --- --dropna ---


def test_dropna_option_and_the_message_that_suggests_it(csv, tmp_path, monkeypatch, capsys):
    import pandas as pd

    data = pd.read_csv(csv)
    data.loc[3, "y"] = None
    holed = tmp_path / "holed.csv"
    data.to_csv(holed, index=False)
    argv = [*FIT_ARGS, "--data", str(holed)]
    assert cli.main(argv) == 2
    message = _one_error_line(capsys)
    assert "Missing values" in message and "pass --dropna to drop them" in message and "dropna=True" not in message
    seen = []
    monkeypatch.setattr(bg, "fit", lambda *a, **k: seen.append(k["dropna"]) or _prior_fit(*a, **k))
    assert cli.main([*argv, "--dropna"]) == 0
    assert seen == [True]
