"""`env.privileged_critic`: the critic reads simulator state, the actor and the export do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.config import ModelConfig, TrainConfig, load_train_config
from crawler_rl.rl.envs import probe_env
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.sim.critic_state import CRITIC_DIM, privileged_mirror_spec
from crawler_rl.sim.observation import ACTOR_OBS_DIM, OBS_DIM


def test_the_env_description_names_the_actor_part_and_the_extended_mirror() -> None:
    cfg = load_train_config(None, {"env.privileged_critic": True})
    info, obs_dim, action_dim = probe_env(cfg.env)
    assert (obs_dim, action_dim, info["actor_obs_dim"], info["model_obs_dim"]) == (
        OBS_DIM + CRITIC_DIM, 4, ACTOR_OBS_DIM, OBS_DIM)
    assert info["mirror"] == privileged_mirror_spec(action_dim)
    plain, plain_dim, _ = probe_env(load_train_config(None).env)
    # the actor never reads the action base's state (the previous residual), the critic does
    assert (plain["actor_obs_dim"], plain["model_obs_dim"], plain_dim) == (
        ACTOR_OBS_DIM, OBS_DIM, OBS_DIM)


def test_the_actor_ignores_the_critic_state_and_the_critic_reads_it() -> None:
    torch.manual_seed(0)
    policy = ActorCritic(OBS_DIM + CRITIC_DIM, 2, ModelConfig(), actor_obs_dim=OBS_DIM)
    policy.obs_normalizer.update(torch.randn(256, OBS_DIM + CRITIC_DIM) * 2.0)
    torch.nn.init.normal_(policy.actor_head.weight, std=0.5)
    obs = torch.randn(8, OBS_DIM + CRITIC_DIM)
    other = obs.clone()
    other[:, OBS_DIM:] = torch.randn(8, CRITIC_DIM) * 5.0
    assert torch.equal(policy.action_mean(obs), policy.action_mean(other))
    assert torch.equal(policy.action_mean(obs), policy.action_mean(obs[:, :OBS_DIM]))
    assert not torch.allclose(policy.value(obs), policy.value(other))


def test_bad_combinations_are_refused() -> None:
    with pytest.raises(ValueError, match="env.privileged_critic"):
        TrainConfig.from_dict({"env": {"env_id": "Pendulum-v1", "privileged_critic": True}})
    with pytest.raises(ValueError, match="shared_trunk"):
        ActorCritic(20, 2, ModelConfig(shared_trunk=True), actor_obs_dim=14)
    with pytest.raises(ValueError, match="actor_obs_dim"):
        ActorCritic(20, 2, ModelConfig(), actor_obs_dim=21)


def test_a_privileged_run_trains_and_exports_an_actor_only_model(tmp_path: Path) -> None:
    from crawler_rl.rl.trainer import run_training

    cfg = toy_config(env={"env_id": "CrawlerVelocity-v0", "num_envs": 2, "num_workers": 1,
                          "privileged_critic": True},
                     ppo={"num_steps": 16, "num_epochs": 1, "num_minibatches": 1},
                     run={"total_steps": 64, "export_onnx": True})
    summary = run_training(cfg, tmp_path / "run", progress=False)
    session = ort.InferenceSession(str(summary["onnx"]), providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    assert model_input.shape[1] == OBS_DIM  # the robot feeds the controller's observation only
    props = dict(session.get_modelmeta().custom_metadata_map)
    assert props["obs_dim"] == str(OBS_DIM)
    wheels = session.run(None, {"obs": np.zeros((1, OBS_DIM), np.float32)})[0]
    assert wheels.shape == (1, 2) and np.all(np.isfinite(wheels))
