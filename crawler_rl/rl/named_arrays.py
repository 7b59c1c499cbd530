"""The named-array codec of the rollout workers' pipes: a JSON index, then the raw buffers.

Far cheaper than .npz (~1 ms per message for ~15 small arrays), and nothing is pickled. (ROS
messages are typed: `crawler_rl_interfaces`, `ros/training/codec.py`.)
"""

from __future__ import annotations

import json
import struct

import numpy as np


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialize named arrays: a JSON index (name, dtype, shape) then the raw buffers."""
    contiguous = {name: np.asarray(array, order="C") for name, array in arrays.items()}
    index = json.dumps(
        [[name, array.dtype.str, list(array.shape)] for name, array in contiguous.items()]
    ).encode()
    return b"".join(
        [struct.pack("<I", len(index)), index, *(array.tobytes() for array in contiguous.values())]
    )


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of `pack_arrays` (copies); ValueError on an object dtype."""
    (index_size,) = struct.unpack_from("<I", data)
    offset = 4 + index_size
    arrays: dict[str, np.ndarray] = {}
    for name, dtype_str, shape in json.loads(data[4:offset]):
        dtype = np.dtype(dtype_str)
        if dtype.hasobject:
            raise ValueError(f"refusing object array {name!r} from an env worker")
        count = int(np.prod(shape))
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(tuple(shape)).copy()
        offset += count * dtype.itemsize
    return arrays
