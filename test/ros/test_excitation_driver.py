"""excitation_driver waits for the recorder, so a recording never misses the manoeuvre's start."""

from __future__ import annotations

import time
from pathlib import Path

from geometry_msgs.msg import Twist
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.deploy_graph import RECORDER
from crawler_rl.ros.robot.excitation_driver import ExcitationDriver
from crawler_rl.ros.robot.excite import EXCITATION_DRIVER, excite_graph


def driver_parameters(record: Path | None) -> dict:
    graph = excite_graph(sim=True, policy=None, record=record, time_scale=1.0)
    (driver,) = [node for node in graph.nodes if node.name == EXCITATION_DRIVER]
    return driver.parameters


def test_excite_waits_for_the_recorder_only_when_it_records(tmp_path: Path) -> None:
    assert driver_parameters(tmp_path / "run.mcap")["wait_for_recorder"] == RECORDER
    assert driver_parameters(None)["wait_for_recorder"] == ""


def spin(executor: SingleThreadedExecutor, seconds: float, every: object) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        every()
        executor.spin_once(timeout_sec=0.02)


def test_the_manoeuvre_starts_only_once_the_recorder_subscribes(ros_context: Context) -> None:
    driver = ExcitationDriver(context=ros_context, parameter_overrides=[
        Parameter("wait_for_recorder", value="fake_recorder"),
        Parameter("start_delay", value=0.0)])
    robot_side = Node("fake_robot", context=ros_context)
    joints = robot_side.create_publisher(JointState, robot.JOINT_STATES_TOPIC,
                                         robot.sensor_publisher_qos())
    wheels = robot_side.create_publisher(
        Float64MultiArray, robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
        robot.command_qos())
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (driver, robot_side):
        executor.add_node(node)

    def publish() -> None:
        joints.publish(JointState())
        wheels.publish(Float64MultiArray(data=[0.0, 0.0]))

    recorder = None
    try:
        spin(executor, 1.5, publish)
        assert driver.robot_seen and driver.controller_seen
        assert driver.start is None, "started before the recorder was there"
        recorder = Node("fake_recorder", context=ros_context)
        recorder.create_subscription(JointState, robot.JOINT_STATES_TOPIC, lambda _: None,
                                     robot.sensor_subscription_qos())
        recorder.create_subscription(Twist, robot.CMD_VEL_TOPIC, lambda _: None,
                                     robot.command_qos())
        executor.add_node(recorder)
        deadline = time.monotonic() + 10.0
        while driver.start is None and time.monotonic() < deadline:
            spin(executor, 0.1, publish)
        assert driver.start is not None, "never started although the recorder subscribed"
    finally:
        executor.shutdown()
        for node in (driver, robot_side, recorder):
            if node is not None:
                node.destroy_node()
