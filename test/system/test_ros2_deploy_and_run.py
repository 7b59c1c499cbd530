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
    SMOKE_CONFIG,
    Ros2Process,
    nothing_left,
    require_launch_ros,
    wait_until,
)
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from crawler_rl.ros.robot import robot_interface as robot

require_launch_ros()  # else the whole module is skipped, saying why
pytestmark = pytest.mark.slow
POLICY = REPO / "test" / "data" / "controller.onnx"
START_S = 90.0
"""Longest wait for the first message of freshly started nodes (imports, discovery, 2 cores)."""


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

    def node_names(self) -> set[str]:
        """Fully qualified names of the nodes discovered in the test's domain."""
        return {f"{ns.rstrip('/')}/{name}"
                for name, ns in self.node.get_node_names_and_namespaces()}

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
        launch.interrupt()
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


LEARNER_READY, INFERENCE_READY = "learner: CrawlerVelocity-v0 obs", "inference: policy on"
RUN_COMMANDS = {
    # executable: (arguments after --ros-args, its node names, what it logs once set up)
    "actor_node": (["-p", "num_envs:=1"], {"/actor"}, ["actor 0: 1 x"]),
    "inference_node": ([], {"/inference"}, [INFERENCE_READY]),
    "learner_node": (["-p", f"config_file:={SMOKE_CONFIG}", "-p", "run_dir:=learner_run"],
                     {"/learner"}, [LEARNER_READY]),
    "head_node": (["-r", "__ns:=/head", "-p", f"config_file:={SMOKE_CONFIG}",
                   "-p", "run_dir:=head_run"], {"/head/inference", "/head/learner"},
                  [INFERENCE_READY, LEARNER_READY]),
    "controller_node": (["-p", "use_ik_fallback:=true"], {"/controller_node"},
                        ["controller ready"]),
    "robot_sim_node": ([], {"/robot_sim_node"}, ["simulating vertical"]),
    "square_path": (["-p", "side_seconds:=120.0"], {"/square_path"}, []),
    "excitation_driver": ([], {"/excitation_driver"}, ["excitation of"]),
    "recorder_node": (["-p", "output:=run.mcap"], {"/recorder_node"}, ["recording every topic"]),
    "web_view_node": (["-p", "port:=0"], {"/web_view_node"}, []),
}
SIGINT_EXIT_CODES = {"learner_node": 130}
"""A learner stopped on its own writes its final checkpoint and exits 130 (docs/stopping.md);
every other node exits 0 on Ctrl-C."""


def test_ros2_run_starts_every_node_and_ctrl_c_stops_it(
    colcon_install: Path, ros_context: Context, ros_domain: int, tmp_path: Path
) -> None:
    probe = OdometryProbe(ros_context)
    runs: dict[str, Ros2Process] = {}
    expected = set().union(*(names for _, names, _ in RUN_COMMANDS.values()))

    def set_up() -> bool:
        """Every node discovered, every process through its set-up (a node's name is
        discoverable from its first line on, long before a learner has built its model)."""
        return expected <= probe.node_names() and all(
            marker in runs[name].text()
            for name, (_, _, markers) in RUN_COMMANDS.items() for marker in markers)

    try:
        for executable, (arguments, _, _) in RUN_COMMANDS.items():
            runs[executable] = Ros2Process(
                colcon_install, tmp_path / f"{executable}.log", "run", "crawler_rl",
                executable, "--ros-args", *arguments, cwd=tmp_path)
        up = probe.spin_until(set_up, 2 * START_S)
        logs = {name: run.tail(1500) for name, run in runs.items()}
        assert up, (expected - probe.node_names(), logs)
        pids = [pid for run in runs.values() for pid in [run.pid, *run.descendants()]]
        for run in runs.values():
            run.ctrl_c()
        codes = {name: run.wait(CLEAN_EXIT_S) for name, run in runs.items()}
    finally:
        probe.close()
        for run in runs.values():
            run.stop()
    assert codes == {name: SIGINT_EXIT_CODES.get(name, 0) for name in RUN_COMMANDS}, {
        name: runs[name].tail(1500) for name, code in codes.items() if code}
    assert nothing_left(ros_domain, pids) == {}


def test_deploy_launch_starts_the_controller_disabled_and_refuses_a_bad_model(
    colcon_install: Path, ros_domain: int, tmp_path: Path
) -> None:
    good = Ros2Process(colcon_install, tmp_path / "good.log", "launch", "crawler_rl",
                       "deploy.launch.py", f"policy:={POLICY}", cwd=tmp_path)
    bad_model = tmp_path / "controller.onnx"
    bad_model.write_bytes(b"not an onnx model")
    bad = Ros2Process(colcon_install, tmp_path / "bad.log", "launch", "crawler_rl",
                      "deploy.launch.py", f"policy:={bad_model}", cwd=tmp_path)
    try:
        # A controller that refuses its model is a required node failing: the launch ends.
        bad_code = bad.wait(START_S)
        assert wait_until(lambda: "disabled: call ~/enable" in good.text(), START_S), (
            good.tail())
        pids = good.descendants()
        good.interrupt()
        good_code = good.wait(CLEAN_EXIT_S)
    finally:
        good.stop()
        bad.stop()
    assert bad_code != 0 and "refusing to start" in bad.text(), bad.tail()
    assert "required node controller_node-1 exited with code 2" in bad.text(), bad.tail()
    assert good_code == 0, good.tail()
    assert "escalating" not in good.text(), good.tail()
    assert nothing_left(ros_domain, pids) == {}
