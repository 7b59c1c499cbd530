"""controller_node as a process: refuses a bad model (exit 2), ends at rest on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from controller_models import make_controller_onnx
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64MultiArray

from crawler_rl.ros.process_graph import child_environment
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.sim.observation import OBS_DIM, observation_metadata

NODE = [sys.executable, "-m", "crawler_rl.ros.robot.controller_node", "--ros-args"]


def test_refuses_a_model_with_the_wrong_shape(tmp_path: Path, ros_domain: int) -> None:
    path = make_controller_onnx(tmp_path / "wide.onnx", obs_dim=20)
    result = subprocess.run([*NODE, "-p", f"policy_path:={path}"], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and f"expected (batch, {OBS_DIM})" in result.stderr


def test_refuses_a_model_of_an_older_layout_naming_the_retraining_command(
    tmp_path: Path, ros_domain: int
) -> None:
    metadata = {**observation_metadata(), "obs_layout_version": "2"}
    path = make_controller_onnx(tmp_path / "layout2.onnx", obs_dim=OBS_DIM - 1, metadata=metadata)
    result = subprocess.run([*NODE, "-p", f"policy_path:={path}"], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "observation layout 2" in result.stderr and "crawler-rl train" in result.stderr


def _terminal_dispositions() -> None:
    """SIGINT and SIGHUP as a terminal leaves them, whatever pytest was started with (nohup
    ignores SIGHUP, and the node keeps an ignored SIGHUP ignored, as crawler_rl.stopping says)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_publishes_zero_on_shutdown(ros_context: Context, stop_signal: int) -> None:
    process = subprocess.Popen([*NODE, "-p", "use_ik_fallback:=true", "-p", "start_enabled:=true"],
                               env=child_environment(), preexec_fn=_terminal_dispositions)
    node = Node("fake_robot", context=ros_context)
    commands: list[np.ndarray] = []
    node.create_subscription(
        Float64MultiArray, robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
        lambda msg: commands.append(np.array(msg.data)), robot.command_qos())
    qos = robot.sensor_publisher_qos()
    odom = node.create_publisher(Odometry, robot.ODOM_TOPIC, qos)
    imu = node.create_publisher(Imu, robot.IMU_TOPIC, qos)
    joints = node.create_publisher(JointState, robot.JOINT_STATES_TOPIC, qos)
    cmd = node.create_publisher(Twist, robot.CMD_VEL_TOPIC, robot.command_qos())
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    twist = Twist()
    twist.linear.x = 0.1
    level = Imu()
    level.orientation.w = 1.0
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not (commands and np.any(commands[-1] != 0)):
            odom.publish(Odometry())
            imu.publish(level)
            joints.publish(JointState(name=list(robot.DEFAULT_WHEEL_JOINTS), velocity=[0., 0.]))
            cmd.publish(twist)
            executor.spin_once(timeout_sec=0.05)
        assert commands and np.any(commands[-1] != 0), "controller never drove"
        process.send_signal(stop_signal)
        process.wait(timeout=15)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    finally:
        if process.poll() is None:
            process.kill()
        executor.shutdown()
        node.destroy_node()
    assert process.returncode == 0
    np.testing.assert_array_equal(commands[-1], np.zeros(2))
