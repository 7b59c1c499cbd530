"""Hostile but well-typed messages: every decoder raises CodecError and nothing else.

(The launcher's training-metrics reader returns None instead.)

DDS delivers only messages of the topic's type, so the hostility sits in what a type cannot
say: size fields that disagree with the flat arrays (zero, huge, off by one), flags other than
0/1, NaN/Infinity values, versions out of order, tensors with hostile names, shapes, dtypes
and both or neither data field, and a hostile `model_json` (huge, NaN, nested, not an object).
"""

from __future__ import annotations

import json
from array import array
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import ARRAY_FIELDS, Rollout
from crawler_rl.ros.interfaces import (
    ActionBatchMsg,
    ObservationBatchMsg,
    PolicyWeightsMsg,
    RolloutMsg,
    TensorMsg,
    TrainingMetricsMsg,
)
from crawler_rl.ros.training.codec import (
    CodecError,
    decode_action_batch,
    decode_obs_batch,
)
from crawler_rl.ros.training.launcher import parse_metrics
from crawler_rl.ros.training.rollout import FLAG_FIELDS, decode_rollout, encode_rollout
from crawler_rl.ros.training.training_metrics import encode_metrics
from crawler_rl.ros.training.weights import (
    architecture,
    check_architecture,
    check_state,
    decode_weights,
    encode_weights,
    state_elements,
)

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
U32 = st.sampled_from([0, 1, 2, 3, 4, 2**31, 2**32 - 1])
U64 = st.sampled_from([0, 1, 3, 4, 6, 2**32, 2**64 - 1])
FLOATS = st.lists(st.sampled_from([0.0, 1.0, 0.5, -3.0, np.nan, np.inf, -np.inf, 3e38]),
                  max_size=40)
BYTES = st.lists(st.sampled_from([0, 1, 2, 255]), max_size=40)
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4))
HOSTILE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
RAW_TOKENS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[[[[[[[[1]]]]]]]]",
              "9" * 5000, "[" * 5000 + "]" * 5000, "", "{", '{"a": 1, "a": 2}')
"""JSON fragments json.dumps never writes: non-finite constants, overflow, deep nesting."""


def dump(value: Any, raw: str | None) -> str:
    """json text of `value`, with `raw` (a RAW_TOKENS entry) in place of the marker string."""
    text = json.dumps(value, allow_nan=True)
    return text.replace('"@RAW@"', raw) if raw is not None else text


def only_codec_errors(decode: Any, message: Any) -> Any:
    """Decode; a CodecError is a pass, any other exception fails the test."""
    try:
        return decode(message)
    except CodecError:
        return None


def fill(message: Any, data: st.DataObject, sizes: tuple[str, ...], floats: tuple[str, ...],
         flags: tuple[str, ...] = ()) -> Any:
    """Overwrite some size, float and flag fields of a valid message with hostile values."""
    for name in data.draw(st.lists(st.sampled_from(sizes + floats + flags), max_size=4)):
        if name in sizes:
            setattr(message, name, data.draw(U32))
        elif name in floats:
            setattr(message, name, array("f", data.draw(FLOATS)))
        else:
            setattr(message, name, array("B", data.draw(BYTES)))
    return message


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


POLICY = ActorCritic(3, 1, TrainConfig.from_dict({"model": {"actor_hidden": [4],
                                                            "critic_hidden": [4]}}).model)
MODEL_META = {"actor_hidden": [4], "critic_hidden": [4]}
META = {"obs_dim": 3, "action_dim": 1, "model": MODEL_META}


def weights(version: int = 9) -> PolicyWeightsMsg:
    return encode_weights(POLICY.state_dict(), META, version)


def accept_weights(message: PolicyWeightsMsg) -> None:
    """What the inference node does with a weights message, up to loading it."""
    state, meta, _ = decode_weights(message, state_elements(POLICY.state_dict()))
    check_architecture(meta, architecture(3, 1, MODEL_META))
    check_state(state, POLICY.state_dict())


@FUZZ
@given(st.booleans(), st.data())
def test_hostile_batches_raise_only_codec_errors(observation: bool, data: st.DataObject) -> None:
    from crawler_rl.ros.training.codec import (
        ActionBatch,
        ObsBatch,
        encode_action_batch,
        encode_obs_batch,
    )

    if observation:
        message = encode_obs_batch(ObsBatch(1, 2, 3, np.ones((2, 3)), np.zeros(2),
                                            np.zeros(2, bool), np.array([True, False]),
                                            np.zeros((2, 2)), np.ones((1, 3))))
        fill(message, data, ("num_envs", "obs_dim"),
             ("obs", "rewards", "tracking_error", "final_obs"), ("terminated", "truncated"))
        batch = only_codec_errors(decode_obs_batch, message)
        if batch is not None:
            assert batch.obs.shape == (message.num_envs, message.obs_dim)
            assert batch.final_obs.shape[0] == int(batch.truncated.sum())
            assert set(np.unique(np.concatenate([batch.terminated, batch.truncated]))) <= {0, 1}
    else:
        message = encode_action_batch(ActionBatch(1, 2, 3, 4, np.zeros((2, 2))))
        fill(message, data, ("num_envs", "action_dim"), ("actions",))
        batch = only_codec_errors(decode_action_batch, message)
        if batch is not None:
            assert batch.actions.shape == (message.num_envs, message.action_dim)


@FUZZ
@given(U64, U64, st.data())
def test_hostile_rollouts_raise_only_codec_errors(policy_version: int, newest_version: int,
                                                  data: st.DataObject) -> None:
    message = encode_rollout(small_rollout())
    message.policy_version, message.newest_version = policy_version, newest_version
    floats = tuple(name for name in ARRAY_FIELDS if name not in FLAG_FIELDS)
    fill(message, data, ("num_steps", "num_envs", "obs_dim", "action_dim"), floats, FLAG_FIELDS)
    rollout = only_codec_errors(
        lambda m: decode_rollout(m, Rollout.message_elements(3, 2, 4, 2)), message)
    if rollout is not None:
        assert rollout.policy_version <= rollout.newest_version
        assert rollout.obs.shape == (message.num_steps, message.num_envs, message.obs_dim)


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=3), st.lists(U32, max_size=9),
                          st.sampled_from([0, 1, 2, 3, 255]), FLOATS,
                          st.lists(st.floats(allow_nan=True), max_size=8)), max_size=4),
       HOSTILE, st.none() | st.sampled_from(RAW_TOKENS), st.booleans(), st.data())
def test_hostile_weights_raise_only_codec_errors(
    entries: list, model: Any, raw: str | None, keep_tensors: bool, data: st.DataObject
) -> None:
    message = weights()
    if keep_tensors:
        slot = data.draw(st.integers(0, len(message.tensors) - 1))
        name, shape, dtype, values32, values64 = entries[0] if entries else ("", [], 1, [], [])
        tensor = message.tensors[slot]
        change = data.draw(st.sampled_from(["name", "shape", "dtype", "f32", "f64", "repeat"]))
        if change == "name":
            tensor.name = name
        elif change == "shape":
            tensor.shape = shape
        elif change == "dtype":
            tensor.dtype = dtype
        elif change == "f32":
            tensor.float32_data = array("f", values32)
        elif change == "f64":
            tensor.float64_data = array("d", values64)
        else:
            message.tensors = [*message.tensors, message.tensors[slot]]
    else:
        message.tensors = [TensorMsg(name=name, shape=shape, dtype=dtype,
                                     float32_data=array("f", values32),
                                     float64_data=array("d", values64))
                           for name, shape, dtype, values32, values64 in entries]
    if data.draw(st.booleans()):
        message.model_json = dump("@RAW@" if raw else model, raw)
    message.obs_dim, message.action_dim = data.draw(U32), data.draw(U32)
    only_codec_errors(accept_weights, message)


@pytest.mark.parametrize(("model_json", "reason"), [
    ("NaN", "NaN"), ('{"a": Infinity}', "Infinity"), ('{"a": 1e400}', "overflows"),
    ('{"a": 1, "a": 2}', "repeats"), ("[1]", "object"), ("[" * 5000 + "]" * 5000, "model_json"),
    ("{" + " " * 70_000 + "}", "exceeds"),
])
def test_named_hostile_model_json_is_a_codec_error(model_json: str, reason: str) -> None:
    message = weights()
    message.model_json = model_json
    with pytest.raises(CodecError, match=reason):
        accept_weights(message)


def test_named_hostile_tensors_are_codec_errors() -> None:
    def hostile(**fields: Any) -> PolicyWeightsMsg:
        message = weights()
        for name, value in fields.items():
            setattr(message.tensors[0], name, value)
        return message

    for message, reason in [
        (hostile(shape=[65536, 65536]), "element"),
        (hostile(shape=[1] * 9), "dimensions"),
        (hostile(dtype=7), "dtype"),
        (hostile(name=""), "name"),
        (hostile(float64_data=array("d", [1.0])), "must be empty"),
        (hostile(float32_data=array("f", [np.nan])), "non-finite"),
        (hostile(float32_data=array("f", [1.0, 2.0])), "holds 2 values"),
    ]:
        with pytest.raises(CodecError, match=reason):
            accept_weights(message)
    message = weights()
    message.tensors = [*message.tensors, message.tensors[0]]
    with pytest.raises(CodecError, match="repeat|element"):
        decode_weights(message)


def test_versions_and_rollout_flags() -> None:
    message = encode_rollout(small_rollout())
    message.newest_version = 3  # older than its own policy_version 4
    with pytest.raises(CodecError, match="newest_version"):
        decode_rollout(message)
    message.newest_version = 2**32  # fits the uint64 field, but no action reply carries it (u32)
    with pytest.raises(CodecError, match="newest_version"):
        decode_rollout(message)
    message = encode_rollout(small_rollout())
    message.terminated = array("B", [0, 0, 2, 0, 0, 0])
    with pytest.raises(CodecError, match="flags"):
        decode_rollout(message)
    with pytest.raises(CodecError, match="version"):
        weights(2**32)
    np.testing.assert_array_equal(decode_rollout(encode_rollout(small_rollout())).obs,
                                  np.ones((3, 2, 4)))
    for wrong in (ObservationBatchMsg(), ActionBatchMsg(), weights()):
        with pytest.raises(CodecError, match="expected a Rollout"):
            decode_rollout(wrong)


def test_limits_sized_from_the_configuration() -> None:
    limit = Rollout.message_elements(3, 2, 4, 2)
    rollout = encode_rollout(small_rollout())
    assert isinstance(rollout, RolloutMsg) and decode_rollout(rollout, limit).num_envs == 2
    with pytest.raises(CodecError, match="limit|elements"):
        decode_rollout(rollout, limit - 1)
    state = POLICY.state_dict()
    accept_weights(weights())
    with pytest.raises(CodecError, match="limit|elements"):
        decode_weights(weights(), state_elements(state) - 1)
    wide = ActorCritic(3, 1, TrainConfig.from_dict({"model": {"actor_hidden": [5],
                                                              "critic_hidden": [4]}}).model)
    for meta in ({**META, "model": {**MODEL_META, "actor_hidden": [5]}}, META):
        with pytest.raises(CodecError):  # wrong meta, or right meta over wrong shapes
            accept_weights(encode_weights(wide.state_dict(), meta, 1))
    as_double = {name: tensor.double() for name, tensor in state.items()}
    with pytest.raises(CodecError, match="expected"):
        accept_weights(encode_weights(as_double, META, 1))


@FUZZ
@given(st.lists(st.text(max_size=12) | st.sampled_from(["global_step", "done", "sps"]),
                max_size=6),
       st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6), U64, st.booleans())
def test_hostile_training_metrics_never_reach_the_progress_bar(
    names: list[str], values: list[float], step: int, done: bool
) -> None:
    message = TrainingMetricsMsg(global_step=step, done=done, names=names,
                                 values=array("d", values))
    metrics = parse_metrics(message)
    if metrics is None:
        assert len(names) != len(values) or len(set(names)) != len(names) or (
            {"global_step", "done"} & set(names))
    else:
        assert type(metrics["global_step"]) is int and type(metrics["done"]) is bool
        assert all(value is None or np.isfinite(value) for value in metrics.values()
                   if isinstance(value, float))
    assert parse_metrics(RolloutMsg()) is None  # not metrics at all


def test_metrics_round_trip_as_logged() -> None:
    logged = {"mean_reward": -0.5, "approx_kl": None, "global_step": 64, "total_steps": 128,
              "iteration": 1, "policy_version": 1, "done": False, "actor_ids": [0, 2],
              "session": "abc", "wall_time": 1.5}
    assert parse_metrics(encode_metrics(logged)) == logged
