"""A rollout shipped from the inference node to the learner, and its Rollout message."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from crawler_rl.ros.codec import (
    MAX_ELEMENTS,
    CodecError,
    check_sizes,
    expect_type,
    flag_field,
    float_field,
    read_flags,
    read_floats,
)
from crawler_rl.ros.interfaces import RolloutMsg
from crawler_rl.ros.weights import MAX_VERSION


@dataclass
class Rollout:
    """`num_steps` consecutive steps of one actor's K envs, all from one actor session.

    Shapes: obs (T, K, D), actions (T, K, A), log_probs/values/rewards/terminated/truncated/
    final_values (T, K), tracking_error (T, K, 2), last_obs (K, D), last_values (K,).
    `final_values[t, k]` is V(final_obs) where env k was truncated at step t (else 0); the
    learner adds gamma * final_values to the reward. `policy_version` is the oldest policy
    version that chose an action in it, `newest_version` the newest.
    """

    actor_id: int
    policy_version: int
    newest_version: int
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

    @property
    def num_steps(self) -> int:
        """Steps per env T."""
        return int(self.obs.shape[0])

    @property
    def num_envs(self) -> int:
        """Envs K."""
        return int(self.obs.shape[1])

    @staticmethod
    def message_elements(num_steps: int, num_envs: int, obs_dim: int, action_dim: int) -> int:
        """Elements of a rollout message of this size: the per-message limit a learner sets."""
        shapes = _field_shapes(num_steps, num_envs, obs_dim, action_dim).values()
        return sum(math.prod(shape) for shape in shapes)

    def check(self, obs_dim: int, action_dim: int) -> None:
        """Raise ValueError naming the first field of wrong shape or with non-finite values."""
        steps, envs = self.obs.shape[:2] if self.obs.ndim == 3 else (-1, -1)
        expected = _field_shapes(steps, envs, obs_dim, action_dim)
        for name in ARRAY_FIELDS:
            array = getattr(self, name)
            if array.shape != expected[name] or steps < 1 or envs < 1:
                raise ValueError(
                    f"rollout field {name!r} has shape {array.shape}, expected {expected[name]}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"rollout field {name!r} holds non-finite values")


ARRAY_FIELDS = tuple(f.name for f in fields(Rollout) if f.name not in (
    "actor_id", "policy_version", "newest_version"))
FLAG_FIELDS = ("terminated", "truncated")
"""Sent as uint8 0/1; every other field is float32."""


def _field_shapes(steps: int, envs: int, obs_dim: int, action_dim: int) -> dict[str, tuple]:
    """Shape of every field of a rollout of T steps, K envs, D obs, A actions."""
    shapes = {name: (steps, envs) for name in ARRAY_FIELDS}
    shapes.update(obs=(steps, envs, obs_dim), actions=(steps, envs, action_dim),
                  tracking_error=(steps, envs, 2), last_obs=(envs, obs_dim),
                  last_values=(envs,))
    return shapes


def encode_rollout(rollout: Rollout) -> RolloutMsg:
    """Build the Rollout message (float32 arrays, flags as uint8 0/1)."""
    obs_dim, action_dim = rollout.obs.shape[2], rollout.actions.shape[2]
    fields_ = {name: (flag_field if name in FLAG_FIELDS else float_field)(getattr(rollout, name))
               for name in ARRAY_FIELDS}
    return RolloutMsg(actor_id=rollout.actor_id, policy_version=rollout.policy_version,
                      newest_version=rollout.newest_version, num_steps=rollout.num_steps,
                      num_envs=rollout.num_envs, obs_dim=obs_dim, action_dim=action_dim,
                      **fields_)


def decode_rollout(msg: RolloutMsg, max_elements: int = MAX_ELEMENTS) -> Rollout:
    """Check a Rollout message; raise CodecError (only) unless it is a consistent rollout.

    Checked here: every array holds what the size fields announce (T, K, dims >= 1, at most
    `max_elements` elements in all), 0/1 flags and the versions. Whether T, K and the dims
    suit the run, and whether the values are finite, is `Rollout.check`.
    """
    expect_type(msg, RolloutMsg)
    steps, envs, obs_dim, action_dim = msg.num_steps, msg.num_envs, msg.obs_dim, msg.action_dim
    check_sizes("Rollout", num_steps=steps, num_envs=envs, obs_dim=obs_dim,
                action_dim=action_dim)
    elements = Rollout.message_elements(steps, envs, obs_dim, action_dim)
    if elements > max_elements:
        raise CodecError(f"rollout of {steps} steps x {envs} envs has {elements} elements, "
                         f"more than the {max_elements}-element limit")
    shapes = _field_shapes(steps, envs, obs_dim, action_dim)
    arrays = {name: (read_flags if name in FLAG_FIELDS else read_floats)(msg, name, shapes[name])
              for name in ARRAY_FIELDS}
    if not msg.policy_version <= msg.newest_version <= MAX_VERSION:
        raise CodecError(f"rollout newest_version {msg.newest_version} must be in "
                         f"[policy_version={msg.policy_version}, {MAX_VERSION}]")
    return Rollout(actor_id=msg.actor_id, policy_version=msg.policy_version,
                   newest_version=msg.newest_version, **arrays)
