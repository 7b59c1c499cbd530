"""Evaluation runs the exported controller with the robot's runner: controller_node's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.rl.evaluate import build_controllers, driving_env
from crawler_rl.rl.export import OnnxController
from crawler_rl.sim.observation import OBS_DIM

MODEL = Path(__file__).parents[1] / "data" / "controller.onnx"


def test_evaluation_runs_the_controller_nodes_runner() -> None:
    from crawler_rl.ros.robot import controller_node  # rclpy: the robot side

    env = driving_env()
    try:
        controllers = build_controllers(MODEL, ["ik"], env, None)
    finally:
        env.close()
    assert type(controllers["policy"]) is controller_node.OnnxPolicy is OnnxPolicy


def test_robot_runner_gives_the_exported_graphs_wheel_speeds() -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 1.0, size=(32, OBS_DIM)).astype(np.float32)
    runner = OnnxPolicy(MODEL)
    runner.reset()
    got = np.stack([runner(row) for row in obs])
    assert got.dtype == np.float64 and got.shape == (32, 2)
    np.testing.assert_array_equal(got, OnnxController(MODEL)(obs).astype(np.float64))
