"""Tether models behind one interface: `LumpedTether` (analytic, default) and `ChainTether`.

Lumped model, the force on the robot's tether mount (all along the hull's tangent plane):
- weight: the robot carries `hanging_fraction` of the deployed tether's weight, down-slope;
- hull drag: Coulomb-like drag of the deployed length, opposing the mount's velocity
  (smoothed with tanh(speed / drag_speed_scale));
- winch pretension towards the anchor (its direction turns as the crawler moves).
All three grow with deployed length except the pretension. The chain model is a multibody of
spherical-jointed capsules from the anchor to the mount, pinned to it by a point-to-point
constraint: the tether's shape, its hull friction and a taut tether's hard stop come from the
physics. It runs at the default timing (12 substeps of 1/240 s, 20 solver iterations) and costs
about 16x the lumped env with 12 links (bench/sim_throughput.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet as p
from pybullet_utils.bullet_client import BulletClient

from crawler_rl.sim.hull import Hull

Vec3 = tuple[float, float, float]

CHAIN_SLACK_FRACTION = 0.5
"""The chain's anchor lies at most this fraction of the deployed length from the start."""
MIN_LINK_MASS = 1e-3
"""Lower bound of a chain link's mass [kg] (a weightless tether config keeps a solvable chain)."""


@dataclass
class TetherParams:
    """Per-episode tether parameters (after randomization)."""

    length: float
    weight_per_metre: float
    hanging_fraction: float
    drag_per_metre: float
    drag_speed_scale: float
    pretension: float


def _tangent(vector: np.ndarray, normal: np.ndarray) -> np.ndarray:
    return vector - float(vector @ normal) * normal


def sag_polyline(
    hull: Hull, anchor: np.ndarray, mount: np.ndarray, length: float, points: int
) -> np.ndarray:
    """Points anchor -> mount of a tether of `length` whose slack hangs down-slope as a V."""
    chord = mount - anchor
    distance = float(np.linalg.norm(chord))
    midpoint = 0.5 * (anchor + mount)
    normal, _ = hull.normal_and_distance(midpoint)
    # The V opens across the chord (so its legs have the full length), on the down-slope side.
    across = np.cross(normal, chord if distance > 1e-9 else np.array([1.0, 0.0, 0.0]))
    down = across if float(across @ hull.gravity_vector()) >= 0.0 else -across
    down = down / max(float(np.linalg.norm(down)), 1e-12)
    depth = math.sqrt(max(0.25 * length * length - 0.25 * distance * distance, 0.0))
    vertex = midpoint + depth * down
    first = float(np.linalg.norm(vertex - anchor))
    second = float(np.linalg.norm(mount - vertex))
    total = max(first + second, 1e-12)
    result = np.empty((points, 3))
    for index, s in enumerate(np.linspace(0.0, total, points)):
        if s <= first:
            result[index] = anchor + (vertex - anchor) * (s / max(first, 1e-12))
        else:
            result[index] = vertex + (mount - vertex) * ((s - first) / max(second, 1e-12))
    if hull.curved:  # lay the points back onto the cylinder
        for index in range(points):
            normal, height = hull.normal_and_distance(result[index])
            result[index] -= height * normal
    return result


class LumpedTether:
    """Analytic tether force at the mount; cheap enough for training."""

    applies_force = True

    def __init__(self) -> None:
        self.hull: Hull | None = None
        self.anchor = np.zeros(3)
        self.params: TetherParams | None = None
        self.tension = 0.0
        self.force = self.applied_force = (0.0, 0.0, 0.0)

    def reset(self, hull: Hull, anchor: np.ndarray, params: TetherParams) -> None:
        """Start an episode on `hull` with the tether anchored at `anchor`."""
        self.hull, self.anchor, self.params = hull, np.asarray(anchor, float), params
        self._gravity = tuple(hull.gravity_vector().tolist())
        self._anchor = tuple(self.anchor.tolist())
        self.tension = 0.0
        self.force = self.applied_force = (0.0, 0.0, 0.0)

    def update(self, mount: Vec3, mount_velocity: Vec3, normal: Vec3) -> None:
        """Recompute `force` (world, on the robot) and `tension` for the mount's state.

        Float arithmetic (runs every control step).
        """
        params = self.params
        nx, ny, nz = normal
        weight = params.hanging_fraction * params.weight_per_metre * params.length
        gx, gy, gz = self._gravity
        dot = gx * nx + gy * ny + gz * nz
        fx, fy, fz = weight * (gx - dot * nx), weight * (gy - dot * ny), weight * (gz - dot * nz)
        dx, dy, dz = (self._anchor[0] - mount[0], self._anchor[1] - mount[1],
                      self._anchor[2] - mount[2])
        dot = dx * nx + dy * ny + dz * nz
        dx, dy, dz = dx - dot * nx, dy - dot * ny, dz - dot * nz
        distance = math.sqrt(dx * dx + dy * dy + dz * dz)
        if distance > 1e-6:
            scale = params.pretension / distance
            fx, fy, fz = fx + scale * dx, fy + scale * dy, fz + scale * dz
        vx, vy, vz = mount_velocity
        dot = vx * nx + vy * ny + vz * nz
        vx, vy, vz = vx - dot * nx, vy - dot * ny, vz - dot * nz
        speed = math.sqrt(vx * vx + vy * vy + vz * vz)
        if speed > 1e-9:
            drag = params.drag_per_metre * params.length
            scale = drag * math.tanh(speed / params.drag_speed_scale) / speed
            fx, fy, fz = fx - scale * vx, fy - scale * vy, fz - scale * vz
        self.force = self.applied_force = (fx, fy, fz)
        self.tension = math.sqrt(fx * fx + fy * fy + fz * fz)

    def polyline(self, mount: np.ndarray, points: int = 16) -> np.ndarray:
        """Approximate tether shape anchor -> mount (for markers)."""
        return sag_polyline(self.hull, self.anchor, np.asarray(mount), self.params.length, points)


class ChainTether:
    """Multibody chain of spherical-jointed capsules from the hull anchor, pinned to the mount.

    Physical values derived from the lumped model's parameters, so both describe one tether:
    link mass = weight per metre x link length; the links' friction on the steel makes a
    fully dragged tether cost `drag_per_metre` per metre (mu = drag / (weight x g)); the winch
    pretension pulls the mount along the tether's last link. Rebuilt whenever `world_key`
    changes (the caller then re-saves its world state).
    """

    applies_force = True
    """The sim applies `applied_force` (the winch pretension); the pin carries the rest."""
    COLLISION_GROUP = 2

    def __init__(self, client: BulletClient, links: int, radius: float) -> None:
        self.client, self.links, self.radius = client, links, radius
        self.body = -1
        self.constraint = -1
        self.built_length = -1.0
        self.hull: Hull | None = None
        self.anchor = np.zeros(3)
        self.params: TetherParams | None = None
        self.tension = 0.0
        self.force = (0.0, 0.0, 0.0)
        self.applied_force = (0.0, 0.0, 0.0)

    @staticmethod
    def anchor_distance(configured: float, length: float) -> float:
        """Anchor distance for a tether of `length`: a chain needs slack to reach the mount.

        A real tether shorter than the configured distance could not be deployed there; the
        anchor moves closer (to half the length) so the chain starts slack, as the lumped model
        assumes. Only the distance changes: the anchor stays up-slope of the start.
        """
        return min(configured, CHAIN_SLACK_FRACTION * length)

    @staticmethod
    def world_key(params: TetherParams) -> tuple[float, ...]:
        """Return the parameters baked into the chain body (a change needs a rebuild)."""
        return tuple(round(value, 9) for value in (
            params.length, params.weight_per_metre, params.drag_per_metre))

    def build(self, hull: Hull, anchor: np.ndarray, params: TetherParams, robot: int,
              mount_link: int, mount: np.ndarray) -> None:
        """(Re)create the chain body and its pin to the robot's tether mount."""
        client = self.client
        self.remove()
        self.hull, self.anchor, self.params = hull, np.asarray(anchor, float), params
        n = self.links
        segment = params.length / n
        shape = client.createCollisionShape(
            p.GEOM_CAPSULE, radius=self.radius, height=max(segment - 2 * self.radius, 1e-3),
            collisionFramePosition=[0.0, 0.0, 0.5 * segment],
        )
        mass = max(params.weight_per_metre * segment, MIN_LINK_MASS)
        self.body = client.createMultiBody(
            0.0, -1, -1, self._base_position().tolist(), [0, 0, 0, 1],
            linkMasses=[mass] * n, linkCollisionShapeIndices=[shape] * n,
            linkVisualShapeIndices=[-1] * n,
            linkPositions=[[0.0, 0.0, 0.0]] + [[0.0, 0.0, segment]] * (n - 1),
            linkOrientations=[[0, 0, 0, 1]] * n,
            linkInertialFramePositions=[[0.0, 0.0, 0.5 * segment]] * n,
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
            linkParentIndices=list(range(n)), linkJointTypes=[p.JOINT_SPHERICAL] * n,
            linkJointAxis=[[0, 0, 1]] * n,
        )
        friction = params.drag_per_metre / max(params.weight_per_metre * hull.gravity, 1e-9)
        for link in range(n):
            client.setCollisionFilterGroupMask(self.body, link, self.COLLISION_GROUP, 1)
            client.changeDynamics(self.body, link, lateralFriction=friction)
            # Free spherical joints with a little friction (the tether's bending stiffness).
            client.setJointMotorControlMultiDof(
                self.body, link, p.POSITION_CONTROL, targetPosition=[0, 0, 0, 1],
                positionGain=0.0, velocityGain=1.0, force=[0.02, 0.02, 0.02],
            )
        self.lay_out(mount)
        self.constraint = client.createConstraint(
            self.body, n - 1, robot, mount_link, p.JOINT_POINT2POINT, [0, 0, 0],
            [0.0, 0.0, 0.5 * segment], [0.0, 0.0, 0.0],
        )
        self.built_length = params.length

    def lay_out(self, mount: np.ndarray) -> None:
        """Put the chain on its sagging path from the anchor to `mount`, at rest."""
        mount = np.asarray(mount)
        segment = self.params.length / self.links
        # Corner cutting makes the chain reach further than its path: lengthen the path's V
        # (bisection) until the last link ends at the mount.
        low, high = self.params.length, 2.0 * self.params.length
        for _ in range(20):
            path_length = 0.5 * (low + high)
            path = sag_polyline(self.hull, self.anchor, mount, path_length, 400)
            points, beyond = _fit_chain(path, segment, self.links)
            low, high = (path_length, high) if beyond > 0.0 else (low, path_length)
        points = points + self.radius * np.array(
            [self.hull.normal_and_distance(point)[0] for point in points]
        )
        parent = np.array([0.0, 0.0, 0.0, 1.0])
        for link in range(self.links):
            direction = points[link + 1] - points[link]
            world = _quat_z_to(direction / max(float(np.linalg.norm(direction)), 1e-12))
            relative = quat_multiply(_quat_conj(parent), world)
            self.client.resetJointStateMultiDof(self.body, link, relative.tolist(), [0, 0, 0])
            parent = world

    def _base_position(self) -> np.ndarray:
        # The chain's fixed base sits one radius above the steel: a first link that starts in
        # the hull penetrates it at a pinned end, and the contact solver then flings the whole
        # chain (24 m/s within one 1/240 s step for a 30 m tether).
        return self.anchor + self.radius * self.hull.normal_and_distance(self.anchor)[0]

    def update(self, mount: Vec3, mount_velocity: Vec3, normal: Vec3) -> None:
        """Read the pin force and aim the pretension; sets `force`, `applied_force`, `tension`.

        `force` is the whole tether force on the robot (pin + pretension, world frame).
        """
        fx, fy, fz = self.client.getConstraintState(self.constraint)[:3]
        # The winch pulls the tether in: at the robot, along the last link towards the anchor.
        joint = self.client.getLinkState(self.body, self.links - 1)[4]
        dx, dy, dz = joint[0] - mount[0], joint[1] - mount[1], joint[2] - mount[2]
        scale = self.params.pretension / max(math.sqrt(dx * dx + dy * dy + dz * dz), 1e-9)
        self.applied_force = (scale * dx, scale * dy, scale * dz)
        # getConstraintState reports the pin's force on the robot (child body): it points along
        # the tether, as a tether pulls.
        fx, fy, fz = fx + scale * dx, fy + scale * dy, fz + scale * dz
        self.force = (fx, fy, fz)
        self.tension = math.sqrt(fx * fx + fy * fy + fz * fz)

    def polyline(self, mount: np.ndarray, points: int = 0) -> np.ndarray:
        """Joint positions anchor -> mount."""
        states = self.client.getLinkStates(self.body, list(range(self.links)))
        return np.array([self.anchor] + [state[4] for state in states[1:]] + [np.asarray(mount)])

    def remove(self) -> None:
        """Delete the chain from the world."""
        if self.constraint >= 0:
            self.client.removeConstraint(self.constraint)
        if self.body >= 0:
            self.client.removeBody(self.body)
        self.body, self.constraint, self.built_length = -1, -1, -1.0


def _fit_chain(path: np.ndarray, segment: float, links: int) -> tuple[np.ndarray, float]:
    """Joint points along a dense `path`, consecutive points exactly `segment` apart.

    Links left over at the path's end continue straight on; returns the points and how far the
    last one lies beyond the path's end (negative: the chain ends short of it).
    """
    points = [path[0]]
    index = 1
    beyond = 0.0
    for _ in range(links):
        current = points[-1]
        while index < len(path) - 1 and np.linalg.norm(path[index] - current) < segment:
            index += 1
        if np.linalg.norm(path[-1] - current) < segment and index == len(path) - 1:
            direction = path[-1] - path[-2]
            points.append(current + segment * direction / np.linalg.norm(direction))
            beyond += segment
            continue
        before, after = path[index - 1], path[index]
        # Solve |before + t (after - before) - current| = segment for t in [0, 1].
        step, offset = after - before, before - current
        a, b, c = step @ step, 2.0 * step @ offset, offset @ offset - segment * segment
        t = (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a) if a > 1e-12 else 1.0
        points.append(before + min(max(t, 0.0), 1.0) * step)
    if beyond == 0.0:
        beyond = -float(np.linalg.norm(path[-1] - points[-1]))
    return np.array(points), beyond


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (x, y, z, w) quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def _quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def _quat_z_to(direction: np.ndarray) -> np.ndarray:
    """Shortest rotation taking +z to the unit `direction` (x, y, z, w)."""
    z = np.array([0.0, 0.0, 1.0])
    cross = np.cross(z, direction)
    w = 1.0 + float(direction[2])
    if w < 1e-9:
        return np.array([1.0, 0.0, 0.0, 0.0])
    q = np.array([cross[0], cross[1], cross[2], w])
    return q / np.linalg.norm(q)
