"""`motor.direct_limit`: set-anew corrections on top of the incremental base.

Two more actions add direct_limit * a[2:] to the wheel command for one step only: the residual
the next observation carries is the incremental part's (`incremental_direct_wheel_speeds`), in
the simulator, in the exported graph (its second output), on the robot's controller and in
evaluation alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import crawler_observations, exported_crawler_model

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.onnx_runner import OnnxPolicy, RobotState, VelocityController
from crawler_rl.rl.config import EnvConfig
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.rl.export import OnnxController, deployable_module
from crawler_rl.sim.action import (
    ActionSpec,
    incremental_direct_wheel_speeds,
    incremental_wheel_speeds,
    inverse_kinematics,
)
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES

RESIDUAL = OBS_NAMES.index("prev_residual_left")
WHEEL_CMD = OBS_NAMES.index("prev_wheel_cmd_left")


def _direct_env(limit: float = 2.0):
    return make_env_factory(EnvConfig(crawler_overrides={"motor.direct_limit": limit}))()


def test_the_direct_part_is_sent_once_and_not_carried() -> None:
    env = _direct_env(2.0)
    try:
        base = env.unwrapped
        info = describe_env(env, "CrawlerVelocity-v0")
        assert env.action_space.shape == (4,) and info["direct_limit"] == 2.0
        assert info["mirror"]["action_perm"] == [1, 0, 3, 2]
        # the probe weighs the direct actions by their wheel speed per unit of action
        assert info["yaw_residual_probe"]["action_weights"][2:] == [
            2.0 * w for w in info["yaw_residual_probe"]["action_weights"][:2]]
        env.reset(seed=4)
        spec = base.sim.action_spec
        command = base.commanded_twist
        obs, *_ = env.step(np.array([0.5, -0.25, 1.0, -0.5], np.float32))
        ik = inverse_kinematics(command, spec)
        np.testing.assert_allclose(obs[WHEEL_CMD:WHEEL_CMD + 2] - ik, [2.5, -1.25], atol=1e-5)
        np.testing.assert_allclose(obs[RESIDUAL:RESIDUAL + 2], [0.5, -0.25], atol=1e-5)
        command = base.commanded_twist
        obs, *_ = env.step(np.zeros(4, np.float32))  # action 0 holds the carried part only
        ik = inverse_kinematics(command, spec)
        np.testing.assert_allclose(obs[WHEEL_CMD:WHEEL_CMD + 2] - ik, [0.5, -0.25], atol=1e-5)
    finally:
        env.close()
    default = make_env_factory(EnvConfig())()
    try:  # config/crawler.yaml
        assert default.action_space.shape == (4,)
        assert describe_env(default, "CrawlerVelocity-v0")["direct_limit"] == 4.0
    finally:
        default.close()
    none = _direct_env(0.0)
    try:
        assert none.action_space.shape == (2,)
        info = describe_env(none, "CrawlerVelocity-v0")
        assert info["direct_limit"] is None and info["mirror"]["action_perm"] == [1, 0]
    finally:
        none.close()


def test_the_mapping_limits_the_sum_around_ik_and_refuses_nan() -> None:
    spec = ActionSpec()
    rng = np.random.default_rng(1)
    obs = np.zeros((128, OBS_DIM))
    obs[:, 0], obs[:, 1] = rng.uniform(-0.15, 0.15, 128), rng.uniform(-0.8, 0.8, 128)
    obs[:, RESIDUAL:RESIDUAL + 2] = rng.uniform(-6, 6, (128, 2))
    action = rng.uniform(-1.5, 1.5, (128, 4))
    carried, sent = incremental_direct_wheel_speeds(obs, action, 1.0, 3.0, spec)
    np.testing.assert_array_equal(carried, incremental_wheel_speeds(obs, action[:, :2], 1.0, spec))
    ik = inverse_kinematics(obs[:, 0:2], spec)
    assert np.abs(sent - ik).max() <= spec.residual_limit + 1e-12
    free = np.abs(carried - ik).max(axis=1) < spec.residual_limit - 3.0
    np.testing.assert_allclose((sent - carried)[free], 3.0 * np.clip(action[free, 2:], -1, 1))
    with pytest.raises(ValueError, match="non-finite action"):
        incremental_direct_wheel_speeds(obs[0], np.array([0, 0, np.nan, 0]), 1.0, 3.0, spec)


@pytest.fixture(scope="module")
def direct_model(tmp_path_factory) -> tuple[object, Path]:
    return exported_crawler_model(tmp_path_factory.mktemp("direct"), increment_limit=1.0,
                                  direct_limit=3.0)


def test_the_graph_outputs_the_sent_and_the_carried_command(direct_model) -> None:
    checkpoint, path = direct_model
    obs = crawler_observations(np.random.default_rng(2))
    module, names = deployable_module(checkpoint)
    assert names == ["wheel_speeds", "carried_wheel_speeds"]
    with torch.no_grad():
        action = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    spec = ActionSpec(**checkpoint.env_info["action_spec"])
    carried, sent = incremental_direct_wheel_speeds(obs, action, 1.0, 3.0, spec)
    session = OnnxController(path).session
    got_sent, got_carried = session.run(names, {"obs": obs})
    np.testing.assert_allclose(got_sent, sent, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got_carried, carried, atol=1e-4, rtol=0)
    assert np.abs(got_sent - got_carried).max() > 0.5  # the direct part really acts
    policy = OnnxPolicy(path)
    assert policy.carries and policy.metadata["direct_limit"] == "3.0"
    np.testing.assert_allclose(policy(obs[0]), sent[0], atol=1e-4)
    np.testing.assert_allclose(policy.carried, carried[0], atol=1e-4)
    policy.reset()
    assert policy.carried is None


def test_the_robot_controller_carries_the_graphs_carried_residual(direct_model) -> None:
    _, path = direct_model
    policy = OnnxPolicy(path)
    controller = VelocityController(policy, policy.action_spec, 0.05, max_wheel_acceleration=1e6)
    state = RobotState(measured_twist=np.array([0.05, 0.1]), gravity_body=np.array([0, 0, -1.0]),
                       wheel_speeds=np.array([1.0, 2.0]), tether_tension=3.0,
                       tether_tension_valid=True)
    command = np.array([0.1, 0.2])
    output = controller.step(command, state)
    ik = inverse_kinematics(command, policy.action_spec)
    np.testing.assert_allclose(controller.observation.prev_residual, policy.carried - ik,
                               atol=1e-6)
    assert np.abs(output.wheel_speeds - policy.carried).max() > 1e-3


def test_evaluation_carries_the_graphs_carried_residual(direct_model) -> None:
    _, path = direct_model
    policy = OnnxPolicy(path)
    env = driving_env()
    try:
        seen: list[tuple[np.ndarray, np.ndarray | None]] = []

        class Recording:
            carried: np.ndarray | None = None

            def reset(self) -> None:
                policy.reset()

            def __call__(self, obs: np.ndarray) -> np.ndarray:
                previous = None if policy.carried is None else policy.carried.copy()
                seen.append((np.asarray(obs).copy(), previous))
                wheels = policy(obs)
                self.carried = policy.carried
                return wheels

        recording = Recording()
        run_episode(env, recording, seed=3)
        spec = env.unwrapped.sim.action_spec
        for obs, (next_obs, carried) in zip([o for o, _ in seen[:-1]], seen[1:], strict=True):
            np.testing.assert_allclose(next_obs[RESIDUAL:RESIDUAL + 2],
                                       carried - inverse_kinematics(obs[0:2], spec), atol=1e-5)
        # and OnnxPolicy itself is what evaluation runs: it exposes `carried`
        trace = run_episode(env, policy, seed=3)
        assert len(trace["v"]) == len(seen)
    finally:
        env.close()


def test_the_single_observation_path_is_the_array_path_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    spec = ActionSpec(wheel_radius=0.03, track_width=0.15, max_wheel_speed=10.0,
                      residual_limit=4.0)
    for _ in range(300):
        obs = rng.normal(0.0, 3.0, OBS_DIM).astype(np.float32)
        obs[0], obs[1] = rng.uniform(-0.5, 0.5), rng.uniform(-2.0, 2.0)  # some at the limit
        action = rng.uniform(-1.3, 1.3, 4).astype(np.float32)
        carried, sent = incremental_direct_wheel_speeds(obs, action, 0.8, 2.5, spec)
        batch_carried, batch_sent = incremental_direct_wheel_speeds(
            obs[None], action[None], 0.8, 2.5, spec)
        np.testing.assert_array_equal(carried, batch_carried[0])
        np.testing.assert_array_equal(sent, batch_sent[0])


def test_a_wrong_number_of_actions_is_a_clear_error() -> None:
    spec = ActionSpec()
    obs = np.zeros(OBS_DIM)
    with pytest.raises(ValueError, match="expected 4 actions"):
        incremental_direct_wheel_speeds(obs, np.zeros(2), 1.0, 3.0, spec)
    with pytest.raises(ValueError, match="expected 2 actions"):
        incremental_wheel_speeds(obs, np.zeros(4), 1.0, spec)
