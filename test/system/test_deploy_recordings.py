"""`crawler-rl deploy --sim --record`: an MCAP of every topic, a replay figure, and the RViz
config checked against what the graph really published (real processes, DDS, PyBullet)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import yaml
from ros_domains import random_domain_id

from crawler_rl.paths import config_path
from crawler_rl.ros.robot.deploy import build_graph
from crawler_rl.ros.robot.deploy_graph import RVIZ_CONFIG
from crawler_rl.ros.robot.recording import RecordedMessage, read_recording, recording_topics

pytestmark = pytest.mark.slow

GRAPH_TOPICS = {
    "/cmd_vel": "geometry_msgs/msg/Twist",
    "/odom": "nav_msgs/msg/Odometry",
    "/imu": "sensor_msgs/msg/Imu",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/tether_tension": "std_msgs/msg/Float64",
    "/wheel_velocity_controller/commands": "std_msgs/msg/Float64MultiArray",
    "/markers": "visualization_msgs/msg/MarkerArray",
    "/robot_description": "std_msgs/msg/String",
}
"""What the sim deploy graph publishes (robot_sim_node, controller_node, square_path)."""
SECONDS = 15.0
"""Long enough that the nodes' start-up (seconds when the 2 cores are busy) leaves a run."""


def deploy(record: Path, seconds: float) -> tuple[int, int, str]:
    """Run `crawler-rl deploy --sim --record` in its own ROS domain; wall ns before and after."""
    env = {**os.environ, "ROS_DOMAIN_ID": str(random_domain_id()),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.pop("ROS_LOCALHOST_ONLY", None)
    start = time.time_ns()
    result = subprocess.run(
        [sys.executable, "-m", "crawler_rl.cli", "deploy", "--sim", "--record", str(record),
         "--duration", str(seconds)],
        env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return start, time.time_ns(), output


@pytest.fixture(scope="module")
def mcap_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("mcap") / "run.mcap"
    start, end, output = deploy(path, SECONDS)
    messages: dict[str, list[RecordedMessage]] = {}
    for message in read_recording(path):
        messages.setdefault(message.topic, []).append(message)
    yield {"path": path, "start": start, "end": end, "output": output, "messages": messages}


def test_mcap_holds_every_topic_with_types_counts_and_times(mcap_run: dict[str, Any]) -> None:
    topics = recording_topics(mcap_run["path"])
    assert {topic: kind for topic, (kind, _) in topics.items()
            if topic in GRAPH_TOPICS} == GRAPH_TOPICS, topics
    messages = mcap_run["messages"]
    odom = messages["/odom"]
    # 20 Hz in lockstep with the controller once every node is up: 2 s of simulated time at
    # least, also when start-up took most of the run.
    assert len(odom) >= 40, topics
    for topic in ("/imu", "/joint_states", "/tether_tension", "/markers"):
        assert abs(len(messages[topic]) - len(odom)) <= 5, topics  # published with each step
    assert len(messages["/wheel_velocity_controller/commands"]) >= len(odom) // 2
    assert len(messages["/cmd_vel"]) >= 5
    (description,) = messages["/robot_description"]
    assert "<robot" in description.message.data
    for topic, recorded in messages.items():
        times = [m.log_time_ns for m in recorded]
        assert times == sorted(times), topic
        assert mcap_run["start"] <= times[0] and times[-1] <= mcap_run["end"], topic
    stamps = [m.message.header.stamp.sec * 10**9 + m.message.header.stamp.nanosec for m in odom]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    # Stamped by the simulator, received by the recorder shortly after.
    lags = np.array([m.log_time_ns for m in odom]) - np.array(stamps)
    assert np.all(lags >= 0) and np.median(lags) < 0.5e9
    first, last = (m.message.pose.pose.position for m in (odom[0], odom[-1]))
    assert np.hypot(last.x - first.x, last.y - first.y) > 0.05  # the square drive moved it
    assert "wrote" in mcap_run["output"] or "recorded the run" in mcap_run["output"]


def rviz_references(node: Any, found: dict[str, set[str]]) -> dict[str, set[str]]:
    """Topics and frames named anywhere in an RViz config tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Topic", "Description Topic") and isinstance(value, dict):
                found["topics"].add(value["Value"])
            elif key in ("Fixed Frame", "Reference Frame", "Target Frame") and \
                    value != "<Fixed Frame>":
                found["frames"].add(value)
            else:
                rviz_references(value, found)
    elif isinstance(node, list):
        for item in node:
            rviz_references(item, found)
    return found


def test_rviz_config_names_only_what_the_graph_publishes(mcap_run: dict[str, Any]) -> None:
    config = yaml.safe_load(config_path(RVIZ_CONFIG).read_text())
    references = rviz_references(config, {"topics": set(), "frames": set()})
    messages = mcap_run["messages"]
    assert references["topics"] >= {"/odom", "/markers", "/robot_description"}
    assert references["topics"] <= set(messages), references["topics"] - set(messages)
    odom = messages["/odom"][-1].message
    marker_frames = {marker.header.frame_id for m in messages["/markers"][-5:]
                     for marker in m.message.markers}
    assert references["frames"] == {odom.header.frame_id} == marker_frames
    urdf = messages["/robot_description"][0].message.data
    assert f'<link name="{odom.child_frame_id}"' in urdf  # the robot model hangs off it


def test_png_record_is_the_replay_figure(tmp_path: Path) -> None:
    path = tmp_path / "run.png"
    deploy(path, SECONDS)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (448, 880)
    robot = np.all(np.abs(image[:, :440, :3] - np.array([0xF2, 0xC2, 0x00]) / 255) < 0.15,
                   axis=2)
    assert robot.mean() > 0.001, "the robot is not drawn on the hull"


def test_record_and_view_options_shape_the_graph(tmp_path: Path) -> None:
    policy, mcap, png = tmp_path / "c.onnx", tmp_path / "run.mcap", tmp_path / "run.png"
    on_robot = build_graph(False, policy, mcap, None)
    assert [spec.executable for spec in on_robot.nodes] == ["recorder_node", "controller_node"]
    assert on_robot.nodes[0].parameters == {"output": str(mcap.resolve())}
    simulated = build_graph(True, None, mcap, 5.0, view=9000)
    assert [spec.executable for spec in simulated.nodes] == [
        "recorder_node", "controller_node", "robot_sim_node", "square_path", "web_view_node"]
    assert "record_path" not in simulated.nodes[2].parameters
    assert simulated.nodes[-1].parameters == {"port": 9000}
    replay = build_graph(True, None, png, None)
    assert replay.nodes[1].parameters["record_path"] == str(png.resolve())
    with pytest.raises(ValueError, match="a .mcap recording works on the robot"):
        build_graph(False, policy, png, None)
