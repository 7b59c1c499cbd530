"""IK feed-forward + PI on the measured body twist, with anti-windup and wheel speed limits.

The control law, per control period dt, on the same observation the learned policy sees
(obs = [cmd_v, cmd_omega, meas_v, meas_omega, ...], `crawler_rl/sim/observation.py`):

    e_k      = (cmd_v - meas_v, cmd_omega - meas_omega)                  tracking error
    I_k      = I_{k-1} + e_k * dt          per channel, only if allowed (anti-windup, below)
    u_k      = Kp * e_k + Ki * I_k                                        twist correction
    w_ff     = clip(IK(cmd), +-max_wheel_speed)                           feed-forward (= action 0)
    w_k      = clip(w_ff + J u_k, w_ff +- residual_limit, +-max_wheel_speed)   wheel speeds

with Kp = diag(kp_v, kp_omega), Ki = diag(ki_v, ki_omega) and J the (linear) differential-drive
inverse kinematics, so w_ff + J u is IK(cmd + u). The output limits are the learned policy's
own: the wheel speed limit and the residual limit around the IK feed-forward
(`crawler_rl.sim.action.ActionSpec`), so both controllers command the same set of wheel speeds.

Anti-windup by conditional integration (clamping): a channel's integrator holds its value
during a step whose output is saturated (a wheel at a limit) when adding that channel's error
would push the saturated wheel further into its limit; it integrates again as soon as the error
turns or the wheel leaves the limit. So the integrator only grows while the output can still
follow it, and `Ki * I` stays within reach of the output limits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crawler_rl.sim.action import (
    ActionSpec,
    inverse_kinematics,
    limit_around_feed_forward,
    unclipped_inverse_kinematics,
)

DEFAULT_GAINS_FILE = "baseline_pi.yaml"
"""The shipped, tuned gains in config/ (written by `crawler-rl tune-baseline`)."""


@dataclass(frozen=True)
class PIGains:
    """Gains of the twist PI loop (each >= 0)."""

    kp_v: float
    """Proportional gain on the forward speed error [1]."""
    ki_v: float
    """Integral gain on the forward speed error [1/s]."""
    kp_omega: float
    """Proportional gain on the yaw rate error [1]."""
    ki_omega: float
    """Integral gain on the yaw rate error [1/s]."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0.0
            ):
                raise ValueError(
                    f"PI gain {item.name} must be a finite number >= 0, got {value!r}"
                )

    @classmethod
    def from_mapping(cls, data: Any, source: str = "gains") -> PIGains:
        """Build from a {name: value} mapping; unknown or missing names are a ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a mapping of PI gains, got {data!r}")
        names = [item.name for item in fields(cls)]
        unknown = sorted(set(data) - set(names))
        missing = [name for name in names if name not in data]
        if unknown or missing:
            raise ValueError(f"{source}: PI gains need exactly {names}; unknown {unknown}, "
                             f"missing {missing}")
        return cls(**{name: data[name] for name in names})

    def as_dict(self) -> dict[str, float]:
        """Return {name: value} (the YAML and ROS parameter form)."""
        return {key: float(value) for key, value in asdict(self).items()}


def load_gains(path: Path | str | None = None) -> PIGains:
    """Read the `gains:` section of a tune-baseline YAML (default: the shipped config file)."""
    if path is None:
        from crawler_rl.paths import config_path

        path = config_path(DEFAULT_GAINS_FILE)
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    if not isinstance(data, dict) or "gains" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'gains' section")
    return PIGains.from_mapping(data["gains"], source=str(path))


class PIController:
    """IK feed-forward + PI with conditional-integration anti-windup (law in the module doc).

    Stateful (the integrators): call `reset()` at the start of each episode or after a stop.
    """

    def __init__(self, gains: PIGains, spec: ActionSpec, control_dt: float) -> None:
        if not (math.isfinite(control_dt) and control_dt > 0.0):
            raise ValueError(f"control_dt must be > 0, got {control_dt!r}")
        self.gains = gains
        self.spec = spec
        self.control_dt = float(control_dt)
        self.integral = np.zeros(2)
        """Integrated tracking error (v [m], omega [rad]). Shape: (2,)."""

    def reset(self) -> None:
        """Zero the integrators."""
        self.integral = np.zeros(2)

    def wheel_speeds_for(
        self, commanded_twist: np.ndarray, measured_twist: np.ndarray
    ) -> np.ndarray:
        """Advance one period; return the (left, right) wheel speed command [rad/s]."""
        command = np.asarray(commanded_twist, dtype=np.float64).reshape(2)
        error = command - np.asarray(measured_twist, dtype=np.float64).reshape(2)
        if not (np.isfinite(command).all() and np.isfinite(error).all()):
            raise ValueError(f"non-finite PI input: command {command!r}, error {error!r}")
        gains = self.gains
        kp = np.array([gains.kp_v, gains.kp_omega])
        ki = np.array([gains.ki_v, gains.ki_omega])
        spec = self.spec
        feed_forward = inverse_kinematics(command, spec)
        candidate = self.integral + error * self.control_dt
        wheels, saturation = self._limited(feed_forward, kp * error + ki * candidate)
        # Conditional integration: keep a channel's integrator where its error would push a
        # saturated wheel further out (d wheel / d channel from the linear IK).
        push = np.array([
            np.dot(saturation, unclipped_inverse_kinematics(basis * change, spec))
            for basis, change in ((np.array([1.0, 0.0]), ki[0] * error[0]),
                                  (np.array([0.0, 1.0]), ki[1] * error[1]))
        ])
        hold = push > 0.0
        if hold.any():
            candidate = np.where(hold, self.integral, candidate)
            wheels, _ = self._limited(feed_forward, kp * error + ki * candidate)
        self.integral = candidate
        return wheels

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Wheel speeds [rad/s] from an observation: obs[0:2] command, obs[2:4] measured."""
        obs = np.asarray(obs, dtype=np.float64)
        return self.wheel_speeds_for(obs[0:2], obs[2:4])

    def _limited(
        self, feed_forward: np.ndarray, correction: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply the output limits; return wheel speeds and each wheel's saturation sign."""
        desired = feed_forward + unclipped_inverse_kinematics(correction, self.spec)
        wheels = limit_around_feed_forward(feed_forward, desired, self.spec)
        return wheels, np.sign(desired - wheels)
