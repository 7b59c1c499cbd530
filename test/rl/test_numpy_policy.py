"""The rollout loop's numpy actor against the torch ActorCritic it copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crawler_rl.rl.config import ModelConfig
from crawler_rl.rl.numpy_policy import NumpyActorCritic
from crawler_rl.rl.policy import ActorCritic


def _policy(model: dict, obs_dim: int = 15, actor_obs_dim: int | None = None) -> ActorCritic:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"actor_hidden": (32, 16), "critic_hidden": (24,), **model})
    policy = ActorCritic(obs_dim, 2, cfg, actor_obs_dim)
    policy.obs_normalizer.update(torch.randn(256, obs_dim) * 4.0 + 2.0)
    torch.nn.init.normal_(policy.actor_head.weight, std=0.5)  # a head that is not ~0
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-1.0, 0.3]))
    return policy


@pytest.mark.parametrize("model, actor_obs_dim", [
    ({}, None),
    ({"activation": "tanh"}, None),
    ({"normalize_obs": False}, None),
    ({"obs_clip": 0.5}, None),
    ({"shared_trunk": True, "critic_hidden": (32, 16)}, None),
    ({}, 9),  # asymmetric: the actor reads the first 9 entries, the critic all 15
])
def test_numpy_actor_matches_torch(model: dict, actor_obs_dim: int | None) -> None:
    policy = _policy(model, actor_obs_dim=actor_obs_dim)
    rng = np.random.default_rng(1)
    obs = (rng.normal(size=(8, 15)) * 6.0).astype(np.float32)
    noise = rng.normal(size=(8, 2)).astype(np.float32)
    actions, log_probs, values = NumpyActorCritic(policy).act(obs, noise)
    expected = policy.act(torch.from_numpy(obs), torch.from_numpy(noise))
    for got, want in zip((actions, log_probs, values), expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(NumpyActorCritic(policy).value(obs),
                               policy.value(torch.from_numpy(obs)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_numpy_actor_is_a_frozen_copy() -> None:
    policy = _policy({})
    actor = NumpyActorCritic(policy)
    obs = np.ones((2, 15), np.float32)
    before = actor.act(obs, np.zeros((2, 2), np.float32))[0]
    with torch.no_grad():
        policy.actor_head.bias.add_(1.0)
    np.testing.assert_array_equal(actor.act(obs, np.zeros((2, 2), np.float32))[0], before)
    assert not np.allclose(NumpyActorCritic(policy).act(obs, np.zeros((2, 2), np.float32))[0],
                           before)
