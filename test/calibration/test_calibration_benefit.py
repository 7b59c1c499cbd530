"""Controllers trained on the fitted config and on the defaults, driven on the true robot.

Training is too slow for the suite: the two models and the fit they were trained on are checked
in (test/data/calibration/README.md says which bench command made them). The test drives both
on the true robot of bench/calibration_benefit.py (crawler_rl/calibration/benefit.py) over the
held-out scenarios, 2 episodes each (the bench's first 2 of 4), and compares pooled RMSE.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler_rl.calibration.benefit import TRUE_ROBOT, evaluate_on_true_robot

DATA = Path(__file__).resolve().parents[1] / "data" / "calibration"
EPISODES = 2
V_RATIO = 0.85
"""Largest fitted / default RMSE of v (measured: 0.68 at 2 episodes, 0.73 at the bench's 4)."""
FAMILY_V_RATIO = 0.95
"""Largest fitted / default RMSE of v in each surface family (measured 0.36-0.87)."""
OMEGA_RATIO = 0.95
"""Largest fitted / default RMSE of omega (measured 0.90 at 2 episodes, 0.82 at the bench's 4;
seeds 0-2 at 200k steps: 0.82-0.85)."""


def test_checked_in_fit_is_the_true_robot() -> None:
    data = yaml.safe_load((DATA / "crawler_fit.yaml").read_text())
    for dotted, true in TRUE_ROBOT.items():
        section, key = dotted.split(".")
        assert data[section][key] == pytest.approx(true, rel=0.02), dotted


def test_controller_trained_on_the_fit_tracks_better_on_the_true_robot() -> None:
    figures = evaluate_on_true_robot(
        {name: DATA / f"{name}.onnx" for name in ("default", "fitted")}, EPISODES, seed=0,
        baselines=())
    ratios = {scope: {key: by_controller["fitted"][key] / by_controller["default"][key]
                      for key in by_controller["fitted"]}
              for scope, by_controller in (("overall", figures["overall"]),
                                           *figures["families"].items())}
    assert ratios["overall"]["rmse_v"] < V_RATIO, ratios
    assert ratios["overall"]["steady_rmse_v"] < V_RATIO, ratios
    assert sorted(ratios) == ["45deg", "curved", "deck", "overall", "vertical"]
    for family, values in ratios.items():
        assert values["rmse_v"] < FAMILY_V_RATIO, (family, ratios)
    assert ratios["overall"]["rmse_omega"] < OMEGA_RATIO, ratios
    assert ratios["overall"]["steady_rmse_omega"] < OMEGA_RATIO, ratios
