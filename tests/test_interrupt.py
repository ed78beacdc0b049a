"""Ctrl-C during sampling: nutpie returns the draws made so far; bayesglmm refuses them."""

import importlib

import numpy as np
import pandas as pd
import pytest

import bayesglmm as bg

fit_module = importlib.import_module("bayesglmm.fit")  # the package attribute `fit` is the function


def test_partial_draws_after_ctrl_c_raise_keyboardinterrupt(monkeypatch):
    df = pd.DataFrame({"y": np.arange(12.0) % 5, "g": list("aabbccddeeff")})
    spec = bg.build_model("y ~ 1 + (1|g)", df)
    full = bg.fit("y ~ 1 + (1|g)", df, draws=20, tune=20, chains=2, seed=1, progressbar=False, retry=False)
    assert full.idata["posterior"].sizes["draw"] == 20

    from bayesglmm.engine import NutpieEngine

    whole = NutpieEngine.draw

    def interrupted(self, compiled, settings, data=None, more=None):  # what nutpie hands back after Ctrl-C
        return whole(self, compiled, settings, data, more).isel(draw=slice(0, 7))

    monkeypatch.setattr(NutpieEngine, "draw", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted: 2 chain\(s\) x 7 draws of the 2 x 20"):
        fit_module.sample(spec, draws=20, tune=20, chains=2, seed=1, progressbar=False)


# --- the command line: SIGTERM and early Ctrl-C never leave files behind (issue 17) ---

import os  # noqa: E402 - the tests above need none of these
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from bayesglmm import cli  # noqa: E402

FORMULA = "y ~ x + (1|g)"
# The child process: what the console script does (bayesglmm_command.main), with prior draws instead of
# NUTS (fast) patched in between the import and bayesglmm_command.run. An uncaught KeyboardInterrupt during
# the import kills the process with SIGINT; one that Python swallows (in a weakref callback of the import
# machinery, say) is still recorded, and run() stops on it.
CHILD = textwrap.dedent("""
    import signal, sys, time, warnings
    import bayesglmm_command
    signal.signal(signal.SIGINT, bayesglmm_command.record)
    import bayesglmm as bg
    from bayesglmm import cli
    real = bg.fit
    def prior_fit(formula, data, family, **kwargs):
        kwargs.update(prior_only=True, draws=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = real(formula, data, family, **kwargs)
        deadline = time.monotonic() + float(sys.argv[1])  # a sampler that swallows Ctrl-C, as nutpie does
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except KeyboardInterrupt:
                return fit
        return fit
    bg.fit = prior_fit
    print("READY", file=sys.stderr, flush=True)
    sys.exit(bayesglmm_command.run(cli.main, sys.argv[2:]))
""")


def _frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"y": rng.normal(size=24), "x": rng.normal(size=24), "g": list("abcdef") * 4})


@pytest.fixture
def data_csv(tmp_path):
    path = tmp_path / "d.csv"
    _frame().to_csv(path, index=False)
    return path


def _spawn(args, sampler_seconds=0.0, env=None):
    """The CLI in a child process with SIGINT at its default (as from a terminal, even under a background job)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(sampler_seconds), *map(str, args)], stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_line(proc, text, timeout=180):
    """Read the child's standard error up to a line starting with ``text``; return the lines read."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(text):
                return lines
        raise AssertionError(f"no {text!r} line; the child wrote {''.join(lines)[-2000:]}")
    finally:
        timer.cancel()


@pytest.mark.parametrize("signum, status, word", [
    (signal.SIGTERM, 143, "terminated"),
    pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),  # in-process: test_cli.py
])
def test_signal_during_the_write_leaves_no_temporary_file(signum, status, word, data_csv, tmp_path):
    from bayesglmm.io import PAUSE_ENV

    out = tmp_path / "results"
    out.mkdir()
    (out / "fit.bglmm").write_bytes(b"the earlier fit")
    proc = _spawn(["fit", FORMULA, "--data", data_csv, "--family", "gaussian", "--out", out, "--force"],
                  env={PAUSE_ENV: "120"})
    _wait_for_line(proc, "write_atomically: paused")
    staged = sorted(p.name for p in out.iterdir())
    assert any(n.endswith(".tmp") for n in staged) and ".bayesglmm.lock" in staged, staged  # mid-write
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == status, rest
    assert rest.strip().splitlines()[-1] == f"{word}: no files were written"
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm"]  # no .tmp, no lock, no summary
    assert (out / "fit.bglmm").read_bytes() == b"the earlier fit"


@pytest.fixture(scope="module")
def prior_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bg.fit(FORMULA, _frame(), "gaussian", prior_only=True, draws=20)


def test_early_ctrl_c_is_never_lost_in_process(prior_fit, data_csv, tmp_path, monkeypatch, capsys):
    """30 Ctrl-Cs at random moments from the first instant of main(), with samplers that swallow them."""
    rng = random.Random(17)
    swallow = {}

    def swallowing_fit(*args, **kwargs):
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                sum(range(2000))
            except KeyboardInterrupt:  # nutpie returns the draws so far; Bambi's bare excepts go on
                if swallow["returns"]:
                    return prior_fit
                deadline = min(deadline, time.monotonic() + 0.05)
        return prior_fit

    monkeypatch.setattr(bg, "fit", swallowing_fit)
    enter = cli._Interrupts.__enter__
    killers = []

    def enter_and_arm(self):  # the signal clock starts as the handler is installed, first thing in main()
        result = enter(self)
        killer = threading.Timer(swallow["delay"], os.kill, (os.getpid(), signal.SIGINT))
        killers.append(killer)
        killer.start()
        return result

    monkeypatch.setattr(cli._Interrupts, "__enter__", enter_and_arm)
    for attempt in range(30):
        swallow.update(delay=rng.uniform(0, 0.5), returns=rng.random() < 0.5)
        out = tmp_path / f"out{attempt}"
        status = cli.main(["fit", FORMULA, "--data", str(data_csv), "--family", "gaussian", "--out", str(out)])
        killers[-1].join()
        assert status == 130, (attempt, swallow, capsys.readouterr().err)
        assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted: no files were written"
        assert not out.exists(), (attempt, swallow)


def test_ctrl_c_swallowed_after_sampling_still_writes_nothing(prior_fit, data_csv, tmp_path, monkeypatch, capsys):
    """A Ctrl-C that a library swallows while the summary is made (after the last check) stops the write."""
    summary = type(prior_fit).summary

    def swallowing_summary(self, *args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return summary(self, *args, **kwargs)

    monkeypatch.setattr(bg, "fit", lambda *a, **k: prior_fit)
    monkeypatch.setattr(type(prior_fit), "summary", swallowing_summary)
    out = tmp_path / "results"
    assert cli.main(["fit", FORMULA, "--data", str(data_csv), "--family", "gaussian", "--out", str(out)]) == 130
    assert "interrupted: no files were written" in capsys.readouterr().err
    assert not out.exists()


def test_early_ctrl_c_to_a_new_process_writes_nothing(data_csv, tmp_path):
    """Ctrl-C at random moments from the process' first instant (most during the imports) or after them.

    During the imports the console script's handler ends the process (killed by SIGINT: the shell shows
    130), or, where Python swallowed the KeyboardInterrupt, its record does (status 130); from cli.main()
    on, the command's handler does (exit status 130, one line). Either way nothing is written.
    """
    rng = random.Random(4)
    for attempt in range(6):
        out = tmp_path / f"out{attempt}"
        after_imports = attempt % 3 == 2
        proc = _spawn(["fit", FORMULA, "--data", data_csv, "--family", "gaussian", "--out", out],
                      sampler_seconds=5)
        if after_imports:
            _wait_for_line(proc, "READY")
        time.sleep(rng.uniform(0, 0.5 if after_imports else 2.0))
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        status = proc.wait(timeout=120)
        assert status in (130, -signal.SIGINT), (attempt, status, err[-2000:])
        assert not out.exists(), (attempt, err[-2000:])
        if after_imports:
            assert status == 130 and err.strip().splitlines()[-1] == "interrupted: no files were written", err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_python_swallows_during_the_import_still_stops_the_command(data_csv, tmp_path, monkeypatch):
    """The KeyboardInterrupt of a Ctrl-C in a weakref callback is ignored by Python; the record is not."""
    import weakref

    import bayesglmm_command

    monkeypatch.setattr(bayesglmm_command, "RECEIVED", [])

    class Lock:  # importlib's module locks are dropped through a weakref callback like this one
        pass

    lock = Lock()
    ref = weakref.ref(lock, lambda _: bayesglmm_command.record(signal.SIGINT, None))
    del lock  # the handler raises KeyboardInterrupt inside the callback; Python prints it and goes on
    assert ref() is None and bayesglmm_command.RECEIVED == [signal.SIGINT]

    started = []
    assert bayesglmm_command.run(lambda argv, received: started.append(argv), ["fit"]) == 130
    assert started == []

    out = tmp_path / "results"  # and cli.main, handed a record, stops before it reads anything
    args = ["fit", FORMULA, "--data", str(data_csv), "--family", "gaussian", "--out", str(out)]
    assert cli.main(args, received=[signal.SIGINT]) == 130
    assert not out.exists()


def test_ctrl_c_while_renaming_is_held_until_the_outputs_are_complete(prior_fit, data_csv, tmp_path, monkeypatch,
                                                                       capsys):
    """A signal that comes as the files are renamed into place waits until all are: never half the outputs."""
    check = cli._OutDir._refuse_existing

    def signal_at_commit(self, later=False):
        if later:  # just before the renames, with SIGINT and SIGTERM held back
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # not delivered while held
        return check(self, later)

    monkeypatch.setattr(bg, "fit", lambda *a, **k: prior_fit)
    monkeypatch.setattr(cli._OutDir, "_refuse_existing", signal_at_commit)
    out = tmp_path / "results"
    assert cli.main(["fit", FORMULA, "--data", str(data_csv), "--family", "gaussian", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == f"interrupted: after the outputs were written to {str(out)!r} (they are complete)"
    assert sorted(p.name for p in out.iterdir()) == ["fit.bglmm", "summary.txt"]


def test_write_atomically_cleans_up_and_holds_signals_while_renaming(tmp_path):
    from bayesglmm.io import write_atomically

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even when pytest runs with SIGINT ignored
    try:
        _write_atomically_checks(write_atomically, tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_atomically_checks(write_atomically, tmp_path):
    targets = {tmp_path / "a.txt": "new a", tmp_path / "b.bin": b"new b"}
    (tmp_path / "a.txt").write_text("old a")

    def refuse():
        raise bg.FitError("not now")

    with pytest.raises(bg.FitError):
        write_atomically(targets, before_commit=refuse)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"

    with pytest.raises(KeyboardInterrupt):  # delivered once both files are in place
        write_atomically(targets, before_commit=lambda: os.kill(os.getpid(), signal.SIGINT) or time.sleep(0.2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "b.bin").read_bytes() == b"new b"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    with pytest.raises(bg.MissingFileError, match="the folder .*nowhere does not exist"):
        write_atomically({tmp_path / "nowhere" / "c.txt": "c"})


def test_ctrl_c_during_the_import_is_honoured_even_when_inherited_as_ignored(data_csv, tmp_path):
    """The console script (bayesglmm_command) restores SIGINT before importing the package."""
    import signal
    from pathlib import Path

    script = Path(sys.executable).with_name("bayesglmm")
    if not script.exists():
        pytest.skip("the bayesglmm console script is not installed in this environment")
    out = tmp_path / "res"
    ignore = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731  (a background job of a script)
    proc = subprocess.Popen([str(script), "fit", FORMULA, "--data", str(data_csv), "--out", str(out), "--draws", "50",
                             "--tune", "50", "--chains", "1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, preexec_fn=ignore)
    time.sleep(0.3)  # inside the imports (they take seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not (out / "fit.bglmm").exists()
