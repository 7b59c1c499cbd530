"""A cheap velocity-tracking env for training tests: learnable in a few thousand steps.

The 'robot' reaches only `gain` of the commanded velocity and suffers a constant drag, like the
crawler under tether pull; the action is a residual that can cancel both.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np


class VelocityTrackingToy(gym.Env):
    """obs = (command, velocity, error integral); action in [-1, 1]; reward = -error^2."""

    def __init__(self, episode_steps: int = 50) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.episode_steps = episode_steps

    def _obs(self) -> np.ndarray:
        return np.array([self.command, self.velocity, self.integral], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.command = float(self.np_random.uniform(-1.0, 1.0))
        self.velocity = 0.0
        self.integral = 0.0
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        residual = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        target = 0.6 * self.command - 0.3 + residual
        self.velocity += 0.5 * (target - self.velocity)
        error = self.command - self.velocity
        self.integral = float(np.clip(0.9 * self.integral + 0.1 * error, -1.0, 1.0))
        self.steps += 1
        info = {"tracking_error_v": abs(error), "tracking_error_omega": 0.0}
        return self._obs(), -error * error, False, self.steps >= self.episode_steps, info


class NaNAfterTenSteps(VelocityTrackingToy):
    """The toy env whose sensor fails after 10 steps: every observation from then on is NaN."""

    def _obs(self) -> np.ndarray:
        obs = super()._obs()
        return np.full_like(obs, np.nan) if self.steps >= 10 else obs


class SignalsTheTrainer(VelocityTrackingToy):
    """The toy env that sends a stop signal to the trainer mid-rollout, as `kill` would.

    Environment: TOY_STOP_PID (the trainer; unset: never), TOY_STOP_SIGNAL, TOY_STOP_AT_STEP
    (steps of one env) and TOY_STOP_ONCE (a file: only the first env to get there signals).
    """

    def __init__(self, episode_steps: int = 50) -> None:
        super().__init__(episode_steps)
        self.total_steps = 0

    def step(self, action):
        self.total_steps += 1
        pid = os.environ.get("TOY_STOP_PID")
        if pid and self.total_steps == int(os.environ["TOY_STOP_AT_STEP"]):
            try:
                os.close(os.open(os.environ["TOY_STOP_ONCE"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(int(pid), int(os.environ["TOY_STOP_SIGNAL"]))
        return super().step(action)
