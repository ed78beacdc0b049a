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

    def interrupted(self, compiled, settings, data=None):  # what nutpie hands back after Ctrl-C
        return whole(self, compiled, settings, data).isel(draw=slice(0, 7))

    monkeypatch.setattr(NutpieEngine, "draw", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted: 2 chain\(s\) x 7 draws of the 2 x 20"):
        fit_module.sample(spec, draws=20, tune=20, chains=2, seed=1, progressbar=False)
