"""The one Rollout type: T steps of K envs, as collected locally or shipped over ROS.

Both training front ends produce it: the local collector (`collector.collect_rollout`, also in
the rollout worker processes, whose transport is `to_arrays` / `from_arrays`) and the ROS
inference node (`ros/training/batching.TrajectoryBuilder`; its message is
`ros/training/rollout.py`). Both learner paths store it the same way (`fill_storage`).

Truncation bootstrap, one convention: `rewards` are the env's rewards as given, and
`final_values[t, k]` is V(final obs) where env k was cut by a time limit at step t (else 0);
the learner adds gamma * final_values where truncated and not terminated
(`bootstrapped_rewards`, `ppo.bootstrap_truncated`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from crawler_rl.rl.ppo import bootstrap_truncated
from crawler_rl.rl.storage import RolloutStorage

TRACKING_WIDTH = 2
"""Columns of `tracking_error`: (v, omega) errors, `envs.TRACKING_KEYS` (0 for other envs)."""


@dataclass
class Rollout:
    """`num_steps` consecutive steps of K envs.

    Shapes: obs (T, K, D), actions (T, K, A) (sampled, unclipped), log_probs/values/rewards/
    terminated/truncated/final_values (T, K), tracking_error (T, K, 2) (or (T, K, 0) for envs
    without tracking errors), last_obs (K, D), last_values (K,): V(last_obs). ROS rollouts come
    from one actor (`actor_id`); `policy_version` is the oldest policy version that chose an
    action in it, `newest_version` the newest (0 for local rollouts).
    """

    obs: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_values: np.ndarray
    tracking_error: np.ndarray
    last_obs: np.ndarray
    last_values: np.ndarray
    actor_id: int = 0
    policy_version: int = 0
    newest_version: int = 0

    @property
    def num_steps(self) -> int:
        """Steps per env T."""
        return int(self.obs.shape[0])

    @property
    def num_envs(self) -> int:
        """Envs K."""
        return int(self.obs.shape[1])

    @staticmethod
    def field_shapes(steps: int, envs: int, obs_dim: int, action_dim: int,
                     tracking_width: int = TRACKING_WIDTH) -> dict[str, tuple[int, ...]]:
        """Shape of every array field of a rollout of T steps, K envs, D obs, A actions."""
        shapes: dict[str, tuple[int, ...]] = {name: (steps, envs) for name in ARRAY_FIELDS}
        shapes.update(obs=(steps, envs, obs_dim), actions=(steps, envs, action_dim),
                      tracking_error=(steps, envs, tracking_width), last_obs=(envs, obs_dim),
                      last_values=(envs,))
        return shapes

    @staticmethod
    def message_elements(num_steps: int, num_envs: int, obs_dim: int, action_dim: int) -> int:
        """Elements of a rollout of this size: the per-message limit a learner sets."""
        shapes = Rollout.field_shapes(num_steps, num_envs, obs_dim, action_dim).values()
        return sum(math.prod(shape) for shape in shapes)

    def check(self, obs_dim: int, action_dim: int) -> None:
        """Raise ValueError naming the first field of wrong shape or with non-finite values."""
        steps, envs = self.obs.shape[:2] if self.obs.ndim == 3 else (-1, -1)
        expected = Rollout.field_shapes(steps, envs, obs_dim, action_dim)
        for name in ARRAY_FIELDS:
            array = getattr(self, name)
            if array.shape != expected[name] or steps < 1 or envs < 1:
                raise ValueError(
                    f"rollout field {name!r} has shape {array.shape}, expected {expected[name]}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"rollout field {name!r} holds non-finite values")

    def bootstrapped_rewards(self, gamma: float) -> torch.Tensor:
        """Rewards + gamma * final_values where truncated and not terminated. Shape: (T, K)."""
        return bootstrap_truncated(
            torch.from_numpy(self.rewards), torch.from_numpy(self.terminated),
            torch.from_numpy(self.truncated), torch.from_numpy(self.final_values), gamma)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a named array (the versions as 0-d int64 arrays)."""
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS}
        arrays.update({name: np.array(getattr(self, name), np.int64) for name in ID_FIELDS})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Rollout:
        """Inverse of `to_arrays`; KeyError naming a missing field."""
        return cls(**{name: arrays[name] for name in ARRAY_FIELDS},
                   **{name: int(arrays[name]) for name in ID_FIELDS})


ID_FIELDS = ("actor_id", "policy_version", "newest_version")
ARRAY_FIELDS = tuple(f.name for f in fields(Rollout) if f.name not in ID_FIELDS)


def concat_envs(parts: list[Rollout]) -> Rollout:
    """Join rollouts of the same steps side by side (env axis, in order).

    The result's versions span the parts' (oldest policy_version, newest newest_version); its
    actor_id is the first part's.
    """
    arrays = {name: np.concatenate([getattr(part, name) for part in parts],
                                   axis=0 if name in ("last_obs", "last_values") else 1)
              for name in ARRAY_FIELDS}
    return replace(parts[0], **arrays,
                   policy_version=min(part.policy_version for part in parts),
                   newest_version=max(part.newest_version for part in parts))


def fill_storage(storage: RolloutStorage, rollout: Rollout, gamma: float,
                 values: torch.Tensor | None = None) -> None:
    """Copy `rollout` into `storage` (which checks it), truncations bootstrapped.

    `values` (T, K) replaces the rollout's own value estimates (the ROS learner values the
    states with its current critic).
    """
    storage.clear()
    rewards = rollout.bootstrapped_rewards(gamma)
    values = torch.from_numpy(rollout.values) if values is None else values
    obs, actions = torch.from_numpy(rollout.obs), torch.from_numpy(rollout.actions)
    log_probs = torch.from_numpy(rollout.log_probs)
    terminated, truncated = torch.from_numpy(rollout.terminated), torch.from_numpy(
        rollout.truncated)
    for t in range(storage.num_steps):
        storage.add(obs[t], actions[t], log_probs[t], values[t], rewards[t], terminated[t],
                    truncated[t])
