"""`run_evaluation(..., suite=...)`: each suite's cases, each under its own config."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

from crawler_rl.rl.evaluate import run_episode, run_evaluation, tracking_rmse
from crawler_rl.sim.suites import suite_cases


def test_ood_suite_runs_every_case_under_its_own_config(tmp_path: Path) -> None:
    report = run_evaluation(None, "ik", tmp_path / "eval", seed=2, suite="ood")
    cases = suite_cases("ood")
    assert report["suite"] == "ood"
    assert [entry["scenario"] for entry in report["scenarios"]] == [c.label for c in cases]
    index = [c.label for c in cases].index("vertical/lag-x2")
    case, entry = cases[index], report["scenarios"][index]
    rmse = {}
    for name, config in (("ood", case.config()), ("default", None)):
        env = gym.make("CrawlerVelocity-v0", config=config)
        try:
            rmse[name] = tracking_rmse(run_episode(env, None, case.scenario, entry["seed"]))
        finally:
            env.close()
    assert entry["ik"]["rmse_omega"] == pytest.approx(rmse["ood"]["rmse_omega"], rel=1e-9)
    assert rmse["default"]["rmse_omega"] != pytest.approx(rmse["ood"]["rmse_omega"], rel=1e-3)
    with pytest.raises(ValueError, match="unknown suite"):
        run_evaluation(None, "ik", tmp_path / "bad", suite="nope")


def test_cli_eval_takes_a_suite_and_names_the_known_ones(tmp_path: Path, capsys) -> None:
    from crawler_rl.cli import main

    assert main(["eval", "--baseline", "ik", "--suite", "nope",
                 "--out-dir", str(tmp_path)]) == 2
    assert "unknown suite 'nope'; available: held-out, ood, chain" in capsys.readouterr().err
