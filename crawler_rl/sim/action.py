"""Inverse kinematics and the policy's action -> wheel speed mapping (shared by sim and export).

The policy outputs a *residual* on top of a base controller: with action 0 the learned controller
is exactly that base, so training starts from it and only learns the correction for tether pull,
slope, slip and motor droop. The base is inverse kinematics (`motor.residual_base: ik`), IK +
a PI on the observation's tracking error and its anti-windup error integral (`pi`,
`observation_pi_wheel_speeds`), or IK + the previous residual (`incremental`,
`incremental_wheel_speeds`: the action moves the residual by at most `increment_limit` per
control step, so action 0 holds it; a trained policy may still take it back step by step, which
`bench/residual_retention.py` measures and `ppo.yaw_leak_penalty` discourages; with
`motor.direct_limit` two more actions add a correction for one step only,
`incremental_direct_wheel_speeds`; with `motor.yaw_gain_limit` a[1] picks the gain of an
integrator of the yaw-rate error instead of moving the yaw mode itself, `yaw_gated_action`).
Either way
the wheel speeds stay within `residual_limit` of the IK feed-forward and within the wheel speed
limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from crawler_rl.sim.config import MotorConfig, RobotConfig
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES

_CMD = OBS_NAMES.index("cmd_v")
_MEAS = OBS_NAMES.index("meas_v")
_INTEGRAL = OBS_NAMES.index("err_int_v")
_RESIDUAL = OBS_NAMES.index("prev_residual_left")

Speed = TypeVar("Speed")
"""A float, a numpy array or a torch tensor: the IK below is plain arithmetic on any of them."""


def differential_drive_wheel_speeds(
    v: Speed, omega: Speed, wheel_radius: float, track_width: float
) -> tuple[Speed, Speed]:
    """Map a twist to (left, right) wheel speeds: the one definition of the crawler's IK.

    (v [m/s], omega [rad/s]) -> wheel speeds [rad/s], unclipped and linear in the twist. Written
    once as plain arithmetic so the numpy paths, the float hot path and the exported torch graph
    evaluate the same expression in the same order (bit-identical results).
    """
    half_track = 0.5 * track_width
    return (v - omega * half_track) / wheel_radius, (v + omega * half_track) / wheel_radius


@dataclass(frozen=True)
class ActionSpec:
    """Nominal geometry and limits used to turn actions into wheel speed commands."""

    # Defaults are the simulator config's (config/crawler.yaml): one home for each robot fact.
    wheel_radius: float = RobotConfig.wheel_radius
    """Nominal drive wheel radius [m] (the real one is randomized around it)."""
    track_width: float = RobotConfig.track_width
    """Distance between the drive wheels' contact points [m]."""
    max_wheel_speed: float = MotorConfig.max_wheel_speed
    """Wheel speed command limit [rad/s]."""
    residual_limit: float = MotorConfig.residual_limit
    """Largest correction the policy may add to the IK wheel speed [rad/s] (action = +-1)."""

    def __post_init__(self) -> None:
        for name in ("wheel_radius", "track_width", "max_wheel_speed", "residual_limit"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"ActionSpec.{name} must be a positive number, got {value!r}")


class InverseKinematicsController:
    """Today's open-loop controller: wheel speeds from (v, omega) with no feedback."""

    def __init__(self, spec: ActionSpec | None = None) -> None:
        self.spec = spec or ActionSpec()

    def wheel_speeds(self, commanded_twist: np.ndarray) -> np.ndarray:
        """Map commanded (v [m/s], omega [rad/s]) to clipped (left, right) wheel speeds [rad/s].

        Shape: (..., 2) -> (..., 2).
        """
        return inverse_kinematics(np.asarray(commanded_twist, dtype=np.float64), self.spec)


def inverse_kinematics(commanded_twist: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Differential-drive IK, clipped to the wheel speed limit. Shape: (..., 2) -> (..., 2)."""
    wheels = unclipped_inverse_kinematics(commanded_twist, spec)
    return np.clip(wheels, -spec.max_wheel_speed, spec.max_wheel_speed)


def unclipped_inverse_kinematics(twist: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Differential-drive IK without the limit (linear in the twist). Shape: (..., 2)."""
    return np.stack(differential_drive_wheel_speeds(
        twist[..., 0], twist[..., 1], spec.wheel_radius, spec.track_width), axis=-1)


def limit_around_feed_forward(
    feed_forward: np.ndarray, desired: np.ndarray, spec: ActionSpec
) -> np.ndarray:
    """Clip wheel speeds to within residual_limit of the IK feed-forward and the speed limit."""
    return np.clip(desired, *limits_around(feed_forward, spec))


def output_limits(commanded_twist: np.ndarray, spec: ActionSpec) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) wheel speeds every controller may command for this twist. Shape: (2,) each."""
    return limits_around(
        inverse_kinematics(np.asarray(commanded_twist, dtype=np.float64), spec), spec)


def limits_around(feed_forward: np.ndarray, spec: ActionSpec) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): within residual_limit of the feed-forward and within the speed limit."""
    return (np.maximum(feed_forward - spec.residual_limit, -spec.max_wheel_speed),
            np.minimum(feed_forward + spec.residual_limit, spec.max_wheel_speed))


def observation_pi_wheel_speeds(
    obs: np.ndarray, gains: Sequence[float], spec: ActionSpec
) -> np.ndarray:
    """Return the `pi` residual base IK(cmd + Kp e + Ki I), e and I read from the observation.

    gains = (kp_v, ki_v, kp_omega, ki_omega); e = cmd - measured twist, I = the observation's
    anti-windup error integral (`ObservationBuilder`), so the base is a function of the observation
    alone and the exported graph computes it exactly. Output within the residual and speed
    limits around IK(cmd). Shape: (..., OBS_DIM) -> (..., 2).
    """
    obs = np.asarray(obs, dtype=np.float64)
    kp_v, ki_v, kp_omega, ki_omega = (float(gain) for gain in gains)
    command = obs[..., _CMD:_CMD + 2]
    error = command - obs[..., _MEAS:_MEAS + 2]
    correction = (np.array([kp_v, kp_omega]) * error
                  + np.array([ki_v, ki_omega]) * obs[..., _INTEGRAL:_INTEGRAL + 2])
    feed_forward = inverse_kinematics(command, spec)
    return limit_around_feed_forward(
        feed_forward, feed_forward + unclipped_inverse_kinematics(correction, spec), spec
    )


def incremental_wheel_speeds(
    obs: np.ndarray, action: np.ndarray, increment_limit: float, spec: ActionSpec
) -> np.ndarray:
    """Wheel speeds of the `incremental` base: IK(cmd) + previous residual + increment_limit * a.

    The command and the previous residual are read from the observation, so the exported graph
    computes the same from its input; the sum stays within `residual_limit` of the clipped
    IK(cmd) and within the speed limit (a residual held at a limit stops growing: anti-windup).
    Non-finite actions are an error. Shape: (..., OBS_DIM), (..., 2) -> (..., 2).
    """
    action = np.asarray(action, dtype=np.float64)
    if action.shape[-1:] != (2,):
        raise ValueError(f"expected 2 actions per step, got shape {action.shape}")
    if not np.isfinite(action).all():
        raise ValueError(f"non-finite action {action!r}: refusing to command the wheels")
    if action.shape == (2,) and np.shape(obs) == (OBS_DIM,):
        return np.array(_single_incremental(obs, action, increment_limit, 0.0, spec)[0])
    obs = np.asarray(obs, dtype=np.float64)
    feed_forward = inverse_kinematics(obs[..., _CMD:_CMD + 2], spec)
    desired = (feed_forward + obs[..., _RESIDUAL:_RESIDUAL + 2]
               + increment_limit * np.clip(action, -1.0, 1.0))
    return limit_around_feed_forward(feed_forward, desired, spec)


def incremental_direct_wheel_speeds(
    obs: np.ndarray, action: np.ndarray, increment_limit: float, direct_limit: float,
    spec: ActionSpec
) -> tuple[np.ndarray, np.ndarray]:
    """(carried, sent): the `incremental` base on a[:2], plus set-anew corrections a[2:].

    carried = `incremental_wheel_speeds(obs, a[:2])`, the command whose residual the next
    observation carries; sent = carried + direct_limit * clip(a[2:]), limited the same way
    (within `residual_limit` of the clipped IK and the speed limit): the wheel command. So a
    set-anew correction acts for one step and action 0 holds the carried residual only
    (`motor.direct_limit`). Non-finite actions are an error.
    Shape: (..., OBS_DIM), (..., 4) -> (..., 2) each.
    """
    action = np.asarray(action, dtype=np.float64)
    if action.shape[-1:] != (4,):
        raise ValueError(f"expected 4 actions per step (2 incremental, 2 set-anew: "
                         f"motor.direct_limit), got shape {action.shape}")
    if not np.isfinite(action).all():
        raise ValueError(f"non-finite action {action!r}: refusing to command the wheels")
    if action.shape == (4,) and np.shape(obs) == (OBS_DIM,):  # the env's hot path, float math
        carried, sent = _single_incremental(obs, action, increment_limit, direct_limit, spec)
        return np.array(carried), np.array(sent)
    carried = incremental_wheel_speeds(obs, action[..., :2], increment_limit, spec)
    obs = np.asarray(obs, dtype=np.float64)
    feed_forward = inverse_kinematics(obs[..., _CMD:_CMD + 2], spec)
    sent = limit_around_feed_forward(
        feed_forward, carried + direct_limit * np.clip(action[..., 2:], -1.0, 1.0), spec)
    return carried, sent


def _single_incremental(
    obs: np.ndarray, action: np.ndarray, increment_limit: float, direct_limit: float,
    spec: ActionSpec
) -> tuple[list[float], list[float]]:
    """(carried, sent) of the array paths for one observation with float math (env hot path).

    `action`: 2 increments, then (with `direct_limit`) 2 one-step corrections; without them
    sent is carried.
    """
    v, omega = float(obs[_CMD]), float(obs[_CMD + 1])
    residuals = (float(obs[_RESIDUAL]), float(obs[_RESIDUAL + 1]))
    steps = action.tolist()
    corrections = steps[2:] or [0.0, 0.0]
    limit, band = spec.max_wheel_speed, spec.residual_limit
    feed_forward = differential_drive_wheel_speeds(v, omega, spec.wheel_radius, spec.track_width)
    carried, sent = [], []
    for speed, residual, step, correction in zip(feed_forward, residuals, steps[:2],
                                                 corrections, strict=True):
        speed = min(max(speed, -limit), limit)
        low, high = max(speed - band, -limit), min(speed + band, limit)
        kept = min(max(speed + residual + increment_limit * min(max(step, -1.0), 1.0), low),
                   high)
        carried.append(kept)
        sent.append(min(max(kept + direct_limit * min(max(correction, -1.0), 1.0), low), high)
                    if direct_limit else kept)
    return carried, sent


def yaw_gated_action(obs: np.ndarray, action: np.ndarray, yaw_gain_limit: float,
                     increment_limit: float, spec: ActionSpec) -> np.ndarray:
    """Turn (v step, yaw gain, corrections...) into the free-increment form the mappings take.

    gain = yaw_gain_limit * (clip(a[1]) + 1) / 2; the yaw mode moves by (left, right) =
    IK(0, gain * (cmd_omega - meas_omega)), the v mode by increment_limit * a[0]: the
    increments are clip(a[0] + (left, right) / increment_limit) within [-1, 1]; a[2:] pass
    through. Read from the observation alone, so the exported graph computes the same.
    Shape: (..., OBS_DIM), (..., n >= 2) -> (..., n).
    """
    if action.shape[-1:] in ((2,), (4,)) and np.shape(obs) == (OBS_DIM,) and action.ndim == 1:
        steps = action.tolist()  # the env's hot path, float math
        step, gain = min(max(steps[0], -1.0), 1.0), min(max(steps[1], -1.0), 1.0)
        error = float(obs[_CMD + 1]) - float(obs[_MEAS + 1])
        left, right = differential_drive_wheel_speeds(
            0.0, yaw_gain_limit * (gain + 1.0) * 0.5 * error, spec.wheel_radius,
            spec.track_width)
        return np.array([min(max(step + left / increment_limit, -1.0), 1.0),
                         min(max(step + right / increment_limit, -1.0), 1.0), *steps[2:]])
    obs = np.asarray(obs, dtype=np.float64)
    action = np.asarray(action, dtype=np.float64)
    step = np.clip(action[..., 0:1], -1.0, 1.0)
    gain = yaw_gain_limit * (np.clip(action[..., 1], -1.0, 1.0) + 1.0) * 0.5
    error = obs[..., _CMD + 1] - obs[..., _MEAS + 1]
    yaw = np.stack([np.zeros_like(error), gain * error], axis=-1)
    increments = step + unclipped_inverse_kinematics(yaw, spec) / increment_limit
    return np.concatenate([np.clip(increments, -1.0, 1.0), action[..., 2:]], axis=-1)


def incremental_action_for_wheel_speeds(
    obs: np.ndarray, wheel_speeds: np.ndarray, increment_limit: float, spec: ActionSpec
) -> np.ndarray:
    """Return the `incremental` base's action closest to `wheel_speeds` (inverse mapping).

    Exact when the change from IK(cmd) + the previous residual is within `increment_limit`;
    a larger change is clipped to the action's [-1, 1].
    Shape: (..., OBS_DIM), (..., 2) -> (..., 2).
    """
    obs = np.asarray(obs, dtype=np.float64)
    base = inverse_kinematics(obs[..., _CMD:_CMD + 2], spec) + obs[..., _RESIDUAL:_RESIDUAL + 2]
    return np.clip((np.asarray(wheel_speeds, dtype=np.float64) - base) / increment_limit,
                   -1.0, 1.0)


def wheel_speeds_from_action(
    commanded_twist: np.ndarray, action: np.ndarray, spec: ActionSpec,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Wheel speed command [rad/s] = clip(base + residual_limit * clip(action, -1, 1)).

    `base` None is IK(command) (clipped to the speed limit); another base (e.g.
    `observation_pi_wheel_speeds`) is added to the same way and the sum is limited around
    IK(command) (`limit_around_feed_forward`). Non-finite actions are an error: they must never
    reach a motor. Shape: (..., 2).
    """
    action = np.asarray(action, dtype=np.float64)
    if not np.isfinite(action).all():
        raise ValueError(f"non-finite action {action!r}: refusing to command the wheels")
    commanded_twist = np.asarray(commanded_twist, dtype=np.float64)
    if base is not None:
        residual = spec.residual_limit * np.clip(action, -1.0, 1.0)
        feed_forward = inverse_kinematics(commanded_twist, spec)
        return limit_around_feed_forward(feed_forward, np.asarray(base) + residual, spec)
    if action.shape == (2,) and commanded_twist.shape == (2,):
        return _single_wheel_speeds(commanded_twist, action, spec)
    residual = spec.residual_limit * np.clip(action, -1.0, 1.0)
    wheels = inverse_kinematics(commanded_twist, spec) + residual
    return np.clip(wheels, -spec.max_wheel_speed, spec.max_wheel_speed)


def _single_wheel_speeds(
    commanded_twist: np.ndarray, action: np.ndarray, spec: ActionSpec
) -> np.ndarray:
    """Compute the array path's result for one (2,) command with float math (env hot path)."""
    v, omega = commanded_twist.tolist()
    left_action, right_action = action.tolist()
    limit = spec.max_wheel_speed
    feed_forward = differential_drive_wheel_speeds(v, omega, spec.wheel_radius, spec.track_width)
    wheels = []
    for speed, residual in zip(feed_forward, (left_action, right_action), strict=True):
        speed = min(max(speed, -limit), limit)
        speed += spec.residual_limit * min(max(residual, -1.0), 1.0)
        wheels.append(min(max(speed, -limit), limit))
    return np.array(wheels)
