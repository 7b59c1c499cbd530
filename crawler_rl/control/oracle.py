"""A one-step lookahead oracle: the tracking a controller with perfect knowledge could reach.

Not a deployable controller. At every control period it tries wheel speed commands on a copy of
the simulator itself (Bullet `saveState` / `restoreState` plus the Python-side motor, tether,
sensor and random state), so it knows the true state, the episode's randomized physics (friction,
motor gain, droop, lag, tether load) and the exact response to each command. It picks the
command whose simulated twist after one period lands closest to the current command:

    w_0 = the PI's command (warm start)
    J   = d twist / d w  by finite differences around w_0             (two extra tries)
    w_1 = clip(w_0 + J^-1 (cmd - twist(w_0)));  w_2 = clip(w_1 + J^-1 (cmd - twist(w_1)))
    w   = the try with the smallest (e_v / scale_v)^2 + (e_omega / scale_omega)^2

within the same output limits as every other controller (`limit_around_feed_forward`). It sees
no noise and no sensor delay, and it inverts the motor lag and the load in one step, so its
error is what remains of the plant's own limits: torque saturation, the residual authority,
slip, and the one-period delay between a command change and any response. Where even this
oracle does not reach a tracking target, no controller on the robot's sensors will.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import numpy as np

from crawler_rl.control.pi import PIController
from crawler_rl.sim.action import inverse_kinematics, limit_around_feed_forward

_PHYSICS_HANDLES = frozenset({"client", "_cid", "robot", "config", "scenario", "params", "rng",
                              "action_spec", "tether", "sensors"})
"""CrawlerSim attributes that a control step does not change or that are saved separately."""
PROBE = 0.5
"""Wheel speed change of the finite-difference tries [rad/s]."""
ERROR_SCALE = (0.01, 0.05)
"""Default (v [m/s], omega [rad/s]) error scales: how the oracle weighs the two channels."""


def parse_error_scale(text: str) -> tuple[float, float]:
    """Parse "V,OMEGA" (two positive finite numbers) into error scales; ValueError otherwise."""
    parts = text.split(",")
    try:
        scale = tuple(float(part) for part in parts)
    except ValueError:
        scale = ()
    if len(scale) != 2 or not all(np.isfinite(value) and value > 0 for value in scale):
        raise ValueError(f"oracle error scale must be two positive numbers V,OMEGA "
                         f"(e.g. 0.01,0.05), got {text!r}")
    return scale[0], scale[1]


def error_scale_argument(text: str) -> tuple[float, float]:
    """`parse_error_scale` as an argparse `type`: its message becomes the usage error."""
    try:
        return parse_error_scale(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class LookaheadOracle:
    """Wheel speeds that best track the command one period ahead, found on the simulator itself.

    `env` is the unwrapped `CrawlerEnv` being driven (its `sim` is probed and restored, so the
    episode continues exactly as if only the chosen command had been sent). `error_scale` weighs
    the channels when it picks a try; being greedy, it trades them off one period at a time,
    which on a torque-limited wall can cost either channel later (docs/baseline.md compares
    scales).
    """

    def __init__(self, env: Any, warm_start: PIController,
                 error_scale: tuple[float, float] = ERROR_SCALE) -> None:
        self.env = env
        self.warm_start = warm_start
        self.error_scale = np.asarray(error_scale, dtype=np.float64)

    def reset(self) -> None:
        """Reset the warm-start PI."""
        self.warm_start.reset()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Return the chosen (left, right) wheel speeds for the observation's command."""
        sim = self.env.sim
        spec = sim.action_spec
        command = np.asarray(obs[0:2], dtype=np.float64)
        feed_forward = inverse_kinematics(command, spec)
        snapshot = _Snapshot(sim)
        try:
            tried: list[tuple[float, np.ndarray]] = []

            def attempt(wheels: np.ndarray) -> np.ndarray:
                wheels = limit_around_feed_forward(feed_forward, wheels, spec)
                snapshot.restore()
                sim.apply_wheel_speeds(wheels)
                sim.step_control()
                twist = np.array(sim.true_twist())
                error = (command - twist) / self.error_scale
                tried.append((float(error @ error), wheels))
                return twist

            start = self.warm_start(obs)
            twist_start = attempt(start)
            jacobian = np.empty((2, 2))
            for wheel in (0, 1):
                probe = start.copy()
                probe[wheel] += PROBE if probe[wheel] < spec.max_wheel_speed - PROBE else -PROBE
                jacobian[:, wheel] = (attempt(probe) - twist_start) / (probe[wheel] - start[wheel])
            if abs(np.linalg.det(jacobian)) > 1e-9:
                inverse = np.linalg.inv(jacobian)
                first = start + inverse @ (command - twist_start)
                twist_first = attempt(first)
                attempt(tried[-1][1] + inverse @ (command - twist_first))
        finally:
            snapshot.restore()
            snapshot.release()
        return min(tried, key=lambda item: item[0])[1]


class _Snapshot:
    """Everything a control step of `CrawlerSim` changes, saved so it can be put back."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.state_id = sim.client.saveState()
        self.attributes = {key: copy.copy(value) for key, value in vars(sim).items()
                           if key not in _PHYSICS_HANDLES}
        self.tether = copy.copy(vars(sim.tether))
        self.sensors = copy.deepcopy(sim.sensors)
        self.rng_state = copy.deepcopy(sim.rng.bit_generator.state)

    def restore(self) -> None:
        sim = self.sim
        sim.client.restoreState(self.state_id)
        for key, value in self.attributes.items():
            setattr(sim, key, copy.copy(value))
        vars(sim.tether).update(copy.copy(self.tether))
        sim.sensors = copy.deepcopy(self.sensors)
        sim.rng.bit_generator.state = copy.deepcopy(self.rng_state)

    def release(self) -> None:
        self.sim.client.removeState(self.state_id)
