"""Controllers trained on the fitted config and on the defaults, driven on the true robot.

Training is too slow for the suite: the two models and the fit they were trained on are checked
in (test/data/calibration/README.md says which bench command made them). The test drives both
on the true robot of bench/calibration_benefit.py (crawler_rl/calibration/benefit.py) over the
held-out scenarios, 4 episodes each (as the bench), and compares pooled RMSE.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler_rl.calibration.benefit import TRUE_ROBOT, evaluate_on_true_robot

DATA = Path(__file__).resolve().parents[1] / "data" / "calibration"
EPISODES = 4
V_RATIO = 0.9
"""Largest fitted / default RMSE of v, full and steady (measured 2026-12-04, the bench's 4
episodes, seed 0: 0.83 and 0.77; seeds 1-2: 0.82-0.86 and 0.76-0.80)."""
# Not asserted: per family v (45deg 1.00 with seed 0, the others 0.77-0.85) and omega. On the
# incremental default the model trained on the defaults tracks this robot's yaw better than the
# fit-trained one (fitted / default 1.13-1.20 over seeds 0-2) and better than the PI
# (docs/calibration.md).


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
    assert sorted(ratios) == ["45deg", "curved", "deck", "overall", "vertical"]
    assert ratios["overall"]["rmse_v"] < V_RATIO, ratios
    assert ratios["overall"]["steady_rmse_v"] < V_RATIO, ratios
