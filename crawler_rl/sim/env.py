"""`CrawlerEnv`: the velocity-tracking task as a Gymnasium environment.

Each episode samples a scenario (or takes `options={"scenario": Scenario}`) and a schedule of
commanded twists that changes a few times. The action is a residual on a base controller (IK
or a PI, see action.py); the reward is tracking terms (legged_gym's exp(-err^2 / sigma)
or -err^2 / sigma, `reward.tracking_kernel`) minus penalties on the action rate, the energy
and the steady offset (the running mean error since the last command change), each term
reported in `info` as "rew_<name>".
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from crawler_rl.sim.action import (
    incremental_direct_wheel_speeds,
    incremental_wheel_speeds,
    observation_pi_wheel_speeds,
    wheel_speeds_from_action,
    yaw_gated_action,
)
from crawler_rl.sim.config import CrawlerConfig, TaskConfig, load_crawler_config
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.observation import (
    ACTOR_OBS_DIM,
    OBS_DIM,
    ObservationBuilder,
    mirror_spec,
    yaw_residual_probe,
)
from crawler_rl.sim.scenario import Scenario, sample_scenario

PENALTY_SPEEDS = (0.05, 0.25)
"""(v [m/s], omega [rad/s]) that cost one unit in the linear stand-still and offset penalties."""


def command_schedule(task: TaskConfig, steps: int, control_dt: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Commanded (v, omega) for each control step, held for a few seconds each.

    Shape: (steps + 1, 2) (the extra row is the command shown with the final observation).
    """
    commands = np.zeros((steps + 1, 2))
    start = 0
    while start <= steps:
        hold = max(1, int(round(rng.uniform(*task.command_hold_seconds) / control_dt)))
        if rng.uniform() >= task.zero_command_probability:
            commands[start:start + hold] = (rng.uniform(*task.v_range),
                                            rng.uniform(*task.omega_range))
        start += hold
    return commands


class CrawlerEnv(gym.Env):
    """Track commanded (v, omega) with a tethered magnetic crawler on a hull surface."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, config: CrawlerConfig | None = None, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.config = config if config is not None else load_crawler_config()
        motor = self.config.motor
        self.residual_base_gains = (
            tuple(motor.residual_base_gains) if motor.residual_base == "pi" else None
        )
        """The `pi` residual base's (kp_v, ki_v, kp_omega, ki_omega); None for the other bases."""
        self.increment_limit = (
            motor.increment_limit if motor.residual_base == "incremental" else None
        )
        """The `incremental` base's largest residual change per step [rad/s]; None otherwise."""
        self._tracking_kernel = self.config.reward.tracking_kernel
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.actor_observation_dim = ACTOR_OBS_DIM
        """The actor reads the leading entries (`ACTOR_OBS_DIM`), the critic all of them."""
        self.model_observation_dim = OBS_DIM
        """The exported controller's input: the whole observation (its mapping reads the rest)."""
        self.direct_limit = (
            motor.direct_limit if self.increment_limit is not None and motor.direct_limit > 0
            else None)
        """The `incremental` base's set-anew correction limit [rad/s]; None: no such actions."""
        action_dim = 2 if self.direct_limit is None else 4
        self.yaw_gain_limit = (motor.yaw_gain_limit if self.increment_limit is not None
                               and motor.yaw_gain_limit > 0 else None)
        """The `incremental` base's largest yaw integrator gain (a[1]); None: a free yaw mode."""
        self.yaw_residual_probe = (
            yaw_residual_probe(0.0 if self.direct_limit is None
                               else self.direct_limit / self.increment_limit)
            if self.increment_limit is not None and self.yaw_gain_limit is None else None)
        """The residual's yaw mode (`ppo.yaw_leak_penalty`); the incremental base with a free
        yaw mode only (an integrator cannot leak)."""
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        # Left/right symmetry (ppo.mirror_augmentation), unless overrides skew the yaw commands.
        low, high = self.config.task.omega_range
        self.mirror_spec = (mirror_spec(action_dim, self.yaw_gain_limit is not None)
                            if low == -high else None)
        self.scenario = Scenario(surface="deck", randomize=False)
        self.sim = CrawlerSim(self.config, self.scenario, self.np_random)
        self.control_dt = self.sim.control_dt
        self.max_steps = int(round(self.config.task.episode_seconds / self.control_dt))
        self.observation_builder = ObservationBuilder(self.control_dt, self.sim.action_spec)
        self._commands = np.zeros((self.max_steps + 1, 2))
        self._step = 0
        self._prev_action = (0.0,) * self.action_space.shape[0]
        self._error_mean = (0.0, 0.0)
        """Running mean (EMA) of the true tracking error (v, omega) since the command changed."""
        self._obs = np.zeros(OBS_DIM, dtype=np.float32)
        self.next_intended: np.ndarray | None = None
        """Wheel speeds whose residual the next observation carries instead of the command sent,
        for one step (a driving controller with set-anew corrections: `OnnxPolicy.carried`)."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; `options={"scenario": Scenario}` picks the hull situation."""
        super().reset(seed=seed)
        scenario = (options or {}).get("scenario")
        if scenario is None:
            scenario = sample_scenario(self.config.training, self.np_random)
        elif not isinstance(scenario, Scenario):
            raise TypeError(f"options['scenario'] must be a Scenario, got {scenario!r}")
        self.scenario = scenario
        self.sim.rng = self.np_random  # super().reset(seed=...) replaced the generator
        self.sim.reset(scenario)
        self._commands = command_schedule(
            self.config.task, self.max_steps, self.control_dt, self.np_random
        )
        self._step = 0
        self._prev_action = (0.0,) * self.action_space.shape[0]
        self._error_mean = (0.0, 0.0)
        self.next_intended = None
        self.observation_builder.reset()
        return self._observe(self._commands[0]), {"scenario": scenario.label}

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the residual action for one control period (0.05 s)."""
        sim, reward_cfg = self.sim, self.config.reward
        command = self._commands[self._step]
        intended, self.next_intended = self.next_intended, None
        mapped = action
        if self.yaw_gain_limit is not None:
            mapped = yaw_gated_action(self._obs, np.asarray(action, dtype=np.float64),
                                      self.yaw_gain_limit, self.increment_limit,
                                      sim.action_spec)
        if self.direct_limit is not None:
            intended, wheel_speeds = incremental_direct_wheel_speeds(
                self._obs, mapped, self.increment_limit, self.direct_limit, sim.action_spec)
        elif self.increment_limit is not None:
            wheel_speeds = incremental_wheel_speeds(self._obs, mapped, self.increment_limit,
                                                    sim.action_spec)
        else:
            base = None
            if self.residual_base_gains is not None:
                base = observation_pi_wheel_speeds(self._obs, self.residual_base_gains,
                                                   sim.action_spec)
            wheel_speeds = wheel_speeds_from_action(command, action, sim.action_spec, base)
        self.observation_builder.record_wheel_command(wheel_speeds, intended)
        sim.apply_wheel_speeds(wheel_speeds)
        sim.step_control()
        self._step += 1

        true_v, true_omega = sim.true_twist()
        error_v, error_omega = command[0] - true_v, command[1] - true_omega
        clipped = [min(max(float(a), -1.0), 1.0) for a in action]
        deltas = [a - b for a, b in zip(clipped, self._prev_action, strict=True)]
        self._prev_action = tuple(clipped)
        terminated = sim.detached
        mean_v, mean_omega = self._advance_error_mean(command, error_v, error_omega)
        normalized_v = error_v * error_v / reward_cfg.tracking_v_sigma
        normalized_omega = error_omega * error_omega / reward_cfg.tracking_omega_sigma
        if self._tracking_kernel == "squared":
            tracking_v, tracking_omega = -normalized_v, -normalized_omega
        else:
            tracking_v, tracking_omega = math.exp(-normalized_v), math.exp(-normalized_omega)
        rewards = {
            "rew_tracking_v": reward_cfg.tracking_v_scale * tracking_v,
            "rew_tracking_omega": reward_cfg.tracking_omega_scale * tracking_omega,
            "rew_action_rate": -reward_cfg.action_rate_scale
            * sum(delta * delta for delta in deltas),
            "rew_direct": -reward_cfg.direct_scale * sum(a * a for a in clipped[2:]),
            "rew_slip": -reward_cfg.slip_scale * max(sim.slip - 0.02, 0.0) / PENALTY_SPEEDS[0],
            "rew_energy": -reward_cfg.energy_scale * sim.wheel_power,
            "rew_termination": -reward_cfg.termination_penalty if terminated else 0.0,
            "rew_offset": -reward_cfg.offset_scale
            * (reward_cfg.offset_v_weight * abs(mean_v) / PENALTY_SPEEDS[0]
               + abs(mean_omega) / PENALTY_SPEEDS[1]),
            "rew_stand_still": (
                -reward_cfg.stand_still_scale
                * (abs(true_v) / PENALTY_SPEEDS[0] + abs(true_omega) / PENALTY_SPEEDS[1])
                if command[0] == 0.0 and command[1] == 0.0 else 0.0
            ),
        }
        info: dict[str, Any] = {
            "tracking_error_v": abs(error_v),
            "tracking_error_omega": abs(error_omega),
            "tether_tension": sim.tether.tension,
            "slip": sim.slip,
            **rewards,
        }
        observation = self._observe(self._commands[self._step])
        truncated = self._step >= self.max_steps and not terminated
        return observation, float(sum(rewards.values())), terminated, truncated, info

    def _advance_error_mean(self, command: np.ndarray, error_v: float,
                            error_omega: float) -> tuple[float, float]:
        """Fold this step's error into the running mean; a new command starts a new mean."""
        if self._step == 1 or np.any(command != self._commands[self._step - 2]):
            self._error_mean = (0.0, 0.0)
        alpha = min(1.0, self.control_dt / self.config.reward.offset_time_constant)
        mean_v, mean_omega = self._error_mean
        self._error_mean = (mean_v + alpha * (error_v - mean_v),
                            mean_omega + alpha * (error_omega - mean_omega))
        return self._error_mean

    def _observe(self, command: np.ndarray) -> np.ndarray:
        self._obs = self.observation_builder.build(command, *self.sim.observation_inputs())
        return self._obs

    @property
    def commanded_twist(self) -> np.ndarray:
        """The command the next action should track, (v, omega)."""
        return self._commands[self._step].copy()

    @property
    def command_schedule(self) -> np.ndarray:
        """The episode's commanded twist per control step, (max_steps + 1, 2), read-only."""
        view = self._commands.view()
        view.flags.writeable = False
        return view

    @property
    def error_mean(self) -> tuple[float, float]:
        """The offset penalty's running mean of the (v, omega) tracking error [m/s, rad/s]."""
        return self._error_mean

    @property
    def step_index(self) -> int:
        """Control steps taken in this episode (the index of the current command)."""
        return self._step

    def render(self) -> np.ndarray | None:
        """RGB image (240, 320, 3) uint8 in "rgb_array" mode, else None."""
        if self.render_mode != "rgb_array":
            return None
        return self.sim.render_rgb(320, 240)

    def close(self) -> None:
        """Release the physics client."""
        self.sim.close()
