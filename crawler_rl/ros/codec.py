"""Binary wire format of the training graph, carried in `std_msgs/UInt8MultiArray.data`.

Every message starts with the same 24-byte little-endian header::

    offset size field
    0      4    magic     b"CRWL"
    4      1    version   WIRE_VERSION
    5      1    kind      Kind (OBS_BATCH, ACTION_BATCH, TENSORS)
    6      2    flags     reserved, 0
    8      4    actor_id  u32: which actor (TENSORS: source id)
    12     4    session   u32: random per actor process start, tells a respawned actor apart
    16     8    seq       u64: actor step number (TENSORS: policy/weights version)

OBS_BATCH (actor -> inference), one per actor step for all K envs::

    24  12  u32 num_envs K, u32 obs_dim D, u32 num_final F
    36  ..  float32 obs (K, D), rewards (K,), terminated (K,), truncated (K,),
            tracking_error (K, 2) [v, omega], final_obs (F, D)

    rewards/terminated/truncated/tracking_error describe the transition that ended in this
    step (all zero at seq 0). final_obs holds the last observation of each truncated env, in
    env order (F == number of truncated envs); terminated/truncated are 0.0 or 1.0.

ACTION_BATCH (inference -> actor), the reply to OBS_BATCH `seq`::

    24  12  u32 num_envs K, u32 action_dim A, u32 policy_version
    36  ..  float32 actions (K, A)

TENSORS (rollouts inference -> learner, weights learner -> inference)::

    24  4   u32 length N of the JSON index
    28  N   UTF-8 JSON {"meta": {...}, "tensors": [[name, dtype, shape], ...]}
    ..      zero padding to a multiple of 8, then each tensor's raw little-endian bytes in
            index order, each padded to a multiple of 8. dtype is one of DTYPES.

Never pickle: a message is only numbers and a JSON index.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

MAGIC = b"CRWL"
WIRE_VERSION = 1
HEADER = struct.Struct("<4sBBHIIQ")
_OBS_SIZES = struct.Struct("<III")
_ACTION_SIZES = struct.Struct("<III")
_INDEX_LEN = struct.Struct("<I")
DTYPES: dict[str, np.dtype] = {
    "f4": np.dtype("<f4"),
    "f8": np.dtype("<f8"),
    "i8": np.dtype("<i8"),
    "u1": np.dtype("u1"),
}
MAX_ELEMENTS = 1 << 28
"""Ceiling of elements in one message (~1 GiB of float32); nodes pass tighter limits sized
from their configuration (`decode_tensors(max_elements=...)`)."""
MAX_INDEX_BYTES = 1 << 20
"""Longest JSON index of a TENSORS message."""
MAX_TENSORS = 256
"""Most tensors in one TENSORS message."""
MAX_NDIM = 8
"""Most dimensions of one tensor."""
MAX_NAME_CHARS = 256
"""Longest tensor name."""


class Kind(IntEnum):
    """What a message carries."""

    OBS_BATCH = 1
    ACTION_BATCH = 2
    TENSORS = 3


class CodecError(ValueError):
    """A message that is not a well-formed crawler_rl wire message."""


@dataclass
class Header:
    """Fields shared by every message."""

    kind: Kind
    actor_id: int
    session: int
    seq: int


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


def _pack_header(kind: Kind, actor_id: int, session: int, seq: int) -> bytes:
    return HEADER.pack(MAGIC, WIRE_VERSION, int(kind), 0, actor_id, session, seq)


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    """Return a flat byte view of a message buffer; CodecError for anything else."""
    try:
        return memoryview(data).cast("B")
    except (TypeError, ValueError) as error:
        raise CodecError(f"message is not a byte buffer: {error}") from error


def decode_header(data: bytes | bytearray | memoryview) -> Header:
    """Check magic, version and kind; raise CodecError naming what is wrong."""
    data = _byte_view(data)
    if len(data) < HEADER.size:
        raise CodecError(
            f"message of {len(data)} bytes is shorter than the {HEADER.size}-byte header"
        )
    magic, version, kind, _flags, actor_id, session, seq = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CodecError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != WIRE_VERSION:
        raise CodecError(f"wire version {version} is not supported (expected {WIRE_VERSION})")
    try:
        kind = Kind(kind)
    except ValueError as error:
        raise CodecError(f"unknown message kind {kind}") from error
    return Header(kind, actor_id, session, seq)


def _expect_kind(data: bytes | bytearray | memoryview, kind: Kind) -> Header:
    header = decode_header(data)
    if header.kind != kind:
        raise CodecError(f"expected a {kind.name} message, got {header.kind.name}")
    return header


def _floats(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def encode_obs_batch(batch: ObsBatch) -> bytes:
    """Serialize an ObsBatch (validates that the shapes agree)."""
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
    return b"".join(
        (
            _pack_header(Kind.OBS_BATCH, batch.actor_id, batch.session, batch.seq),
            _OBS_SIZES.pack(num_envs, obs_dim, final_obs.shape[0]),
            _floats(obs),
            _floats(batch.rewards),
            _floats(np.asarray(batch.terminated, dtype=bool)),
            _floats(truncated),
            _floats(batch.tracking_error),
            _floats(final_obs),
        )
    )


def _read_floats(data: memoryview, offset: int, count: int) -> tuple[np.ndarray, int]:
    return np.frombuffer(data, dtype="<f4", count=count, offset=offset), offset + 4 * count


def _as_flags(values: np.ndarray, name: str) -> np.ndarray:
    if not np.all((values == 0.0) | (values == 1.0)):
        raise CodecError(f"{name} flags must be 0.0 or 1.0, got {values[:8]!r}")
    return values.astype(bool)


def decode_obs_batch(data: bytes | bytearray | memoryview) -> ObsBatch:
    """Parse an OBS_BATCH message; raise CodecError on any size or flag inconsistency."""
    view = _byte_view(data)
    header = _expect_kind(view, Kind.OBS_BATCH)
    if len(view) < HEADER.size + _OBS_SIZES.size:
        raise CodecError("OBS_BATCH message is truncated before its sizes")
    num_envs, obs_dim, num_final = _OBS_SIZES.unpack_from(view, HEADER.size)
    if num_envs == 0 or obs_dim == 0 or num_final > num_envs:
        raise CodecError(
            f"bad OBS_BATCH sizes num_envs={num_envs} obs_dim={obs_dim} num_final={num_final}"
        )
    count = num_envs * obs_dim + 5 * num_envs + num_final * obs_dim
    if count > MAX_ELEMENTS or len(view) != HEADER.size + _OBS_SIZES.size + 4 * count:
        raise CodecError(
            f"OBS_BATCH of {len(view)} bytes does not match num_envs={num_envs} "
            f"obs_dim={obs_dim} num_final={num_final}"
        )
    offset = HEADER.size + _OBS_SIZES.size
    obs, offset = _read_floats(view, offset, num_envs * obs_dim)
    rewards, offset = _read_floats(view, offset, num_envs)
    terminated, offset = _read_floats(view, offset, num_envs)
    truncated, offset = _read_floats(view, offset, num_envs)
    tracking_error, offset = _read_floats(view, offset, 2 * num_envs)
    final_obs, offset = _read_floats(view, offset, num_final * obs_dim)
    truncated_flags = _as_flags(truncated, "truncated")
    if int(truncated_flags.sum()) != num_final:
        raise CodecError(
            f"num_final={num_final} but {int(truncated_flags.sum())} envs are truncated"
        )
    return ObsBatch(
        actor_id=header.actor_id,
        session=header.session,
        seq=header.seq,
        obs=obs.reshape(num_envs, obs_dim),
        rewards=rewards,
        terminated=_as_flags(terminated, "terminated"),
        truncated=truncated_flags,
        tracking_error=tracking_error.reshape(num_envs, 2),
        final_obs=final_obs.reshape(num_final, obs_dim),
    )


def encode_action_batch(batch: ActionBatch) -> bytes:
    """Serialize an ActionBatch."""
    actions = np.asarray(batch.actions, dtype=np.float32)
    if actions.ndim != 2:
        raise CodecError(f"actions must be (num_envs, action_dim), got shape {actions.shape}")
    return b"".join(
        (
            _pack_header(Kind.ACTION_BATCH, batch.actor_id, batch.session, batch.seq),
            _ACTION_SIZES.pack(actions.shape[0], actions.shape[1], batch.policy_version),
            _floats(actions),
        )
    )


def decode_action_batch(data: bytes | bytearray | memoryview) -> ActionBatch:
    """Parse an ACTION_BATCH message; raise CodecError on size mismatch."""
    view = _byte_view(data)
    header = _expect_kind(view, Kind.ACTION_BATCH)
    if len(view) < HEADER.size + _ACTION_SIZES.size:
        raise CodecError("ACTION_BATCH message is truncated before its sizes")
    num_envs, action_dim, policy_version = _ACTION_SIZES.unpack_from(view, HEADER.size)
    count = num_envs * action_dim
    if count == 0 or count > MAX_ELEMENTS or len(view) != HEADER.size + 12 + 4 * count:
        raise CodecError(
            f"ACTION_BATCH of {len(view)} bytes does not match num_envs={num_envs} "
            f"action_dim={action_dim}"
        )
    actions, _ = _read_floats(view, HEADER.size + _ACTION_SIZES.size, count)
    return ActionBatch(
        header.actor_id, header.session, header.seq, policy_version,
        actions.reshape(num_envs, action_dim),
    )


def _padding(size: int) -> int:
    return -size % 8


def encode_tensors(
    tensors: dict[str, np.ndarray], meta: dict[str, Any], source_id: int = 0, version: int = 0
) -> bytes:
    """Serialize named arrays (weights, rollouts) with a JSON index of names, dtypes, shapes."""
    index = []
    blobs = []
    for name, value in tensors.items():
        array = np.asarray(value)
        code = {"float32": "f4", "float64": "f8", "int64": "i8", "uint8": "u1", "bool": "u1"}.get(
            array.dtype.name
        )
        if code is None:
            raise CodecError(f"tensor {name!r} has unsupported dtype {array.dtype}")
        raw = np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
        index.append([name, code, list(array.shape)])
        blobs.append(raw + bytes(_padding(len(raw))))
    text = json.dumps({"meta": meta, "tensors": index}, allow_nan=False).encode()
    prefix = _pack_header(Kind.TENSORS, source_id, 0, version) + _INDEX_LEN.pack(len(text))
    return b"".join((prefix, text, bytes(_padding(len(prefix) + len(text))), *blobs))


class _IndexError(ValueError):
    """A JSON index that parses but must be refused (non-finite number, repeated key)."""


def _refuse_constant(name: str) -> float:
    raise _IndexError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _IndexError(f"{text} overflows a float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _IndexError("an object repeats a key")
    return result


def _parse_index(raw: bytes) -> tuple[dict[str, Any], list[Any]]:
    """Strict JSON: no NaN/Infinity, no float overflow, no repeated keys, bounded nesting."""
    try:
        index = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant,
                           parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise CodecError(f"bad TENSORS index: {error}") from error
    if not isinstance(index, dict) or set(index) != {"meta", "tensors"}:
        raise CodecError("TENSORS index must be an object with exactly 'meta' and 'tensors'")
    meta, entries = index["meta"], index["tensors"]
    if not isinstance(meta, dict) or not isinstance(entries, list):
        raise CodecError("TENSORS index: 'meta' must be an object and 'tensors' a list")
    if len(entries) > MAX_TENSORS:
        raise CodecError(f"TENSORS index lists {len(entries)} tensors, at most {MAX_TENSORS}")
    return meta, entries


def _tensor_entry(entry: Any, max_elements: int) -> tuple[str, np.dtype, tuple[int, ...], int]:
    """Check one [name, dtype, shape] entry; return it with its element count."""
    if not isinstance(entry, list) or len(entry) != 3:
        raise CodecError(f"TENSORS entry {entry!r:.80} is not [name, dtype, shape]")
    name, code, shape = entry
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise CodecError(f"TENSORS entry name {name!r:.80} is not a string of 1 to "
                         f"{MAX_NAME_CHARS} characters")
    if not isinstance(code, str) or code not in DTYPES:
        raise CodecError(f"tensor {name!r}: dtype {code!r:.40} is not one of {sorted(DTYPES)}")
    # type() is int: bool is an int subclass, and 2.0 or "2" are not sizes.
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(dim) is int and 0 <= dim <= max_elements for dim in shape)):
        raise CodecError(f"tensor {name!r}: shape {shape!r:.80} is not a list of at most "
                         f"{MAX_NDIM} sizes in [0, {max_elements}]")
    count = math.prod(shape)  # Python ints: no overflow, however large the sizes
    if count > max_elements:
        raise CodecError(f"tensor {name!r} of shape {shape} has {count} elements, more than "
                         f"the {max_elements} allowed")
    return name, DTYPES[code], tuple(shape), count


def decode_tensors(
    data: bytes | bytearray | memoryview, max_elements: int = MAX_ELEMENTS,
) -> tuple[dict[str, np.ndarray], dict[str, Any], Header]:
    """Parse a TENSORS message into (arrays, meta, header); arrays are read-only views.

    Raises CodecError, and nothing else, for any message that is not well-formed or holds
    more than `max_elements` elements in all.
    """
    view = _byte_view(data)
    header = _expect_kind(view, Kind.TENSORS)
    if len(view) < HEADER.size + _INDEX_LEN.size:
        raise CodecError("TENSORS message is truncated before its index length")
    (length,) = _INDEX_LEN.unpack_from(view, HEADER.size)
    offset = HEADER.size + _INDEX_LEN.size
    if length > MAX_INDEX_BYTES or offset + length > len(view):
        raise CodecError(f"TENSORS index length {length} runs past the {len(view)}-byte "
                         f"message or the {MAX_INDEX_BYTES}-byte limit")
    meta, entries = _parse_index(bytes(view[offset : offset + length]))
    offset += length + _padding(offset + length)
    tensors: dict[str, np.ndarray] = {}
    total = 0
    for entry in entries:
        name, dtype, shape, count = _tensor_entry(entry, max_elements)
        if name in tensors:
            raise CodecError(f"TENSORS index repeats the name {name!r}")
        total += count
        size = count * dtype.itemsize
        if total > max_elements or offset + size > len(view):
            raise CodecError(f"tensor {name!r} of shape {shape} runs past the message end or "
                             f"the {max_elements}-element limit")
        tensors[name] = np.frombuffer(view, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset += size + _padding(size)
    if offset != len(view):
        raise CodecError(f"TENSORS message has {len(view) - offset} trailing bytes")
    return tensors, meta, header


def peek_kind(data: bytes | bytearray | memoryview) -> Kind:
    """Return the kind of a message (after checking magic and version)."""
    return decode_header(data).kind
