"""A run as a plain time series (`RunTrace`), recorded step by step from a `CrawlerSim`.

The replay figure, the animation and the web view all draw from it; eval and `deploy --sim`
record it the same way. Positions are in the simulator's world (the odom frame); `unroll` maps
them onto the hull surface (the plate itself, or the curved section cut open along its axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TETHER_POINTS = 16
"""Points per recorded tether polyline (resampled by arc length)."""


@dataclass(frozen=True)
class HullShape:
    """What the views need of the hull: plate or cylinder (axis x, top line z = 0), anchor."""

    curved: bool
    radius: float
    anchor: tuple[float, float, float]
    label: str = ""

    def unroll(self, points: np.ndarray) -> np.ndarray:
        """Surface coordinates (along x, across/around s) [m]. Shape: (..., 3) -> (..., 2).

        On the plate (x, y); on the cylinder s is the arc length from the top line, so +s is
        up-slope like +y at the start point.
        """
        points = np.asarray(points, dtype=np.float64)
        if not self.curved:
            return points[..., :2].copy()
        arc = self.radius * np.arctan2(points[..., 1], points[..., 2] + self.radius)
        return np.stack([points[..., 0], arc], axis=-1)

    def heading(self, position: np.ndarray, orientation: np.ndarray) -> np.ndarray:
        """Robot heading in the unrolled coordinates [rad]. Shape: (N, 3), (N, 4) -> (N,)."""
        forward = forward_axis(orientation)
        if not self.curved:
            return np.arctan2(forward[..., 1], forward[..., 0])
        angle = np.arctan2(position[..., 1], position[..., 2] + self.radius)
        around = forward[..., 1] * np.cos(angle) - forward[..., 2] * np.sin(angle)
        return np.arctan2(around, forward[..., 0])

    @property
    def axis_labels(self) -> tuple[str, str]:
        """Names of the two surface coordinates, for plots."""
        if self.curved:
            return "x along the hull axis [m]", "s around the hull (up-slope +) [m]"
        return "x (up-slope +) [m]", "y [m]"


def forward_axis(orientation: np.ndarray) -> np.ndarray:
    """Body x axis in the world for quaternions (x, y, z, w). Shape: (..., 4) -> (..., 3)."""
    x, y, z, w = (np.asarray(orientation, dtype=np.float64)[..., i] for i in range(4))
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=-1)


def resample_polyline(polyline: np.ndarray, points: int = TETHER_POINTS) -> np.ndarray:
    """Resample `polyline` evenly by arc length. Shape: (M, 3) -> (points, 3)."""
    polyline = np.asarray(polyline, dtype=np.float64).reshape(-1, 3)
    if len(polyline) == 1:
        return np.repeat(polyline, points, axis=0)
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])
    if lengths[-1] <= 0.0:
        return np.repeat(polyline[:1], points, axis=0)
    targets = np.linspace(0.0, lengths[-1], points)
    return np.stack([np.interp(targets, lengths, polyline[:, k]) for k in range(3)], axis=1)


@dataclass
class RunTrace:
    """One run, sample by sample.

    Shapes: t (N,), position (N, 3), orientation (N, 4), commanded / achieved (N, 2) as
    (v [m/s], omega [rad/s]), tether_tension (N,), tether (N, TETHER_POINTS, 3).
    """

    hull: HullShape
    footprint: tuple[float, float] = (0.2, 0.2)
    """Chassis length and width [m] (drawn as the robot)."""
    t: list[float] = field(default_factory=list)
    position: list[np.ndarray] = field(default_factory=list)
    orientation: list[np.ndarray] = field(default_factory=list)
    commanded: list[np.ndarray] = field(default_factory=list)
    achieved: list[np.ndarray] = field(default_factory=list)
    tether_tension: list[float] = field(default_factory=list)
    tether: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t: float, position: np.ndarray, orientation: np.ndarray,
            commanded: np.ndarray, achieved: np.ndarray, tether_tension: float,
            tether_polyline: np.ndarray) -> None:
        """Append one sample (copies; the tether is resampled to TETHER_POINTS)."""
        values = (position, orientation, commanded, achieved)
        if not all(np.all(np.isfinite(value)) for value in values):
            raise ValueError(f"non-finite sample at t={t!r}: {values!r}")
        self.t.append(float(t))
        self.position.append(np.array(position, dtype=np.float64).reshape(3))
        self.orientation.append(np.array(orientation, dtype=np.float64).reshape(4))
        self.commanded.append(np.array(commanded, dtype=np.float64).reshape(2))
        self.achieved.append(np.array(achieved, dtype=np.float64).reshape(2))
        self.tether_tension.append(float(tether_tension))
        self.tether.append(resample_polyline(tether_polyline))

    def add_from_sim(self, sim: Any, t: float, commanded: np.ndarray) -> None:
        """Append the current state of a `CrawlerSim` (true pose and twist, tether)."""
        position, orientation = sim.base_pose()
        self.add(t, position, orientation, commanded, np.asarray(sim.true_twist()),
                 sim.tether.tension, sim.tether_polyline())

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the samples as arrays (see the class docstring for shapes)."""
        if not self.t:
            raise ValueError("the run has no samples: it was too short")
        return {name: np.asarray(getattr(self, name)) for name in (
            "t", "position", "orientation", "commanded", "achieved", "tether_tension", "tether")}

    def tracking_rmse(self) -> tuple[float, float]:
        """RMSE of achieved vs commanded (v [m/s], omega [rad/s])."""
        data = self.arrays()
        error = data["achieved"] - data["commanded"]
        rmse = np.sqrt(np.mean(np.square(error), axis=0))
        return float(rmse[0]), float(rmse[1])


def trace_for_sim(sim: Any, label: str = "") -> RunTrace:
    """Start an empty `RunTrace` for the hull, anchor and chassis of a `CrawlerSim`."""
    hull = sim.params.hull
    body = sim.config.robot.body_size
    return RunTrace(
        hull=HullShape(curved=bool(hull.curved), radius=float(hull.radius),
                       anchor=tuple(float(v) for v in sim.anchor),
                       label=label or sim.scenario.label),
        footprint=(float(body[0]), float(body[1])),
    )
