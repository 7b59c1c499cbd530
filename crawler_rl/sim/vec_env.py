"""A lean synchronous vector of Gymnasium environments with same-step auto-reset.

Works for any Gymnasium env with Box observation/action spaces (the crawler or another robot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

EnvFactory = Callable[[], gym.Env]
_NUMERIC = (int, float, np.floating, np.integer, bool, np.bool_)


class SyncVecEnv:
    """Step K envs in one process and return stacked arrays.

    `step` auto-resets finished envs in the same call: the returned observation of a finished env
    is its first observation of the next episode, and `infos["final_obs"]` holds the last
    observation of the finished episode (needed to bootstrap values on truncation).
    Numeric scalar entries of the info dict (keys learnt from the first step) are stacked into
    `infos[key]` (shape (K,)).
    """

    def __init__(self, env_factories: Sequence[EnvFactory]) -> None:
        if not env_factories:
            raise ValueError("SyncVecEnv needs at least one environment")
        self.envs = [make() for make in env_factories]
        self.num_envs = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        for space in (self.single_observation_space, self.single_action_space):
            if not isinstance(space, gym.spaces.Box):
                raise TypeError(f"only Box spaces are supported, got {space!r}")
        self.obs_dim = int(np.prod(self.single_observation_space.shape))
        self.action_dim = int(np.prod(self.single_action_space.shape))
        self._obs = np.zeros((self.num_envs, self.obs_dim), dtype=np.float32)
        self._info_keys: tuple[str, ...] | None = None

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Reset every env (env i gets seed + i). Shape: (num_envs, obs_dim)."""
        for index, env in enumerate(self.envs):
            env_seed = None if seed is None else seed + index
            obs, _ = env.reset(seed=env_seed, options=options)
            self._obs[index] = np.asarray(obs, dtype=np.float32).reshape(-1)
        return self._obs.copy()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step all envs. actions Shape: (num_envs, action_dim).

        Returns obs (K, D) float32, rewards (K,) float32, terminated (K,) bool,
        truncated (K,) bool and the stacked infos.
        """
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.num_envs, self.action_dim):
            raise ValueError(
                f"actions must have shape {(self.num_envs, self.action_dim)}, got {actions.shape}"
            )
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        final_obs = np.zeros_like(self._obs)
        stacked: dict[str, np.ndarray] = {}
        shape = self.single_action_space.shape
        for index, env in enumerate(self.envs):
            obs, reward, term, trunc, info = env.step(actions[index].reshape(shape))
            obs = np.asarray(obs, dtype=np.float32).reshape(-1)
            rewards[index] = reward
            terminated[index] = term
            truncated[index] = trunc
            final_obs[index] = obs
            if self._info_keys is None:
                # learnt once: checking every value's type on every step is the hot path
                self._info_keys = tuple(
                    key for key, value in info.items() if isinstance(value, _NUMERIC)
                )
            for key in self._info_keys:
                if key not in stacked:
                    stacked[key] = np.zeros(self.num_envs, dtype=np.float64)
                stacked[key][index] = info.get(key, 0.0)
            if term or trunc:
                obs, _ = env.reset()
                obs = np.asarray(obs, dtype=np.float32).reshape(-1)
            self._obs[index] = obs
        stacked["final_obs"] = final_obs
        return self._obs.copy(), rewards, terminated, truncated, stacked

    def close(self) -> None:
        """Close every env (releases PyBullet clients)."""
        for env in self.envs:
            env.close()
