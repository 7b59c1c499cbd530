"""Transforms of the crawler's links from its URDF (so no robot_state_publisher is needed).

Publishing /tf needs tf2_msgs, which is not on PyPI: `tf_message_type()` returns None when it is
missing and the simulator then publishes odometry and joint states only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import numpy as np

from crawler_rl.sim.tether import quat_multiply


@dataclass(frozen=True)
class UrdfJoint:
    """One joint: parent -> child at a fixed origin, turning about `axis` when not fixed."""

    name: str
    kind: str
    parent: str
    child: str
    xyz: np.ndarray
    rpy: np.ndarray
    axis: np.ndarray


def _floats(text: str | None, default: str) -> np.ndarray:
    return np.array([float(value) for value in (text or default).split()])


def parse_joints(urdf: str) -> list[UrdfJoint]:
    """All joints of a URDF document."""
    joints = []
    for joint in ElementTree.fromstring(urdf).iter("joint"):
        origin = joint.find("origin")
        axis = joint.find("axis")
        joints.append(UrdfJoint(
            name=joint.get("name", ""),
            kind=joint.get("type", "fixed"),
            parent=joint.find("parent").get("link"),
            child=joint.find("child").get("link"),
            xyz=_floats(origin.get("xyz") if origin is not None else None, "0 0 0"),
            rpy=_floats(origin.get("rpy") if origin is not None else None, "0 0 0"),
            axis=_floats(axis.get("xyz") if axis is not None else None, "1 0 0"),
        ))
    return joints


def quat_from_rpy(rpy: np.ndarray) -> np.ndarray:
    """(x, y, z, w) of fixed-axis roll, pitch, yaw (URDF convention)."""
    roll, pitch, yaw = 0.5 * np.asarray(rpy, dtype=np.float64)
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), \
        np.cos(yaw), np.sin(yaw)
    return np.array([
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    ])


def joint_transform(joint: UrdfJoint, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (translation, quaternion) of child in parent for a joint angle [rad]."""
    rotation = quat_from_rpy(joint.rpy)
    if joint.kind in ("revolute", "continuous"):
        axis = joint.axis / np.linalg.norm(joint.axis)
        turn = np.array([*(np.sin(0.5 * angle) * axis), np.cos(0.5 * angle)])
        rotation = quat_multiply(rotation, turn)
    return joint.xyz, rotation


def tf_message_type() -> type | None:
    """tf2_msgs/TFMessage when importable, else None."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage
