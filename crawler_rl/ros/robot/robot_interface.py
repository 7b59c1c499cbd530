"""Topics, QoS and message conversions between the controller and the robot (real or simulated).

Topics (publisher QoS): `cmd_vel` Twist/TwistStamped (reliable, depth 10); `odom` Odometry,
`imu` Imu, `joint_states` JointState, `tether_tension` Float64 (reliable, depth 5);
`<controller>/commands` Float64MultiArray [left, right] rad/s (reliable, depth 10);
`robot_description` String (reliable, transient local, depth 1).

The controller *subscribes* to sensors best-effort (sensor data QoS): that matches both reliable
and best-effort drivers, and an old reading is worth nothing once a newer one exists. Commands are
reliable both ways, as ros2_control's forward controllers expect. `robot_description` is latched.
"""

from __future__ import annotations

import numpy as np
from rclpy.qos import (
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

CMD_VEL_TOPIC = "cmd_vel"
ODOM_TOPIC = "odom"
IMU_TOPIC = "imu"
JOINT_STATES_TOPIC = "joint_states"
TETHER_TENSION_TOPIC = "tether_tension"
ROBOT_DESCRIPTION_TOPIC = "robot_description"
MARKERS_TOPIC = "markers"
DEFAULT_CONTROLLER_NAME = "wheel_velocity_controller"
DEFAULT_WHEEL_JOINTS = ("left_wheel_joint", "right_wheel_joint")


def wheel_command_topic(controller_name: str) -> str:
    """Topic of a ros2_control forward velocity controller's commands."""
    return f"{controller_name}/commands"


def command_qos() -> QoSProfile:
    """Reliable QoS for velocity and wheel commands."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
    )


def sensor_publisher_qos() -> QoSProfile:
    """Reliable publisher QoS for sensors: compatible with reliable and best-effort readers."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE
    )


def sensor_subscription_qos() -> QoSProfile:
    """Best-effort reader QoS for sensors: matches every publisher, newest reading wins."""
    return qos_profile_sensor_data




def gravity_from_orientation(quaternion_xyzw: np.ndarray) -> np.ndarray:
    """Return the unit gravity direction in the body frame from the body->world quaternion.

    gravity_body = R^T (0, 0, -1), i.e. minus the third row of R.
    """
    x, y, z, w = np.asarray(quaternion_xyzw, dtype=np.float64) / np.linalg.norm(quaternion_xyzw)
    return -np.array([2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)])


def gravity_from_accelerometer(linear_acceleration: np.ndarray) -> np.ndarray:
    """Return the unit gravity direction in the body frame from a (static) accelerometer.

    The accelerometer measures specific force, which points *up* at rest.
    """
    accel = np.asarray(linear_acceleration, dtype=np.float64)
    norm = float(np.linalg.norm(accel))
    if not np.isfinite(norm) or norm < 1e-6:
        return np.full(3, np.nan)
    return -accel / norm


def joint_indices(names: list[str], wheel_joints: tuple[str, str]) -> tuple[int, int] | None:
    """Positions of the (left, right) wheel joints in a JointState's names, None if absent."""
    try:
        return names.index(wheel_joints[0]), names.index(wheel_joints[1])
    except ValueError:
        return None


def orientation_from_gravity(gravity_body: np.ndarray) -> np.ndarray:
    """Return an IMU orientation (x, y, z, w) with gravity direction `gravity_body` (yaw 0).

    Inverse of `gravity_from_orientation`: the shortest rotation taking gravity_body to
    (0, 0, -1), as a gravity-referenced IMU would report it.
    """
    down = np.array([0.0, 0.0, -1.0])
    gravity = np.asarray(gravity_body, dtype=np.float64)
    gravity = gravity / np.linalg.norm(gravity)
    cosine = float(gravity @ down)
    if cosine < -1.0 + 1e-9:  # upside down: any half turn about a horizontal axis
        return np.array([1.0, 0.0, 0.0, 0.0])
    quat = np.array([*np.cross(gravity, down), 1.0 + cosine])
    return quat / np.linalg.norm(quat)
