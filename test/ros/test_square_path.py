"""square_path waits for the controller: no side is cut short by a controller that came up late."""

from __future__ import annotations

import time

from geometry_msgs.msg import Twist
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import spin_until
from std_msgs.msg import Float64MultiArray

from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.square_path import SquarePathDriver


def start(context: Context, **parameters: object) -> tuple[SquarePathDriver, Node, list, object]:
    driver = SquarePathDriver(context=context, parameter_overrides=[
        Parameter(name, value=value) for name, value in {
            "rate_hz": 50.0, "speed": 0.1, "side_seconds": 60.0, "start_delay": 0.2,
            **parameters}.items()])
    controller = Node("fake_controller", context=context)
    heard: list[tuple[float, float]] = []
    controller.create_subscription(Twist, robot.CMD_VEL_TOPIC,
                                   lambda msg: heard.append((msg.linear.x, msg.angular.z)),
                                   robot.command_qos())
    wheels = controller.create_publisher(
        Float64MultiArray, robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
        robot.command_qos())
    executor = SingleThreadedExecutor(context=context)
    for node in (driver, controller):
        executor.add_node(node)
    return driver, wheels, heard, executor


def stop(executor: SingleThreadedExecutor) -> None:
    nodes = executor.get_nodes()
    executor.shutdown()
    for node in nodes:
        node.destroy_node()


def spin_for(executor: SingleThreadedExecutor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)


def test_the_square_starts_start_delay_after_the_first_wheel_command(
        ros_context: Context) -> None:
    driver, wheels, heard, executor = start(ros_context)
    try:
        spin_for(executor, 1.0)  # longer than start_delay: a clock started at launch would run
        assert heard and set(heard) == {(0.0, 0.0)}, heard[-3:]
        wheels.publish(Float64MultiArray(data=[0.0, 0.0]))  # the controller drives
        assert spin_until(executor, lambda: driver.start is not None, timeout=5.0)
        started = time.monotonic()
        assert spin_until(executor, lambda: heard[-1] == (0.1, 0.0), timeout=5.0)
        assert time.monotonic() - started >= 0.15  # start_delay 0.2 s, timer jitter aside
    finally:
        stop(executor)


def test_without_a_controller_name_the_square_starts_at_once(ros_context: Context) -> None:
    driver, _, heard, executor = start(ros_context, controller_name="")
    try:
        assert spin_until(executor, lambda: bool(heard) and heard[-1] == (0.1, 0.0),
                          timeout=5.0)
    finally:
        stop(executor)
