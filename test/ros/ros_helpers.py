"""Helpers for in-process ROS tests (the domain comes from the `ros_domain` fixture)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rclpy.executors import Executor
from rclpy.parameter import Parameter


def spin_until(executor: Executor, done: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Spin until `done()` or `timeout` seconds; return done()."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
    return done()


PENDULUM_CONFIG = {"env": {"env_id": "Pendulum-v1"}}
"""A run on Pendulum-v1: obs 3, action 1, the default model (what the node tests send)."""


def pendulum_inference_params(directory: Path, **values: object) -> list[Parameter]:
    """Parameter overrides of an InferenceNode configured for a Pendulum-v1 run."""
    import yaml

    from crawler_rl.rl.config import TrainConfig

    config = Path(directory) / "inference_config.yaml"
    config.write_text(yaml.safe_dump(TrainConfig.from_dict(PENDULUM_CONFIG).to_dict()))
    return [Parameter("config_file", value=str(config)),
            *(Parameter(name, value=value) for name, value in values.items())]
