"""Read the signals a calibration needs from an MCAP recording (no running ROS graph).

Topics (the robot interface's names, in any namespace): wheel commands
`wheel_velocity_controller/commands`, `joint_states` (the two wheel joints), `odom` (forward
velocity; yaw rate when there is no IMU) are needed; `imu` (yaw rate), `tether_tension` and
`cmd_vel` (drawn in the figure) are used when present. Messages are ordered by their send
time (the recording's publish time): receive times jitter with the recorder's load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.calibration.recorded_run import (
    RecordedRun,
    RecordingError,
    TimedSamples,
    align_to_control_steps,
)
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.recording import read_recording, recording_topics

WHEEL_COMMANDS = robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME)
NEEDED = (WHEEL_COMMANDS, robot.JOINT_STATES_TOPIC, robot.ODOM_TOPIC)
OPTIONAL = (robot.IMU_TOPIC, robot.TETHER_TENSION_TOPIC, robot.CMD_VEL_TOPIC)


def find_topic(available: list[str], name: str) -> str | None:
    """Return the recorded topic called `name` (with or without a namespace); None when absent."""
    matches = [topic for topic in available if topic.rstrip("/").endswith("/" + name)]
    if len(matches) > 1:
        exact = [topic for topic in matches if topic == "/" + name]
        if len(exact) == 1:
            return exact[0]
        raise RecordingError(f"several recorded topics end in {name!r}: {matches}")
    return matches[0] if matches else None


def load_recorded_run(path: Path, control_dt: float, **checks: Any) -> RecordedRun:
    """Per-control-step arrays of a recording; RecordingError naming what is missing.

    `checks` go to `align_to_control_steps` (min_seconds, max_gap_seconds).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    topics = recording_topics(path)
    available = [topic for topic, (_, count) in topics.items() if count > 0]
    found = {name: find_topic(available, name) for name in NEEDED + OPTIONAL}
    missing = [name for name in NEEDED if found[name] is None]
    if missing:
        raise RecordingError(
            f"{path}: the recording has no messages on {', '.join(missing)} (it has: "
            f"{', '.join(sorted(available)) or 'nothing'}); record with `crawler-rl excite "
            "--record run.mcap`")
    samples = _collect(path, {name: topic for name, topic in found.items() if topic})
    yaw_source = robot.IMU_TOPIC if robot.IMU_TOPIC in samples else robot.ODOM_TOPIC + "_yaw"
    return align_to_control_steps(
        joint_states=samples[robot.JOINT_STATES_TOPIC], wheel_commands=samples[WHEEL_COMMANDS],
        yaw_rate=samples[yaw_source], forward_velocity=samples[robot.ODOM_TOPIC],
        control_dt=control_dt, tether_tension=samples.get(robot.TETHER_TENSION_TOPIC),
        commanded_twist=samples.get(robot.CMD_VEL_TOPIC), **checks)


def _wheel_velocities(message: Any) -> list[float] | None:
    indices = robot.joint_indices(list(message.name), robot.DEFAULT_WHEEL_JOINTS)
    if indices is None or len(message.velocity) <= max(indices):
        return None
    return [float(message.velocity[indices[0]]), float(message.velocity[indices[1]])]


def _twist(message: Any) -> list[float]:
    twist = getattr(message, "twist", message)  # Twist or TwistStamped
    return [float(twist.linear.x), float(twist.angular.z)]


def _wheel_command(message: Any) -> list[float] | None:
    data = list(message.data)
    return [float(data[0]), float(data[1])] if len(data) == 2 else None


EXTRACTORS: dict[str, Callable[[Any], Any]] = {
    WHEEL_COMMANDS: _wheel_command,
    robot.JOINT_STATES_TOPIC: _wheel_velocities,
    robot.ODOM_TOPIC: lambda message: float(message.twist.twist.linear.x),
    robot.ODOM_TOPIC + "_yaw": lambda message: float(message.twist.twist.angular.z),
    robot.IMU_TOPIC: lambda message: float(message.angular_velocity.z),
    robot.TETHER_TENSION_TOPIC: lambda message: float(message.data),
    robot.CMD_VEL_TOPIC: _twist,
}
"""Signal name -> value of one decoded message (None: the message does not carry it)."""


def _collect(path: Path, topics: dict[str, str]) -> dict[str, TimedSamples]:
    """Decode the needed topics once into timed samples per signal."""
    signals = {name: [name] for name in topics}
    signals[robot.ODOM_TOPIC] = [robot.ODOM_TOPIC, robot.ODOM_TOPIC + "_yaw"]
    by_topic = {topics[name]: signals[name] for name in topics}
    times: dict[str, list[int]] = {name: [] for names in signals.values() for name in names}
    values: dict[str, list[Any]] = {name: [] for name in times}
    for message in read_recording(path, topics=list(by_topic)):
        for name in by_topic[message.topic]:
            try:
                value = EXTRACTORS[name](message.message)
            except (AttributeError, TypeError, ValueError):
                value = None
            if value is not None:
                times[name].append(message.publish_time_ns or message.log_time_ns)
                values[name].append(value)
    if not times[robot.JOINT_STATES_TOPIC]:
        raise RecordingError(f"{topics[robot.JOINT_STATES_TOPIC]}: no message carries the "
                             f"velocities of {' and '.join(robot.DEFAULT_WHEEL_JOINTS)}")
    if not times[WHEEL_COMMANDS]:
        raise RecordingError(f"{topics[WHEEL_COMMANDS]}: no message carries 2 wheel speeds")
    collected = {}
    for name in times:
        order = np.argsort(np.array(times[name], dtype=np.int64), kind="stable")
        collected[name] = TimedSamples(
            source=topics.get(name, topics[robot.ODOM_TOPIC]),
            times_ns=np.array(times[name], dtype=np.int64)[order],
            values=np.array(values[name], dtype=np.float64)[order])
    return collected
