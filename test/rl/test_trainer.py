from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.checkpoint import latest_good_checkpoint, list_checkpoints, load_checkpoint
from crawler_rl.rl.collector import InProcessCollector
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.rl.export import OnnxController, policy_from_checkpoint
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import ARRAY_FIELDS
from crawler_rl.rl.rollout_workers import RolloutWorkers
from crawler_rl.rl.trainer import run_training
from crawler_rl.sim.vec_env import SyncVecEnv


def _deterministic_return(policy: ActorCritic, cfg: TrainConfig, episodes: int = 8) -> float:
    env = make_env_factory(cfg.env)()
    total = 0.0
    for episode in range(episodes):
        obs, _ = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            action = policy.act_deterministic(torch.from_numpy(obs[None, :]))[0].numpy()
            obs, reward, terminated, truncated, _ = env.step(np.clip(action, -1.0, 1.0))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def test_training_improves_deterministic_return_and_writes_artifacts(tmp_path: Path) -> None:
    cfg = toy_config(run={"total_steps": 6000, "checkpoint_every": 5, "export_onnx": True})
    summary = run_training(cfg, tmp_path, progress=False)
    assert summary["global_step"] == 6000 and summary["iterations"] == 30
    trained = policy_from_checkpoint(load_checkpoint(Path(summary["checkpoint"])))
    torch.manual_seed(cfg.run.seed)
    untrained = ActorCritic(3, 1, cfg.model)
    before = _deterministic_return(untrained, cfg)
    after = _deterministic_return(trained, cfg)
    # The untrained policy leaves the 0.6 gain and -0.3 drag uncorrected.
    assert after > 0.2 * before, (before, after)
    assert summary["final"]["tracking_error_v"] < summary["initial"]["tracking_error_v"]
    for key in ("approx_kl", "clipfrac", "explained_variance", "entropy", "sps"):
        assert np.isfinite(summary["final"][key]), key
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert (tmp_path / "config.yaml").is_file()
    assert len(list_checkpoints(tmp_path)) == cfg.run.keep_checkpoints
    onnx_action = OnnxController(Path(summary["onnx"]))(np.zeros(3, dtype=np.float32))
    assert onnx_action.shape == (1,)


@pytest.mark.parametrize("workers", [1, 2])
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path, workers: int) -> None:
    env = {"num_workers": workers}
    full_cfg = toy_config(env=env,
                          run={"total_steps": 1600, "checkpoint_every": 2, "exact_resume": True})
    uninterrupted = run_training(full_cfg, tmp_path / "a", progress=False)

    class Killed(Exception):
        pass

    def kill_after_800_steps(stats: dict[str, float]) -> None:
        if stats["global_step"] > 800:  # iteration 5: the newest checkpoint is iteration 4's
            raise Killed

    with pytest.raises(Killed):
        run_training(full_cfg, tmp_path / "b", progress=False, on_iteration=kill_after_800_steps)
    assert list_checkpoints(tmp_path / "b")[-1].name == "ckpt_000004.pt"
    resumed = run_training(full_cfg, tmp_path / "b", resume=True, progress=False)
    assert resumed["global_step"] == uninterrupted["global_step"] == 1600
    a = load_checkpoint(Path(uninterrupted["checkpoint"]))
    b = load_checkpoint(Path(resumed["checkpoint"]))
    assert (a.iteration, a.global_step) == (b.iteration, b.global_step)
    for key, tensor in a.model.items():
        assert torch.equal(tensor, b.model[key]), key
    assert a.learning_rate == b.learning_rate


def test_resume_falls_back_past_a_corrupt_checkpoint(tmp_path: Path, caplog) -> None:
    cfg = toy_config(run={"total_steps": 800, "checkpoint_every": 2, "keep_checkpoints": 0})
    run_training(cfg, tmp_path, progress=False)
    newest = list_checkpoints(tmp_path)[-1]
    newest.write_bytes(b"\0" * 64)
    assert latest_good_checkpoint(tmp_path) == list_checkpoints(tmp_path)[-2]
    longer = toy_config(run={"total_steps": 1200, "checkpoint_every": 2, "keep_checkpoints": 0})
    summary = run_training(longer, tmp_path, resume=True, progress=False)
    assert summary["global_step"] == 1200
    assert load_checkpoint(Path(summary["checkpoint"])).iteration == 6
    assert "ckpt_000004.pt" in caplog.text


def test_env_id_errors_are_clear() -> None:
    with pytest.raises(Exception, match="NoSuchEnv"):
        make_env_factory(toy_config(env={"env_id": "NoSuchEnv-v0"}).env)()


def test_worker_rollout_equals_the_same_envs_collected_in_process() -> None:
    cfg = toy_config(env={"num_envs": 4})
    torch.manual_seed(3)
    policy = ActorCritic(3, 1, cfg.model)
    policy.obs_normalizer.update(torch.randn(32, 3))
    noise = torch.randn(2, 30, 4, 1)  # two rollouts of 30 steps (the toy episodes last 50)
    workers = RolloutWorkers(cfg.env, cfg.model, num_envs=4, num_workers=2)
    try:
        workers.reset(seed=11)
        remote = [workers.collect(policy, noise[0]), workers.collect(policy, noise[1])]
    finally:
        workers.close()
    for offset in (0, 2):  # each worker's envs, stepped here with the same seeds and noise
        envs = SyncVecEnv([make_env_factory(cfg.env) for _ in range(2)])
        local = InProcessCollector(envs, describe_env(envs.envs[0], cfg.env.env_id))
        local.reset(seed=11 + offset)
        for index, part in enumerate(remote):
            here = local.collect(policy, noise[index][:, offset:offset + 2])
            assert here.truncated.any() == (index == 1)  # the second rollout bootstraps
            for key in ARRAY_FIELDS:
                array, whole = getattr(here, key), getattr(part, key)
                columns = (whole[offset:offset + 2] if key in ("last_values", "last_obs")
                           else whole[:, offset:offset + 2])
                np.testing.assert_array_equal(columns, array, err_msg=key)
        local.close()


def test_collected_rollout_holds_the_policy_s_actions_and_bootstraps_time_limits() -> None:
    cfg = toy_config(env={"num_envs": 2})
    envs = SyncVecEnv([make_env_factory(cfg.env) for _ in range(2)])
    collector = InProcessCollector(envs, describe_env(envs.envs[0], cfg.env.env_id))
    torch.manual_seed(0)
    policy = ActorCritic(3, 1, cfg.model)
    collector.reset(seed=3)
    noise = torch.randn(60, 2, 1)  # the toy episodes end by time limit after 50 steps
    rollout = collector.collect(policy, noise)
    collector.close()

    obs = torch.from_numpy(rollout.obs.reshape(-1, 3))
    dist = policy.distribution(obs)
    actions = dist.loc + dist.scale * noise.reshape(-1, 1)
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(rollout.actions.reshape(-1, 1)), actions)
        torch.testing.assert_close(torch.from_numpy(rollout.log_probs.reshape(-1)),
                                   dist.log_prob(actions).sum(-1))
        torch.testing.assert_close(torch.from_numpy(rollout.values.reshape(-1)),
                                   policy.value(obs))
    assert not rollout.terminated.any()
    assert rollout.truncated[49].all() and rollout.truncated.sum() == 2
    bonus = rollout.bootstrapped_rewards(0.9).numpy() - rollout.rewards
    assert not bonus[np.arange(60) != 49].any()  # raw rewards everywhere but the time limit
    for env_index in range(2):  # replay the episode: its final observation is not stored
        env = make_env_factory(cfg.env)()
        env.reset(seed=3 + env_index)
        for step in range(50):
            final_obs, *_ = env.step(np.clip(rollout.actions[step, env_index], -1.0, 1.0))
        with torch.no_grad():
            final_value = float(policy.value(torch.from_numpy(final_obs[None, :]))[0])
        assert bonus[49, env_index] == pytest.approx(0.9 * final_value, rel=1e-5, abs=1e-6)
    assert rollout.tracking_error.shape == (60, 2, 2)


def test_non_finite_observation_names_the_env_in_the_whole_run() -> None:
    cfg = toy_config(env={"env_id": "rl_toy_env:NaNAfterTenSteps"})
    envs = SyncVecEnv([make_env_factory(cfg.env) for _ in range(2)])
    collector = InProcessCollector(envs, describe_env(envs.envs[0], cfg.env.env_id),
                                   first_env=6)
    collector.reset(seed=0)
    with pytest.raises(ValueError, match=r"env\(s\) \[6, 7\] at rollout step 10"):
        collector.collect(ActorCritic(3, 1, cfg.model), torch.zeros(20, 2, 1))
    with pytest.raises(ValueError, match="noise must have shape"):
        collector.collect(ActorCritic(3, 1, cfg.model), torch.zeros(20, 1, 1))
    collector.close()


def test_worker_runs_are_reproducible_and_learn(tmp_path: Path) -> None:
    cfg = toy_config(env={"num_workers": 2}, run={"total_steps": 1200})
    first = run_training(cfg, tmp_path / "a", progress=False)
    second = run_training(cfg, tmp_path / "b", progress=False)
    a = load_checkpoint(Path(first["checkpoint"]))
    b = load_checkpoint(Path(second["checkpoint"]))
    for key, tensor in a.model.items():
        assert torch.equal(tensor, b.model[key]), key
    assert first["final"]["tracking_error_v"] == second["final"]["tracking_error_v"]
    assert first["final"]["tracking_error_v"] < first["initial"]["tracking_error_v"]


def test_non_finite_observation_is_a_clear_error(tmp_path: Path) -> None:
    cfg = toy_config(env={"env_id": "rl_toy_env:NaNAfterTenSteps"})
    with pytest.raises(ValueError, match=r"non-finite observation from env\(s\) \[0, 1, 2, 3\]"):
        run_training(cfg, tmp_path, progress=False)


def test_non_finite_action_is_a_clear_error() -> None:
    """A policy gone non-finite is named as such, not passed on to the envs."""
    cfg = toy_config()
    envs = SyncVecEnv([make_env_factory(cfg.env) for _ in range(4)])
    collector = InProcessCollector(envs, describe_env(envs.envs[0], cfg.env.env_id),
                                   first_env=4)
    policy = ActorCritic(envs.obs_dim, envs.action_dim, cfg.model)
    with torch.no_grad():
        policy.actor_head.bias[0] = float("nan")
    collector.reset(seed=0)
    try:
        with pytest.raises(FloatingPointError,
                           match=r"non-finite action for env\(s\) \[4, 5, 6, 7\]"):
            collector.collect(policy, torch.zeros(3, 4, envs.action_dim))
    finally:
        collector.close()


def test_worker_failure_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="NoSuchEnv"):
        RolloutWorkers(toy_config(env={"env_id": "NoSuchEnv-v0"}).env, toy_config().model, 2, 2)
    workers_cfg = toy_config(env={"env_id": "rl_toy_env:NaNAfterTenSteps", "num_workers": 2})
    with pytest.raises(RuntimeError, match="env worker 0 failed: ValueError: non-finite obs"):
        run_training(workers_cfg, tmp_path, progress=False)


def test_episodes_run_across_checkpoints_unless_exact_resume(tmp_path: Path) -> None:
    # 20-step rollouts and a checkpoint every 2 iterations: 40 steps between checkpoints, fewer
    # than the toy env's 50-step episodes.
    def config(exact: bool):
        return toy_config(ppo={"num_steps": 20},
                          run={"total_steps": 480, "checkpoint_every": 2, "exact_resume": exact})

    whole = run_training(config(False), tmp_path / "a", progress=False)
    assert "episode_return" in whole["final"]  # episodes reached their time limit
    cut = run_training(config(True), tmp_path / "b", progress=False)
    assert "episode_return" not in cut["final"]  # every episode was cut at a checkpoint
