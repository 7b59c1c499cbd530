"""Per-episode physical parameters, drawn from the configured ranges (domain randomization)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crawler_rl.sim.config import CrawlerConfig
from crawler_rl.sim.hull import Hull
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.tether import TetherParams


@dataclass
class EpisodeParams:
    """Everything that may differ between episodes."""

    hull: Hull
    tether: TetherParams
    wheel_friction: float
    adhesion_per_wheel: float
    payload_mass: float
    wheel_radius_scale: np.ndarray
    """Real / nominal wheel radius, (left, right)."""
    motor_gain: np.ndarray
    """Speed loop gain, (left, right)."""
    motor_lag: float
    motor_droop: float
    noise_scale: float
    start_heading: float
    """Start heading relative to up-slope [rad]."""
    extra_delays: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Control steps added to the (odometry, IMU, encoder, load cell) delays."""


def sample_episode_params(
    config: CrawlerConfig, scenario: Scenario, rng: np.random.Generator
) -> EpisodeParams:
    """Nominal parameters, or randomized ones when `scenario.randomize` (uses only `rng`)."""
    ranges = config.randomization
    randomize = scenario.randomize

    def draw(bounds: tuple[float, float], nominal: float, size: int | None = None):
        if not randomize:
            return nominal if size is None else np.full(size, nominal)
        return float(rng.uniform(*bounds)) if size is None else rng.uniform(*bounds, size=size)

    slope = scenario.slope_deg + (draw(ranges.slope_jitter_deg, 0.0)
                                  if scenario.surface in ("incline", "curved") else 0.0)
    hull = Hull(
        surface=scenario.surface,
        slope_deg=float(np.clip(slope, 0.0, 90.0)),
        radius=scenario.hull_radius * draw(ranges.hull_radius_scale, 1.0),
        gravity=config.physics.gravity,
    )
    tether_cfg = config.tether
    tether = TetherParams(
        length=scenario.tether_length * draw(ranges.tether_length_scale, 1.0),
        weight_per_metre=tether_cfg.weight_per_metre * draw(ranges.tether_weight_scale, 1.0),
        hanging_fraction=tether_cfg.hanging_fraction,
        drag_per_metre=tether_cfg.drag_per_metre * draw(ranges.tether_drag_scale, 1.0),
        drag_speed_scale=tether_cfg.drag_speed_scale,
        pretension=tether_cfg.pretension,
    )
    motor = config.motor
    sides = np.array([1.0 - motor.gain_imbalance, 1.0 + motor.gain_imbalance])
    return EpisodeParams(
        hull=hull,
        tether=tether,
        wheel_friction=draw(ranges.wheel_friction, config.contact.wheel_friction),
        adhesion_per_wheel=config.magnet.adhesion_per_wheel * draw(ranges.adhesion_scale, 1.0),
        payload_mass=draw(ranges.payload_mass, 0.0),
        wheel_radius_scale=1.0 + draw(ranges.wheel_radius_error, 0.0, size=2),
        motor_gain=motor.gain * sides * draw(ranges.motor_gain, 1.0, size=2),
        motor_lag=draw(ranges.motor_lag, motor.lag_time),
        motor_droop=draw(ranges.motor_droop, motor.droop),
        noise_scale=draw(ranges.sensor_noise_scale, 1.0),
        # The heading relative to the slope matters (up, across, down): sample it unless given.
        start_heading=(
            float(rng.uniform(-np.pi, np.pi)) if scenario.start_heading_deg is None
            else float(np.radians(scenario.start_heading_deg))
        ),
        extra_delays=_draw_extra_delays(ranges.extra_sensor_delay_steps, randomize, rng),
    )


def _draw_extra_delays(bounds: tuple[float, float], randomize: bool,
                       rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Extra delay steps per sensor; no draw when the range is [0, 0] (default streams kept)."""
    low, high = int(bounds[0]), int(bounds[1])
    if not randomize or high <= 0:
        return (0, 0, 0, 0)
    odometry, imu, encoder, tension = (int(x) for x in rng.integers(low, high + 1, size=4))
    return odometry, imu, encoder, tension
