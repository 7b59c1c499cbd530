"""Hull surfaces: flat plate (deck / incline / vertical via tilted gravity) and a curved section.

Plates keep the steel at z = 0 and tilt gravity about the y axis, so "up-slope" is +x.
The curved section is a large cylinder along x whose top line is z = 0; gravity is tilted about
the x axis so the start point has the scenario's slope and driving along +y changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet as p
from pybullet_utils.bullet_client import BulletClient

CYLINDER_LENGTH = 60.0
"""Axial length of the curved section [m] (the crawler never reaches its ends in an episode)."""


@dataclass(frozen=True)
class Hull:
    """Geometry of one surface: gravity, surface normal and distance for any point."""

    surface: str
    slope_deg: float
    radius: float
    gravity: float

    @property
    def curved(self) -> bool:
        """True for the cylinder section."""
        return self.surface == "curved"

    def gravity_vector(self) -> np.ndarray:
        """Gravity in world coordinates [m/s^2]."""
        slope = math.radians(self.slope_deg)
        down = -self.gravity * math.cos(slope)
        along = -self.gravity * math.sin(slope)
        return np.array([0.0, along, down] if self.curved else [along, 0.0, down])

    def up_slope(self) -> np.ndarray:
        """Return the unit up-slope direction at the start point."""
        return np.array([0.0, 1.0, 0.0] if self.curved else [1.0, 0.0, 0.0])

    def normal_and_distance(self, point: np.ndarray) -> tuple[np.ndarray, float]:
        """Outward surface normal below `point` and the point's height above the steel."""
        if not self.curved:
            return np.array([0.0, 0.0, 1.0]), float(point[2])
        radial = np.array([0.0, point[1], point[2] + self.radius])
        length = float(np.linalg.norm(radial))
        if length < 1e-9:
            return np.array([0.0, 0.0, 1.0]), -self.radius
        return radial / length, length - self.radius

    def normal_height(
        self, point: tuple[float, float, float]
    ) -> tuple[float, float, float, float]:
        """Float-only `normal_and_distance` for the per-step path: (nx, ny, nz, height)."""
        if not self.curved:
            return 0.0, 0.0, 1.0, point[2]
        ry, rz = point[1], point[2] + self.radius
        length = math.sqrt(ry * ry + rz * rz)
        if length < 1e-9:
            return 0.0, 0.0, 1.0, -self.radius
        return 0.0, ry / length, rz / length, length - self.radius

    def anchor_point(self, distance: float) -> np.ndarray:
        """Tether anchor on the surface, `distance` up-slope of the start point (the deck edge)."""
        if not self.curved:
            return np.array([distance, 0.0, 0.0])
        angle = distance / self.radius
        return np.array(
            [0.0, self.radius * math.sin(angle), self.radius * math.cos(angle) - self.radius]
        )

    def create_body(self, client: BulletClient) -> int:
        """Create the static steel body in `client` and return its id."""
        if self.curved:
            shape = client.createCollisionShape(
                p.GEOM_CYLINDER, radius=self.radius, height=CYLINDER_LENGTH
            )
            visual = client.createVisualShape(
                p.GEOM_CYLINDER, radius=self.radius, length=CYLINDER_LENGTH,
                rgbaColor=[0.45, 0.5, 0.55, 1],
            )
            orientation = client.getQuaternionFromEuler([0.0, math.pi / 2, 0.0])
            return client.createMultiBody(
                0, shape, visual, [0.0, 0.0, -self.radius], orientation
            )
        shape = client.createCollisionShape(p.GEOM_PLANE)
        visual = client.createVisualShape(
            p.GEOM_BOX, halfExtents=[20.0, 20.0, 0.001], rgbaColor=[0.45, 0.5, 0.55, 1]
        )
        return client.createMultiBody(0, shape, visual, [0.0, 0.0, 0.0])
