from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler_rl.ros.codec import (
    HEADER,
    ActionBatch,
    CodecError,
    Kind,
    ObsBatch,
    decode_action_batch,
    decode_obs_batch,
    decode_tensors,
    encode_action_batch,
    encode_obs_batch,
    encode_tensors,
    peek_kind,
)
from crawler_rl.ros.rollout import Rollout, decode_rollout, encode_rollout

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
    assert peek_kind(payload) is Kind.ACTION_BATCH


def test_tensors_round_trip_keeps_names_dtypes_and_meta() -> None:
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "count": np.array(5.5),
               "steps": np.array([1, 2], np.int64), "empty": np.zeros((0, 4), np.float32)}
    arrays, meta, header = decode_tensors(encode_tensors(tensors, {"a": [1, 2]}, 4, 9))
    assert meta == {"a": [1, 2]} and (header.actor_id, header.seq) == (4, 9)
    assert list(arrays) == list(tensors)
    for name, value in tensors.items():
        assert arrays[name].dtype == value.dtype and arrays[name].shape == value.shape
        np.testing.assert_array_equal(arrays[name], value)


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


def test_malformed_messages_name_the_problem() -> None:
    good = encode_obs_batch(obs_batch(2, 3, [True, False]))
    with pytest.raises(CodecError, match="shorter than"):
        decode_obs_batch(good[:10])
    with pytest.raises(CodecError, match="bad magic"):
        decode_obs_batch(b"XXXX" + good[4:])
    with pytest.raises(CodecError, match="wire version"):
        decode_obs_batch(good[:4] + bytes([99]) + good[5:])
    with pytest.raises(CodecError, match="unknown message kind"):
        decode_obs_batch(good[:5] + bytes([42]) + good[6:])
    with pytest.raises(CodecError, match="expected a OBS_BATCH"):
        decode_obs_batch(encode_action_batch(ActionBatch(0, 0, 0, 0, np.zeros((1, 1)))))
    with pytest.raises(CodecError, match="does not match"):
        decode_obs_batch(good + b"\0\0\0\0")
    # num_final disagreeing with the truncated flags
    sizes = struct.pack("<III", 2, 3, 0)
    with pytest.raises(CodecError):
        decode_obs_batch(good[: HEADER.size] + sizes + good[HEADER.size + 12 :])
    with pytest.raises(CodecError, match="final_obs must have shape"):
        encode_obs_batch(obs_batch(2, 3, [True, False]).__class__(
            **{**obs_batch(2, 3, [True, False]).__dict__, "final_obs": np.zeros((0, 3))}))


def test_flags_must_be_zero_or_one() -> None:
    payload = bytearray(encode_obs_batch(obs_batch(1, 2, [False])))
    terminated_offset = HEADER.size + 12 + 4 * (2 + 1)
    payload[terminated_offset : terminated_offset + 4] = struct.pack("<f", 0.5)
    with pytest.raises(CodecError, match="terminated flags"):
        decode_obs_batch(bytes(payload))


def test_tensor_index_errors() -> None:
    good = encode_tensors({"w": np.ones(3, np.float32)}, {})
    with pytest.raises(CodecError, match="trailing"):
        decode_tensors(good + bytes(8))
    with pytest.raises(CodecError, match="runs past"):
        decode_tensors(good[:-8])
    with pytest.raises(CodecError, match="unsupported dtype"):
        encode_tensors({"s": np.array(["a"])}, {})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(list(Kind)))
def test_random_bytes_never_crash_the_decoders(noise: bytes, kind: Kind) -> None:
    prefix = HEADER.pack(b"CRWL", 1, int(kind), 0, 1, 2, 3)
    for data in (noise, prefix + noise):
        for decode in (decode_obs_batch, decode_action_batch, decode_tensors):
            try:
                decode(data)
            except CodecError:
                pass
