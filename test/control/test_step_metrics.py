"""Steady RMSE mask and step-response figures (python-control's step_info vocabulary)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crawler_rl.control.metrics import (
    steady_mask,
    step_info,
    step_responses,
    tracking_rmse,
)

DT = 0.05


def test_first_order_response_figures() -> None:
    tau = 0.2
    time = (np.arange(200) + 1) * DT
    info = step_info(1.0 - np.exp(-time / tau), DT)
    assert info["RiseTime"] == pytest.approx(tau * math.log(9.0), abs=0.02)
    assert info["Overshoot"] == 0.0
    # Enters the 10 % band at tau ln 10 = 0.46 s; the first sample inside is at 0.5 s.
    assert info["SettlingTime"] == pytest.approx(0.5)


def test_overshoot_and_a_response_that_never_settles() -> None:
    time = (np.arange(100) + 1) * DT
    zeta, wn = 0.3, 8.0
    wd = wn * math.sqrt(1 - zeta**2)
    damping = zeta / math.sqrt(1 - zeta**2)
    response = 1 - np.exp(-zeta * wn * time) * (np.cos(wd * time) + damping * np.sin(wd * time))
    expected = 100 * math.exp(-zeta * math.pi / math.sqrt(1 - zeta**2))  # 37 %
    assert step_info(response, DT)["Overshoot"] == pytest.approx(expected, rel=0.1)
    offset = step_info(np.full(50, 0.8), DT)
    assert math.isnan(offset["SettlingTime"]) and math.isnan(offset["RiseTime"])


def test_steady_mask_leaves_out_half_a_second_after_each_change() -> None:
    command = [0.0] * 20 + [0.1] * 30 + [0.1] * 10
    trace = {"cmd_v": command, "cmd_omega": [0.0] * 60, "v": command, "omega": [0.0] * 60}
    mask = steady_mask(trace, DT)
    assert not mask[:10].any() and mask[10:20].all()
    assert not mask[20:30].any() and mask[30:].all()


def test_rmse_full_and_steady_and_the_steps_found() -> None:
    command = np.r_[np.zeros(20), np.full(40, 0.1)]
    achieved = command.copy()
    achieved[20:23] = [0.0, 0.05, 0.095]  # a lagging step, then exact tracking
    trace = {"cmd_v": list(command), "cmd_omega": [0.0] * 60, "v": list(achieved),
             "omega": [0.0] * 60}
    rmse = tracking_rmse(trace, DT)
    assert rmse["steady_rmse_v"] == 0.0 and rmse["rmse_v"] > 0.01
    steps = step_responses(trace, "v", DT)
    assert len(steps) == 1 and steps[0]["step"] == pytest.approx(0.1)
    assert steps[0]["SettlingTime"] == pytest.approx(0.15)
    assert step_responses(trace, "omega", DT) == []
