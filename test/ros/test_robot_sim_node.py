"""robot_sim_node over real DDS (in-process): sensors, description, markers, wheel commands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import spin_until
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from visualization_msgs.msg import Marker, MarkerArray

from crawler_rl.ros.qos import latched_qos
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.robot_sim_node import RobotSimNode


class Listener:
    """Records the simulator's topics and sends wheel commands."""

    def __init__(self, context: Context) -> None:
        self.node = Node("listener", context=context)
        self.messages: dict[str, list] = {"odom": [], "imu": [], "joints": [], "tension": [],
                                          "markers": [], "description": []}
        sensor_qos = robot.sensor_subscription_qos()
        for key, kind, topic, qos in (
            ("odom", Odometry, robot.ODOM_TOPIC, sensor_qos),
            ("imu", Imu, robot.IMU_TOPIC, sensor_qos),
            ("joints", JointState, robot.JOINT_STATES_TOPIC, sensor_qos),
            ("tension", Float64, robot.TETHER_TENSION_TOPIC, sensor_qos),
            ("markers", MarkerArray, robot.MARKERS_TOPIC, 1),
            ("description", String, robot.ROBOT_DESCRIPTION_TOPIC, latched_qos()),
        ):
            self.node.create_subscription(kind, topic, self.messages[key].append, qos)
        self.wheels = self.node.create_publisher(
            Float64MultiArray, robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
            robot.command_qos())


def spin(executor: SingleThreadedExecutor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)


def start(context: Context, tmp_path: Path, **params: object) -> Iterator[tuple]:
    node = RobotSimNode(context=context, parameter_overrides=[
        Parameter(name, value=value) for name, value in {"sim_speed": 4.0, **params}.items()])
    listener = Listener(context)  # joins late: the description must still arrive (latched)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(listener.node)
    yield node, listener, executor
    executor.shutdown()
    node.close()
    node.destroy_node()
    listener.node.destroy_node()


@pytest.fixture()
def wall(ros_context: Context, tmp_path: Path) -> Iterator[tuple]:
    yield from start(ros_context, tmp_path, surface="vertical", tether_length=25.0,
                     record_path=str(tmp_path / "run.png"), record_every=2)


def test_drives_forward_and_publishes_the_robot_topics(wall: tuple, tmp_path: Path) -> None:
    node, listener, executor = wall
    spin(executor, 0.3)
    for _ in range(20):
        listener.wheels.publish(Float64MultiArray(data=[6.0, 6.0]))
        spin(executor, 0.05)
    spin(executor, 0.5)
    messages = listener.messages
    assert all(messages[key] for key in messages), {k: len(v) for k, v in messages.items()}
    assert "hull_crawler" in messages["description"][0].data
    speeds = [msg.twist.twist.linear.x for msg in messages["odom"][-10:]]
    assert np.mean(speeds) > 0.03  # 6 rad/s * 0.025 m = 0.15 m/s nominal, less up a wall
    assert messages["joints"][-1].velocity[0] > 1.0
    assert messages["tension"][-1].data > 1.0  # 25 m of tether hanging on a wall
    imu = messages["imu"][-1].orientation
    gravity = robot.gravity_from_orientation(np.array([imu.x, imu.y, imu.z, imu.w]))
    # The simulator may have stepped once more since that message: a loose match.
    np.testing.assert_allclose(gravity, node.sim.read_sensors().gravity_body, atol=0.1)
    assert abs(gravity[2]) < 0.2  # on a wall gravity lies in the plate, not through it
    kinds = {marker.type: marker for marker in messages["markers"][-1].markers}
    assert len(kinds[Marker.LINE_STRIP].points) >= 2
    node.close()
    assert (tmp_path / "run.png").stat().st_size > 1000


def test_ignores_malformed_wheel_commands(wall: tuple) -> None:
    node, listener, executor = wall
    spin(executor, 0.2)
    listener.wheels.publish(Float64MultiArray(data=[2.0, 2.0]))
    assert spin_until(executor, lambda: node.applied_commands == 1)
    for bad in ([float("nan"), 1.0], [1.0, 2.0, 3.0], [], [float("inf"), float("-inf")]):
        listener.wheels.publish(Float64MultiArray(data=bad))
    # all four arrived and were counted; the last good command still holds
    assert spin_until(executor, lambda: node.status()["bad_wheel_commands"] == 4)
    np.testing.assert_array_equal(node.wheel_command, [2.0, 2.0])
    listener.wheels.publish(Float64MultiArray(data=[-1.5, 3.0]))  # a good one is applied again
    assert spin_until(executor, lambda: node.applied_commands == 2)
    np.testing.assert_array_equal(node.wheel_command, [-1.5, 3.0])
    assert node.status()["bad_wheel_commands"] == 4


def test_deck_gravity_points_through_the_plate(ros_context: Context, tmp_path: Path) -> None:
    for _node, listener, executor in start(ros_context, tmp_path, surface="deck"):
        spin(executor, 0.5)
        imu = listener.messages["imu"][-1].orientation
        gravity = robot.gravity_from_orientation(np.array([imu.x, imu.y, imu.z, imu.w]))
        assert gravity[2] < -0.95


def test_a_surface_without_a_slope_gets_the_sim_s_usual_slope(ros_context: Context) -> None:
    from crawler_rl.sim.config import HULL_RADIUS_M, SURFACE_SLOPES_DEG

    node = RobotSimNode(context=ros_context,
                        parameter_overrides=[Parameter("surface", value="curved")])
    try:
        assert node.scenario.slope_deg == SURFACE_SLOPES_DEG["curved"]
        assert node.scenario.hull_radius == HULL_RADIUS_M
    finally:
        node.close()
        node.destroy_node()


def test_rejects_bad_scenario_parameters(ros_context: Context) -> None:
    with pytest.raises(ValueError, match="surface"):
        RobotSimNode(context=ros_context, parameter_overrides=[Parameter("surface",
                                                                         value="moon")])
    with pytest.raises(ValueError, match="replay path"):
        RobotSimNode(context=ros_context, parameter_overrides=[Parameter("record_path",
                                                                         value="/tmp/x.bmp")])


def test_lockstep_waits_for_the_answer_to_each_step(ros_context: Context,
                                                    tmp_path: Path) -> None:
    for node, listener, executor in start(ros_context, tmp_path, lockstep=True,
                                          lockstep_timeout=1.5):
        deadline = time.monotonic() + 5.0
        while node.steps == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
        spin(executor, 0.3)  # 24 step periods at x4, well inside the timeout: it waits
        assert node.steps == 1 and node.awaiting_command
        for _ in range(10):  # each answer releases exactly one more step
            steps = node.steps
            listener.wheels.publish(Float64MultiArray(data=[3.0, 3.0]))
            spin(executor, 0.1)
            assert node.steps == steps + 1
        assert node.late_commands == 0
        spin(executor, 2.0)  # no answers: it steps anyway after each timeout, and counts it
        assert node.late_commands >= 1
        assert node.steps - steps - 1 == node.late_commands


def test_free_running_without_lockstep(ros_context: Context, tmp_path: Path) -> None:
    for node, _listener, executor in start(ros_context, tmp_path):
        # x4 real time is 40 periods in 0.5 s; a loaded machine may take longer to reach 10.
        assert spin_until(executor, lambda n=node: n.steps >= 10, timeout=10.0)
        assert node.late_commands == 0


def test_publishes_no_tension_without_a_load_cell(ros_context: Context, tmp_path: Path) -> None:
    import yaml

    from crawler_rl.paths import config_path

    data = yaml.safe_load(config_path("crawler.yaml").read_text())
    data["sensors"]["tension_sensor"] = False
    crawler_config = tmp_path / "no_load_cell.yaml"
    crawler_config.write_text(yaml.safe_dump(data))
    for node, listener, executor in start(ros_context, tmp_path,
                                          crawler_config=str(crawler_config)):
        assert spin_until(executor, lambda n=node, heard=listener.messages: (
            n.steps >= 10 and bool(heard["odom"])), timeout=10.0)
        spin(executor, 0.3)  # time for a tension message, were one sent
        assert not listener.messages["tension"]  # silence: the controller's mask stays 0
