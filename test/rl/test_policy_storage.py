from __future__ import annotations

import pytest
import torch

from crawler_rl.rl.config import ModelConfig
from crawler_rl.rl.policy import ActorCritic, ObservationNormalizer
from crawler_rl.rl.storage import RolloutStorage


def test_normalizer_matches_batch_statistics_over_several_updates() -> None:
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(300, 3, generator=generator) * torch.tensor([1.0, 10.0, 0.1]) + 5.0
    normalizer = ObservationNormalizer(3)
    for chunk in data.split([1, 99, 200]):
        normalizer.update(chunk)
    assert normalizer.mean.tolist() == pytest.approx(data.mean(0).tolist(), rel=1e-5)
    assert normalizer.var.tolist() == pytest.approx(data.var(0, unbiased=False).tolist(),
                                                    rel=1e-4)
    normalized = normalizer(data)
    assert normalized.mean(0).abs().max() < 1e-3
    assert (normalized.std(0) - 1.0).abs().max() < 1e-2


def test_normalizer_forward_does_not_update_and_clips() -> None:
    normalizer = ObservationNormalizer(2, clip=3.0)
    normalizer.update(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    before = normalizer.state_dict()
    out = normalizer(torch.tensor([[1000.0, -1000.0]]))
    assert out.tolist() == [[3.0, -3.0]]
    assert all(torch.equal(before[k], v) for k, v in normalizer.state_dict().items())
    with pytest.raises(ValueError, match="non-finite"):
        normalizer.update(torch.tensor([[float("nan"), 0.0]]))


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("activation", ["elu", "tanh"])
def test_actor_critic_shapes_and_deterministic_mode(shared: bool, activation: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(actor_hidden=(8,), critic_hidden=(6,), shared_trunk=shared,
                      activation=activation, init_std=0.5)
    policy = ActorCritic(5, 2, cfg)
    obs = torch.randn(7, 5)
    actions, log_probs, values = policy.act(obs)
    assert actions.shape == (7, 2) and log_probs.shape == (7,) and values.shape == (7,)
    assert torch.equal(policy.act_deterministic(obs), policy.act_deterministic(obs))
    new_log_probs, entropy, new_values = policy.evaluate(obs, actions)
    assert torch.allclose(new_log_probs, log_probs) and torch.allclose(new_values, values)
    assert torch.allclose(policy.log_std.exp(), torch.full((2,), 0.5))
    assert entropy.requires_grad
    assert (policy.critic_trunk is policy.actor_trunk) == shared


def test_storage_overflow_guard_and_minibatches_cover_the_rollout() -> None:
    storage = RolloutStorage(num_steps=3, num_envs=2, obs_dim=4, action_dim=1)
    for step in range(3):
        obs = torch.full((2, 4), float(step))
        storage.add(obs, torch.zeros(2, 1), torch.zeros(2), torch.zeros(2), torch.ones(2),
                    torch.zeros(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool))
    with pytest.raises(OverflowError, match="full"):
        storage.add(obs, torch.zeros(2, 1), torch.zeros(2), torch.zeros(2), torch.ones(2),
                    torch.zeros(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool))
    batches = list(storage.minibatches(4, torch.Generator().manual_seed(0)))
    assert len(batches) == 4
    seen = torch.cat([batch.obs[:, 0] for batch in batches]).sort().values
    assert seen.tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    storage.clear()
    with pytest.raises(RuntimeError, match="incomplete"):
        next(storage.minibatches(2))


def test_storage_rejects_non_finite_rewards() -> None:
    storage = RolloutStorage(num_steps=2, num_envs=1, obs_dim=1, action_dim=1)
    with pytest.raises(ValueError, match="rewards"):
        storage.add(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1), torch.zeros(1),
                    torch.tensor([float("nan")]), torch.zeros(1, dtype=torch.bool),
                    torch.zeros(1, dtype=torch.bool))
