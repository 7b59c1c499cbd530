"""The exported graph's inverse kinematics is the simulator's, and it is written only once."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from rl_fixtures import random_checkpoint

import crawler_rl
from crawler_rl.rl.checkpoint import save_checkpoint
from crawler_rl.rl.export import OnnxController, export_checkpoint
from crawler_rl.sim.action import ActionSpec, inverse_kinematics
from crawler_rl.sim.config import MotorConfig, RobotConfig
from crawler_rl.sim.observation import OBS_DIM

PACKAGE = Path(crawler_rl.__file__).parent


def test_onnx_ik_equals_numpy_ik_on_random_twists(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(crawler=True)
    # A zero actor head makes action 0, so the graph's output is its IK feed-forward alone.
    for key in ("actor_head.weight", "actor_head.bias"):
        checkpoint.model[key] = torch.zeros_like(checkpoint.model[key])
    spec = {"wheel_radius": 0.031, "track_width": 0.17, "max_wheel_speed": 9.0,
            "residual_limit": 4.0}
    checkpoint.env_info["action_spec"] = spec
    path = export_checkpoint(save_checkpoint(tmp_path / "c.pt", checkpoint),
                             tmp_path / "c.onnx")
    rng = np.random.default_rng(7)
    obs = rng.normal(0.0, 1.0, size=(512, OBS_DIM)).astype(np.float32)
    obs[:, 0] = rng.uniform(-0.5, 0.5, 512)
    obs[:, 1] = rng.uniform(-4.0, 4.0, 512)  # some twists beyond the wheel limit
    got = OnnxController(path)(obs)
    expected = inverse_kinematics(obs[:, 0:2], ActionSpec(**spec))
    assert np.abs(expected).max() == spec["max_wheel_speed"]  # the clip is exercised
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_action_spec_defaults_are_the_simulator_config() -> None:
    spec = ActionSpec()
    assert (spec.wheel_radius, spec.track_width) == (RobotConfig.wheel_radius,
                                                     RobotConfig.track_width)
    assert (spec.max_wheel_speed, spec.residual_limit) == (MotorConfig.max_wheel_speed,
                                                           MotorConfig.residual_limit)


def test_ik_and_robot_defaults_are_written_once() -> None:
    # IK divides the wheel contact speed v -+ omega * track / 2 by the wheel radius (the sim's slip
    # measure uses the contact speed itself, undivided: that is not IK).
    half_track_ik = re.compile(r"omega\s*\*\s*\w*half_track\w*\)\s*/")
    defaults = {"wheel radius": re.compile(r"\b0\.025\b"), "track width": re.compile(r"\b0\.14\b"),
                "wheel speed limit": re.compile(r"\b12\.0\b")}
    ik_homes, default_homes = set(), {name: set() for name in defaults}
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        relative = source.relative_to(PACKAGE).as_posix()
        if half_track_ik.search(text):
            ik_homes.add(relative)
        for name, pattern in defaults.items():
            if pattern.search(text):
                default_homes[name].add(relative)
    assert ik_homes == {"sim/action.py"}
    for name, homes in default_homes.items():
        assert homes == {"sim/config.py"}, f"the {name} default is written in {sorted(homes)}"
