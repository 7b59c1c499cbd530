"""`CrawlerSim`: the PyBullet crawler on a hull with magnets, motors, tether and sensors.

Per control step: one motor command, two `applyExternalForce` calls (magnetic adhesion at the
drive axle and the lumped tether pull at the mount, in the chassis frame) and one
`stepSimulation` that runs the 12 physics substeps (240 Hz) inside Bullet, which keeps external
forces until it returns. No Python runs per physics substep.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
from pybullet_utils.bullet_client import BulletClient

from crawler_rl.sim.action import ActionSpec
from crawler_rl.sim.config import CrawlerConfig
from crawler_rl.sim.randomization import EpisodeParams, sample_episode_params
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.sensors import SensorReading, SensorSuite
from crawler_rl.sim.tether import ChainTether, LumpedTether
from crawler_rl.sim.urdf import robot_urdf_file

HULL_FRICTION = 1.0
"""Bullet multiplies both bodies' friction: the hull is 1 so the wheel value is the pair's."""
ROBOT_COLLISION_GROUP = 4


class CrawlerSim:
    """One crawler in its own PyBullet DIRECT client. See the BRIEF's "Lower-level sim API"."""

    def __init__(self, config: CrawlerConfig, scenario: Scenario, rng: np.random.Generator):
        self.config = config
        self.scenario = scenario
        self.rng = rng
        physics = config.physics
        self.substeps = physics.substeps
        self.control_dt = self.substeps / physics.physics_hz
        self.action_spec = ActionSpec(
            wheel_radius=config.robot.wheel_radius,
            track_width=config.robot.track_width,
            max_wheel_speed=config.motor.max_wheel_speed,
            residual_limit=config.motor.residual_limit,
        )
        self.client = BulletClient(p.DIRECT)
        self._cid = self.client._client
        self.robot = load_crawler(self.client, config)
        joints = {
            self.client.getJointInfo(self.robot, j)[1].decode(): j
            for j in range(self.client.getNumJoints(self.robot))
        }
        self.wheel_joints = [joints["left_wheel_joint"], joints["right_wheel_joint"]]
        self.mount_link = joints["tether_joint"]
        self.com_offset = np.array(self.client.getDynamicsInfo(self.robot, -1)[3])
        self._com_offset = tuple(self.com_offset.tolist())
        mount = np.array(self.client.getJointInfo(self.robot, self.mount_link)[14])
        # Force application points are relative to the chassis centre of mass in Bullet.
        self._axle_from_com = tuple(-self.com_offset)
        self._mount_from_com = mount - self.com_offset
        self._mount_body = tuple(self._mount_from_com.tolist())
        self._half_track = 0.5 * config.robot.track_width
        if config.tether.model == "chain":
            self.tether = ChainTether(self.client, config.tether.chain_links,
                                      config.tether.chain_radius)
        else:
            self.tether = LumpedTether()
        self.sensors = SensorSuite(config.sensors, self.control_dt,
                                   config.robot.wheel_radius)
        self._hull_body = -1
        self._world_key: tuple | None = None
        self._state_id = -1
        self.reset(scenario)

    # --- episode -------------------------------------------------------------------------
    def reset(self, scenario: Scenario | None = None) -> None:
        """Start a new episode (restoreState, no URDF reload); draws parameters from `rng`."""
        if scenario is not None:
            self.scenario = scenario
        self.params = params = sample_episode_params(self.config, self.scenario, self.rng)
        hull = params.hull
        chain = isinstance(self.tether, ChainTether)
        distance = self.config.tether.anchor_distance
        if chain:
            distance = ChainTether.anchor_distance(distance, params.tether.length)
        self.anchor = hull.anchor_point(distance)
        key = (hull.curved, round(hull.radius, 6) if hull.curved else 0.0,
               ChainTether.world_key(params.tether) if chain else ())
        if key != self._world_key:
            self._rebuild_world(params)
            self._world_key = key
        self.client.restoreState(self._state_id)
        self._place_robot(params)
        self._apply_dynamics(params)
        self.tether.hull, self.tether.params = hull, params.tether
        if chain:
            self.tether.lay_out(self._mount_world())
        else:
            self.tether.reset(hull, self.anchor, params.tether)
        self.wheel_command = (0.0, 0.0)
        self._motor_speed = [0.0, 0.0]
        self._gain = tuple(params.motor_gain.tolist())
        self._motor_torque = (0.0, 0.0)
        self._droop_torque = [0.0, 0.0]
        self._droop_alpha = 1.0 - math.exp(
            -self.control_dt / max(self.config.motor.droop_time_constant, 1e-6))
        self._gravity = tuple(hull.gravity_vector().tolist())
        self._motor_alpha = 1.0 - math.exp(-self.control_dt / max(params.motor_lag, 1e-6))
        self._joint_scale = tuple(params.wheel_radius_scale.tolist())
        # Bullet turns motor force limits into impulses with the full stepSimulation period and
        # reports torque = impulse / period; with internal substeps both are off by `substeps`.
        self._torque_limit = [
            self.config.motor.max_torque / (k * self.substeps) for k in self._joint_scale
        ]
        self._torque_readout = tuple(k * self.substeps for k in self._joint_scale)
        self.sensors.reset(params.noise_scale, self.rng, params.extra_delays)
        self._read_state(first=True)
        for _ in range(self.config.task.settle_steps):
            self.step_control()

    def _rebuild_world(self, params: EpisodeParams) -> None:
        # Rebuild from an empty world, always in the same order: removing and re-adding only the
        # hull would give it a new body id and Bullet's contact/solver order depends on body ids,
        # so an episode after a world change would differ from the same episode in a fresh sim.
        client = self.client
        client.resetSimulation()
        if isinstance(self.tether, ChainTether):
            self.tether.body, self.tether.constraint, self.tether.built_length = -1, -1, -1.0
        self.robot = load_crawler(client, self.config)
        self._state_id = -1
        self._hull_body = params.hull.create_body(client)
        client.changeDynamics(self._hull_body, -1, lateralFriction=HULL_FRICTION)
        client.setCollisionFilterGroupMask(self._hull_body, -1, 1, 0xFFFF)
        if isinstance(self.tether, ChainTether):
            self._place_robot(params)
            self.tether.build(params.hull, self.anchor, params.tether, self.robot,
                              self.mount_link, self._mount_world())
        self._state_id = client.saveState()

    def _place_robot(self, params: EpisodeParams) -> None:
        up = params.hull.up_slope()
        yaw = math.atan2(up[1], up[0]) + params.start_heading
        orientation = (0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw))
        rotation = np.array(self.client.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        axle = np.array([0.0, 0.0, self.config.robot.wheel_radius])
        com = axle + rotation @ self.com_offset
        self.client.resetBaseVelocity(self.robot, [0, 0, 0], [0, 0, 0])
        for joint in range(self.client.getNumJoints(self.robot)):
            self.client.resetJointState(self.robot, joint, 0.0, 0.0)
        # restoreState keeps the contact points (with warm-start impulses) of the previous
        # episode; lifting the robot away for one collision pass drops them, so an episode
        # never depends on the one before.
        self.client.resetBasePositionAndOrientation(self.robot, [0.0, 0.0, 50.0], orientation)
        self.client.performCollisionDetection()
        self.client.resetBasePositionAndOrientation(self.robot, com.tolist(), orientation)

    def _apply_dynamics(self, params: EpisodeParams) -> None:
        client, robot = self.client, self.robot
        client.setGravity(*params.hull.gravity_vector().tolist())
        client.changeDynamics(robot, -1, mass=self.config.robot.body_mass + params.payload_mass)
        for joint in self.wheel_joints:
            client.changeDynamics(robot, joint, lateralFriction=params.wheel_friction)

    # --- control ---------------------------------------------------------------------------
    def apply_wheel_speeds(self, wheel_speeds: np.ndarray) -> None:
        """Set the wheel speed command (left, right) [rad/s] for the next control period."""
        left, right = (float(x) for x in np.asarray(wheel_speeds, dtype=np.float64).reshape(2))
        if not (math.isfinite(left) and math.isfinite(right)):
            raise ValueError(f"non-finite wheel speed command {wheel_speeds!r}")
        limit = self.config.motor.max_wheel_speed
        self.wheel_command = (min(max(left, -limit), limit), min(max(right, -limit), limit))

    def step_control(self) -> None:
        """Advance one control period: motor model once, then the physics substeps."""
        params = self.params
        limit, alpha = self.config.motor.max_wheel_speed, self._motor_alpha
        droop, droop_alpha = params.motor_droop, self._droop_alpha
        droop_torque = self._droop_torque
        targets = []
        for wheel in (0, 1):
            target = min(max(self._gain[wheel] * self.wheel_command[wheel], -limit), limit)
            self._motor_speed[wheel] += alpha * (target - self._motor_speed[wheel])
            # DC-motor droop: the speed loop loses speed in proportion to the load it carries.
            # The load is low-passed (motor.droop_time_constant): last period's raw torque
            # closes a one-step-delayed loop (target -> torque -> target) that rings at the
            # 10 Hz Nyquist rate wherever the load changes steeply with speed (a stalled wheel,
            # Coulomb tether drag at standstill), even under a constant command.
            droop_torque[wheel] += droop_alpha * (self._motor_torque[wheel] - droop_torque[wheel])
            effective = self._motor_speed[wheel] - droop * droop_torque[wheel]
            targets.append(effective * self._joint_scale[wheel])
        p.setJointMotorControlArray(
            self.robot, self.wheel_joints, p.VELOCITY_CONTROL, targetVelocities=targets,
            forces=self._torque_limit, physicsClientId=self._cid,
        )
        # One stepSimulation runs all physics substeps inside Bullet (numSubSteps); external
        # forces persist until it returns, so two calls per control period suffice.
        cid, robot = self._cid, self.robot
        p.applyExternalForce(robot, -1, self._adhesion_body, self._axle_from_com, p.LINK_FRAME,
                             physicsClientId=cid)
        if self.tether.applies_force:
            p.applyExternalForce(robot, -1, self._tether_body, self._mount_body, p.LINK_FRAME,
                                 physicsClientId=cid)
        p.stepSimulation(physicsClientId=cid)
        self._read_state()

    def _read_state(self, first: bool = False) -> None:
        """Read Bullet once per control step; refresh forces, truth and the sensor reading.

        Plain float arithmetic on purpose: numpy costs ~1 us per op on 3-vectors, and this
        runs every control step.
        """
        cid, robot = self._cid, self.robot
        com, orientation = p.getBasePositionAndOrientation(robot, physicsClientId=cid)
        (vx, vy, vz), (wx, wy, wz) = p.getBaseVelocity(robot, physicsClientId=cid)
        left, right = p.getJointStates(robot, self.wheel_joints, physicsClientId=cid)
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = p.getMatrixFromQuaternion(orientation)
        ox, oy, oz = self._com_offset
        ax, ay, az = r00 * ox + r01 * oy + r02 * oz, r10 * ox + r11 * oy + r12 * oz, (
            r20 * ox + r21 * oy + r22 * oz)
        axle = (com[0] - ax, com[1] - ay, com[2] - az)
        # velocity of the axle midpoint: v_com - w x (R com_offset)
        avx = vx - (wy * az - wz * ay)
        avy = vy - (wz * ax - wx * az)
        avz = vz - (wx * ay - wy * ax)
        nx, ny, nz, height = self.params.hull.normal_height(axle)
        # normal in the body frame (R^T n)
        bnx = r00 * nx + r10 * ny + r20 * nz
        bny = r01 * nx + r11 * ny + r21 * nz
        bnz = r02 * nx + r12 * ny + r22 * nz
        self.gap = height - self.config.robot.wheel_radius
        self.alignment = bnz
        # Magnets pull towards the steel; the pull fades with the gap and with tilt.
        pull = 2.0 * self.params.adhesion_per_wheel * math.exp(
            -max(self.gap, 0.0) / self.config.magnet.decay_distance
        ) * max(bnz, 0.0)
        self._adhesion_body = (-pull * bnx, -pull * bny, -pull * bnz)
        mx, my, mz = self._mount_body
        mox, moy, moz = r00 * mx + r01 * my + r02 * mz, r10 * mx + r11 * my + r12 * mz, (
            r20 * mx + r21 * my + r22 * mz)
        tether = self.tether
        tether.update(
            (com[0] + mox, com[1] + moy, com[2] + moz),
            (vx + wy * moz - wz * moy, vy + wz * mox - wx * moz, vz + wx * moy - wy * mox),
            (nx, ny, nz),
        )
        fx, fy, fz = tether.applied_force
        self._tether_body = (
            r00 * fx + r10 * fy + r20 * fz, r01 * fx + r11 * fy + r21 * fz,
            r02 * fx + r12 * fy + r22 * fz,
        )

        scale_left, scale_right = self._joint_scale
        # Bullet keeps the last applied torque across resets: a fresh episode starts unloaded.
        readout_left, readout_right = self._torque_readout
        self._motor_torque = (0.0, 0.0) if first else (left[3] * readout_left,
                                                        right[3] * readout_right)
        speed_left, speed_right = left[1] / scale_left, right[1] / scale_right
        self.motor_wheel_speeds = (speed_left, speed_right)
        self.wheel_power = abs(self._motor_torque[0] * speed_left) + abs(
            self._motor_torque[1] * speed_right)
        self._joint_positions = (left[0], right[0])
        self._true_v = v = r00 * avx + r10 * avy + r20 * avz
        self._true_omega = omega = r02 * wx + r12 * wy + r22 * wz
        half_track, radius = self._half_track, self.config.robot.wheel_radius
        self.slip = 0.5 * (abs(left[1] * radius - (v - omega * half_track))
                           + abs(right[1] * radius - (v + omega * half_track)))
        gx, gy, gz = self._gravity
        if first:
            self._velocity = (vx, vy, vz)
        inv_dt = 1.0 / self.control_dt
        sx = (vx - self._velocity[0]) * inv_dt - gx
        sy = (vy - self._velocity[1]) * inv_dt - gy
        sz = (vz - self._velocity[2]) * inv_dt - gz
        inv_g = 1.0 / math.sqrt(gx * gx + gy * gy + gz * gz)
        self._velocity, self._position, self._orientation = (vx, vy, vz), axle, orientation
        self._raw_reading = self.sensors.read(
            self.rng,
            forward_speed=v,
            yaw_rate=omega,
            gravity_body=(
                (r00 * gx + r10 * gy + r20 * gz) * inv_g, (r01 * gx + r11 * gy + r21 * gz) * inv_g,
                (r02 * gx + r12 * gy + r22 * gz) * inv_g,
            ),
            specific_force_body=(
                r00 * sx + r10 * sy + r20 * sz, r01 * sx + r11 * sy + r21 * sz,
                r02 * sx + r12 * sy + r22 * sz,
            ),
            wheel_speeds=self.motor_wheel_speeds,
            tether_tension=tether.tension,
            orientation=orientation,
            position=axle,
        )

    # --- queries ---------------------------------------------------------------------------
    def read_sensors(self) -> SensorReading:
        """Return the sensor reading of the latest control step (noisy, delayed)."""
        return self.sensors.reading(*self._raw_reading, self.sensors.latest)

    def observation_inputs(self) -> tuple[tuple, tuple, tuple, float, float]:
        """(measured_twist, gravity_body, wheel_speeds, tether_tension, tether_tension_valid).

        Of the latest reading, in `ObservationBuilder.build`'s order after the command.
        The same values as `read_sensors()`, as tuples: the cheap path for the observation.
        """
        return self.sensors.latest

    def true_twist(self) -> tuple[float, float]:
        """Return the true (forward speed [m/s], yaw rate about the body normal [rad/s])."""
        return self._true_v, self._true_omega

    def hidden_state(self) -> dict[str, float]:
        """Physics the robot does not sense, for a training-only critic (`sim/critic_state.py`).

        Body-frame tether force [N], true wheel speeds and motor states [rad/s], the episode's
        drawn physics, slip [m/s] and the magnets' gap [m]; never part of the observation.
        """
        params = self.params
        return {
            "true_v": self._true_v, "true_omega": self._true_omega,
            "tether_force_x": self._tether_body[0], "tether_force_y": self._tether_body[1],
            "tether_force_z": self._tether_body[2],
            "wheel_speed_left": self.motor_wheel_speeds[0],
            "wheel_speed_right": self.motor_wheel_speeds[1],
            "motor_state_left": self._motor_speed[0], "motor_state_right": self._motor_speed[1],
            "motor_gain_left": float(params.motor_gain[0]),
            "motor_gain_right": float(params.motor_gain[1]),
            "wheel_radius_scale_left": float(params.wheel_radius_scale[0]),
            "wheel_radius_scale_right": float(params.wheel_radius_scale[1]),
            "motor_lag": params.motor_lag, "motor_droop": params.motor_droop,
            "wheel_friction": params.wheel_friction,
            "adhesion_per_wheel": params.adhesion_per_wheel,
            "payload_mass": params.payload_mass, "slope_deg": params.hull.slope_deg,
            "tether_length": params.tether.length, "slip": self.slip, "gap": self.gap,
        }

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Axle midpoint position (3,) and orientation quaternion (x, y, z, w) (4,)."""
        return np.array(self._position), np.array(self._orientation)

    def wheel_angles(self) -> np.ndarray:
        """Wheel angles (left, right) as the encoders count them [rad]."""
        return np.array(self._joint_positions) / np.array(self._joint_scale)

    def tether_polyline(self) -> np.ndarray:
        """Tether shape from the anchor to the robot's mount, Shape: (N, 3)."""
        return self.tether.polyline(self._mount_world())

    @property
    def detached(self) -> bool:
        """True when the magnets lost the hull or the body flipped over."""
        tilt_limit = math.cos(math.radians(self.config.magnet.max_tilt_deg))
        return self.gap > self.config.magnet.detach_gap or self.alignment < tilt_limit

    def motor_torques(self) -> np.ndarray:
        """Motor torques (left, right) of the last physics step [N m]."""
        return np.array(self._motor_torque)

    def render_rgb(self, width: int = 320, height: int = 240) -> np.ndarray:
        """Image from a camera above the crawler (TinyRenderer, no display), (h, w, 3) uint8."""
        position = np.array(self._position)
        normal, _ = self.params.hull.normal_and_distance(position)
        up = self.params.hull.up_slope()
        eye = position + 0.9 * normal - 0.5 * up
        view = self.client.computeViewMatrix(eye.tolist(), position.tolist(), up.tolist())
        projection = self.client.computeProjectionMatrixFOV(60.0, width / height, 0.05, 50.0)
        image = self.client.getCameraImage(
            width, height, view, projection, renderer=p.ER_TINY_RENDERER
        )[2]
        return np.asarray(image, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()

    def _mount_world(self) -> np.ndarray:
        com, orientation = self.client.getBasePositionAndOrientation(self.robot)
        rotation = np.array(self.client.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        return np.array(com) + rotation @ self._mount_from_com

    def close(self) -> None:
        """Disconnect the physics client."""
        if self.client is not None:
            self.client.disconnect()
            self.client = None


def load_crawler(client: BulletClient, config: CrawlerConfig) -> int:
    """Load the crawler URDF, configure physics and contacts; shared with bench/ raw probe."""
    physics = config.physics
    # stepSimulation advances one control period in `substeps` internal steps of 1/physics_hz.
    client.setPhysicsEngineParameter(
        fixedTimeStep=physics.substeps / physics.physics_hz, numSubSteps=physics.substeps,
        numSolverIterations=physics.solver_iterations,
    )
    robot = client.loadURDF(
        str(robot_urdf_file(config.robot)), [0.0, 0.0, 0.1],
        flags=p.URDF_USE_INERTIA_FROM_FILE,
    )
    names = {
        client.getJointInfo(robot, j)[1].decode(): j for j in range(client.getNumJoints(robot))
    }
    passive = [names["caster_swivel_joint"], names["caster_wheel_joint"]]
    # Bullet gives every joint a velocity motor by default: zero force makes the caster passive.
    client.setJointMotorControlArray(robot, passive, p.VELOCITY_CONTROL, forces=[0.0, 0.0])
    for link in range(-1, client.getNumJoints(robot)):
        client.setCollisionFilterGroupMask(robot, link, ROBOT_COLLISION_GROUP, 1)
    contact = config.contact
    for wheel in ("left_wheel_joint", "right_wheel_joint"):
        client.changeDynamics(
            robot, names[wheel], lateralFriction=contact.wheel_friction,
            rollingFriction=contact.rolling_friction,
        )
    client.changeDynamics(robot, names["caster_wheel_joint"],
                          lateralFriction=contact.caster_friction)
    return robot
