from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from rl_fixtures import random_checkpoint

from crawler_rl.rl.checkpoint import Checkpoint, save_checkpoint
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.export import OnnxController, deployable_module, export_checkpoint
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.sim.action import (
    ActionSpec,
    incremental_wheel_speeds,
    observation_pi_wheel_speeds,
    wheel_speeds_from_action,
)
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES, observation_metadata


@pytest.fixture(scope="module")
def crawler_export(tmp_path_factory) -> tuple[Checkpoint, Path]:
    folder = tmp_path_factory.mktemp("export")
    checkpoint = random_checkpoint(crawler=True)
    path = save_checkpoint(folder / "ckpt.pt", checkpoint)
    return checkpoint, export_checkpoint(path, folder / "controller.onnx")


def _obs(batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    obs = rng.normal(0.0, 2.0, size=(batch, OBS_DIM)).astype(np.float32)
    obs[:, 0] = rng.uniform(-0.4, 0.4, batch)  # commanded v [m/s]
    obs[:, 1] = rng.uniform(-1.5, 1.5, batch)  # commanded omega [rad/s]
    return obs


def test_model_is_valid_and_carries_metadata(crawler_export) -> None:
    checkpoint, path = crawler_export
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    props = {entry.key: entry.value for entry in model.metadata_props}
    for key, value in observation_metadata().items():
        assert props[key] == value
    spec = checkpoint.env_info["action_spec"]
    assert {key: float(props[key]) for key in spec} == spec
    assert props["env_id"] == "CrawlerVelocity-v0"
    assert props["control_dt"] == "0.05"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("obs", "wheel_speeds")
    assert isinstance(inp.shape[0], str) and inp.shape[1] == OBS_DIM


@pytest.mark.parametrize("batch", [1, 64])
def test_onnxruntime_matches_torch_and_the_sim_action_mapping(crawler_export, batch) -> None:
    checkpoint, path = crawler_export
    obs = _obs(batch, seed=batch)
    module, _ = deployable_module(checkpoint)
    with torch.no_grad():
        expected = module(torch.from_numpy(obs)).numpy()
    got = OnnxController(path)(obs)
    assert got.shape == (batch, 2)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    # The graph is exactly the simulator's residual-on-IK mapping of the policy's mean action.
    with torch.no_grad():
        action = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    spec = ActionSpec(**checkpoint.env_info["action_spec"])
    reference = wheel_speeds_from_action(obs[:, 0:2], action, spec)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    assert np.abs(got).max() <= spec.max_wheel_speed + 1e-6


def test_residual_on_pi_graph_is_the_sim_mapping(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(crawler=True)
    gains = [0.4, 3.0, 0.3, 6.0]
    checkpoint.env_info["residual_base_gains"] = gains
    path = export_checkpoint(save_checkpoint(tmp_path / "c.pt", checkpoint),
                             tmp_path / "controller.onnx")
    obs = _obs(256, seed=3)
    obs[:, 2:4] = obs[:, 0:2] + np.random.default_rng(4).normal(0, [0.05, 0.3], (256, 2))
    obs[:, 11:13] = np.clip(obs[:, 11:13] * 0.05, -1, 1)  # the integral's realistic range
    got = OnnxController(path)(obs)
    module, _ = deployable_module(checkpoint)
    with torch.no_grad():
        action = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    spec = ActionSpec(**checkpoint.env_info["action_spec"])
    base = observation_pi_wheel_speeds(obs, gains, spec)
    reference = wheel_speeds_from_action(obs[:, 0:2], action, spec, base)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    ik = wheel_speeds_from_action(obs[:, 0:2], np.zeros((256, 2)), spec)
    assert np.abs(got - ik).max() <= spec.residual_limit + 1e-4
    assert np.abs(base - ik).max() > 0.5  # the PI base really acts
    props = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert props["action_mapping"] == "residual_on_observation_pi"


def test_incremental_graph_is_the_sim_mapping(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(crawler=True)
    checkpoint.env_info["increment_limit"] = 0.7
    path = export_checkpoint(save_checkpoint(tmp_path / "c.pt", checkpoint),
                             tmp_path / "controller.onnx")
    obs = _obs(256, seed=5)
    obs[:, 0:2] *= 0.3  # IK mostly within the speed limit less the residual limit
    residual = OBS_NAMES.index("prev_residual_left")
    obs[:, residual:residual + 2] = np.random.default_rng(6).uniform(-5, 5, (256, 2))
    got = OnnxController(path)(obs)
    module, _ = deployable_module(checkpoint)
    with torch.no_grad():
        action = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    spec = ActionSpec(**checkpoint.env_info["action_spec"])
    reference = incremental_wheel_speeds(obs, action, 0.7, spec)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    ik = wheel_speeds_from_action(obs[:, 0:2], np.zeros((256, 2)), spec)
    assert np.abs(got - ik).max() <= spec.residual_limit + 1e-4  # limited around IK
    inside = np.abs(obs[:, residual:residual + 2]).max(axis=1) < spec.residual_limit - 1
    inside &= np.abs(ik).max(axis=1) < spec.max_wheel_speed - spec.residual_limit
    assert inside.sum() > 20  # and where no limit acts, the step is at most increment_limit
    step = got[inside] - ik[inside] - obs[inside, residual:residual + 2]
    assert np.abs(step).max() <= 0.7 + 1e-4 and np.abs(step).max() > 0.1
    props = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert props["action_mapping"] == "incremental_residual_on_inverse_kinematics"
    assert props["increment_limit"] == "0.7"


def test_wrong_shape_input_fails_clearly(crawler_export) -> None:
    _, path = crawler_export
    controller = OnnxController(path)
    with pytest.raises(ValueError, match=rf"shape \(batch, {OBS_DIM}\)"):
        controller(np.zeros((1, OBS_DIM - 1), dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        controller(np.full(OBS_DIM, np.nan, dtype=np.float32))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="obs"):
        session.run(None, {"obs": np.zeros((1, OBS_DIM - 1), dtype=np.float32)})


def test_a_checkpoint_of_an_older_layout_is_refused_with_a_retrain_hint(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(crawler=True)
    # A layout-3 checkpoint: 15 inputs, no model_obs_dim in its env_info.
    older = OBS_NAMES.index("prev_residual_left")
    checkpoint.env_info.pop("model_obs_dim")
    checkpoint.env_info["actor_obs_dim"] = None
    checkpoint.obs_dim = older
    config = TrainConfig.from_dict(checkpoint.config)
    checkpoint.model = ActorCritic(older, 2, config.model).state_dict()
    path = save_checkpoint(tmp_path / "old.pt", checkpoint)
    with pytest.raises(ValueError, match=rf"reads {older} observation entries.*builds {OBS_DIM}"
                       r".*retrain"):
        export_checkpoint(path, tmp_path / "controller.onnx")
    assert not (tmp_path / "controller.onnx").exists()


def test_generic_env_exports_scaled_action(tmp_path: Path) -> None:
    checkpoint = random_checkpoint(crawler=False)
    path = export_checkpoint(save_checkpoint(tmp_path / "c.pt", checkpoint), tmp_path / "p.onnx")
    controller = OnnxController(path)
    assert controller.output_name == "action"
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    module, _ = deployable_module(checkpoint)
    with torch.no_grad():
        mean = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(controller(obs), 2.0 * np.clip(mean, -1.0, 1.0), atol=1e-5)
