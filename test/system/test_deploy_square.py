"""The learned controller tracks a teleop-style square on a vertical wall with a long tether
clearly better (RMSE) than the IK fallback, and on the 45 deg plate better than the tuned PI
fallback, over real DDS between processes.

Needs the trained model at test/data/controller.onnx (provided with the repository).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import MessageInfo
from std_msgs.msg import Float64MultiArray

from crawler_rl.ros.graph import NodeSpec
from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.deploy_graph import SQUARE_PATH, sim_deploy_graph

POLICY = Path(__file__).resolve().parents[1] / "data" / "controller.onnx"
SCENARIO = {"surface": "vertical", "tether_length": 25.0, "seed": 3}
PLATE = {**SCENARIO, "surface": "incline"}  # the 45 deg plate
SPEED, TURN_RATE = 0.1, 0.6
# Each command is held for seconds, as a person holds a teleop key. Every change of command
# costs both controllers the same ~2 odometry samples of pure delay (the controller's next step,
# one control period, the odometry's own one-step delay): with 3 s sides and 2 s turns that
# delay alone put the best possible ratio near 0.44x, so the test could not tell controllers
# apart. With 6 s / 4 s holds the steady tracking, which the controller sets, dominates.
SQUARE = {"speed": SPEED, "turn_rate": TURN_RATE, "side_seconds": 6.0,
          "turn_seconds": 4.0, "start_delay": 2.0}
RUN_LIMIT_S = 90.0


@dataclass
class TrackingLog:
    """Commanded and achieved twists with their publishers' send times (DDS source stamps).

    Each odometry message is paired with the last cmd_vel *sent* before it, so the pairing does
    not depend on when this (possibly CPU-starved) recorder gets to read its queues. Only
    odometry after the controller's first wheel command counts: square_path starts on its own
    clock, and on a loaded machine the controller (onnxruntime) can come up after the simulator.
    """

    commands: list[tuple[int, float, float]] = field(default_factory=list)
    odometry: list[tuple[int, float, float]] = field(default_factory=list)
    first_wheel_command: int | None = None

    def on_wheel_command(self, msg: Float64MultiArray, info: MessageInfo) -> None:
        if self.first_wheel_command is None:
            self.first_wheel_command = info["source_timestamp"]

    def on_cmd_vel(self, msg: Twist, info: MessageInfo) -> None:
        self.commands.append((info["source_timestamp"], msg.linear.x, msg.angular.z))

    def on_odometry(self, msg: Odometry, info: MessageInfo) -> None:
        twist = msg.twist.twist
        self.odometry.append((info["source_timestamp"], twist.linear.x, twist.angular.z))

    @property
    def pairs(self) -> np.ndarray:
        """(v_cmd, omega_cmd, v, omega) per odometry message sent after the first cmd_vel and
        the controller's first wheel command."""
        commands = np.array(sorted(self.commands)).reshape(-1, 3)
        odometry = np.array(sorted(self.odometry)).reshape(-1, 3)
        in_force = np.searchsorted(commands[:, 0], odometry[:, 0], side="right") - 1
        controlled = (odometry[:, 0] >= self.first_wheel_command
                      if self.first_wheel_command is not None else np.zeros(len(odometry), bool))
        keep = (in_force >= 0) & controlled
        return np.hstack([commands[in_force[keep], 1:], odometry[keep, 1:]])

    def normalized_rmse(self) -> float:
        """RMSE of (v, omega) errors, each divided by the square's speed / turn rate."""
        data = self.pairs
        errors = (data[:, 0:2] - data[:, 2:4]) / np.array([SPEED, TURN_RATE])
        return float(np.sqrt(np.mean(np.sum(errors**2, axis=1))))


def drive_square(policy: Path, use_ik_fallback: bool, domain: int,
                 fallback: str | None = None, scenario: dict | None = None) -> TrackingLog:
    """Run controller + simulated crawler + square driver as processes; log the tracking.

    `fallback` ("ik" or "pi") drives with controller_node's classical fallback instead;
    `scenario`: the simulator's parameters (default SCENARIO, the wall).
    """
    graph = sim_deploy_graph(policy, use_ik_fallback=use_ik_fallback,
                             scenario=scenario or SCENARIO, fallback=fallback)
    graph.nodes.append(NodeSpec(executable=SQUARE_PATH, name=SQUARE_PATH, parameters=SQUARE))
    processes = ProcessGraph(graph)
    processes.env["ROS_DOMAIN_ID"] = str(domain)
    context = Context()
    rclpy.init(context=context, domain_id=domain, signal_handler_options=SignalHandlerOptions.NO)
    log = TrackingLog()
    node = Node("tracking_recorder", context=context)
    node.create_subscription(Twist, robot.CMD_VEL_TOPIC, log.on_cmd_vel, robot.command_qos())
    node.create_subscription(Odometry, robot.ODOM_TOPIC, log.on_odometry,
                             robot.sensor_subscription_qos())
    node.create_subscription(Float64MultiArray,
                             robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
                             log.on_wheel_command, robot.command_qos())
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        processes.start()
        deadline = time.monotonic() + RUN_LIMIT_S
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            finished = processes.poll()
            assert set(finished) <= {SQUARE_PATH}, f"a node stopped early: {finished}"
            if SQUARE_PATH in finished:
                break
        else:
            pytest.fail(f"the square did not finish within {RUN_LIMIT_S} s")
    finally:
        codes = processes.shutdown()
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    assert codes[SQUARE_PATH] == 0
    return log


MAX_RATIO_TO_IK = 0.5  # issue 5: learned RMSE at most half of the IK fallback's
MAX_RATIO_TO_PI = 0.97
"""Against the tuned PI fallback on the plate: the checked-in model (one-step corrections,
2026-12-05) scored 0.90-0.92x in five runs, the PI 0.199-0.200 (docs/baseline.md). On the wall
it is ahead too (0.79-0.96x) but slips there make single runs chaotic: no assertion there."""


def assert_drove(log: TrackingLog) -> None:
    assert len(log.pairs) > 200, "too few odometry messages: the run did not happen"
    assert np.max(log.pairs[:, 2]) > 0.3 * SPEED, "the crawler never moved forward"


@pytest.mark.slow
def test_learned_controller_clearly_beats_ik_on_the_square(ros_domain: int) -> None:
    assert POLICY.is_file(), f"trained controller missing: {POLICY} (export one there)"
    learned = drive_square(POLICY, False, ros_domain)
    baseline = drive_square(POLICY, True, ros_domain)
    for log in (learned, baseline):
        assert_drove(log)
    rmse = f"learned RMSE {learned.normalized_rmse():.3f} vs IK {baseline.normalized_rmse():.3f}"
    print(rmse)
    assert learned.normalized_rmse() <= MAX_RATIO_TO_IK * baseline.normalized_rmse(), rmse


@pytest.mark.slow
def test_learned_controller_beats_the_pi_fallback_on_the_plate(ros_domain: int) -> None:
    assert POLICY.is_file(), f"trained controller missing: {POLICY} (export one there)"
    learned = drive_square(POLICY, False, ros_domain, scenario=PLATE)
    pi = drive_square(POLICY, False, ros_domain, fallback="pi", scenario=PLATE)
    for log in (learned, pi):
        assert_drove(log)
    rmse = f"learned RMSE {learned.normalized_rmse():.4f} vs PI {pi.normalized_rmse():.4f}"
    print(rmse)
    assert learned.normalized_rmse() <= MAX_RATIO_TO_PI * pi.normalized_rmse(), rmse
