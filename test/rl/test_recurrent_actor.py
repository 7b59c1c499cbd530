"""bench/recurrent_actor.py: the recurrent actor's sequence pass, training and controller."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from bench_loader import load_bench
from torch.distributions import Normal

from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.envs import ActionScaler, describe_env, make_env_factory
from crawler_rl.rl.symmetry import configured_mirror
from crawler_rl.sim.vec_env import SyncVecEnv


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("recurrent_actor")


def test_sequence_pass_equals_stepping_with_resets(bench) -> None:
    torch.manual_seed(0)
    policy = bench.RecurrentActorCritic(obs_dim=5, action_dim=2, hidden=8)
    obs = torch.randn(6, 3, 5)
    starts = torch.zeros(6, 3, dtype=torch.bool)
    starts[3, 1] = True  # env 1's episode ends after step 2
    state0 = torch.randn(3, 8)
    sequence = policy.actor_sequence(obs, state0, starts)
    state = state0.clone()
    for t in range(6):
        for env in range(3):
            if starts[t, env]:
                state[env] = 0.0
        mean, state = policy.actor_step(obs[t], state)
        assert torch.allclose(sequence[t], mean, atol=1e-6)
    # the reset matters: without it env 1's later means differ
    unreset = policy.actor_sequence(obs, state0, torch.zeros_like(starts))
    assert not torch.allclose(unreset[3:, 1], sequence[3:, 1])
    assert torch.allclose(unreset[:, 0], sequence[:, 0])


def test_short_training_run_gives_a_stateful_controller(bench, tmp_path: Path) -> None:
    path = bench.train(None, seed=0, total_steps=1024, run_dir=tmp_path, progress=False)
    assert path.is_file()
    rows = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(rows) == 2  # 1,024 steps = 2 rollouts of 16 envs x 32 steps
    controller = bench.RecurrentController(path)
    rng = np.random.default_rng(0)
    observations = rng.normal(0.0, 0.1, (5, controller.policy.obs_normalizer.mean.shape[0]))
    first = [controller(obs) for obs in observations]
    controller.reset()
    again = [controller(obs) for obs in observations]
    np.testing.assert_allclose(first, again)  # reset() forgets the history
    assert np.isfinite(first).all()
    assert np.abs(first).max() <= controller.spec.max_wheel_speed
    controller.reset()
    controller(observations[1])
    # observations[2] after another history gives another command: the state is used
    assert not np.allclose(controller(observations[2]), first[2])
    # `eval`: the recurrent controller is the report's learned one, beside IK and the PI
    report = bench.evaluate(tmp_path, 1, "held-out")
    assert report["policy"] == str(path)
    assert all(entry["policy"]["rmse_v"] > 0.0 and entry["pi"]["rmse_v"] > 0.0
               and entry["policy"]["rmse_v"] != entry["ik"]["rmse_v"]
               for entry in report["scenarios"])


def test_rollout_log_probs_and_mirror_state_are_reproduced_across_episode_ends(bench) -> None:
    cfg = load_train_config(None, {"env.max_episode_steps": 10})
    factory = make_env_factory(cfg.env)
    envs = SyncVecEnv([factory] * 3)
    info = describe_env(envs.envs[0], cfg.env.env_id)
    mirror = configured_mirror(True, info, envs.obs_dim, envs.action_dim)
    torch.manual_seed(0)
    policy = bench.RecurrentActorCritic(envs.obs_dim, envs.action_dim, hidden=8)
    policy.obs_normalizer.update(torch.randn(64, envs.obs_dim))  # not the identity
    collector = bench.RecurrentCollector(cfg, policy, envs,
                                         ActionScaler(info["action_low"], info["action_high"]),
                                         mirror)
    collector.collect(torch.randn(7, 3, envs.action_dim))  # the next rollout starts mid-episode
    rollout = collector.collect(torch.randn(24, 3, envs.action_dim))
    following = collector.collect(torch.randn(1, 3, envs.action_dim))
    envs.close()
    assert rollout.starts.any() and rollout.state.abs().sum() > 0
    normalized = policy.obs_normalizer(rollout.obs)
    std = policy.log_std.exp()
    with torch.no_grad():
        means = policy.actor_sequence(normalized, rollout.state, rollout.starts)
        log_probs = Normal(means, std).log_prob(rollout.actions).sum(-1)
        assert torch.allclose(log_probs, rollout.log_probs, atol=1e-5)
        unmasked = policy.actor_sequence(normalized, rollout.state,
                                         torch.zeros_like(rollout.starts))
        assert not torch.allclose(Normal(unmasked, std).log_prob(rollout.actions).sum(-1),
                                  rollout.log_probs, atol=1e-5)
        # the mirror image's state, stepped through the same rollout, is the next one's start
        steps, num_envs, obs_dim = rollout.obs.shape
        mirrored = policy.obs_normalizer(
            mirror.obs(rollout.obs.reshape(-1, obs_dim)).reshape(steps, num_envs, obs_dim))
        state = rollout.mirror_state
        for t in range(steps):
            state = state * (~rollout.starts[t]).unsqueeze(-1).float()
            _, state = policy.actor_step(mirrored[t], state)
        done = rollout.terminated[-1] | rollout.truncated[-1]
        state = state * (~done).unsqueeze(-1).float()
        assert torch.allclose(state, following.mirror_state, atol=1e-6)
