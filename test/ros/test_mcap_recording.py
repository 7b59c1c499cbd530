"""McapWriter / read_recording round trip with real rclpy serialization (no DDS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from crawler_rl.ros.robot.recording import (
    McapWriter,
    check_record_path,
    message_definition,
    read_recording,
    recording_topics,
)


def test_definition_carries_every_dependency() -> None:
    text = message_definition("nav_msgs/msg/Odometry")
    assert text.startswith("# This represents an estimate") or "child_frame_id" in text
    for dependency in ("std_msgs/Header", "geometry_msgs/PoseWithCovariance",
                       "geometry_msgs/Point", "geometry_msgs/Quaternion",
                       "builtin_interfaces/Time"):
        assert f"MSG: {dependency}\n" in text, dependency


def test_messages_read_back_with_their_topics_types_and_times(tmp_path: Path) -> None:
    path = tmp_path / "run.mcap"
    writer = McapWriter(path)
    writer.add_topic("/odom", "nav_msgs/msg/Odometry")
    writer.add_topic("/robot_description", "std_msgs/msg/String")
    writer.write("/robot_description", serialize_message(String(data="<robot/>")), 1_000)
    for index in range(5):
        odom = Odometry()
        odom.header.frame_id, odom.child_frame_id = "odom", "chassis"
        odom.header.stamp.sec, odom.header.stamp.nanosec = 7, index * 50_000_000
        odom.pose.pose.position.x = 0.1 * index
        odom.twist.twist.angular.z = -0.25
        writer.write("/odom", serialize_message(odom), 2_000 + index)
    writer.close()
    writer.close()  # idempotent
    assert recording_topics(path) == {"/odom": ("nav_msgs/msg/Odometry", 5),
                                      "/robot_description": ("std_msgs/msg/String", 1)}
    messages = list(read_recording(path))
    assert [m.topic for m in messages] == ["/robot_description"] + ["/odom"] * 5
    assert [m.log_time_ns for m in messages] == [1_000, 2_000, 2_001, 2_002, 2_003, 2_004]
    assert messages[0].message.data == "<robot/>"
    last = messages[-1]
    assert last.type_name == "nav_msgs/msg/Odometry"
    assert last.message.child_frame_id == "chassis"
    assert last.message.header.stamp.nanosec == 200_000_000
    assert last.message.pose.pose.position.x == pytest.approx(0.4)
    assert last.message.twist.twist.angular.z == -0.25
    only_odom = list(read_recording(path, topics=["/odom"]))
    assert len(only_odom) == 5


def test_bad_paths_and_unfinished_files_are_clear_errors(tmp_path: Path) -> None:
    assert check_record_path(tmp_path / "a" / "run.mcap").parent.is_dir()
    with pytest.raises(ValueError, match=r"\.mcap"):
        check_record_path(tmp_path / "run.bag")
    with pytest.raises(FileNotFoundError, match="recording not found"):
        next(read_recording(tmp_path / "missing.mcap"))
    unfinished = tmp_path / "cut.mcap"
    writer = McapWriter(unfinished)
    writer.add_topic("/odom", "nav_msgs/msg/Odometry")
    writer.write("/odom", serialize_message(Odometry()), 5)
    writer._stream.flush()  # a recorder killed before close: no summary section
    with pytest.raises(ValueError, match="not closed cleanly"):
        recording_topics(unfinished)
    writer.close()
