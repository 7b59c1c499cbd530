"""controller_node's tether tension follows training's rule: a late reading holds, never 0 N."""

from __future__ import annotations

from pathlib import Path

import pytest
from controller_models import make_controller_onnx
from rclpy.context import Context
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

from crawler_rl.ros.robot.controller_node import ControllerNode


def test_a_stale_tension_keeps_its_last_reading(ros_context: Context, tmp_path: Path) -> None:
    model = make_controller_onnx(tmp_path / "controller.onnx")
    node = ControllerNode(context=ros_context, parameter_overrides=[
        Parameter("policy_path", value=str(model)), Parameter("state_timeout", value=0.2)])
    try:
        now = node.now_ns()
        assert node.robot_state(now).tether_tension == 0.0  # no load cell reading yet
        node.on_tether_tension(Float64(data=7.5))
        assert node.robot_state(now).tether_tension == pytest.approx(7.5)
        # Ten state timeouts later the load cell is stale: the policy sees its last reading,
        # as a delayed sensor in training, not 0 N (which training never shows with a cell).
        assert node.robot_state(now + 2_000_000_000).tether_tension == pytest.approx(7.5)
    finally:
        node.destroy_node()
