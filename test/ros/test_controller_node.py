"""controller_node over real DDS (in-process): driving, staleness, NaN output, enable, params."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from controller_models import make_controller_onnx
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool

from crawler_rl.control.onnx_runner import ModelContractError
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.controller_node import ControllerNode


@pytest.fixture()
def context(ros_context: Context) -> Context:
    return ros_context


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_controller_onnx(tmp_path_factory.mktemp("model") / "controller.onnx")


class FakeRobot:
    """Publishes the robot's state and a velocity command, records wheel commands."""

    def __init__(self, context: Context) -> None:
        self.node = Node("fake_robot", context=context)
        qos = robot.sensor_publisher_qos()
        self.odom = self.node.create_publisher(Odometry, robot.ODOM_TOPIC, qos)
        self.imu = self.node.create_publisher(Imu, robot.IMU_TOPIC, qos)
        self.joints = self.node.create_publisher(JointState, robot.JOINT_STATES_TOPIC, qos)
        self.cmd = self.node.create_publisher(Twist, robot.CMD_VEL_TOPIC, robot.command_qos())
        self.commands: list[np.ndarray] = []
        self.node.create_subscription(
            Float64MultiArray,
            robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
            lambda msg: self.commands.append(np.array(msg.data)),
            robot.command_qos(),
        )

    def publish_state(self) -> None:
        odom = Odometry()
        odom.twist.twist.linear.x = 0.05
        self.odom.publish(odom)
        imu = Imu()
        imu.orientation.w = 1.0
        imu.angular_velocity.z = 0.01
        self.imu.publish(imu)
        self.joints.publish(JointState(name=list(robot.DEFAULT_WHEEL_JOINTS),
                                       velocity=[2.0, 2.0], position=[0.0, 0.0]))

    def publish_cmd(self, v: float, omega: float = 0.0) -> None:
        twist = Twist()
        twist.linear.x = v
        twist.angular.z = omega
        self.cmd.publish(twist)


def run_for(executor: SingleThreadedExecutor, seconds: float,
            every_20ms: Callable[[], None] | None = None) -> None:
    end = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < end:
        if every_20ms is not None and time.monotonic() >= next_tick:
            every_20ms()
            next_tick += 0.02
        executor.spin_once(timeout_sec=0.005)


def make_node(context: Context, **params: object) -> ControllerNode:
    overrides = [Parameter(name, value=value) for name, value in params.items()]
    return ControllerNode(context=context, parameter_overrides=overrides)


@pytest.fixture()
def rig(context: Context, model_path: Path) -> Iterator[tuple]:
    node = make_node(context, policy_path=str(model_path), start_enabled=True,
                     command_timeout=0.2, state_timeout=0.2)
    fake = FakeRobot(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(fake.node)
    yield node, fake, executor
    executor.shutdown()
    node.destroy_node()
    fake.node.destroy_node()


def test_drives_with_the_policy_when_inputs_are_fresh(rig: tuple) -> None:
    node, fake, executor = rig
    run_for(executor, 0.8, lambda: (fake.publish_state(), fake.publish_cmd(0.1, 0.2)))
    # Disabling publishes one zero and steps no more: the command before it is the one of
    # the final last_obs, however far the fake robot's reading lagged behind.
    node.set_enabled(False)
    run_for(executor, 0.2)
    assert len(fake.commands) >= 5 and np.all(fake.commands[-1] == 0.0)
    last = fake.commands[-2]
    assert np.all(np.isfinite(last)) and np.any(last != 0.0)
    expected = node.controller.policy.wheel_speeds(node.controller.last_obs)
    np.testing.assert_allclose(last, expected, rtol=1e-6)
    np.testing.assert_allclose(node.controller.last_obs[:4], [0.1, 0.2, 0.05, 0.01], rtol=1e-6)


def test_stale_command_zeroes_the_wheels(rig: tuple) -> None:
    node, fake, executor = rig
    run_for(executor, 0.5, lambda: (fake.publish_state(), fake.publish_cmd(0.1)))
    assert np.any(fake.commands[-1] != 0.0)
    count = len(fake.commands)
    run_for(executor, 0.6, fake.publish_state)  # command goes stale after 0.2 s
    after = np.array(fake.commands[count:])
    np.testing.assert_array_equal(after[-4:], np.zeros((4, 2)))


def test_stale_state_zeroes_the_wheels(rig: tuple) -> None:
    node, fake, executor = rig
    run_for(executor, 0.5, lambda: (fake.publish_state(), fake.publish_cmd(0.1)))
    assert np.any(fake.commands[-1] != 0.0)
    count = len(fake.commands)
    run_for(executor, 0.6, lambda: fake.publish_cmd(0.1))  # state goes stale after 0.2 s
    after = np.array(fake.commands[count:])
    np.testing.assert_array_equal(after[-4:], np.zeros((4, 2)))
    assert "odom" in node.last_fault and "cmd_vel" not in node.last_fault


def test_non_finite_model_output_zeroes_the_wheels(rig: tuple) -> None:
    node, fake, executor = rig
    run_for(executor, 0.5, lambda: (fake.publish_state(), fake.publish_cmd(2.0)))  # NaN model
    assert len(fake.commands) >= 3
    assert np.all(np.array(fake.commands) == 0.0)
    assert "non-finite model output" in node.last_fault


def test_bad_readings_are_counted_zero_the_wheels_and_good_ones_drive_again(
    rig: tuple,
) -> None:
    node, fake, executor = rig
    tension = fake.node.create_publisher(Float64, robot.TETHER_TENSION_TOPIC,
                                         robot.sensor_publisher_qos())
    good = lambda: (fake.publish_state(), fake.publish_cmd(0.1, 0.2))  # noqa: E731
    run_for(executor, 0.4, good)
    assert np.any(fake.commands[-1] != 0.0)
    run_for(executor, 0.3, lambda: (fake.publish_state(), fake.publish_cmd(float("nan"))))
    assert np.all(fake.commands[-3:] == np.zeros(2)) and "non-finite command" in node.last_fault
    imu = Imu()
    imu.orientation.w = 0.0  # all-zero quaternion: no orientation at all
    fake.imu.publish(imu)
    run_for(executor, 0.05)
    fake.joints.publish(JointState(name=["tether_drum"], velocity=[1.0]))
    run_for(executor, 0.05)
    tension.publish(Float64(data=float("inf")))
    run_for(executor, 0.05)
    status = node.status()
    assert status["non_finite_cmd_vel"] >= 5, status
    assert (status["non_finite_imu"], status["joint_states_without_wheels"],
            status["non_finite_tether_tension"]) == (1, 1, 1), status
    tension.publish(Float64(data=5.0))
    run_for(executor, 0.4, good)
    assert np.any(fake.commands[-1] != 0.0) and node.last_fault == ""


def test_disabled_until_enabled_and_one_zero_on_disable(context: Context,
                                                        model_path: Path) -> None:
    node = make_node(context, policy_path=str(model_path))
    fake = FakeRobot(context)
    client = fake.node.create_client(SetBool, "controller_node/enable")
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(fake.node)

    def drive() -> None:
        fake.publish_state()
        fake.publish_cmd(0.1)

    run_for(executor, 0.4, drive)
    assert fake.commands == []
    for enable in (True, False):
        future = client.call_async(SetBool.Request(data=enable))
        executor.spin_until_future_complete(future, timeout_sec=5.0)
        assert future.result().success
        run_for(executor, 0.4, drive)
        if enable:
            assert np.any(fake.commands[-1] != 0.0)
            count = len(fake.commands)
    np.testing.assert_array_equal(fake.commands[count:], [np.zeros(2)])
    executor.shutdown()


def test_parameters_are_validated_on_change(context: Context, model_path: Path) -> None:
    node = make_node(context, policy_path=str(model_path))
    assert not node.set_parameters([Parameter("command_timeout", value=-1.0)])[0].successful
    assert not node.set_parameters([Parameter("control_trigger", value="sometimes")])[0].successful
    assert not node.set_parameters([Parameter("control_rate_hz", value=50.0)])[0].successful
    assert node.set_parameters([Parameter("max_wheel_speed", value=3.0)])[0].successful
    assert node.controller.limiter.max_wheel_speed == 3.0
    assert node.set_parameters([Parameter("use_ik_fallback", value=True)])[0].successful
    assert node.controller.use_ik_fallback
    ik_only = make_node(context, use_ik_fallback=True)
    assert not ik_only.set_parameters([Parameter("use_ik_fallback", value=False)])[0].successful


def test_fallback_and_pi_gain_parameters(context: Context, model_path: Path) -> None:
    node = make_node(context, policy_path=str(model_path), use_fallback=True, fallback="ik",
                     pi_ki_omega=7.5)
    assert node.controller.source == "ik" and node.controller.pi.gains.ki_omega == 7.5
    assert node.set_parameters([Parameter("fallback", value="pi")])[0].successful
    assert node.controller.source == "pi"
    assert node.set_parameters([Parameter("pi_kp_v", value=0.25)])[0].successful
    assert node.controller.pi.gains.kp_v == 0.25
    assert not node.set_parameters([Parameter("pi_kp_v", value=-1.0)])[0].successful
    assert not node.set_parameters([Parameter("fallback", value="pid")])[0].successful
    assert node.set_parameters([Parameter("use_fallback", value=False)])[0].successful
    assert node.controller.source == "policy"
    pi_only = make_node(context, use_fallback=True)
    assert pi_only.controller.source == "pi"
    assert not pi_only.set_parameters([Parameter("use_fallback", value=False)])[0].successful


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "policy_path is empty"),
        ({"policy_path": "/nonexistent/controller.onnx"}, "does not exist"),
        ({"control_rate_hz": 50.0}, "control_dt"),
        ({"wheel_radius": 0.03}, "wheel_radius"),
        ({"state_timeout": 0.0}, "state_timeout"),
    ],
)
def test_refuses_to_start_with_a_clear_message(context: Context, model_path: Path,
                                               params: dict, message: str) -> None:
    if params.get("policy_path") is None and params:
        params = {"policy_path": str(model_path), **params}
    with pytest.raises(ValueError, match=message):
        make_node(context, **params)


def test_refuses_a_model_with_the_wrong_input_shape(context: Context, tmp_path: Path) -> None:
    path = make_controller_onnx(tmp_path / "wide.onnx", obs_dim=20)
    with pytest.raises(ModelContractError, match=r"shape \['batch', 20\]"):
        make_node(context, policy_path=str(path))


def test_gravity_from_orientation_points_down_when_level_and_sideways_on_a_wall() -> None:
    np.testing.assert_allclose(robot.gravity_from_orientation(np.array([0, 0, 0, 1.0])),
                               [0, 0, -1], atol=1e-12)
    # Pitched 90 deg nose-up (about body y): gravity points along body -x.
    half = np.sqrt(0.5)
    np.testing.assert_allclose(robot.gravity_from_orientation(np.array([0, -half, 0, half])),
                               [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(robot.gravity_from_accelerometer(np.array([0, 0, 9.81])),
                               [0, 0, -1], atol=1e-12)


def test_imu_orientation_round_trips_the_gravity_direction() -> None:
    rng = np.random.default_rng(1)
    for gravity in [*rng.normal(size=(20, 3)), np.array([0.0, 0.0, 1.0])]:
        gravity = gravity / np.linalg.norm(gravity)
        quat = robot.orientation_from_gravity(gravity)
        np.testing.assert_allclose(robot.gravity_from_orientation(quat), gravity, atol=1e-9)
