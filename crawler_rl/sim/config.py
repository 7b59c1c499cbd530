"""Typed simulator configuration, loaded from config/crawler.yaml.

Every field carries its default and its bounds; `load_crawler_config` rejects unknown keys and
out-of-range values with a ValueError naming the dotted key and the value.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crawler_rl.paths import config_path
from crawler_rl.validation import CONFIG_KEY, invalid, unknown_message

Range = tuple[float, float]
SURFACE_SLOPES_DEG = {"deck": 0.0, "incline": 45.0, "vertical": 90.0, "curved": 45.0}
"""The hull surfaces and each one's usual slope [deg]: used where no slope is asked for (the
evaluation suites, `crawler-rl drive`, the robot sim node). Training draws incline and curved
slopes from `training.incline_slope_deg` / `training.curved_slope_deg`."""
SURFACES = tuple(SURFACE_SLOPES_DEG)
HULL_RADIUS_M = 3.0
"""Usual radius of the curved hull section [m] (training draws it from `training.hull_radius`)."""
TETHER_MODELS = ("lumped", "chain")
RESIDUAL_BASES = ("ik", "pi", "incremental")
TRACKING_KERNELS = ("exp", "squared")
VELOCITY_SOURCES = ("estimate", "odometry")
TENSION_SENSORS = (True, False, "intermittent")
"""`sensors.tension_sensor`: a load cell always read, none, or one with outages."""


def _num(default: float, lo: float | None = None, hi: float | None = None, *, gt: bool = False):
    """Field with numeric bounds (`gt` makes the lower bound strict)."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "gt": gt})


def _rng(default: Range, lo: float | None = None, hi: float | None = None):
    """Field holding a [low, high] range with bounds on both ends."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "gt": False})


@dataclass(frozen=True)
class PhysicsConfig:
    """Integration rates."""

    physics_hz: float = _num(240.0, 0.0, gt=True)
    control_hz: float = _num(20.0, 0.0, gt=True)
    gravity: float = _num(9.81, 0.0)
    solver_iterations: int = _num(20, 1)

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return int(round(self.physics_hz / self.control_hz))


@dataclass(frozen=True)
class RobotConfig:
    """Geometry and masses (the URDF is generated from these)."""

    body_size: tuple[float, float, float] = (0.2, 0.2, 0.05)
    body_mass: float = _num(2.0, 0.0, gt=True)
    body_offset_x: float = _num(-0.05, -0.5, 0.5)
    ground_clearance: float = _num(0.015, 0.0, gt=True)
    wheel_radius: float = _num(0.025, 0.0, gt=True)
    wheel_width: float = _num(0.02, 0.0, gt=True)
    wheel_mass: float = _num(0.8, 0.0, gt=True)
    track_width: float = _num(0.14, 0.0, gt=True)
    caster_offset_x: float = _num(-0.13, -1.0, 0.0)
    caster_radius: float = _num(0.02, 0.0, gt=True)
    caster_trail: float = _num(0.02, 0.0)
    caster_fork_mass: float = _num(0.2, 0.0, gt=True)
    caster_wheel_mass: float = _num(0.2, 0.0, gt=True)
    tether_mount_mass: float = _num(0.2, 0.0, gt=True)
    imu_mass: float = _num(0.1, 0.0, gt=True)

    @property
    def total_mass(self) -> float:
        """Mass of the whole robot [kg]."""
        return (
            self.body_mass + 2 * self.wheel_mass + self.caster_fork_mass
            + self.caster_wheel_mass + self.tether_mount_mass + self.imu_mass
        )


@dataclass(frozen=True)
class ContactConfig:
    """Contact friction."""

    wheel_friction: float = _num(0.7, 0.0)
    caster_friction: float = _num(0.3, 0.0)
    rolling_friction: float = _num(0.0002, 0.0)


@dataclass(frozen=True)
class MagnetConfig:
    """Magnetic adhesion and detachment."""

    adhesion_per_wheel: float = _num(200.0, 0.0)
    decay_distance: float = _num(0.004, 0.0, gt=True)
    detach_gap: float = _num(0.05, 0.0, gt=True)
    max_tilt_deg: float = _num(60.0, 0.0, 90.0, gt=True)


@dataclass(frozen=True)
class MotorConfig:
    """Wheel motor model: torque limit, lag, gain and load droop."""

    max_torque: float = _num(3.0, 0.0, gt=True)
    max_wheel_speed: float = _num(12.0, 0.0, gt=True)
    lag_time: float = _num(0.06, 0.0)
    droop: float = _num(2.5, 0.0)
    droop_time_constant: float = _num(0.15, 0.0)
    gain: float = _num(1.0, 0.0, gt=True)
    gain_imbalance: float = _num(0.0, -0.5, 0.5)
    """Left / right speed loop gains are gain x (1 - b, 1 + b): a weaker motor or worn wheel
    on one side (the robot then turns when driven straight with IK)."""
    residual_limit: float = _num(6.0, 0.0, gt=True)
    residual_base: str = "incremental"
    """What action 0 commands: "ik", "pi" (IK + PI on the observation, residual_base_gains) or
    "incremental" (IK + the previous residual; the action moves it); see
    crawler_rl/sim/action.py."""
    residual_base_gains: tuple[float, float, float, float] = field(
        default=(0.42, 3.36, 0.17, 16.3), metadata={"lo": 0.0, "hi": None, "gt": False})
    """(kp_v, ki_v, kp_omega, ki_omega) of the `pi` residual base."""
    increment_limit: float = _num(1.0, 0.0, gt=True)
    """`incremental` base: the largest change of the residual per control step [rad/s]."""
    direct_limit: float = _num(4.0, 0.0)
    """`incremental` base: largest set-anew correction per step [rad/s] (two more actions that
    are added to the output but not carried in the residual); 0 = none."""
    yaw_gain_limit: float = _num(0.0, 0.0)
    """`incremental` base: > 0 makes the residual's yaw mode an integrator of the measured
    yaw-rate error whose gain the policy picks each step in [0, yaw_gain_limit] (per control
    step: the yaw-rate change commanded per rad/s of error) with a[1], while a[0] moves both
    wheels' residual alike (the v mode) by up to increment_limit; 0: a[:2] move each wheel's
    residual freely. A free yaw increment settles wherever the network's output crosses zero,
    an integrator only at zero measured error (docs/baseline.md)."""


@dataclass(frozen=True)
class TetherConfig:
    """Tether model and its physical parameters."""

    model: str = "lumped"
    weight_per_metre: float = _num(0.12, 0.0)
    hanging_fraction: float = _num(0.5, 0.0, 1.0)
    drag_per_metre: float = _num(0.4, 0.0)
    drag_speed_scale: float = _num(0.02, 0.0, gt=True)
    pretension: float = _num(2.0, 0.0)
    anchor_distance: float = _num(1.5, 0.0, gt=True)
    chain_links: int = _num(12, 2, 200)
    chain_radius: float = _num(0.006, 0.0, gt=True)


@dataclass(frozen=True)
class SensorConfig:
    """Noise standard deviations and delays (in control steps)."""

    encoder_noise: float = _num(0.05, 0.0)
    encoder_delay_steps: int = _num(0, 0, 20)
    gyro_noise: float = _num(0.01, 0.0)
    gravity_noise: float = _num(0.01, 0.0)
    accel_noise: float = _num(0.05, 0.0)
    imu_delay_steps: int = _num(0, 0, 20)
    odometry_noise: float = _num(0.005, 0.0)
    odometry_delay_steps: int = _num(1, 0, 20)
    tension_noise: float = _num(0.3, 0.0)
    tension_sensor: bool | str = True
    """True: a load cell; False: none (the mask always 0); "intermittent": a load cell with
    outages (`tension_dropout_probability`, `tension_outage_seconds`)."""
    tension_delay_steps: int = _num(0, 0, 20)
    tension_dropout_probability: float = _num(0.01, 0.0, 1.0)
    """Intermittent load cell: chance per control step that an outage starts."""
    tension_outage_seconds: float = _num(1.0, 0.0, gt=True)
    """Intermittent load cell: mean outage length [s] (geometric in control steps)."""
    odometry_period_steps: int = _num(1, 1, 100)
    imu_period_steps: int = _num(1, 1, 100)
    encoder_period_steps: int = _num(1, 1, 100)
    tension_period_steps: int = _num(1, 1, 100)
    """Sensor update periods [control steps]: a reading is taken every k-th step and held."""
    velocity_source: str = "estimate"
    """Forward velocity: "estimate" (fused, true + noise) or "odometry" (wheel encoders)."""
    gyro_bias: float = _num(0.0, 0.0)
    gyro_drift: float = _num(0.0, 0.0)
    encoder_counts_per_rev: int = _num(0, 0)

    def __post_init__(self) -> None:
        if self.velocity_source not in VELOCITY_SOURCES:
            raise invalid(CONFIG_KEY, "sensors.velocity_source", f"one of {VELOCITY_SOURCES}",
                          self.velocity_source)
        if not any(self.tension_sensor is mode or self.tension_sensor == mode == "intermittent"
                   for mode in TENSION_SENSORS):
            raise invalid(CONFIG_KEY, "sensors.tension_sensor", "true, false or intermittent",
                          self.tension_sensor)


@dataclass(frozen=True)
class RandomizationConfig:
    """[low, high] ranges sampled per episode when the scenario asks for randomization."""

    wheel_friction: Range = _rng((0.5, 0.9), 0.0)
    adhesion_scale: Range = _rng((0.8, 1.2), 0.0)
    payload_mass: Range = _rng((0.0, 0.5), 0.0)
    wheel_radius_error: Range = _rng((-0.04, 0.04), -0.5, 0.5)
    motor_gain: Range = _rng((0.9, 1.05), 0.0)
    motor_lag: Range = _rng((0.03, 0.1), 0.0)
    motor_droop: Range = _rng((1.5, 3.5), 0.0)
    tether_weight_scale: Range = _rng((0.7, 1.3), 0.0)
    tether_drag_scale: Range = _rng((0.7, 1.3), 0.0)
    tether_length_scale: Range = _rng((0.9, 1.1), 0.0)
    slope_jitter_deg: Range = _rng((-5.0, 5.0), -90.0, 90.0)
    hull_radius_scale: Range = _rng((0.8, 1.2), 0.0)
    sensor_noise_scale: Range = _rng((0.5, 1.5), 0.0)
    extra_sensor_delay_steps: Range = _rng((0, 0), 0.0, 20.0)
    """Whole control steps added to each sensor's delay, drawn per sensor and episode."""

    def __post_init__(self) -> None:
        if any(value != int(value) for value in self.extra_sensor_delay_steps):
            raise invalid(CONFIG_KEY, "randomization.extra_sensor_delay_steps",
                          "whole control steps", list(self.extra_sensor_delay_steps))


@dataclass(frozen=True)
class TaskConfig:
    """Episode length and the commanded-twist distribution."""

    episode_seconds: float = _num(20.0, 0.0, gt=True)
    command_hold_seconds: Range = _rng((3.0, 7.0), 0.0)
    v_range: Range = _rng((-0.15, 0.15))
    omega_range: Range = _rng((-0.8, 0.8))
    zero_command_probability: float = _num(0.2, 0.0, 1.0)
    settle_steps: int = _num(1, 0, 100)


@dataclass(frozen=True)
class RewardConfig:
    """Reward term scales and the tracking kernel (exp or squared, of err^2 / sigma)."""

    tracking_kernel: str = "exp"
    """"exp": scale * exp(-err^2 / sigma), flat near 0 and bounded; "squared": -scale * err^2 /
    sigma, the per-step form of the RMSE the controllers are judged by (docs/baseline.md)."""
    tracking_v_scale: float = _num(1.0, 0.0)
    tracking_v_sigma: float = _num(0.0004, 0.0, gt=True)
    tracking_omega_scale: float = _num(0.5, 0.0)
    tracking_omega_sigma: float = _num(0.0625, 0.0, gt=True)
    action_rate_scale: float = _num(0.02, 0.0)
    slip_scale: float = _num(0.0, 0.0)
    """Penalty on wheel slip beyond 0.02 m/s (the sim's mean |wheel surface - ground speed|),
    per 0.05 m/s: slip carries over half of the v error (docs/baseline.md); 0: off."""
    direct_scale: float = _num(0.0, 0.0)
    """Penalty on the set-anew corrections' size, |a[2:]|^2 (`motor.direct_limit`): a steady
    load is the carried residual's job, a kick the correction's (docs/baseline.md); 0: off."""
    energy_scale: float = _num(0.001, 0.0)
    stand_still_scale: float = _num(0.5, 0.0)
    termination_penalty: float = _num(10.0, 0.0)
    offset_scale: float = _num(0.5, 0.0)
    """Penalty on the tracking error's running mean since the last command change (an EMA of
    `offset_time_constant`): scale * (offset_v_weight * |mean err_v| / 0.05 + |mean err_omega|
    / 0.25). The mean averages the exploration noise out and keeps the steady offset. 0: off."""
    offset_time_constant: float = _num(0.5, 0.0, gt=True)
    offset_v_weight: float = _num(1.0, 0.0)
    """Weight of the v term in the offset penalty against the omega term (1: both at their
    unit speeds 0.05 m/s and 0.25 rad/s)."""


@dataclass(frozen=True)
class TrainingDistribution:
    """Scenario distribution used when reset() is not given a scenario."""

    surface_weights: dict[str, float] = field(
        default_factory=lambda: {"deck": 0.2, "incline": 0.25, "vertical": 0.3, "curved": 0.25}
    )
    incline_slope_deg: Range = _rng((15.0, 75.0), 0.0, 90.0)
    curved_slope_deg: Range = _rng((0.0, 90.0), 0.0, 90.0)
    hull_radius: Range = _rng((1.5, 6.0), 0.0)
    tether_length: Range = _rng((1.0, 30.0), 0.0)


@dataclass(frozen=True)
class CrawlerConfig:
    """The whole simulator configuration."""

    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    contact: ContactConfig = field(default_factory=ContactConfig)
    magnet: MagnetConfig = field(default_factory=MagnetConfig)
    motor: MotorConfig = field(default_factory=MotorConfig)
    tether: TetherConfig = field(default_factory=TetherConfig)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    training: TrainingDistribution = field(default_factory=TrainingDistribution)


def load_crawler_config(
    path: Path | str | None = None, overrides: dict[str, Any] | None = None
) -> CrawlerConfig:
    """Read config/crawler.yaml (or `path`), apply dotted `overrides`, validate, return it."""
    path = Path(path) if path is not None else config_path("crawler.yaml")
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> CrawlerConfig:
    """Build and validate a CrawlerConfig from nested dicts (missing keys keep defaults)."""
    return _build(CrawlerConfig, data, "")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise invalid(CONFIG_KEY, prefix.rstrip(".") or "<root>", "a mapping", data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(unknown_message(CONFIG_KEY, [prefix + name for name in unknown],
                                         sorted(fields)))
    kwargs = {}
    for name, value in data.items():
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key + ".")
        else:
            kwargs[name] = _check_value(key, hint, value, fields[name].metadata)
    return cls(**kwargs)


def _check_value(key: str, hint: Any, value: Any, bounds: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint == bool | str:  # a switch with named modes; the dataclass checks the names
        if not isinstance(value, (bool, str)):
            raise invalid(CONFIG_KEY, key, "true, false or a mode name", value)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise invalid(CONFIG_KEY, key, "true or false", value)
        return value
    if hint is str:
        allowed = {"tether.model": TETHER_MODELS, "motor.residual_base": RESIDUAL_BASES,
                   "reward.tracking_kernel": TRACKING_KERNELS}.get(key)
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise invalid(CONFIG_KEY, key, f"one of {allowed}", value)
        return value
    if origin is dict:
        if not isinstance(value, dict) or not value:
            raise invalid(CONFIG_KEY, key, "a non-empty mapping", value)
        for surface, weight in value.items():
            if surface not in SURFACES:
                raise ValueError(unknown_message(CONFIG_KEY, [f"{key}.{surface}"],
                                                 [f"{key}.{known}" for known in SURFACES]))
            _check_number(f"{key}.{surface}", weight, {"lo": 0.0})
        if sum(value.values()) <= 0:
            raise invalid(CONFIG_KEY, key, "weights that are not all zero", value)
        return {str(k): float(v) for k, v in value.items()}
    if origin is tuple:
        size = len(typing.get_args(hint))
        if not isinstance(value, (list, tuple)) or len(value) != size:
            raise invalid(CONFIG_KEY, key, f"a list of {size} numbers", value)
        numbers = tuple(_check_number(f"{key}[{i}]", v, bounds) for i, v in enumerate(value))
        if size == 2 and numbers[0] > numbers[1]:
            raise invalid(CONFIG_KEY, key, "[low, high] with low <= high", value)
        if size == 3 and min(numbers) <= 0:
            raise invalid(CONFIG_KEY, key, "sizes > 0", value)
        return numbers
    number = _check_number(key, value, bounds)
    if hint is int:
        if number != int(number):
            raise invalid(CONFIG_KEY, key, "an integer", value)
        return int(number)
    return number


def _check_number(key: str, value: Any, bounds: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(CONFIG_KEY, key, "a finite number", value)
    lo, hi = bounds.get("lo"), bounds.get("hi")
    if lo is not None and (value < lo or (bounds.get("gt") and value == lo)):
        relation = ">" if bounds.get("gt") else ">="
        raise invalid(CONFIG_KEY, key, f"{relation} {lo}", value)
    if hi is not None and value > hi:
        raise invalid(CONFIG_KEY, key, f"<= {hi}", value)
    return float(value)
