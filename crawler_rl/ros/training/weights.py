"""Policy weights on the wire: a versioned PolicyWeights message of a state dict, no pickle."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

from crawler_rl.ros.interfaces import PolicyWeightsMsg, TensorMsg
from crawler_rl.ros.training.codec import (
    MAX_ELEMENTS,
    CodecError,
    double_field,
    expect_type,
    float_field,
    read_doubles,
    read_floats,
)

MAX_VERSION = 2**32 - 1
"""Largest policy version: weights and action replies carry it as a uint32, so rollouts (a
uint64 field) with a larger one are refused on arrival."""
ARCHITECTURE_KEYS = ("obs_dim", "action_dim", "model")
"""Meta entries that must equal the receiver's configuration."""
MAX_MODEL_JSON = 1 << 16
"""Longest `model_json` accepted."""
MAX_TENSORS = 256
"""Most tensors in one weights message."""
MAX_NDIM = 8
"""Most dimensions of one tensor."""
MAX_NAME_CHARS = 256
"""Longest tensor name."""
_DTYPES = {TensorMsg.DTYPE_FLOAT32: (torch.float32, "float32_data", read_floats),
           TensorMsg.DTYPE_FLOAT64: (torch.float64, "float64_data", read_doubles)}


class WeightsError(CodecError):
    """Weights of the wrong architecture, names, shapes or dtypes, or non-finite values.

    A CodecError: the message's fault, never the receiver's.
    """


def _tensor_message(name: str, tensor: torch.Tensor) -> TensorMsg:
    values = tensor.detach().cpu().numpy()
    message = TensorMsg(name=name, shape=list(values.shape))
    if values.dtype == np.float64:
        message.dtype, message.float64_data = TensorMsg.DTYPE_FLOAT64, double_field(values)
    elif values.dtype == np.float32:
        message.dtype, message.float32_data = TensorMsg.DTYPE_FLOAT32, float_field(values)
    else:
        raise CodecError(f"tensor {name!r} has unsupported dtype {values.dtype}")
    return message


def encode_weights(state: dict[str, torch.Tensor], meta: dict[str, Any],
                   version: int) -> PolicyWeightsMsg:
    """Build the message of a state dict; `meta` names obs_dim, action_dim, the model config."""
    if not 0 <= version <= MAX_VERSION:
        raise CodecError(f"weights version {version} is not in [0, {MAX_VERSION}]")
    return PolicyWeightsMsg(
        version=version, iteration=int(meta.get("iteration", 0)), obs_dim=meta["obs_dim"],
        action_dim=meta["action_dim"], model_json=json.dumps(meta["model"], allow_nan=False),
        tensors=[_tensor_message(name, tensor) for name, tensor in state.items()])


class _JsonRefused(ValueError):
    """JSON that parses but must be refused (non-finite number, repeated key)."""


def _refuse_constant(name: str) -> float:
    raise _JsonRefused(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonRefused(f"{text} overflows a float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _JsonRefused("an object repeats a key")
    return result


def parse_model_json(text: str) -> dict[str, Any]:
    """Strict JSON object: no NaN/Infinity, no float overflow, no repeated keys, bounded."""
    if len(text) > MAX_MODEL_JSON:
        raise WeightsError(f"model_json of {len(text)} characters exceeds {MAX_MODEL_JSON}")
    try:
        model = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                           object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as error:
        raise WeightsError(f"bad model_json: {error}") from error
    if not isinstance(model, dict):
        raise WeightsError("model_json must be a JSON object")
    return model


def _tensor(message: TensorMsg, max_elements: int) -> tuple[str, torch.Tensor]:
    """Check one Tensor message; return its name and a tensor holding a copy of its values."""
    name, shape = message.name, tuple(message.shape)
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise WeightsError(f"tensor name {name!r:.80} is not 1 to {MAX_NAME_CHARS} characters")
    if message.dtype not in _DTYPES:
        raise WeightsError(f"tensor {name!r}: dtype {message.dtype} is not one of "
                           f"{sorted(_DTYPES)}")
    if len(shape) > MAX_NDIM or math.prod(shape) > max_elements:
        raise WeightsError(f"tensor {name!r}: shape {shape!r:.80} has more than {MAX_NDIM} "
                           f"dimensions or {max_elements} elements")
    dtype, used, read = _DTYPES[message.dtype]
    unused = "float32_data" if used == "float64_data" else "float64_data"
    if len(getattr(message, unused)):
        raise WeightsError(f"tensor {name!r}: {unused} must be empty for dtype "
                           f"{message.dtype}")
    values = read(message, used, shape)
    if not np.all(np.isfinite(values)):
        raise WeightsError(f"weight {name!r} holds non-finite values")
    return name, torch.from_numpy(values.copy()).to(dtype)


def decode_weights(
    msg: PolicyWeightsMsg, max_elements: int = MAX_ELEMENTS,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    """Check weights into (state dict, meta, version); only CodecError/WeightsError escape.

    At most `max_elements` elements in all (the receiver's own state dict size).
    """
    expect_type(msg, PolicyWeightsMsg)
    if len(msg.tensors) > MAX_TENSORS:
        raise WeightsError(f"weights of {len(msg.tensors)} tensors, at most {MAX_TENSORS}")
    meta = {"obs_dim": msg.obs_dim, "action_dim": msg.action_dim,
            "model": parse_model_json(msg.model_json), "iteration": msg.iteration}
    state: dict[str, torch.Tensor] = {}
    total = 0
    for message in msg.tensors:
        total += math.prod(message.shape)
        if total > max_elements:
            raise WeightsError(f"weights hold more than the {max_elements}-element limit")
        name, tensor = _tensor(message, max_elements)
        if name in state:
            raise WeightsError(f"weights repeat the tensor name {name!r}")
        state[name] = tensor
    return state, meta, msg.version


def architecture(obs_dim: int, action_dim: int, model: dict[str, Any]) -> dict[str, Any]:
    """Return the meta entries that pin a policy's architecture, as read off the wire."""
    return json.loads(json.dumps({"obs_dim": obs_dim, "action_dim": action_dim,
                                  "model": model}))


def check_architecture(meta: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raise WeightsError unless meta names exactly the `expected` architecture."""
    for key in ARCHITECTURE_KEYS:
        if meta.get(key) != expected[key]:
            raise WeightsError(f"weights for {key}={meta.get(key)!r:.200}, but this run is "
                               f"configured for {expected[key]!r}")


def state_elements(reference: dict[str, torch.Tensor]) -> int:
    """Elements of a weights message of this state dict: the per-message limit to decode."""
    return sum(tensor.numel() for tensor in reference.values())


def check_state(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    """Raise WeightsError unless `state` has the names, shapes and dtypes of `reference`."""
    missing = sorted(set(reference) - set(state))
    unknown = sorted(set(state) - set(reference))
    if missing or unknown:
        raise WeightsError(f"weights missing {missing} / unknown {unknown}")
    for name, tensor in reference.items():
        got = (tuple(state[name].shape), state[name].dtype)
        if got != (tuple(tensor.shape), tensor.dtype):
            raise WeightsError(f"weight {name!r} is {got}, expected "
                               f"{(tuple(tensor.shape), tensor.dtype)}")
