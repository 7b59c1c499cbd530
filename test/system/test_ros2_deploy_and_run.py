"""`ros2 launch crawler_rl sim_deploy.launch.py` and `ros2 run crawler_rl <node>`, real DDS.

The tools run on the session's colcon build (fixture colcon_install), as on a ROS 2 install.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import rclpy
from launch_rig import (
    CLEAN_EXIT_S,
    REPO,
    Ros2Process,
    nothing_left,
    require_launch_ros,
)
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from crawler_rl.ros import robot_interface as robot

pytestmark = pytest.mark.slow
POLICY = REPO / "test" / "data" / "controller.onnx"
START_S = 90.0
"""Longest wait for the first message of freshly started nodes (imports, discovery, 2 cores)."""


@pytest.fixture(autouse=True)
def _launch_ros() -> None:
    require_launch_ros()


class OdometryProbe:
    """Collects the simulated crawler's positions from `odom` in the test's domain."""

    def __init__(self, context: Context) -> None:
        self.node = rclpy.create_node("odometry_probe", context=context)
        self.positions: list[tuple[float, float, float]] = []
        self.node.create_subscription(Odometry, robot.ODOM_TOPIC, self.on_odometry,
                                      robot.sensor_subscription_qos())
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)

    def on_odometry(self, msg: Odometry) -> None:
        position = msg.pose.pose.position
        self.positions.append((position.x, position.y, position.z))

    def spin_until(self, condition, timeout: float) -> bool:
        """Spin until `condition()` or `timeout` seconds; return condition()."""
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def test_sim_deploy_launch_drives_the_simulated_crawler_with_the_policy(
    colcon_install: Path, ros_context: Context, ros_domain: int, tmp_path: Path
) -> None:
    launch = Ros2Process(colcon_install, tmp_path / "launch.log", "launch", "crawler_rl",
                         "sim_deploy.launch.py", f"policy:={POLICY}", "rviz:=false",
                         cwd=tmp_path)
    probe = OdometryProbe(ros_context)
    driver = None
    try:
        assert probe.spin_until(lambda: probe.positions, START_S), launch.tail()
        pids = launch.descendants()
        # `ros2 run` of the teleop-style driver: forward at 0.1 m/s (the first side)
        driver = Ros2Process(colcon_install, tmp_path / "driver.log", "run", "crawler_rl",
                             "square_path", "--ros-args", "-p", "side_seconds:=60.0",
                             "-p", "start_delay:=0.0", cwd=tmp_path)
        start = probe.positions[-1]
        moved = probe.spin_until(lambda: math.dist(probe.positions[-1], start) > 0.3, START_S)
        assert moved, (start, probe.positions[-1], driver.tail(), launch.tail())
        assert launch.process.poll() is None, launch.tail()
        driver.ctrl_c()
        assert driver.wait(CLEAN_EXIT_S) == 0, driver.tail()
        launch.ctrl_c()
        code = launch.wait(CLEAN_EXIT_S)
    finally:
        probe.close()
        if driver is not None:
            driver.stop()
        launch.stop()
    text = launch.text()
    assert code == 0, text[-4000:]
    assert "driving (policy)" in text and "rviz2" not in text, text[-4000:]
    assert "escalating" not in text, text[-4000:]
    assert nothing_left(ros_domain, pids) == {}
