"""Hostile but well-framed messages: every decoder raises CodecError and nothing else.

(The launcher's training-metrics parser, the one JSON-only reader, returns None instead.)

Random bytes rarely get past the magic; these messages carry a valid header, index length
and padding, and put the hostility where the decoders must check it: sizes, shapes, dtypes,
names, versions and meta values of the index (huge, negative, float, bool, null, nested,
NaN/Infinity, missing, repeated).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.ros.codec import (
    HEADER,
    MAX_ELEMENTS,
    CodecError,
    Kind,
    decode_action_batch,
    decode_obs_batch,
    decode_tensors,
    encode_tensors,
)
from crawler_rl.ros.launcher import parse_metrics
from crawler_rl.ros.rollout import Rollout, decode_rollout, encode_rollout
from crawler_rl.ros.weights import (
    architecture,
    check_architecture,
    check_state,
    decode_weights,
    encode_weights,
    state_elements,
)

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
SIZES = st.sampled_from([0, 1, 2, 3, -1, 2**31, 2**32, 2**32 - 1, 2**63, 2**64, 2**64 + 1,
                         10**30, MAX_ELEMENTS, MAX_ELEMENTS + 1])
SCALARS = (st.none() | st.booleans() | SIZES | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4))
HOSTILE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
RAW_TOKENS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[[[[[[[[1]]]]]]]]",
              "9" * 5000, "[" * 5000 + "]" * 5000)
"""Index fragments json.dumps never writes: non-finite constants, overflow, deep nesting."""


def framed(index_text: str, payload: bytes, version: int = 3, kind: Kind = Kind.TENSORS) -> bytes:
    """A TENSORS message with a correct header, index length and padding around `index_text`."""
    text = index_text.encode()
    prefix = HEADER.pack(b"CRWL", 1, int(kind), 0, 5, 0, version) + struct.pack("<I", len(text))
    return prefix + text + bytes(-(len(prefix) + len(text)) % 8) + payload


def split(message: bytes) -> tuple[dict[str, Any], bytes, int]:
    """(index, payload, version) of an encoded TENSORS message."""
    (length,) = struct.unpack_from("<I", message, HEADER.size)
    start = HEADER.size + 4
    end = start + length
    seq = HEADER.unpack_from(message)[-1]
    return json.loads(message[start:end]), message[end + (-end % 8):], seq


def dump(index: Any, raw: str | None) -> str:
    """json text of `index`, with `raw` (a RAW_TOKENS entry) in place of the marker string."""
    text = json.dumps(index, allow_nan=True)
    return text.replace('"@RAW@"', raw) if raw is not None else text


def only_codec_errors(decode: Any, message: bytes) -> Any:
    """Decode; a CodecError is a pass, any other exception fails the test."""
    try:
        return decode(message)
    except CodecError:
        return None


def mutate(index: dict[str, Any], data: st.DataObject) -> str | None:
    """Make one hostile change to a valid index in place; return a RAW_TOKENS entry or None."""
    entries, meta = index["tensors"], index["meta"]
    raw = data.draw(st.none() | st.sampled_from(RAW_TOKENS))
    value = "@RAW@" if raw is not None else data.draw(HOSTILE)
    where = data.draw(st.sampled_from(["meta", "name", "dtype", "shape", "dim", "entry", "drop",
                                       "repeat", "index", "tensors"]))
    slot = data.draw(st.integers(0, len(entries) - 1))
    if where == "meta":
        meta[data.draw(st.sampled_from([*meta, "newest_version", "x"]))] = value
    elif where in ("name", "dtype", "shape"):
        entries[slot][("name", "dtype", "shape").index(where)] = value
    elif where == "dim" and entries[slot][2]:
        dims = entries[slot][2]
        dims[data.draw(st.integers(0, len(dims) - 1))] = value
    elif where == "entry":
        entries[slot] = value
    elif where == "drop":
        entries.pop(slot)
    elif where == "repeat":
        entries.append(list(entries[slot]))
    elif where == "index":
        index[data.draw(st.sampled_from(["meta", "tensors", "extra"]))] = value
    else:
        entries.append(value)
    return raw


def small_rollout() -> Rollout:
    steps, envs, obs_dim, action_dim = 3, 2, 4, 2
    shape = (steps, envs)
    return Rollout(
        actor_id=1, policy_version=4, newest_version=6,
        obs=np.ones((*shape, obs_dim), np.float32), actions=np.zeros((*shape, action_dim)),
        log_probs=np.zeros(shape), values=np.zeros(shape), rewards=np.zeros(shape),
        terminated=np.zeros(shape, bool), truncated=np.ones(shape, bool),
        final_values=np.zeros(shape), tracking_error=np.zeros((*shape, 2)),
        last_obs=np.zeros((envs, obs_dim)), last_values=np.zeros(envs),
    )


ROLLOUT = encode_rollout(small_rollout())
POLICY = ActorCritic(3, 1, TrainConfig.from_dict({"model": {"actor_hidden": [4],
                                                            "critic_hidden": [4]}}).model)
MODEL_META = {"actor_hidden": [4], "critic_hidden": [4]}
WEIGHTS = encode_weights(POLICY.state_dict(), {"obs_dim": 3, "action_dim": 1,
                                               "model": MODEL_META}, 9)


def accept_weights(message: bytes) -> None:
    """What the inference node does with a weights message, up to loading it."""
    state, meta, _ = decode_weights(message, state_elements(POLICY.state_dict()))
    check_architecture(meta, architecture(3, 1, MODEL_META))
    check_state(state, POLICY.state_dict())


@FUZZ
@given(st.sampled_from(["rollout", "weights", "tensors"]), st.booleans(), st.data())
def test_hostile_index_and_meta_raise_only_codec_errors(
    target: str, keep_payload: bool, data: st.DataObject
) -> None:
    message = {"rollout": ROLLOUT, "weights": WEIGHTS, "tensors": ROLLOUT}[target]
    index, payload, version = split(message)
    raw = mutate(index, data)
    if not keep_payload:
        payload = data.draw(st.binary(max_size=64))
    version = data.draw(st.sampled_from([version, 0, 2**32, 2**64 - 1]))
    hostile = framed(dump(index, raw), payload, version)
    decode = {"rollout": lambda m: decode_rollout(m, Rollout.message_elements(3, 2, 4, 2)),
              "weights": accept_weights, "tensors": decode_tensors}[target]
    only_codec_errors(decode, hostile)


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=3) | HOSTILE, st.sampled_from(["f4", "f8", "i8", "u1",
                                                                        "f2", "<f4", 4]) | HOSTILE,
                          st.lists(SIZES, max_size=4) | HOSTILE), max_size=4),
       HOSTILE, st.booleans(), st.data())
def test_hostile_tensor_entries_raise_only_codec_errors(
    entries: list, meta: Any, sized_payload: bool, data: st.DataObject
) -> None:
    index = {"meta": meta, "tensors": [list(entry) for entry in entries]}
    payload = data.draw(st.binary(max_size=96))
    if sized_payload:  # as many bytes as small well-typed entries declare
        nbytes = 0
        for _, code, shape in entries:
            if code in ("f4", "f8", "i8", "u1") and isinstance(shape, list) and all(
                    type(d) is int and 0 <= d <= 8 for d in shape):
                size = int(np.prod(shape)) * np.dtype(code).itemsize
                nbytes += size + (-size % 8)
        payload = bytes(nbytes)
    arrays = only_codec_errors(decode_tensors, framed(dump(index, None), payload))
    if arrays is not None:
        tensors, decoded_meta, _ = arrays
        assert sum(a.nbytes for a in tensors.values()) <= len(payload)
        assert isinstance(decoded_meta, dict)


@FUZZ
@given(st.sampled_from([Kind.OBS_BATCH, Kind.ACTION_BATCH]),
       st.tuples(SIZES, SIZES, SIZES), st.booleans(), st.data())
def test_hostile_batch_sizes_raise_only_codec_errors(
    kind: Kind, sizes: tuple[int, int, int], matching: bool, data: st.DataObject
) -> None:
    fields = [size % 2**32 for size in sizes]
    if matching:  # a body exactly as long as the sizes ask for, when that is small
        num_envs, dim, extra = (min(size, 4) for size in fields)
        fields = [num_envs, dim, extra]
        count = (num_envs * dim + 5 * num_envs + extra * dim if kind is Kind.OBS_BATCH
                 else num_envs * dim)
        body = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, np.nan]),
                                             min_size=count, max_size=count)), "<f4").tobytes()
    else:
        body = data.draw(st.binary(max_size=64))
    message = HEADER.pack(b"CRWL", 1, int(kind), 0, 1, 2, 3) + struct.pack("<III", *fields)
    decode = decode_obs_batch if kind is Kind.OBS_BATCH else decode_action_batch
    only_codec_errors(decode, message + body)


def rollout_with(newest_version: str) -> bytes:
    index, payload, version = split(ROLLOUT)
    index["meta"]["newest_version"] = "@RAW@"
    return framed(dump(index, newest_version), payload, version)


def tensors_with(entries_json: str, payload: bytes = b"") -> bytes:
    return framed('{"meta": {}, "tensors": ' + entries_json + "}", payload)


@pytest.mark.parametrize(("message", "reason"), [
    (tensors_with('[["a", "f4", [18446744073709551616]]]'), "shape"),
    (tensors_with('[["a", "f4", [4294967296, 4294967296]]]'), "shape"),
    (tensors_with('[["a", "f4", [65536, 65536]]]'), "elements"),
    (tensors_with('[["a", "f4", [-1]]]'), "shape"),
    (tensors_with('[["a", "f4", [2.0]]]'), "shape"),
    (tensors_with('[["a", "f4", [true]]]'), "shape"),
    (tensors_with('[["a", "f4", [[2]]]]'), "shape"),
    (tensors_with('[["a", "f4", [NaN]]]'), "NaN"),
    (tensors_with('[["a", "f4", [Infinity]]]'), "Infinity"),
    (tensors_with('[["a", "c8", [1]]]', bytes(8)), "dtype"),
    (tensors_with('[["a", "f4", [1]], ["a", "f4", [1]]]', bytes(16)), "repeats"),
    (tensors_with('[["a", "f4"]]'), "name, dtype, shape"),
    (framed('{"tensors": []}', b""), "exactly"),
    (framed('{"meta": [], "tensors": []}', b""), "object"),
    (rollout_with("[1]"), "newest_version"),
    (rollout_with("null"), "newest_version"),
    (rollout_with("1e400"), "overflows"),
    (rollout_with("true"), "newest_version"),
    (rollout_with("3"), "newest_version"),  # older than its own policy_version 4
    (rollout_with("18446744073709551616"), "newest_version"),
    (rollout_with("4294967296"), "newest_version"),  # no action reply carries it (u32)
])
def test_named_hostile_examples_are_codec_errors(message: bytes, reason: str) -> None:
    decode = decode_rollout if b"newest_version" in message else decode_tensors
    with pytest.raises(CodecError, match=reason):
        decode(message)


def test_limits_sized_from_the_configuration() -> None:
    limit = Rollout.message_elements(3, 2, 4, 2)
    assert decode_rollout(ROLLOUT, limit).num_envs == 2
    with pytest.raises(CodecError, match="limit|elements"):
        decode_rollout(ROLLOUT, limit - 1)
    state = POLICY.state_dict()
    accept_weights(WEIGHTS)
    with pytest.raises(CodecError, match="limit|elements"):
        decode_weights(WEIGHTS, state_elements(state) - 1)
    wide = ActorCritic(3, 1, TrainConfig.from_dict({"model": {"actor_hidden": [5],
                                                              "critic_hidden": [4]}}).model)
    for meta in ({"obs_dim": 3, "action_dim": 1, "model": {**MODEL_META, "actor_hidden": [5]}},
                 {"obs_dim": 3, "action_dim": 1, "model": MODEL_META}):
        with pytest.raises(CodecError):  # wrong meta, or right meta over wrong shapes
            accept_weights(encode_weights(wide.state_dict(), meta, 1))
    with pytest.raises(CodecError, match="version"):
        accept_weights(encode_weights(state, {"obs_dim": 3, "action_dim": 1,
                                              "model": MODEL_META}, 2**32))
    as_double = {name: tensor.double() for name, tensor in state.items()}
    with pytest.raises(CodecError, match="expected"):
        accept_weights(encode_weights(as_double, {"obs_dim": 3, "action_dim": 1,
                                                  "model": MODEL_META}, 1))


def test_rollout_fields_need_their_dtypes_and_flags() -> None:
    rollout = small_rollout()
    tensors = {name: getattr(rollout, name) for name in ("obs", "actions")}
    with pytest.raises(CodecError, match="lacks"):
        decode_rollout(encode_tensors(tensors, {}))
    index, payload, version = split(ROLLOUT)
    index["tensors"][0][1] = "u1"  # obs as bytes: its payload no longer lines up either
    with pytest.raises(CodecError):
        decode_rollout(framed(json.dumps(index), payload, version))
    flags = bytearray(ROLLOUT)
    terminated_at = ROLLOUT.index(bytes([0] * 6) + bytes(2) + bytes([1] * 6))
    flags[terminated_at] = 2
    with pytest.raises(CodecError, match="flags"):
        decode_rollout(bytes(flags))
    np.testing.assert_array_equal(decode_rollout(ROLLOUT).obs, np.ones((3, 2, 4)))


@FUZZ
@given(HOSTILE, st.none() | st.sampled_from(RAW_TOKENS), st.data())
def test_hostile_training_metrics_never_reach_the_progress_bar(
    value: Any, raw: str | None, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(["global_step", "done", "mean_reward"]))
    text = dump({"global_step": 5, "done": False, key: "@RAW@" if raw else value}, raw)
    text = data.draw(st.sampled_from([text, text[:-1], json.dumps(value, allow_nan=True)]))
    metrics = parse_metrics(text)
    if metrics is not None:
        assert type(metrics.get("global_step", 0)) is int
        assert isinstance(metrics.get("done", False), bool)
