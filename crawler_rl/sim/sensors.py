"""Sensor models: wheel encoders, IMU, forward-velocity source and tether load cell.

Each channel gets Gaussian noise (std from SensorConfig times the episode's noise scale) and a
delay of whole control steps. Pose (position, orientation) is reported as ground truth.
Optional, as the real robot has them (all off by default, see config/crawler.yaml):
- `velocity_source: odometry`: forward velocity = mean encoder wheel speed x nominal radius,
  so it cannot see wheel slip and is off by the real wheels' radius error; it carries the
  encoders' noise, quantisation and delay. `estimate` is a fused estimate: true velocity plus
  white noise (`odometry_noise`), delayed `odometry_delay_steps`.
- gyro bias (constant per episode, std `gyro_bias`) and drift (a random walk, `gyro_drift`);
- encoder quantisation: wheel angles counted in `encoder_counts_per_rev` steps and speeds taken
  from the count difference over a control period;
- a tether load cell delay (`tension_delay_steps`).
Random numbers are drawn only for the options that are on, so the default draws stay the same.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from crawler_rl.sim.config import SensorConfig

# Layout of the per-step noise draw (one rng call per control step).
_ODOM, _GYRO, _GRAV, _ACC, _WHEEL, _TENSION, _NOISE_DIM = 0, 1, 2, 5, 8, 10, 11


@dataclass
class SensorReading:
    """One control step of sensor data (noisy and delayed as configured)."""

    measured_twist: np.ndarray
    """(v [m/s] from odometry, omega [rad/s] from the gyro), Shape: (2,)."""
    gravity_body: np.ndarray
    """Unit gravity direction in the body frame (IMU), Shape: (3,)."""
    wheel_speeds: np.ndarray
    """Encoder wheel speeds (left, right) [rad/s], Shape: (2,)."""
    tether_tension: float
    """Tether load cell [N] (0 when the robot has none)."""
    yaw_rate: float
    """Gyro z [rad/s]."""
    linear_acceleration: np.ndarray
    """Accelerometer specific force in the body frame [m/s^2], Shape: (3,)."""
    orientation: np.ndarray
    """Body orientation quaternion (x, y, z, w), ground truth, Shape: (4,)."""
    position: np.ndarray
    """Axle midpoint in world coordinates [m], ground truth, Shape: (3,)."""


class DelayLine:
    """Return what was pushed `delay` pushes ago."""

    def __init__(self, delay: int) -> None:
        self.buffer: deque = deque(maxlen=delay + 1)

    def reset(self, value: np.ndarray | float) -> None:
        """Fill the line with `value` (the first reading of an episode)."""
        for _ in range(self.buffer.maxlen):
            self.buffer.append(value)

    def push(self, value: np.ndarray | float) -> np.ndarray | float:
        """Insert the newest value and return the delayed one."""
        self.buffer.append(value)
        return self.buffer[0]


class SensorSuite:
    """Turn true robot state into a noisy, delayed `SensorReading`."""

    def __init__(self, config: SensorConfig, control_dt: float, wheel_radius: float) -> None:
        self.config = config
        self.control_dt, self.wheel_radius = control_dt, wheel_radius
        self.odometry_source = config.velocity_source == "odometry"
        self.count_angle = (2.0 * math.pi / config.encoder_counts_per_rev
                            if config.encoder_counts_per_rev else 0.0)
        self.tension = DelayLine(config.tension_delay_steps)
        self._extra_delays = (0, 0, 0, 0)
        self.std = np.zeros(_NOISE_DIM)
        self.std[_ODOM] = config.odometry_noise
        self.std[_GYRO] = config.gyro_noise
        self.std[_GRAV:_ACC] = config.gravity_noise
        self.std[_ACC:_WHEEL] = config.accel_noise
        self.std[_WHEEL:_TENSION] = config.encoder_noise
        self.std[_TENSION] = config.tension_noise
        self.odometry = DelayLine(config.odometry_delay_steps)
        self.imu = DelayLine(config.imu_delay_steps)
        self.encoders = DelayLine(config.encoder_delay_steps)
        self.noise_std = self.std.copy()

    def reset(self, noise_scale: float, rng: np.random.Generator,
              extra_delays: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        """Start an episode with the given noise scale (delay lines refill on first read).

        `extra_delays`: control steps added to the (odometry, IMU, encoder, load cell) delays
        this episode. Draws the episode's gyro bias from `rng` when `gyro_bias` > 0.
        """
        self.noise_std = self.std * noise_scale
        self._fresh = True
        config = self.config
        if extra_delays != self._extra_delays:
            odometry, imu, encoder, tension = extra_delays
            self.odometry = DelayLine(config.odometry_delay_steps + odometry)
            self.imu = DelayLine(config.imu_delay_steps + imu)
            self.encoders = DelayLine(config.encoder_delay_steps + encoder)
            self.tension = DelayLine(config.tension_delay_steps + tension)
            self._extra_delays = extra_delays
        self.gyro_offset = float(rng.normal(0.0, config.gyro_bias)) if config.gyro_bias else 0.0
        self._drift_step = config.gyro_drift * math.sqrt(self.control_dt)
        self._wheel_angles = [0.0, 0.0]
        self._wheel_counts = [0, 0]

    def read(
        self,
        rng: np.random.Generator,
        forward_speed: float,
        yaw_rate: float,
        gravity_body: tuple[float, float, float],
        specific_force_body: tuple[float, float, float],
        wheel_speeds: tuple[float, float],
        tether_tension: float,
        orientation: tuple[float, float, float, float],
        position: tuple[float, float, float],
    ) -> tuple[tuple, tuple, tuple]:
        """Sample all sensors once per control step.

        Sets `latest` = (measured_twist, gravity_body, wheel_speeds, tether_tension) as plain
        tuples (the observation path) and returns what `reading` needs for a SensorReading.
        """
        n = (rng.standard_normal(_NOISE_DIM) * self.noise_std).tolist()
        if self._drift_step and not self._fresh:
            self.gyro_offset += self._drift_step * float(rng.standard_normal())
        gx, gy, gz = (gravity_body[0] + n[_GRAV], gravity_body[1] + n[_GRAV + 1],
                      gravity_body[2] + n[_GRAV + 2])
        inv_norm = 1.0 / max(math.sqrt(gx * gx + gy * gy + gz * gz), 1e-9)
        odometry = forward_speed + n[_ODOM]
        imu = (
            yaw_rate + self.gyro_offset + n[_GYRO], gx * inv_norm, gy * inv_norm, gz * inv_norm,
            specific_force_body[0] + n[_ACC], specific_force_body[1] + n[_ACC + 1],
            specific_force_body[2] + n[_ACC + 2],
        )
        if self.count_angle:
            wheel_speeds = self._counted_speeds(wheel_speeds)
        encoders = (wheel_speeds[0] + n[_WHEEL], wheel_speeds[1] + n[_WHEEL + 1])
        tension = tether_tension + n[_TENSION] if self.config.tension_sensor else 0.0
        if self._fresh:
            self.odometry.reset(odometry)
            self.imu.reset(imu)
            self.encoders.reset(encoders)
            self.tension.reset(tension)
            self._fresh = False
        odometry = self.odometry.push(odometry)
        imu = self.imu.push(imu)
        encoders = self.encoders.push(encoders)
        tension = self.tension.push(tension)
        if self.odometry_source:  # the wheels' own estimate: slip-blind, nominal radius
            odometry = 0.5 * (encoders[0] + encoders[1]) * self.wheel_radius
        self.latest = ((odometry, imu[0]), imu[1:4], encoders, tension)
        return imu, orientation, position

    def _counted_speeds(self, wheel_speeds: tuple[float, float]) -> tuple[float, float]:
        """Wheel speeds from whole encoder counts: count difference over one control period."""
        dt, step = self.control_dt, self.count_angle
        speeds = []
        for wheel in (0, 1):
            self._wheel_angles[wheel] += wheel_speeds[wheel] * dt
            counts = math.floor(self._wheel_angles[wheel] / step)
            speeds.append((counts - self._wheel_counts[wheel]) * step / dt)
            self._wheel_counts[wheel] = counts
        return speeds[0], speeds[1]

    @staticmethod
    def reading(imu: tuple, orientation: tuple, position: tuple,
                latest: tuple) -> SensorReading:
        """Pack one step's values (as returned by `read` and `latest`) into a SensorReading."""
        twist, _, encoders, tension = latest
        return SensorReading(
            measured_twist=np.array(twist),
            gravity_body=np.array(imu[1:4]),
            wheel_speeds=np.array(encoders),
            tether_tension=tension,
            yaw_rate=imu[0],
            linear_acceleration=np.array(imu[4:7]),
            orientation=np.array(orientation),
            position=np.array(position),
        )
