from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.checkpoint import latest_good_checkpoint, list_checkpoints, load_checkpoint
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.export import OnnxController, policy_from_checkpoint
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.trainer import make_env_factory, run_training


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


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    full_cfg = toy_config(run={"total_steps": 1600, "checkpoint_every": 2, "exact_resume": True})
    half_cfg = toy_config(run={"total_steps": 800, "checkpoint_every": 2, "exact_resume": True})
    uninterrupted = run_training(full_cfg, tmp_path / "a", progress=False)
    run_training(half_cfg, tmp_path / "b", progress=False)
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


def test_worker_processes_give_the_same_run_as_in_process(tmp_path: Path) -> None:
    single = run_training(toy_config(run={"total_steps": 800}), tmp_path / "a", progress=False)
    workers = run_training(toy_config(env={"num_workers": 2}, run={"total_steps": 800}),
                           tmp_path / "b", progress=False)
    a = load_checkpoint(Path(single["checkpoint"]))
    b = load_checkpoint(Path(workers["checkpoint"]))
    for key, tensor in a.model.items():
        assert torch.equal(tensor, b.model[key]), key
    assert single["final"]["tracking_error_v"] == workers["final"]["tracking_error_v"]


def test_worker_failure_is_reported(tmp_path: Path) -> None:
    from crawler_rl.rl.subproc_env import SubprocVecEnv

    with pytest.raises(RuntimeError, match="NoSuchEnv"):
        SubprocVecEnv(toy_config(env={"env_id": "NoSuchEnv-v0"}).env, 2, 2)


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
