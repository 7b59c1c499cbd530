"""The one Rollout type: its array transport, env concatenation and truncation bootstrap."""

from __future__ import annotations

import numpy as np
import torch

from crawler_rl.rl.named_arrays import pack_arrays, unpack_arrays
from crawler_rl.rl.rollout import ARRAY_FIELDS, Rollout, concat_envs, fill_storage
from crawler_rl.rl.storage import RolloutStorage

STEPS, OBS_DIM, ACTION_DIM = 3, 4, 2


def make_rollout(envs: int, seed: int, version: int = 0) -> Rollout:
    rng = np.random.default_rng(seed)
    shapes = Rollout.field_shapes(STEPS, envs, OBS_DIM, ACTION_DIM)
    arrays = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    for name in ("terminated", "truncated"):
        arrays[name] = rng.random(shapes[name]) < 0.4
    return Rollout(**arrays, actor_id=seed, policy_version=version, newest_version=version + 1)


def test_rollout_travels_through_the_named_array_codec_unchanged() -> None:
    rollout = make_rollout(envs=2, seed=1, version=7)
    back = Rollout.from_arrays(unpack_arrays(pack_arrays(rollout.to_arrays())))
    for name in ARRAY_FIELDS:
        assert getattr(back, name).dtype == getattr(rollout, name).dtype, name
        np.testing.assert_array_equal(getattr(back, name), getattr(rollout, name), name)
    assert (back.actor_id, back.policy_version, back.newest_version) == (1, 7, 8)


def test_concat_envs_joins_columns_in_order_and_spans_the_versions() -> None:
    first, second = make_rollout(envs=2, seed=1, version=3), make_rollout(envs=1, seed=2,
                                                                           version=5)
    joined = concat_envs([first, second])
    joined.check(OBS_DIM, ACTION_DIM)
    assert joined.num_envs == 3 and joined.num_steps == STEPS
    np.testing.assert_array_equal(joined.obs[:, 2], second.obs[:, 0])
    np.testing.assert_array_equal(joined.last_obs[:2], first.last_obs)
    np.testing.assert_array_equal(joined.last_values[2:], second.last_values)
    assert (joined.policy_version, joined.newest_version) == (3, 6)


def test_fill_storage_bootstraps_time_limits_only() -> None:
    rollout = make_rollout(envs=2, seed=4)
    storage = RolloutStorage(STEPS, 2, OBS_DIM, ACTION_DIM)
    fill_storage(storage, rollout, gamma=0.5)
    time_limit = rollout.truncated & ~rollout.terminated
    assert time_limit.any() and (~time_limit).any()
    expected = rollout.rewards + np.where(time_limit, 0.5 * rollout.final_values, 0.0)
    np.testing.assert_allclose(storage.rewards.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(storage.values.numpy(), rollout.values)
    values = torch.zeros(STEPS, 2)
    fill_storage(storage, rollout, gamma=0.5, values=values)  # the ROS learner's re-valuation
    assert not storage.values.any() and storage.full
