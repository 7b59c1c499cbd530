from __future__ import annotations

import math

import pytest
import torch

from crawler_rl.rl.ppo import (
    approx_kl_and_clipfrac,
    bootstrap_truncated,
    compute_gae,
    explained_variance,
    policy_loss,
    value_loss,
)

GAMMA, LAM = 0.9, 0.8


def _column(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1)


def test_gae_without_episode_end_bootstraps_from_last_value() -> None:
    rewards, values = _column(1.0, 2.0), _column(0.5, 1.0)
    no = torch.zeros(2, 1, dtype=torch.bool)
    advantages, returns = compute_gae(rewards, values, no, no, torch.tensor([3.0]), GAMMA, LAM)
    delta1 = 2.0 + GAMMA * 3.0 - 1.0
    delta0 = 1.0 + GAMMA * 1.0 - 0.5
    expected = [delta0 + GAMMA * LAM * delta1, delta1]
    assert advantages.flatten().tolist() == pytest.approx(expected)
    assert returns.flatten().tolist() == pytest.approx([expected[0] + 0.5, expected[1] + 1.0])


def test_gae_termination_cuts_value_and_trace() -> None:
    rewards, values = _column(1.0, 2.0), _column(0.5, 1.0)
    terminated = torch.tensor([[True], [False]])
    truncated = torch.zeros(2, 1, dtype=torch.bool)
    advantages, _ = compute_gae(rewards, values, terminated, truncated, torch.tensor([3.0]),
                                GAMMA, LAM)
    delta1 = 2.0 + GAMMA * 3.0 - 1.0
    assert advantages.flatten().tolist() == pytest.approx([1.0 - 0.5, delta1])


def test_truncation_bootstraps_from_final_obs_value_not_next_episode() -> None:
    """Step 0 hits a time limit: its target uses V(final_obs)=4, not V(next episode)=1."""
    terminated = torch.tensor([[False], [False]])
    truncated = torch.tensor([[True], [False]])
    raw_rewards = _column(1.0, 2.0)
    rewards = torch.stack([
        bootstrap_truncated(raw_rewards[0], terminated[0], truncated[0], torch.tensor([4.0]),
                            GAMMA),
        raw_rewards[1],
    ])
    values = _column(0.5, 1.0)
    advantages, _ = compute_gae(rewards, values, terminated, truncated, torch.tensor([3.0]),
                                GAMMA, LAM)
    assert advantages[0, 0].item() == pytest.approx(1.0 + GAMMA * 4.0 - 0.5)
    assert advantages[1, 0].item() == pytest.approx(2.0 + GAMMA * 3.0 - 1.0)


def test_bootstrap_ignored_when_terminated_and_truncated_together() -> None:
    rewards = torch.tensor([1.0, 1.0, 1.0])
    terminated = torch.tensor([True, False, False])
    truncated = torch.tensor([True, True, False])
    out = bootstrap_truncated(rewards, terminated, truncated, torch.tensor([5.0, 5.0, 5.0]), 0.5)
    assert out.tolist() == [1.0, 3.5, 1.0]


def test_gae_envs_are_independent_columns() -> None:
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    values = torch.zeros(2, 2)
    terminated = torch.tensor([[False, True], [False, False]])
    no = torch.zeros(2, 2, dtype=torch.bool)
    advantages, _ = compute_gae(rewards, values, terminated, no, torch.zeros(2), GAMMA, 1.0)
    assert advantages[:, 0].tolist() == pytest.approx([1.0, 0.0])
    assert advantages[:, 1].tolist() == pytest.approx([0.0, 1.0])


def test_policy_loss_clips_the_ratio() -> None:
    advantages = torch.tensor([1.0, -1.0, 1.0])
    ratio = torch.tensor([1.5, 0.5, 0.9])
    loss = policy_loss(advantages, ratio.log(), clip_coef=0.2)
    # A>0, r=1.5 -> clipped 1.2; A<0, r=0.5 -> max(0.5, 0.8) = 0.8 pessimistic; A>0, r=0.9.
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 0.9) / 3, rel=1e-6)


def test_value_loss_clipped_takes_pessimistic_max() -> None:
    old, new, ret = torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0])
    assert value_loss(new, old, ret, 0.2, clip=False).item() == pytest.approx(0.0)
    assert value_loss(new, old, ret, 0.2, clip=True).item() == pytest.approx(0.5 * 0.8**2)


def test_kl_clipfrac_and_explained_variance() -> None:
    log_ratio = torch.log(torch.tensor([1.0, 1.5]))
    approx_kl, clipfrac = approx_kl_and_clipfrac(log_ratio, 0.2)
    assert approx_kl == pytest.approx(((0.5 - math.log(1.5)) + 0.0) / 2, rel=1e-6)
    assert clipfrac == pytest.approx(0.5)
    target = torch.tensor([1.0, 2.0, 3.0])
    assert explained_variance(target, target) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(3), target) == pytest.approx(0.0)
    assert math.isnan(explained_variance(target, torch.ones(3)))


def _filled_storage(policy, num_steps: int = 16, num_envs: int = 4):
    from crawler_rl.rl.storage import RolloutStorage

    storage = RolloutStorage(num_steps, num_envs, 3, 1)
    generator = torch.Generator().manual_seed(0)
    for _ in range(num_steps):
        obs = torch.randn(num_envs, 3, generator=generator)
        actions, log_probs, values = policy.act(obs)
        # Reward prefers actions near +0.5 regardless of the state.
        rewards = -(actions[:, 0] - 0.5).square()
        no = torch.zeros(num_envs, dtype=torch.bool)
        storage.add(obs, actions, log_probs, values, rewards, no, no)
    return storage


def test_ppo_update_moves_policy_towards_better_actions() -> None:
    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    torch.manual_seed(0)
    policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,), init_std=0.5))
    ppo = PPO(policy, PPOConfig(gamma=0.01, lr_schedule="constant", learning_rate=3e-3,
                                target_kl=None, num_epochs=4))
    probe = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    before = policy.act_deterministic(probe).mean().item()
    for _ in range(10):
        stats = ppo.update(_filled_storage(policy), torch.zeros(4))
    after = policy.act_deterministic(probe).mean().item()
    assert abs(after - 0.5) < abs(before - 0.5) - 0.1, (before, after)
    assert stats["num_updates"] == 16 and stats["early_stop"] == 0.0
    for key in ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"):
        assert math.isfinite(stats[key]), key


def test_the_yaw_leak_term_is_trained_and_reported() -> None:
    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    # The third input plays the residual's carrier; the rewarded action does not depend on it.
    probe = {"obs_shift": [0.0, 0.0, 1.0], "action_weights": [1.0]}
    states = torch.randn(256, 3, generator=torch.Generator().manual_seed(1))
    leaks = {}
    for weight in (0.0, 10.0):
        torch.manual_seed(0)
        policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,),
                                               init_std=0.5))
        with torch.no_grad():  # start with a clear dependence on the carrier
            policy.actor_trunk[0].weight[:, 2] += 1.0
            torch.nn.init.normal_(policy.actor_head.weight, std=0.5)
        cfg = PPOConfig(gamma=0.01, lr_schedule="constant", learning_rate=3e-3, target_kl=None,
                        num_epochs=4, yaw_leak_penalty=weight)
        ppo = PPO(policy, cfg, yaw_probe=probe)
        measure = PPO(policy, PPOConfig(yaw_leak_penalty=1.0), yaw_probe=probe)
        for _ in range(10):
            stats = ppo.update(_filled_storage(policy), torch.zeros(4))
        assert ("yaw_leak" in stats) == (weight > 0.0)
        leaks[weight] = measure.yaw_leak_loss(states).item()
        if weight > 0.0:
            assert math.isfinite(stats["yaw_leak"])
    assert leaks[10.0] < 0.5 * leaks[0.0], leaks


def test_kl_early_stop_also_lowers_an_adaptive_learning_rate() -> None:
    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    torch.manual_seed(0)
    policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,), init_std=0.1))
    cfg = PPOConfig(lr_schedule="adaptive", learning_rate=1e-2, max_learning_rate=1e-2,
                    target_kl=0.02, desired_kl=0.005)
    ppo = PPO(policy, cfg)
    stats = ppo.update(_filled_storage(policy), torch.zeros(4))
    assert stats["early_stop"] == 1.0
    assert stats["max_approx_kl"] > cfg.target_kl
    assert ppo.learning_rate < cfg.learning_rate


def test_policy_lag_alone_does_not_lower_an_adaptive_learning_rate() -> None:
    """Rollouts acted by an older policy version (the ROS pipeline's lag): the KL that adapts
    the learning rate is the update's own, so a tiny update reads as "too small" and raises it,
    while the lag shows in `lag_kl`."""
    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    torch.manual_seed(0)
    model = ModelConfig(actor_hidden=(16,), critic_hidden=(16,), init_std=0.1)
    acting = ActorCritic(3, 1, model)
    storage = _filled_storage(acting)
    learner = ActorCritic(3, 1, model)  # a later version than the one that acted:
    learner.load_state_dict(acting.state_dict())
    with torch.no_grad():
        learner.actor_head.bias += 0.05  # half an action std away
    cfg = PPOConfig(lr_schedule="adaptive", learning_rate=1e-6, min_learning_rate=1e-7,
                    desired_kl=0.01, target_kl=0.05, num_epochs=1, num_minibatches=2)
    ppo = PPO(learner, cfg)
    stats = ppo.update(storage, torch.zeros(4))
    assert stats["lag_kl"] > cfg.target_kl  # the versions are far apart...
    assert stats["max_approx_kl"] < 0.5 * cfg.desired_kl  # ...but this update barely moved
    assert stats["early_stop"] == 0.0
    assert ppo.learning_rate > cfg.learning_rate


def test_on_policy_rollouts_have_no_lag_kl() -> None:
    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    torch.manual_seed(0)
    policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,)))
    stats = PPO(policy, PPOConfig()).update(_filled_storage(policy), torch.zeros(4))
    assert abs(stats["lag_kl"]) < 1e-6


def test_fused_optimizer_does_the_foreach_arithmetic_and_loads_older_states() -> None:
    """PPO's fused Adam (the cheaper kernel) gives the weights the former foreach Adam gave,
    and a checkpoint's optimizer state saved with foreach loads back fused."""
    import copy

    from crawler_rl.rl.config import ModelConfig, PPOConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO

    torch.manual_seed(0)
    policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,)))
    storage = _filled_storage(policy)
    cfg = PPOConfig(lr_schedule="constant", learning_rate=3e-3, target_kl=None)
    initial = copy.deepcopy(policy)
    fused, foreach = PPO(policy, cfg), PPO(copy.deepcopy(policy), cfg)
    foreach.optimizer = torch.optim.Adam(foreach.policy.parameters(), lr=3e-3, eps=1e-5,
                                         foreach=True)
    assert fused.optimizer.param_groups[0]["fused"]
    for ppo in (fused, foreach):
        ppo.update(storage, torch.zeros(4), torch.Generator().manual_seed(3))
    for a, b in zip(fused.policy.parameters(), foreach.policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(
        fused.policy.parameters(), initial.parameters(), strict=True))
    fused.load_optimizer_state(foreach.optimizer.state_dict())
    group = fused.optimizer.param_groups[0]
    assert group["fused"] and not group["foreach"]
    fused.update(storage, torch.zeros(4))  # steps with the loaded state
