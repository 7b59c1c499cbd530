"""Typed training messages (crawler_rl_interfaces) round trip through the codec."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler_rl.rl.rollout import Rollout
from crawler_rl.ros.interfaces import ActionBatchMsg, ObservationBatchMsg
from crawler_rl.ros.training.codec import (
    ActionBatch,
    CodecError,
    ObsBatch,
    decode_action_batch,
    decode_obs_batch,
    encode_action_batch,
    encode_obs_batch,
)
from crawler_rl.ros.training.rollout import decode_rollout, encode_rollout

finite = st.floats(-1e6, 1e6, width=32)


def obs_batch(num_envs: int, obs_dim: int, truncated: list[bool], seed: int = 0) -> ObsBatch:
    rng = np.random.default_rng(seed)
    trunc = np.array(truncated, bool)
    return ObsBatch(
        actor_id=3, session=77, seq=12,
        obs=rng.normal(size=(num_envs, obs_dim)).astype(np.float32),
        rewards=rng.normal(size=num_envs).astype(np.float32),
        terminated=rng.random(num_envs) < 0.3, truncated=trunc,
        tracking_error=rng.random((num_envs, 2)).astype(np.float32),
        final_obs=rng.normal(size=(int(trunc.sum()), obs_dim)).astype(np.float32),
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 9), st.integers(1, 20), st.data())
def test_obs_batch_round_trip(num_envs: int, obs_dim: int, data: st.DataObject) -> None:
    truncated = data.draw(st.lists(st.booleans(), min_size=num_envs, max_size=num_envs))
    batch = obs_batch(num_envs, obs_dim, truncated, seed=data.draw(st.integers(0, 99)))
    back = decode_obs_batch(encode_obs_batch(batch))
    assert (back.actor_id, back.session, back.seq) == (3, 77, 12)
    for name in ("obs", "rewards", "terminated", "truncated", "tracking_error", "final_obs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(batch, name), err_msg=name)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=8),
       st.integers(0, 2**32 - 1))
def test_action_batch_round_trip(rows: list[list[float]], version: int) -> None:
    actions = np.array(rows, np.float32)
    payload = encode_action_batch(ActionBatch(1, 2, 2**40, version, actions))
    back = decode_action_batch(payload)
    assert (back.actor_id, back.session, back.seq, back.policy_version) == (1, 2, 2**40, version)
    np.testing.assert_array_equal(back.actions, actions)
    assert isinstance(payload, ActionBatchMsg)
    assert (payload.num_envs, payload.action_dim) == actions.shape


def test_rollout_round_trip_and_check() -> None:
    rng = np.random.default_rng(1)
    steps, envs, obs_dim, action_dim = 4, 3, 5, 2
    rollout = Rollout(
        actor_id=2, policy_version=7, newest_version=8,
        obs=rng.normal(size=(steps, envs, obs_dim)).astype(np.float32),
        actions=rng.normal(size=(steps, envs, action_dim)).astype(np.float32),
        log_probs=rng.normal(size=(steps, envs)).astype(np.float32),
        values=rng.normal(size=(steps, envs)).astype(np.float32),
        rewards=rng.normal(size=(steps, envs)).astype(np.float32),
        terminated=rng.random((steps, envs)) < 0.2, truncated=rng.random((steps, envs)) < 0.2,
        final_values=rng.normal(size=(steps, envs)).astype(np.float32),
        tracking_error=rng.random((steps, envs, 2)).astype(np.float32),
        last_obs=rng.normal(size=(envs, obs_dim)).astype(np.float32),
        last_values=rng.normal(size=envs).astype(np.float32),
    )
    back = decode_rollout(encode_rollout(rollout))
    assert (back.actor_id, back.policy_version, back.newest_version) == (2, 7, 8)
    np.testing.assert_array_equal(back.truncated, rollout.truncated)
    np.testing.assert_array_equal(back.obs, rollout.obs)
    back.check(obs_dim, action_dim)
    with pytest.raises(ValueError, match="'obs'"):
        back.check(obs_dim + 1, action_dim)
    rollout.rewards[1, 1] = np.nan
    with pytest.raises(ValueError, match="'rewards'.*non-finite"):
        decode_rollout(encode_rollout(rollout)).check(obs_dim, action_dim)


def test_inconsistent_messages_name_the_problem() -> None:
    good = encode_obs_batch(obs_batch(2, 3, [True, False]))
    assert isinstance(good, ObservationBatchMsg) and (good.num_envs, good.obs_dim) == (2, 3)

    def changed(**fields: object) -> ObservationBatchMsg:
        message = encode_obs_batch(obs_batch(2, 3, [True, False]))
        for name, value in fields.items():
            setattr(message, name, value)
        return message

    with pytest.raises(CodecError, match="obs holds 5 values"):
        decode_obs_batch(changed(obs=array("f", [0.0] * 5)))
    with pytest.raises(CodecError, match="num_envs"):
        decode_obs_batch(changed(num_envs=0))
    with pytest.raises(CodecError, match="final_obs"):  # one truncated env, no final obs
        decode_obs_batch(changed(final_obs=array("f")))
    with pytest.raises(CodecError, match="truncated holds"):
        decode_obs_batch(changed(truncated=array("B", [1])))
    with pytest.raises(CodecError, match="expected a ObservationBatch"):
        decode_obs_batch(encode_action_batch(ActionBatch(0, 0, 0, 0, np.zeros((1, 1)))))
    with pytest.raises(CodecError, match="final_obs must have shape"):
        encode_obs_batch(obs_batch(2, 3, [True, False]).__class__(
            **{**obs_batch(2, 3, [True, False]).__dict__, "final_obs": np.zeros((0, 3))}))
    with pytest.raises(CodecError, match="actions holds"):
        message = encode_action_batch(ActionBatch(0, 0, 0, 0, np.zeros((2, 2))))
        message.action_dim = 3
        decode_action_batch(message)


def test_flags_must_be_zero_or_one() -> None:
    message = encode_obs_batch(obs_batch(1, 2, [False]))
    message.terminated = array("B", [2])
    with pytest.raises(CodecError, match="terminated flags"):
        decode_obs_batch(message)
