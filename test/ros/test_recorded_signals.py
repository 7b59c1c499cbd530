"""MCAP recording -> per-step signals for the calibration (real rclpy serialization, no DDS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray

from crawler_rl.cli import main
from crawler_rl.ros.robot.recorded_signals import load_recorded_run
from crawler_rl.ros.robot.recording import McapWriter

STEPS, DT_NS, MS = 240, 50_000_000, 1_000_000
TOPICS = {"/joint_states": "sensor_msgs/msg/JointState", "/imu": "sensor_msgs/msg/Imu",
          "/odom": "nav_msgs/msg/Odometry", "/tether_tension": "std_msgs/msg/Float64",
          "/wheel_velocity_controller/commands": "std_msgs/msg/Float64MultiArray"}


def write_run(path: Path, topics: dict[str, str] = TOPICS,
              joint_names: tuple[str, str] = ("left_wheel_joint", "right_wheel_joint")) -> None:
    """12 s of lockstep steps; receive times scrambled as a busy recorder logs them.

    Step k: wheels k/100 and -k/100 rad/s (caster joint listed first), gyro 0.001 k, odometry
    0.0001 k (yaw rate 0.002 k), tension 2 + 0.01 k; the command answering step k is (k, -k) / 50.
    """
    writer = McapWriter(path)
    for topic, kind in topics.items():
        writer.add_topic(topic, kind)
    rng = np.random.default_rng(0)
    for k in range(STEPS):
        sent = 10**18 + k * DT_NS
        joints = JointState(name=["caster_swivel_joint", *joint_names])
        joints.velocity = [9.0, k / 100, -k / 100]
        imu = Imu()
        imu.angular_velocity.z = 0.001 * k
        odom = Odometry()
        odom.twist.twist.linear.x = 0.0001 * k
        odom.twist.twist.angular.z = 0.002 * k
        messages = {"/imu": (imu, sent - MS // 5), "/joint_states": (joints, sent),
                    "/tether_tension": (Float64(data=2.0 + 0.01 * k), sent + MS // 3),
                    "/odom": (odom, sent + MS // 2),
                    "/wheel_velocity_controller/commands": (
                        Float64MultiArray(data=[k / 50, -k / 50]), sent + 3 * MS)}
        for topic in rng.permutation(list(messages)):
            if topic in topics:
                message, publish_time = messages[topic]
                writer.write(topic, serialize_message(message), sent + 40 * MS, publish_time)
    writer.close()


def test_signals_are_aligned_by_send_time(tmp_path: Path) -> None:
    path = tmp_path / "run.mcap"
    write_run(path)
    run = load_recorded_run(path, control_dt=0.05)
    steps = np.arange(1, STEPS)
    assert run.steps == STEPS and run.commanded_twist is None
    assert run.wheel_commands[0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(run.wheel_commands[1:, 0], (steps - 1) / 50)
    np.testing.assert_allclose(run.wheel_speeds[1:], np.stack([steps, -steps], 1) / 100)
    np.testing.assert_allclose(run.yaw_rate[1:], 0.001 * steps)
    np.testing.assert_allclose(run.forward_velocity[1:], 0.0001 * steps)
    np.testing.assert_allclose(run.tether_tension[1:], 2.0 + 0.01 * steps)


def test_without_imu_and_load_cell_the_odometry_gives_the_yaw_rate(tmp_path: Path) -> None:
    path = tmp_path / "run.mcap"
    write_run(path, {topic: kind for topic, kind in TOPICS.items()
                     if topic not in ("/imu", "/tether_tension")})
    run = load_recorded_run(path, control_dt=0.05)
    assert run.tether_tension is None
    np.testing.assert_allclose(run.yaw_rate[1:], 0.002 * np.arange(1, STEPS))


def test_missing_topics_are_named_by_the_command(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.mcap"
    write_run(path, {"/imu": "sensor_msgs/msg/Imu", "/odom": "nav_msgs/msg/Odometry"})
    code = main(["calibrate", str(path), "--surface", "deck", "--tether-length", "5",
                 "-o", str(tmp_path / "fit.yaml")])
    error = capsys.readouterr().err
    assert code == 2
    assert "no messages on wheel_velocity_controller/commands, joint_states" in error, error
    assert "it has: /imu, /odom" in error and "crawler-rl excite" in error
    assert not (tmp_path / "fit.yaml").exists()


def test_joint_states_without_the_wheel_joints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.mcap"
    write_run(path, joint_names=("left_drive", "right_drive"))
    with pytest.raises(ValueError, match="left_wheel_joint and right_wheel_joint"):
        load_recorded_run(path, control_dt=0.05)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="recording not found"):
        load_recorded_run(tmp_path / "none.mcap", control_dt=0.05)
