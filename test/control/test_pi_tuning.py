"""tune-baseline: seeded (same seed -> same gains), on the training distribution only."""

from __future__ import annotations

from pathlib import Path

import pytest

import crawler_rl.sim.env as sim_env
from crawler_rl.cli import main
from crawler_rl.control.pi import load_gains
from crawler_rl.control.tuning import tune_pi_gains


def test_same_seed_same_gains_and_only_training_scenarios(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    drawn = []
    original = sim_env.sample_scenario
    monkeypatch.setattr(sim_env, "sample_scenario",
                        lambda *args: drawn.append(1) or original(*args))
    first = tune_pi_gains(trials=3, seed=4, episodes=1, progress=False)
    # Every episode's scenario was drawn from the training distribution: 1 IK + 3 trials.
    assert len(drawn) == 4
    again = tune_pi_gains(trials=3, seed=4, episodes=1, progress=False)
    other = tune_pi_gains(trials=3, seed=5, episodes=1, progress=False)
    assert first.gains == again.gains and first.objective == again.objective
    assert other.gains != first.gains
    assert first.rmse["omega"] < first.ik_rmse["omega"]


def test_cli_writes_gains_that_load(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pi.yaml"
    assert main(["tune-baseline", "--trials", "2", "--episodes", "1", "--no-progress",
                 "-o", str(out)]) == 0
    gains = load_gains(out)
    assert f"{gains.kp_v:.4g}" in capsys.readouterr().out
    assert "training_score" in out.read_text() and "--trials 2" in out.read_text()
