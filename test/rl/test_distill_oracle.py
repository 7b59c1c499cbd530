"""bench/distill_oracle.py: one DAgger round labels real oracle actions and exports a model."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml
from bench_loader import load_bench

from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.rl.checkpoint import latest_good_checkpoint, load_checkpoint
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.envs import make_env_factory, probe_env
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.sim.observation import OBS_DIM


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("distill_oracle")


def test_labels_are_the_oracles_residuals(bench) -> None:
    observations, labels = bench.label_episodes(bench.Job(0, 0, 1, None, 0.0))
    assert observations.shape == (400, observations.shape[1]) and labels.shape == (400, 4)
    assert np.isfinite(labels).all() and np.abs(labels).max() <= 1.0
    assert labels.std(axis=0).min() > 0.01  # the oracle corrects IK, it does not return it


def test_labels_on_the_incremental_base_reproduce_the_oracles_wheel_speeds(bench) -> None:
    from crawler_rl.sim.action import ActionSpec, incremental_wheel_speeds

    env = make_env_factory(load_train_config(None).env)()
    try:
        obs, _ = env.reset(seed=1)
        spec = env.unwrapped.sim.action_spec
        assert env.unwrapped.increment_limit == 1.0 and isinstance(spec, ActionSpec)
        wheels = incremental_wheel_speeds(obs, np.array([0.3, -0.6]), 1.0, spec)
        label = bench.label_for(env.unwrapped, obs, wheels)
        np.testing.assert_allclose(label, [0.3, -0.6, 0.0, 0.0], atol=1e-5)
        # beyond the increment's reach the rest is a set-anew correction (direct_limit 4)
        far = incremental_wheel_speeds(obs, np.array([1.0, -1.0]), 1.0, spec) + (2.0, -1.0)
        label = bench.label_for(env.unwrapped, obs, far)
        np.testing.assert_allclose(label, [1.0, -1.0, 0.5, -0.25], atol=1e-5)
    finally:
        env.close()


def ik_base_config(folder: Path) -> Path:
    """train.yaml on the IK residual base (the base of the distillation figures in the docs)."""
    data = load_train_config(None).to_dict()
    data["env"]["crawler_overrides"] = {**data["env"]["crawler_overrides"],
                                        "motor.residual_base": "ik"}
    path = folder / "train_ik.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_one_round_fits_the_labels_and_exports_a_controller(bench, tmp_path: Path) -> None:
    summary = bench.distill(tmp_path / "run", seed=0, rounds=1, episodes=3, workers=1,
                            noise=0.05, epochs=400, critic_episodes=1,
                            config=ik_base_config(tmp_path))
    assert summary["fit_mse"] < 0.5 * summary["label_variance"], summary
    assert np.isfinite(summary["critic_explained"]), summary  # the critic stage ran
    checkpoint = load_checkpoint(latest_good_checkpoint(tmp_path / "run"))
    assert checkpoint.env_info["increment_limit"] is None  # the IK base, as configured
    # PPO resumes at the step count the labels took, in the whole iterations those steps make
    cfg = load_train_config(None)
    batch = cfg.ppo.num_steps * cfg.env.num_envs
    assert checkpoint.global_step == 3 * 400 > 2 * batch
    assert checkpoint.iteration == checkpoint.global_step // batch == 2
    policy = OnnxPolicy(summary["onnx"])  # the robot's runner accepts it
    wheels = policy.wheel_speeds(np.zeros(OBS_DIM, np.float32))
    assert np.isfinite(wheels).all()


def test_the_same_seed_distils_the_same_model(bench, tmp_path: Path) -> None:
    first, second = (bench.distill(tmp_path / name, seed=3, rounds=2, episodes=1, workers=1,
                                   noise=0.05, epochs=2, critic_episodes=0)
                     for name in ("a", "b"))
    assert first["fit_mse"] == second["fit_mse"]
    assert first["label_variance"] == second["label_variance"]  # round 1: the student drove


def test_returns_are_discounted_and_a_time_limit_cut_keeps_only_determined_ones(bench) -> None:
    rewards = [1.0, 2.0, 4.0]
    np.testing.assert_allclose(bench.discounted_returns(rewards, 0.5, True, tail=2),
                               [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4])
    np.testing.assert_allclose(bench.discounted_returns(rewards, 0.5, False, tail=2), [3.0])
    assert bench.discounted_returns(rewards, 0.5, False, tail=5).size == 0


def test_bad_arguments_are_refused(bench, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rounds"):
        bench.distill(tmp_path, seed=0, rounds=0, episodes=1, workers=1, noise=0.0, epochs=1)


def test_the_critic_fit_learns_a_value_the_observation_determines(bench) -> None:
    cfg = load_train_config(None)
    info, obs_dim, action_dim = probe_env(cfg.env)
    policy = ActorCritic.for_env(info, obs_dim, action_dim, cfg.model)
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(2048, obs_dim)).astype(np.float32)
    returns = (3.0 * observations[:, 2] - observations[:, 5]).astype(np.float32)
    assert bench.fit_critic(policy, None, observations, returns, epochs=100, seed=0) > 0.9
