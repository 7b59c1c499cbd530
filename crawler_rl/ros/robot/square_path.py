"""square_path: drive a square on `cmd_vel` the way teleop_twist_keyboard does, then stop.

Forward for `side_seconds`, turn in place for `turn_seconds`, four times; republishes the held
key's Twist at `rate_hz` and always ends with a zero Twist (also on Ctrl-C). The square starts
`start_delay` s after the controller's first wheel command (`controller_name`; '': after
start-up), so no side is cut short by a controller that came up late.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import rclpy
import rclpy.duration
from geometry_msgs.msg import Twist
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Float64MultiArray

from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.runtime import build_or_exit
from crawler_rl.ros.signals import dump_stacks_on_sigusr1
from crawler_rl.stopping import stop_on_signals

PARAMETERS = (
    ParamSpec("speed", 0.1, "forward speed on the sides [m/s]", low=-1.0, high=1.0),
    ParamSpec("turn_rate", 0.5, "yaw rate in the corners [rad/s]", low=-5.0, high=5.0),
    ParamSpec("side_seconds", 4.0, "time per side [s]", low=0.0, high=600.0),
    ParamSpec("turn_seconds", math.pi / 2 / 0.5, "time per corner [s]", low=0.0, high=600.0),
    ParamSpec("start_delay", 1.0, "wait before the first side [s]", low=0.0, high=60.0),
    ParamSpec("rate_hz", 10.0, "republish rate [Hz]", low=1.0, high=100.0),
    ParamSpec("controller_name", robot.DEFAULT_CONTROLLER_NAME,
              "start once wheel commands appear on <name>/commands ('': at once)",
              read_only=True),
)


def square_schedule(speed: float, turn_rate: float, side_seconds: float,
                    turn_seconds: float) -> list[tuple[float, float, float]]:
    """(v, omega, seconds) segments of one square: side, corner, side, corner ..."""
    return [segment for _ in range(4)
            for segment in ((speed, 0.0, side_seconds), (0.0, turn_rate, turn_seconds))]


class TwistDriver(Node):
    """A node that drives on `cmd_vel` until `done` (square_path, excitation_driver)."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.publisher = self.create_publisher(Twist, robot.CMD_VEL_TOPIC, robot.command_qos())
        self.done = False
        self.controller_seen = False

    def watch_controller(self, controller_name: str) -> None:
        """Watch <controller_name>/commands: its first wheel command sets `controller_seen`."""
        self.create_subscription(Float64MultiArray, robot.wheel_command_topic(controller_name),
                                 self.on_wheel_command, robot.command_qos())

    def on_wheel_command(self, _: Float64MultiArray) -> None:
        """Note that the controller drives."""
        self.controller_seen = True
        self.start_when_ready()

    def start_when_ready(self) -> None:
        """Start the manoeuvre's clock once what it waits for is up (drivers override)."""

    def publish_twist(self, v: float, omega: float) -> None:
        """Publish one Twist."""
        twist = Twist()
        twist.linear.x = float(v)
        twist.angular.z = float(omega)
        self.publisher.publish(twist)


class SquarePathDriver(TwistDriver):
    """Publishes the square's Twist commands on a timer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("square_path", **kwargs)
        self.params = declare_validated(self, PARAMETERS)
        param = self.params.__getitem__
        self.schedule = square_schedule(param("speed"), param("turn_rate"),
                                        param("side_seconds"), param("turn_seconds"))
        self.start: float | None = None
        if param("controller_name"):
            self.watch_controller(param("controller_name"))
        else:
            self.controller_seen = True
            self.start_when_ready()
        self.create_timer(1.0 / param("rate_hz"), self.publish_current)

    def start_when_ready(self) -> None:
        """Start the square's clock at the controller's first wheel command."""
        if self.start is None and self.controller_seen:
            self.start = time.monotonic() + self.params["start_delay"]
            self.get_logger().info("the controller drives: the square started")

    def current_command(self, elapsed: float) -> tuple[float, float] | None:
        """Return the held command `elapsed` s into the square (None after the last segment)."""
        if elapsed < 0.0:
            return 0.0, 0.0
        for v, omega, seconds in self.schedule:
            if elapsed < seconds:
                return v, omega
            elapsed -= seconds
        return None

    def publish_current(self) -> None:
        """Publish the current segment's Twist (zero once the square is done)."""
        command = (0.0, 0.0) if self.start is None else self.current_command(
            time.monotonic() - self.start)
        self.done = command is None
        self.publish_twist(*(command or (0.0, 0.0)))


def drive_until_done(make_node: Callable[[], TwistDriver], name: str,
                     args: list[str] | None = None) -> None:
    """Spin a TwistDriver until it is done or stopped; a zero Twist goes out in every case.

    A `ValueError` while building the node (bad parameters) is logged as fatal and exits 2.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = stop_on_signals()
    dump_stacks_on_sigusr1()
    node = build_or_exit(make_node, name)
    try:
        while rclpy.ok() and not node.done and not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.publish_twist(0.0, 0.0)
        node.publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=0.5))
        node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> None:
    """Drive one square, then stop; a zero Twist goes out in every case."""
    drive_until_done(SquarePathDriver, "square_path", args)


if __name__ == "__main__":
    main()
