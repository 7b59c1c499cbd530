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
- a tether load cell delay (`tension_delay_steps`); the load cell may be absent
  (`tension_sensor: false`) or intermittent (outages start with `tension_dropout_probability`
  per control step and last `tension_outage_seconds` on average). Its mask,
  `tether_tension_valid`, is 1 while the reading is fresh; otherwise the tension holds the last
  valid reading (0 before the first);
- sensor rates: each sensor reads every `*_period_steps`-th control step (counted from the
  episode's first reading) and holds its reading in between; the delay applies after the hold.
  Counted encoders then take their speed over the whole period. With
  `velocity_source: odometry` the velocity follows the encoders' period.
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
    """Tether load cell [N]: the last valid reading (0 before the first or without a cell)."""
    tether_tension_valid: float
    """1.0 while the load cell reading is fresh, 0.0 during an outage or without a cell."""
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
        self.has_load_cell = config.tension_sensor is not False
        self.intermittent = config.tension_sensor == "intermittent"
        self.outage_end_probability = min(1.0, control_dt / config.tension_outage_seconds)
        self.periods = (config.odometry_period_steps, config.imu_period_steps,
                        config.encoder_period_steps, config.tension_period_steps)
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
        self._step = 0  # control steps since the episode's first reading
        self._counted_steps = 0  # control steps since the encoders' last count difference
        self._held: list = [None, None, None, None]  # odometry, IMU, encoders, load cell
        self.in_outage = False
        self._last_valid_tension = 0.0

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
        """Advance all sensors one control step (each reads when its period is due).

        Sets `latest` = (measured_twist, gravity_body, wheel_speeds, tether_tension,
        tether_tension_valid) as plain tuples and floats (the observation path) and returns what
        `reading` needs for a SensorReading.
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
        due = [self._step % period == 0 for period in self.periods]
        if self.count_angle:
            wheel_speeds = self._counted_speeds(wheel_speeds, due[2])
        encoders = (wheel_speeds[0] + n[_WHEEL], wheel_speeds[1] + n[_WHEEL + 1])
        tension = tether_tension + n[_TENSION] if self.has_load_cell else 0.0
        held = self._held
        readings = (odometry, imu, encoders, tension)
        for index, (reading, is_due) in enumerate(zip(readings, due, strict=True)):
            if is_due:
                held[index] = reading
        odometry, imu, encoders, tension = held
        self._step += 1
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
        valid = self._load_cell_valid(rng)
        if valid:
            self._last_valid_tension = tension
        self.latest = ((odometry, imu[0]), imu[1:4], encoders, self._last_valid_tension,
                       1.0 if valid else 0.0)
        return imu, orientation, position

    def _load_cell_valid(self, rng: np.random.Generator) -> bool:
        """Whether this step's load cell reading arrives (draws only when intermittent)."""
        if not self.has_load_cell:
            return False
        if self.intermittent:
            if self.in_outage:
                self.in_outage = rng.random() >= self.outage_end_probability
            else:
                self.in_outage = rng.random() < self.config.tension_dropout_probability
        return not self.in_outage

    def _counted_speeds(self, wheel_speeds: tuple[float, float],
                        due: bool) -> tuple[float, float]:
        """Wheel speeds from whole encoder counts: count difference since the last reading.

        The wheel angles advance every control step; when the encoders are `due`, the speed is
        the count difference over the steps since their last reading (one period).
        """
        dt, step = self.control_dt, self.count_angle
        self._counted_steps += 1
        speeds = []
        for wheel in (0, 1):
            self._wheel_angles[wheel] += wheel_speeds[wheel] * dt
            if due:
                counts = math.floor(self._wheel_angles[wheel] / step)
                speeds.append((counts - self._wheel_counts[wheel]) * step
                              / (dt * self._counted_steps))
                self._wheel_counts[wheel] = counts
        if not due:
            return wheel_speeds  # not read this step: the held reading is used
        self._counted_steps = 0
        return speeds[0], speeds[1]

    @staticmethod
    def reading(imu: tuple, orientation: tuple, position: tuple,
                latest: tuple) -> SensorReading:
        """Pack one step's values (as returned by `read` and `latest`) into a SensorReading."""
        twist, _, encoders, tension, tension_valid = latest
        return SensorReading(
            measured_twist=np.array(twist),
            gravity_body=np.array(imu[1:4]),
            wheel_speeds=np.array(encoders),
            tether_tension=tension,
            tether_tension_valid=tension_valid,
            yaw_rate=imu[0],
            linear_acceleration=np.array(imu[4:7]),
            orientation=np.array(orientation),
            position=np.array(position),
        )
