"""Typed messages of the training graph (crawler_rl_interfaces) <-> checked numpy batches.

Every topic carries a `crawler_rl_interfaces` message (see its .msg files for fields and
units); 2-D arrays travel flat with their sizes in explicit fields. DDS frames and types the
fields, so what is left to check is what a type cannot say: that the flat arrays hold exactly
what the size fields announce, that 0/1 flags are 0 or 1, and sizes and versions in range.
Decoders raise CodecError and nothing else, for any message of the right type; whether the
values are finite and the sizes suit the run is the receiver's check.

Arrays go in and out as `array.array` / `np.frombuffer` views (microseconds for thousands of
floats; assigning numpy arrays to the fields directly is a hundred times slower).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from crawler_rl.ros.interfaces import Act, ActionBatchMsg, ObservationBatchMsg

MAX_ELEMENTS = 1 << 28
"""Ceiling of elements in one message (~1 GiB of float32); nodes pass tighter limits sized
from their configuration (`decode_rollout(max_elements=...)`)."""


class CodecError(ValueError):
    """A message whose fields do not form a consistent crawler_rl message."""


@dataclass
class ObsBatch:
    """One actor step for its K envs. Shapes: obs (K, D), rewards (K,), final_obs (F, D)."""

    actor_id: int
    session: int
    seq: int
    obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    tracking_error: np.ndarray
    final_obs: np.ndarray

    @property
    def num_envs(self) -> int:
        """Number of envs K in this batch."""
        return int(self.obs.shape[0])


@dataclass
class ActionBatch:
    """Actions for one actor's K envs. Shape: actions (K, A)."""

    actor_id: int
    session: int
    seq: int
    policy_version: int
    actions: np.ndarray


def float_field(values: Any) -> array:
    """Return a float32[] field value of any array-like (fast path of rosidl's setter)."""
    return array("f", np.ascontiguousarray(values, dtype="<f4").tobytes())


def double_field(values: Any) -> array:
    """Return a float64[] field value of any array-like."""
    return array("d", np.ascontiguousarray(values, dtype="<f8").tobytes())


def flag_field(values: Any) -> array:
    """Return a uint8[] 0/1 field value of booleans."""
    return array("B", np.ascontiguousarray(values, dtype=bool).astype(np.uint8).tobytes())


def expect_type(msg: Any, message_type: type) -> None:
    """Raise CodecError unless `msg` is a `message_type` message."""
    if not isinstance(msg, message_type):
        raise CodecError(f"expected a {message_type.__name__} message, got "
                         f"{type(msg).__name__}")


def read_floats(msg: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return the float field `name` as a read-only (shape) array; CodecError unless it fits."""
    return _read(msg, name, shape, np.float32)


def read_doubles(msg: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return the float64 field `name` as a (shape) array; CodecError unless it fits."""
    return _read(msg, name, shape, np.float64)


def read_flags(msg: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return the 0/1 field `name` as a (shape) bool array; CodecError unless it fits."""
    values = _read(msg, name, shape, np.uint8)
    if np.any(values > 1):
        raise CodecError(f"{name} flags must be 0 or 1, got {values.reshape(-1)[:8]!r}")
    return values.astype(bool)


def _read(msg: Any, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    values = np.frombuffer(getattr(msg, name), dtype=dtype)
    if values.size != math.prod(shape):
        raise CodecError(f"{name} holds {values.size} values, but its sizes say "
                         f"{shape} = {math.prod(shape)}")
    return values.reshape(shape)


def check_sizes(kind: str, **sizes: int) -> None:
    """Raise CodecError if a size is zero (the arrays' lengths are checked on reading)."""
    zero = [name for name, size in sizes.items() if size == 0]
    if zero:
        raise CodecError(f"{kind} with {', '.join(zero)} = 0 ({sizes})")


def encode_obs_batch(batch: ObsBatch) -> ObservationBatchMsg:
    """Build the message of an ObsBatch (validates that the shapes agree)."""
    obs = np.asarray(batch.obs, dtype=np.float32)
    if obs.ndim != 2:
        raise CodecError(f"obs must be (num_envs, obs_dim), got shape {obs.shape}")
    num_envs, obs_dim = obs.shape
    truncated = np.asarray(batch.truncated, dtype=bool).reshape(-1)
    final_obs = np.asarray(batch.final_obs, dtype=np.float32).reshape(-1, obs_dim)
    expected = {
        "rewards": (np.asarray(batch.rewards).shape, (num_envs,)),
        "terminated": (np.asarray(batch.terminated).shape, (num_envs,)),
        "truncated": (truncated.shape, (num_envs,)),
        "tracking_error": (np.asarray(batch.tracking_error).shape, (num_envs, 2)),
        "final_obs": (final_obs.shape, (int(truncated.sum()), obs_dim)),
    }
    for name, (shape, want) in expected.items():
        if shape != want:
            raise CodecError(f"{name} must have shape {want}, got {shape}")
    return ObservationBatchMsg(
        actor_id=batch.actor_id, session=batch.session, seq=batch.seq, num_envs=num_envs,
        obs_dim=obs_dim, obs=float_field(obs), rewards=float_field(batch.rewards),
        terminated=flag_field(batch.terminated), truncated=flag_field(truncated),
        tracking_error=float_field(batch.tracking_error), final_obs=float_field(final_obs),
    )


def decode_obs_batch(msg: ObservationBatchMsg) -> ObsBatch:
    """Check an ObservationBatch message; raise CodecError on any size or flag inconsistency."""
    expect_type(msg, ObservationBatchMsg)
    num_envs, obs_dim = msg.num_envs, msg.obs_dim
    check_sizes("ObservationBatch", num_envs=num_envs, obs_dim=obs_dim)
    truncated = read_flags(msg, "truncated", (num_envs,))
    num_final = int(truncated.sum())
    return ObsBatch(
        actor_id=msg.actor_id, session=msg.session, seq=msg.seq,
        obs=read_floats(msg, "obs", (num_envs, obs_dim)),
        rewards=read_floats(msg, "rewards", (num_envs,)),
        terminated=read_flags(msg, "terminated", (num_envs,)),
        truncated=truncated,
        tracking_error=read_floats(msg, "tracking_error", (num_envs, 2)),
        final_obs=read_floats(msg, "final_obs", (num_final, obs_dim)),
    )


def encode_action_batch(batch: ActionBatch) -> ActionBatchMsg:
    """Build the message of an ActionBatch."""
    actions = np.asarray(batch.actions, dtype=np.float32)
    if actions.ndim != 2:
        raise CodecError(f"actions must be (num_envs, action_dim), got shape {actions.shape}")
    return ActionBatchMsg(
        actor_id=batch.actor_id, session=batch.session, seq=batch.seq,
        policy_version=batch.policy_version, num_envs=actions.shape[0],
        action_dim=actions.shape[1], actions=float_field(actions),
    )


def decode_action_batch(msg: ActionBatchMsg) -> ActionBatch:
    """Check an ActionBatch message; raise CodecError on size mismatch."""
    expect_type(msg, ActionBatchMsg)
    check_sizes("ActionBatch", num_envs=msg.num_envs, action_dim=msg.action_dim)
    actions = read_floats(msg, "actions", (msg.num_envs, msg.action_dim))
    return ActionBatch(msg.actor_id, msg.session, msg.seq, msg.policy_version, actions)


def decode_act_request(request: Act.Request, obs_dim: int, max_envs: int) -> np.ndarray:
    """Check an `~/act` request; return its (K, D) observations or raise CodecError."""
    expect_type(request, Act.Request)
    check_sizes("Act request", num_envs=request.num_envs, obs_dim=request.obs_dim)
    if request.obs_dim != obs_dim or request.num_envs > max_envs:
        raise CodecError(f"Act request of {request.num_envs} x {request.obs_dim} observations; "
                         f"this policy reads obs_dim={obs_dim}, at most {max_envs} at once")
    obs = read_floats(request, "obs", (request.num_envs, obs_dim))
    if not np.all(np.isfinite(obs)):
        raise CodecError("Act request holds non-finite observations")
    return obs
