"""The asymmetric critic's extra inputs: simulator state the robot cannot sense (training only).

With `env.privileged_critic: true` the training env's observation is the controller's
observation (OBS_FIELDS, what the actor and the deployed model see) followed by CRITIC_FIELDS.
The actor reads only the first ACTOR_OBS_DIM entries; the value function reads all of them, so it
can predict the reward, which is computed from the true twist, not the noisy measured one, and
depends on the offset penalty's running mean, and the coming command change, which the
controller cannot know. Nothing here reaches the exported
model or the robot.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from crawler_rl.sim.observation import ACTOR_OBS_DIM, OBS_DIM, mirror_spec

LOOKAHEAD_SECONDS = 2.0
"""Time to the next command change is reported up to this horizon (and held there)."""

SCHEDULE_FIELDS = ("next_cmd_v", "next_cmd_omega", "time_to_next_cmd")
"""From the episode's command schedule: the next different command and how soon it comes [s]."""
HIDDEN_FIELDS = (
    "true_v", "true_omega", "tether_force_x", "tether_force_y", "tether_force_z",
    "wheel_speed_left", "wheel_speed_right", "motor_state_left", "motor_state_right",
    "motor_gain_left", "motor_gain_right", "wheel_radius_scale_left", "wheel_radius_scale_right",
    "motor_lag", "motor_droop", "wheel_friction", "adhesion_per_wheel", "payload_mass",
    "slope_deg", "tether_length", "slip", "gap",
)
"""From `CrawlerSim.hidden_state()`, in this order."""
REWARD_FIELDS = ("error_mean_v", "error_mean_omega")
"""The reward's own state: the offset penalty's running mean error (`CrawlerEnv.error_mean`),
which the penalty of the coming steps depends on and no observation holds."""
CRITIC_FIELDS = SCHEDULE_FIELDS + HIDDEN_FIELDS + REWARD_FIELDS
CRITIC_DIM = len(CRITIC_FIELDS)

_NEGATED = ("next_cmd_omega", "true_omega", "tether_force_y", "error_mean_omega")
_SWAPPED = (("wheel_speed_left", "wheel_speed_right"), ("motor_state_left", "motor_state_right"),
            ("motor_gain_left", "motor_gain_right"),
            ("wheel_radius_scale_left", "wheel_radius_scale_right"))


def privileged_mirror_spec(action_dim: int = 2) -> dict[str, list[float]]:
    """Return the left/right mirror of observation + critic state (rl/symmetry.py's form)."""
    base = mirror_spec(action_dim)
    perm = list(range(CRITIC_DIM))
    for left, right in _SWAPPED:
        i, j = CRITIC_FIELDS.index(left), CRITIC_FIELDS.index(right)
        perm[i], perm[j] = j, i
    sign = [-1.0 if name in _NEGATED else 1.0 for name in CRITIC_FIELDS]
    return {**base, "obs_perm": base["obs_perm"] + [OBS_DIM + i for i in perm],
            "obs_sign": base["obs_sign"] + sign}


def next_change_steps(commands: np.ndarray) -> np.ndarray:
    """For each step i, the first step j > i whose command differs (len(commands) if none)."""
    count = len(commands)
    changed = np.flatnonzero(np.any(commands[1:] != commands[:-1], axis=1)) + 1
    following = np.full(count, count, dtype=np.int64)
    position = np.searchsorted(changed, np.arange(count), side="right")
    inside = position < len(changed)
    following[inside] = changed[position[inside]]
    return following


class PrivilegedCriticObservation(gym.ObservationWrapper):
    """Append CRITIC_FIELDS to a `CrawlerEnv`'s observation (the actor slices them off).

    `actor_observation_dim` (ACTOR_OBS_DIM), `model_observation_dim` (OBS_DIM) and `mirror_spec`
    (extended to the critic state) are read by `crawler_rl.rl.envs.describe_env`.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actor_observation_dim = ACTOR_OBS_DIM
        self.model_observation_dim = OBS_DIM
        self.mirror_spec = (privileged_mirror_spec(len(env.unwrapped.mirror_spec["action_perm"]))
                            if env.unwrapped.mirror_spec else None)
        high = np.full(OBS_DIM + CRITIC_DIM, np.inf, dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self._following = np.zeros(0, dtype=np.int64)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env and index its new command schedule."""
        obs, info = self.env.reset(**kwargs)
        self._following = next_change_steps(self.env.unwrapped.command_schedule)
        return self.observation(obs), info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Observation (OBS_DIM,) -> observation + critic state (OBS_DIM + CRITIC_DIM,)."""
        env = self.env.unwrapped
        commands = env.command_schedule
        step = min(env.step_index, len(commands) - 1)
        following = int(self._following[step]) if len(self._following) else len(commands)
        dt = env.control_dt
        if following < len(commands):
            next_v, next_omega = commands[following]
            horizon = min((following - step) * dt, LOOKAHEAD_SECONDS)
        else:
            (next_v, next_omega), horizon = commands[step], LOOKAHEAD_SECONDS
        hidden = env.sim.hidden_state()
        extra = np.array([next_v, next_omega, horizon, *(hidden[name] for name in HIDDEN_FIELDS),
                          *env.error_mean], dtype=np.float32)
        return np.concatenate([np.asarray(observation, dtype=np.float32), extra])
