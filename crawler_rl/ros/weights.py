"""Policy weights on the wire: a versioned TENSORS message of the state dict, never pickle."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crawler_rl.ros.codec import decode_tensors, encode_tensors


class WeightsError(ValueError):
    """Weights with missing/unknown entries, wrong shapes or non-finite values."""


def encode_weights(state: dict[str, torch.Tensor], meta: dict[str, Any], version: int) -> bytes:
    """Serialize a state dict; `meta` must name obs_dim, action_dim and the model config."""
    arrays = {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}
    return encode_tensors(arrays, meta, version=version)


def decode_weights(
    data: bytes | bytearray | memoryview,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    """Parse weights into (state dict, meta, version); raise WeightsError on non-finite values."""
    arrays, meta, header = decode_tensors(data)
    state = {}
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise WeightsError(f"weight {name!r} holds non-finite values")
        state[name] = torch.from_numpy(array.copy())
    return state, meta, header.seq


def check_state(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    """Raise WeightsError unless `state` has exactly the names and shapes of `reference`."""
    missing = sorted(set(reference) - set(state))
    unknown = sorted(set(state) - set(reference))
    if missing or unknown:
        raise WeightsError(f"weights missing {missing} / unknown {unknown}")
    for name, tensor in reference.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"weight {name!r} has shape {tuple(state[name].shape)}, "
                f"expected {tuple(tensor.shape)}"
            )
