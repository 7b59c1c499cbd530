"""A rollout shipped from the inference node to the learner, and its TENSORS encoding."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from crawler_rl.ros.codec import MAX_ELEMENTS, CodecError, decode_tensors, encode_tensors
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


def encode_rollout(rollout: Rollout) -> bytes:
    """Serialize a rollout (float32 arrays, flags as uint8)."""
    tensors = {}
    for name in ARRAY_FIELDS:
        array = getattr(rollout, name)
        tensors[name] = array.astype(np.uint8) if array.dtype == bool else array.astype(np.float32)
    meta = {"newest_version": rollout.newest_version}
    return encode_tensors(tensors, meta, rollout.actor_id, rollout.policy_version)


def decode_rollout(data: bytes | bytearray | memoryview,
                   max_elements: int = MAX_ELEMENTS) -> Rollout:
    """Parse a rollout message; raise CodecError (only) unless it is a consistent rollout.

    Checked here: exactly the rollout's fields, their dtypes, shapes that agree with each
    other (T, K >= 1), 0/1 flags and the versions. Whether T, K and the dims suit the run,
    and whether the values are finite, is `Rollout.check`.
    """
    tensors, meta, header = decode_tensors(data, max_elements)
    missing = sorted(set(ARRAY_FIELDS) - set(tensors))
    unknown = sorted(set(tensors) - set(ARRAY_FIELDS))
    if missing or unknown:
        raise CodecError(f"rollout message lacks fields {missing} / has unknown {unknown}")
    obs, actions = tensors["obs"], tensors["actions"]
    if obs.ndim != 3 or actions.ndim != 3 or min(obs.shape[:2]) < 1:
        raise CodecError(f"rollout obs {obs.shape} / actions {actions.shape} are not "
                         "(T, K, dim) with T, K >= 1")
    shapes = _field_shapes(*obs.shape, actions.shape[2])
    arrays = {}
    for name in ARRAY_FIELDS:
        array = tensors[name]
        want = "u1" if name in FLAG_FIELDS else "f4"
        if array.dtype.str[1:] != want or array.shape != shapes[name]:
            raise CodecError(f"rollout field {name!r} is {array.dtype.str} {array.shape}, "
                             f"expected {want} {shapes[name]}")
        if name in FLAG_FIELDS:
            if np.any(array > 1):
                raise CodecError(f"rollout flags {name!r} must be 0 or 1")
            array = array.astype(bool)
        arrays[name] = array
    newest = meta.get("newest_version", header.seq)
    # type() is int: rejects bool, float (1e400 is inf), null, lists and strings.
    if type(newest) is not int or not header.seq <= newest <= MAX_VERSION:
        raise CodecError(f"rollout newest_version {newest!r:.40} must be an integer in "
                         f"[policy_version={header.seq}, {MAX_VERSION}]")
    return Rollout(actor_id=header.actor_id, policy_version=header.seq,
                   newest_version=newest, **arrays)
