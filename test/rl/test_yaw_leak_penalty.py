"""`ppo.yaw_leak_penalty`: a loss on the share of the residual's yaw mode the actor takes back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crawler_rl.rl.config import EnvConfig, load_train_config
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.ppo import PPO
from crawler_rl.sim.observation import (
    ACTOR_OBS_DIM,
    OBS_DIM,
    OBS_NAMES,
    YAW_LEAK_SHIFT,
    yaw_residual_probe,
)


def test_the_probe_moves_the_residual_apart_with_its_command_and_encoders() -> None:
    probe = yaw_residual_probe()
    shift = np.array(probe["obs_shift"])
    for name in ("prev_wheel_cmd", "wheel_speed", "prev_residual"):
        assert shift[OBS_NAMES.index(f"{name}_left")] == -YAW_LEAK_SHIFT
        assert shift[OBS_NAMES.index(f"{name}_right")] == YAW_LEAK_SHIFT
    assert np.count_nonzero(shift) == 6
    # An action that takes the whole yaw shift back reads as -1.
    cancel = np.array([YAW_LEAK_SHIFT, -YAW_LEAK_SHIFT])  # left up, right down [rad/s]
    assert cancel @ np.array(probe["action_weights"]) == pytest.approx(-1.0)


def test_the_crawler_declares_it_on_the_incremental_base_only() -> None:
    config = load_train_config(None)
    env = make_env_factory(config.env)()
    # the set-anew corrections weigh direct_limit / increment_limit (4) more per unit of action
    assert describe_env(env, config.env.env_id)["yaw_residual_probe"] == yaw_residual_probe(4.0)
    env.close()
    ik = EnvConfig(crawler_overrides={"motor.residual_base": "ik"})
    env = make_env_factory(ik)()
    assert describe_env(env, ik.env_id)["yaw_residual_probe"] is None
    env.close()


def actor_with_a_yaw_leak(leak: float) -> ActorCritic:
    """An actor whose mean takes `leak` of the previous command's yaw mode back, linearly."""
    config = load_train_config(None)
    policy = ActorCritic(OBS_DIM, 2, config.model, ACTOR_OBS_DIM)
    with torch.no_grad():
        policy.obs_normalizer.update(torch.zeros(8, OBS_DIM))  # mean 0, std ~1: identity
        for parameter in policy.parameters():
            parameter.zero_()
    left, right = OBS_NAMES.index("prev_wheel_cmd_left"), OBS_NAMES.index("prev_wheel_cmd_right")

    def action_mean(obs: torch.Tensor) -> torch.Tensor:
        yaw = 0.5 * (obs[..., right] - obs[..., left])
        return torch.stack([leak * yaw, -leak * yaw], dim=-1)

    policy.action_mean = action_mean  # type: ignore[method-assign]
    return policy


@pytest.mark.parametrize("leak", [0.0, 0.5, 1.0])
def test_the_loss_is_the_square_of_the_share_taken_back(leak: float) -> None:
    config = load_train_config(None)
    ppo = PPO(actor_with_a_yaw_leak(leak), config.ppo, yaw_probe=yaw_residual_probe())
    obs = torch.randn(32, OBS_DIM)
    assert ppo.yaw_leak_loss(obs).item() == pytest.approx(leak ** 2, rel=1e-5, abs=1e-9)


def test_it_is_off_without_a_probe_or_at_weight_zero() -> None:
    config = load_train_config(None)
    assert PPO(actor_with_a_yaw_leak(1.0), config.ppo).yaw_probe is None
    off = load_train_config(None, {"ppo.yaw_leak_penalty": 0.0})
    assert PPO(actor_with_a_yaw_leak(1.0), off.ppo, yaw_probe=yaw_residual_probe()).yaw_probe \
        is None


def test_a_negative_weight_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ppo.yaw_leak_penalty"):
        load_train_config(None, {"ppo.yaw_leak_penalty": -1.0})


def seeded_actor_and_ppo() -> tuple[ActorCritic, PPO]:
    """A freshly initialized default actor-critic (seed 0) and its PPO with the yaw probe."""
    config = load_train_config(None)
    torch.manual_seed(0)
    policy = ActorCritic(OBS_DIM, 2, config.model, ACTOR_OBS_DIM)
    policy.obs_normalizer.update(torch.randn(256, OBS_DIM))
    return policy, PPO(policy, config.ppo, yaw_probe=yaw_residual_probe())


def test_the_penalty_trains_the_leak_out_of_a_leaking_actor() -> None:
    policy, ppo = seeded_actor_and_ppo()
    obs = torch.randn(256, OBS_DIM) * 2.0
    # Teach the actor a leak first (as PPO does on the crawler), then only the penalty.
    left, right = OBS_NAMES.index("prev_wheel_cmd_left"), OBS_NAMES.index("prev_wheel_cmd_right")
    target = 0.5 * (obs[:, right] - obs[:, left])
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(300):
        optimizer.zero_grad()
        mean = policy.action_mean(obs)
        ((mean[:, 0] - target).square() + (mean[:, 1] + target).square()).mean().backward()
        optimizer.step()
    before = ppo.yaw_leak_loss(obs).item()
    for _ in range(300):
        optimizer.zero_grad()
        ppo.yaw_leak_loss(obs).backward()
        optimizer.step()
    after = ppo.yaw_leak_loss(obs).item()
    assert before > 0.05 and after < 0.05 * before


def test_the_shift_covers_a_privileged_critics_longer_observation() -> None:
    config = EnvConfig(privileged_critic=True)
    env = make_env_factory(config)()
    probe = describe_env(env, config.env_id)["yaw_residual_probe"]
    width = env.observation_space.shape[0]
    env.close()
    assert width > OBS_DIM and len(probe["obs_shift"]) == width
    assert probe["obs_shift"][:OBS_DIM] == yaw_residual_probe()["obs_shift"]
    assert not any(probe["obs_shift"][OBS_DIM:])


def test_the_update_s_one_actor_pass_equals_separate_passes() -> None:
    """`evaluate_with_probe` (what the update runs) = `evaluate` + two `action_mean` calls."""
    policy, ppo = seeded_actor_and_ppo()
    obs, actions = torch.randn(64, OBS_DIM), torch.randn(64, 2)
    probe_rows = 32  # the collected rows of a mirror-augmented minibatch

    def gradients(loss: torch.Tensor) -> list[torch.Tensor]:
        policy.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in policy.parameters() if p.grad is not None]

    log_probs, entropy, values, means, probe_means = policy.evaluate_with_probe(
        obs, actions, ppo.yaw_probe_obs(obs[:probe_rows]))
    one_pass = (log_probs.sum() + entropy.sum() + values.sum()
                + ppo.yaw_leak(means[:probe_rows], probe_means))
    separate = policy.evaluate(obs, actions)
    torch.testing.assert_close(log_probs, separate[0])
    torch.testing.assert_close(values, separate[2])
    two_passes = (sum(part.sum() for part in separate)
                  + ppo.yaw_leak_loss(obs[:probe_rows]))
    torch.testing.assert_close(one_pass, two_passes)
    for a, b in zip(gradients(one_pass), gradients(two_passes), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)  # float32 sums of ~20
