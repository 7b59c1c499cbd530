"""Inverse kinematics and the policy's action -> wheel speed mapping (shared by sim and export).

The policy outputs a *residual* on top of inverse kinematics: with action 0 the learned controller
is exactly today's IK controller, so training starts from the baseline and only learns the
correction for tether pull, slope, slip and motor droop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionSpec:
    """Nominal geometry and limits used to turn actions into wheel speed commands."""

    wheel_radius: float = 0.025
    """Nominal drive wheel radius [m] (the real one is randomized around it)."""
    track_width: float = 0.14
    """Distance between the drive wheels' contact points [m]."""
    max_wheel_speed: float = 12.0
    """Wheel speed command limit [rad/s]."""
    residual_limit: float = 6.0
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
    v = commanded_twist[..., 0]
    omega = commanded_twist[..., 1]
    half_track = 0.5 * spec.track_width
    left = (v - omega * half_track) / spec.wheel_radius
    right = (v + omega * half_track) / spec.wheel_radius
    wheels = np.stack([left, right], axis=-1)
    return np.clip(wheels, -spec.max_wheel_speed, spec.max_wheel_speed)


def wheel_speeds_from_action(
    commanded_twist: np.ndarray, action: np.ndarray, spec: ActionSpec
) -> np.ndarray:
    """Wheel speed command [rad/s] = clip(IK(command) + residual_limit * clip(action, -1, 1)).

    Non-finite actions are an error: they must never reach a motor. Shape: (..., 2).
    """
    action = np.asarray(action, dtype=np.float64)
    if not np.isfinite(action).all():
        raise ValueError(f"non-finite action {action!r}: refusing to command the wheels")
    commanded_twist = np.asarray(commanded_twist, dtype=np.float64)
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
    limit, half_track = spec.max_wheel_speed, 0.5 * spec.track_width
    wheels = []
    for speed, residual in (
        ((v - omega * half_track) / spec.wheel_radius, left_action),
        ((v + omega * half_track) / spec.wheel_radius, right_action),
    ):
        speed = min(max(speed, -limit), limit)
        speed += spec.residual_limit * min(max(residual, -1.0), 1.0)
        wheels.append(min(max(speed, -limit), limit))
    return np.array(wheels)
