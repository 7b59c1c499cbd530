"""The Rollout message from the inference node to the learner <-> `rl/rollout.Rollout`.

The message (crawler_rl_interfaces/Rollout) carries every field of the one Rollout type; its
truncation convention is the Rollout's (raw rewards, `final_values` bootstrapped by the learner).
"""

from __future__ import annotations

from crawler_rl.rl.rollout import ARRAY_FIELDS, Rollout
from crawler_rl.ros.interfaces import RolloutMsg
from crawler_rl.ros.training.codec import (
    MAX_ELEMENTS,
    CodecError,
    check_sizes,
    expect_type,
    flag_field,
    float_field,
    read_flags,
    read_floats,
)
from crawler_rl.ros.training.weights import MAX_VERSION

FLAG_FIELDS = ("terminated", "truncated")
"""Sent as uint8 0/1; every other field is float32."""


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
    shapes = Rollout.field_shapes(steps, envs, obs_dim, action_dim)
    arrays = {name: (read_flags if name in FLAG_FIELDS else read_floats)(msg, name, shapes[name])
              for name in ARRAY_FIELDS}
    if not msg.policy_version <= msg.newest_version <= MAX_VERSION:
        raise CodecError(f"rollout newest_version {msg.newest_version} must be in "
                         f"[policy_version={msg.policy_version}, {MAX_VERSION}]")
    return Rollout(actor_id=msg.actor_id, policy_version=msg.policy_version,
                   newest_version=msg.newest_version, **arrays)
