"""A rollout shipped from the inference node to the learner, and its TENSORS encoding."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from crawler_rl.ros.codec import CodecError, decode_tensors, encode_tensors


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

    def check(self, obs_dim: int, action_dim: int) -> None:
        """Raise ValueError naming the first field of wrong shape or with non-finite values."""
        steps, envs = self.obs.shape[:2] if self.obs.ndim == 3 else (-1, -1)
        expected = {
            "obs": (steps, envs, obs_dim),
            "actions": (steps, envs, action_dim),
            "tracking_error": (steps, envs, 2),
            "last_obs": (envs, obs_dim),
            "last_values": (envs,),
        }
        for name in ARRAY_FIELDS:
            array = getattr(self, name)
            want = expected.get(name, (steps, envs))
            if array.shape != want or steps < 1 or envs < 1:
                raise ValueError(
                    f"rollout field {name!r} has shape {array.shape}, expected {want}"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"rollout field {name!r} holds non-finite values")


ARRAY_FIELDS = tuple(f.name for f in fields(Rollout) if f.name not in (
    "actor_id", "policy_version", "newest_version"))


def encode_rollout(rollout: Rollout) -> bytes:
    """Serialize a rollout (float32 arrays, flags as uint8)."""
    tensors = {}
    for name in ARRAY_FIELDS:
        array = getattr(rollout, name)
        tensors[name] = array.astype(np.uint8) if array.dtype == bool else array.astype(np.float32)
    meta = {"newest_version": rollout.newest_version}
    return encode_tensors(tensors, meta, rollout.actor_id, rollout.policy_version)


def decode_rollout(data: bytes | bytearray | memoryview) -> Rollout:
    """Parse a rollout message; raise CodecError when a field is missing."""
    tensors, meta, header = decode_tensors(data)
    missing = [name for name in ARRAY_FIELDS if name not in tensors]
    if missing:
        raise CodecError(f"rollout message lacks fields {missing}")
    arrays = {}
    for name in ARRAY_FIELDS:
        array = tensors[name]
        arrays[name] = array.astype(bool) if name in ("terminated", "truncated") else array
    return Rollout(
        actor_id=header.actor_id,
        policy_version=header.seq,
        newest_version=int(meta.get("newest_version", header.seq)),
        **arrays,
    )
