"""TwistDriver: the shared part of the nodes that drive a timed manoeuvre on `cmd_vel`.

square_path and excitation_driver publish a schedule of (v, omega) commands at `rate_hz`.
The schedule's clock starts `start_delay` s after the controller's first wheel command on
<controller_name>/commands ('': at once) and whatever else a driver waits for (`ready`), so
no part of it is cut short by a controller that came up late. Before the start the driver
publishes zero Twists; after the schedule's end it is `done`; `drive_until_done` always ends
with a zero Twist (also on Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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


def start_parameters(rate_hz: float) -> tuple[ParamSpec, ...]:
    """Return the parameters every TwistDriver declares (`rate_hz`: its default rate)."""
    return (
        ParamSpec("start_delay", 1.0, "hold still this long once the controller drives [s]",
                  low=0.0, high=60.0, read_only=True),
        ParamSpec("rate_hz", rate_hz, "republish rate [Hz]", low=1.0, high=100.0,
                  read_only=True),
        ParamSpec("controller_name", robot.DEFAULT_CONTROLLER_NAME,
                  "start once wheel commands appear on <name>/commands ('': at once)",
                  read_only=True),
    )


class TwistDriver(Node):
    """Publishes `command_at(elapsed)` on `cmd_vel` once `ready()`; `done` after its end."""

    def __init__(self, name: str, parameters: Sequence[ParamSpec], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.params = declare_validated(self, tuple(parameters))
        self.publisher = self.create_publisher(Twist, robot.CMD_VEL_TOPIC, robot.command_qos())
        self.done = False
        self.start: float | None = None
        self.controller_seen = not self.params["controller_name"]
        if not self.controller_seen:
            self.create_subscription(
                Float64MultiArray, robot.wheel_command_topic(self.params["controller_name"]),
                self.on_wheel_command, robot.command_qos())
        self.create_timer(1.0 / self.params["rate_hz"], self.publish_current)

    def on_wheel_command(self, _: Float64MultiArray) -> None:
        """Note that the controller drives."""
        self.controller_seen = True
        self.start_when_ready()

    def ready(self) -> bool:
        """Whether everything the schedule waits for is up (drivers add their own conditions)."""
        return self.controller_seen

    def start_when_ready(self) -> None:
        """Start the schedule's clock, `start_delay` s ahead, the first time `ready()` holds."""
        if self.start is None and self.ready():
            self.start = time.monotonic() + self.params["start_delay"]
            self.get_logger().info(f"{self.get_name()} started")

    def command_at(self, elapsed: float) -> tuple[float, float] | None:
        """(v, omega) `elapsed` s into the schedule (zero before it), None after its end."""
        raise NotImplementedError

    def publish_current(self) -> None:
        """Publish the current command (zero before the start and once the schedule is done)."""
        self.start_when_ready()
        command = (0.0, 0.0) if self.start is None else self.command_at(
            time.monotonic() - self.start)
        self.done = command is None
        self.publish_twist(*(command or (0.0, 0.0)))

    def publish_twist(self, v: float, omega: float) -> None:
        """Publish one Twist."""
        twist = Twist()
        twist.linear.x = float(v)
        twist.angular.z = float(omega)
        self.publisher.publish(twist)


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
