"""controller_node's tether tension follows training's rule: a stale reading holds its value and
its mask (`tether_tension_valid`) goes 0; never a silent 0 N."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from controller_models import make_controller_onnx
from rclpy.context import Context
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

from crawler_rl.ros.robot.controller_node import ControllerNode
from crawler_rl.sim.observation import OBS_NAMES

TIMEOUT_NS = 200_000_000  # state_timeout 0.2 s


def test_a_stale_tension_keeps_its_last_reading_with_mask_0(
    ros_context: Context, tmp_path: Path
) -> None:
    model = make_controller_onnx(tmp_path / "controller.onnx")
    node = ControllerNode(context=ros_context, parameter_overrides=[
        Parameter("policy_path", value=str(model)), Parameter("state_timeout", value=0.2)])
    try:
        now = node.now_ns()
        before = node.robot_state(now)  # no load cell reading yet: 0 N, masked
        assert (before.tether_tension, before.tether_tension_valid) == (0.0, 0.0)
        node.on_tether_tension(Float64(data=7.5))
        arrival = node.arrival_ns["tether"]
        fresh = node.robot_state(arrival + TIMEOUT_NS)  # exactly state_timeout old: still fresh
        assert fresh.tether_tension == pytest.approx(7.5) and fresh.tether_tension_valid == 1.0
        # Just past the state timeout the load cell is stale: the policy sees its last reading
        # with the mask 0, as an outage in training, not 0 N.
        stale = node.robot_state(arrival + TIMEOUT_NS + 1)
        assert stale.tether_tension == pytest.approx(7.5) and stale.tether_tension_valid == 0.0
        # The observation the policy gets carries both.
        node.controller.step(np.zeros(2), stale)
        obs = dict(zip(OBS_NAMES, node.controller.last_obs, strict=True))
        assert obs["tether_tension"] == pytest.approx(7.5) and obs["tether_tension_valid"] == 0.0
        node.on_tether_tension(Float64(data=9.0))  # a new reading: valid again
        renewed = node.robot_state(node.arrival_ns["tether"])
        assert renewed.tether_tension == pytest.approx(9.0) and renewed.tether_tension_valid == 1.0
    finally:
        node.destroy_node()
