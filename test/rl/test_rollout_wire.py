import json
import struct

import numpy as np
import pytest

from crawler_rl.rl.named_arrays import pack_arrays, unpack_arrays


def test_round_trip_keeps_names_dtypes_shapes_and_values():
    arrays = {
        "obs": np.arange(8 * 14, dtype=np.float32).reshape(8, 14)[:, ::2],  # non-contiguous
        "terminated": np.array([True, False] * 4),
        "tether_tension": np.linspace(0, 1, 8),
        "obs_dim": np.array(14),  # 0-d
        "final_obs": np.zeros((0, 14), np.float32),
    }
    out = unpack_arrays(pack_arrays(arrays))
    assert list(out) == list(arrays)
    for name, array in arrays.items():
        assert out[name].dtype == array.dtype and out[name].shape == array.shape, name
        np.testing.assert_array_equal(out[name], array)


def test_object_arrays_are_refused():
    index = json.dumps([["evil", "|O", [1]]]).encode()
    with pytest.raises(ValueError, match="object array"):
        unpack_arrays(struct.pack("<I", len(index)) + index + bytes(8))
