"""`run_evaluation(..., suite=...)`: each suite's cases, each under its own config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crawler_rl.control.episode import driving_env
from crawler_rl.rl.evaluate import run_evaluation
from crawler_rl.sim.suites import suite_cases


def _ik_rmse_omega(config, scenario, seed: int) -> float:
    """Yaw-rate RMSE of the IK baseline (residual action 0), true twist vs command."""
    env = driving_env(config)
    try:
        env.reset(seed=seed, options={"scenario": scenario})
        errors, done = [], False
        while not done:
            command = env.unwrapped.commanded_twist
            _, _, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
            errors.append(env.unwrapped.sim.true_twist()[1] - command[1])
            done = terminated or truncated
    finally:
        env.close()
    return float(np.sqrt(np.mean(np.square(errors))))


def test_ood_suite_runs_every_case_under_its_own_config(tmp_path: Path) -> None:
    report = run_evaluation(None, "ik", tmp_path / "eval", seed=2, suite="ood")
    cases = suite_cases("ood")
    assert report["suite"] == "ood"
    assert [entry["scenario"] for entry in report["scenarios"]] == [c.label for c in cases]
    index = [c.label for c in cases].index("vertical/lag-x2")
    case, entry = cases[index], report["scenarios"][index]
    ood = _ik_rmse_omega(case.config(), case.scenario, entry["seed"])
    default = _ik_rmse_omega(None, case.scenario, entry["seed"])
    assert entry["ik"]["rmse_omega"] == pytest.approx(ood, rel=1e-6)  # float32 commands
    assert default != pytest.approx(ood, rel=1e-3)
    with pytest.raises(ValueError, match="unknown suite"):
        run_evaluation(None, "ik", tmp_path / "bad", suite="nope")


def test_cli_eval_takes_a_suite_and_names_the_known_ones(tmp_path: Path, capsys) -> None:
    from crawler_rl.cli import main

    assert main(["eval", "--baseline", "ik", "--suite", "nope",
                 "--out-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "unknown suite 'nope'; available: held-out, ood, chain, odometry" in error


def test_a_controller_built_by_make_policy_is_evaluated_as_the_learned_one(tmp_path: Path) -> None:
    from crawler_rl.control.episode import OpenLoopIK

    named = tmp_path / "ik_as_policy"  # only a name: make_policy builds the controller
    report = run_evaluation(named, "ik", tmp_path / "eval", seed=4, suite="ood",
                            make_policy=lambda env: OpenLoopIK(env.unwrapped.sim.action_spec))
    assert report["policy"] == str(named)
    for entry in report["scenarios"]:  # the same controller under two names: the same episodes
        assert entry["policy"]["rmse_v"] == entry["ik"]["rmse_v"] > 0.0
    with pytest.raises(ValueError, match="needs a policy path"):
        run_evaluation(None, "ik", tmp_path / "bad", make_policy=lambda env: None)
