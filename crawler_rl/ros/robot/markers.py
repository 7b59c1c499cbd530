"""RViz markers of the simulated scene: hull surface, tether line, commanded vs achieved velocity.

All markers are in the odometry frame (the simulator's world: steel at z = 0, gravity tilted).
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from crawler_rl.sim.scenario import Scenario

NAMESPACE = "crawler_sim"
PLATE_SIZE = 6.0
"""Edge of the drawn plate [m] (the physics plane is infinite)."""
ARROW_SCALE = 3.0
"""Drawn arrow length per m/s of forward velocity [m/(m/s)]."""
HULL, TETHER, COMMANDED, ACHIEVED, LABEL = range(5)


def _color(r: float, g: float, b: float, a: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=r, g=g, b=b, a=a)


def _marker(frame_id: str, marker_id: int, kind: int, color: ColorRGBA) -> Marker:
    marker = Marker()
    marker.header.frame_id = frame_id
    marker.ns = NAMESPACE
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.color = color
    marker.pose.orientation.w = 1.0
    return marker


def hull_marker(scenario: Scenario, frame_id: str) -> Marker:
    """Draw the steel: a thin plate at z = 0, or the curved section's cylinder (axis x)."""
    color = _color(0.45, 0.5, 0.55, 0.6)
    if scenario.surface == "curved":
        marker = _marker(frame_id, HULL, Marker.CYLINDER, color)
        diameter = 2.0 * scenario.hull_radius
        marker.scale.x, marker.scale.y, marker.scale.z = diameter, diameter, PLATE_SIZE
        marker.pose.position.z = -scenario.hull_radius
        # Cylinder markers extend along z: turn the axis onto x.
        marker.pose.orientation.y = float(np.sqrt(0.5))
        marker.pose.orientation.w = float(np.sqrt(0.5))
        return marker
    marker = _marker(frame_id, HULL, Marker.CUBE, color)
    marker.scale.x, marker.scale.y, marker.scale.z = PLATE_SIZE, PLATE_SIZE, 0.002
    marker.pose.position.z = -0.001
    return marker


def tether_marker(polyline: np.ndarray, frame_id: str) -> Marker:
    """Draw the tether from its anchor to the robot as a line strip. Shape: polyline (N, 3)."""
    marker = _marker(frame_id, TETHER, Marker.LINE_STRIP, _color(0.9, 0.2, 0.1))
    marker.scale.x = 0.01
    marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in polyline]
    return marker


def velocity_markers(
    position: np.ndarray,
    orientation: np.ndarray,
    commanded_twist: np.ndarray,
    achieved_twist: np.ndarray,
    frame_id: str,
) -> list[Marker]:
    """Arrows for commanded (blue) and achieved (green) forward velocity, plus a text label."""
    markers = []
    for marker_id, twist, color, lift in (
        (COMMANDED, commanded_twist, _color(0.2, 0.4, 1.0), 0.06),
        (ACHIEVED, achieved_twist, _color(0.1, 0.9, 0.2), 0.08),
    ):
        marker = _marker(frame_id, marker_id, Marker.ARROW, color)
        marker.scale.x = max(abs(float(twist[0])) * ARROW_SCALE, 1e-3)
        marker.scale.y = marker.scale.z = 0.015
        marker.pose.position.x, marker.pose.position.y = float(position[0]), float(position[1])
        marker.pose.position.z = float(position[2]) + lift
        x, y, z, w = (float(value) for value in orientation)
        if twist[0] < 0:  # point backwards: q * (half a turn about the body z axis)
            x, y, z, w = y, -x, w, -z
        marker.pose.orientation.x, marker.pose.orientation.y = x, y
        marker.pose.orientation.z, marker.pose.orientation.w = z, w
        markers.append(marker)
    label = _marker(frame_id, LABEL, Marker.TEXT_VIEW_FACING, _color(1.0, 1.0, 1.0))
    label.scale.z = 0.05
    label.pose.position.x, label.pose.position.y = float(position[0]), float(position[1])
    label.pose.position.z = float(position[2]) + 0.2
    label.text = (
        f"cmd v={commanded_twist[0]:+.3f} w={commanded_twist[1]:+.2f}\n"
        f"got v={achieved_twist[0]:+.3f} w={achieved_twist[1]:+.2f}"
    )
    markers.append(label)
    return markers


def scene_markers(
    scenario: Scenario,
    tether_polyline: np.ndarray,
    position: np.ndarray,
    orientation: np.ndarray,
    commanded_twist: np.ndarray,
    achieved_twist: np.ndarray,
    frame_id: str,
    stamp: object,
) -> MarkerArray:
    """All scene markers for one time step, stamped."""
    markers = [hull_marker(scenario, frame_id), tether_marker(tether_polyline, frame_id)]
    markers += velocity_markers(position, orientation, commanded_twist, achieved_twist, frame_id)
    for marker in markers:
        marker.header.stamp = stamp
    return MarkerArray(markers=markers)
