"""Sensor models: wheel encoders, IMU, fused body-velocity odometry and tether load cell.

Each channel gets Gaussian noise (std from SensorConfig times the episode's noise scale) and a
delay of whole control steps. Pose (position, orientation) is reported as ground truth.
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

    def __init__(self, config: SensorConfig) -> None:
        self.config = config
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

    def reset(self, noise_scale: float) -> None:
        """Start an episode with the given noise scale (delay lines refill on first read)."""
        self.noise_std = self.std * noise_scale
        self._fresh = True

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
        gx, gy, gz = (gravity_body[0] + n[_GRAV], gravity_body[1] + n[_GRAV + 1],
                      gravity_body[2] + n[_GRAV + 2])
        inv_norm = 1.0 / max(math.sqrt(gx * gx + gy * gy + gz * gz), 1e-9)
        odometry = forward_speed + n[_ODOM]
        imu = (
            yaw_rate + n[_GYRO], gx * inv_norm, gy * inv_norm, gz * inv_norm,
            specific_force_body[0] + n[_ACC], specific_force_body[1] + n[_ACC + 1],
            specific_force_body[2] + n[_ACC + 2],
        )
        encoders = (wheel_speeds[0] + n[_WHEEL], wheel_speeds[1] + n[_WHEEL + 1])
        if self._fresh:
            self.odometry.reset(odometry)
            self.imu.reset(imu)
            self.encoders.reset(encoders)
            self._fresh = False
        odometry = self.odometry.push(odometry)
        imu = self.imu.push(imu)
        encoders = self.encoders.push(encoders)
        tension = tether_tension + n[_TENSION] if self.config.tension_sensor else 0.0
        self.latest = ((odometry, imu[0]), imu[1:4], encoders, tension)
        return imu, orientation, position

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
