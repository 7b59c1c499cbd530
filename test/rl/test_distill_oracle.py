"""bench/distill_oracle.py: one DAgger round labels real oracle actions and exports a model."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from bench_loader import load_bench

from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.rl.checkpoint import latest_good_checkpoint, load_checkpoint
from crawler_rl.sim.observation import OBS_DIM


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("distill_oracle")


def test_labels_are_the_oracles_residuals(bench) -> None:
    observations, labels = bench.label_episodes(bench.Job(0, 0, 1, None, 0.0))
    assert observations.shape == (400, observations.shape[1]) and labels.shape == (400, 2)
    assert np.isfinite(labels).all() and np.abs(labels).max() <= 1.0
    assert labels.std(axis=0).min() > 0.01  # the oracle corrects IK, it does not return it


def test_one_round_fits_the_labels_and_exports_a_controller(bench, tmp_path: Path) -> None:
    summary = bench.distill(tmp_path, seed=0, rounds=1, episodes=2, workers=1, noise=0.05,
                            epochs=400, critic_episodes=1)
    assert summary["fit_mse"] < 0.5 * summary["label_variance"], summary
    assert summary["critic_explained"] > 0.5, summary  # the critic learned the student's returns
    checkpoint = load_checkpoint(latest_good_checkpoint(tmp_path))
    # PPO resumes at the step count the labels took, in the iteration those steps make
    assert (checkpoint.global_step, checkpoint.iteration) == (800, 2)
    policy = OnnxPolicy(summary["onnx"])  # the robot's runner accepts it
    wheels = policy.wheel_speeds(np.zeros(OBS_DIM, np.float32))
    assert np.isfinite(wheels).all()


def test_the_same_seed_distils_the_same_model(bench, tmp_path: Path) -> None:
    first, second = (bench.distill(tmp_path / name, seed=3, rounds=2, episodes=1, workers=1,
                                   noise=0.05, epochs=2) for name in ("a", "b"))
    assert first["fit_mse"] == second["fit_mse"]
    assert first["label_variance"] == second["label_variance"]  # round 1: the student drove
