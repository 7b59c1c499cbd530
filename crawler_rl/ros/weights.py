"""Policy weights on the wire: a versioned TENSORS message of the state dict, never pickle."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from crawler_rl.ros.codec import MAX_ELEMENTS, CodecError, decode_tensors, encode_tensors

MAX_VERSION = 2**32 - 1
"""Largest policy version: action replies carry it as a u32, so weights and rollouts with a
larger one are refused on arrival (the wire header's u64 `seq` could hold more)."""
ARCHITECTURE_KEYS = ("obs_dim", "action_dim", "model")
"""Meta entries that must equal the receiver's configuration."""


class WeightsError(CodecError):
    """Weights of the wrong architecture, names, shapes or dtypes, or non-finite values.

    A CodecError: the message's fault, never the receiver's.
    """


def encode_weights(state: dict[str, torch.Tensor], meta: dict[str, Any], version: int) -> bytes:
    """Serialize a state dict; `meta` must name obs_dim, action_dim and the model config."""
    arrays = {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}
    return encode_tensors(arrays, meta, version=version)


def decode_weights(
    data: bytes | bytearray | memoryview, max_elements: int = MAX_ELEMENTS,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    """Parse weights into (state dict, meta, version); only CodecError/WeightsError escape."""
    arrays, meta, header = decode_tensors(data, max_elements)
    if header.seq > MAX_VERSION:
        raise WeightsError(f"weights version {header.seq} exceeds {MAX_VERSION}")
    state = {}
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise WeightsError(f"weight {name!r} holds non-finite values")
        state[name] = torch.from_numpy(array.copy())
    return state, meta, header.seq


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
