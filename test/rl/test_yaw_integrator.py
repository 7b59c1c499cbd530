"""`motor.yaw_gain_limit`: the residual's yaw mode as an integrator whose gain the policy picks.

a[0] moves both wheels' residual alike (the v mode); a[1] picks the gain with which the yaw
mode integrates the measured yaw-rate error (`yaw_gated_action`), so the yaw mode settles only
at zero measured error. The same in the simulator, in the exported graph and on the robot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import crawler_observations, exported_crawler_model

from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.rl.config import EnvConfig
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.rl.export import OnnxController, deployable_module
from crawler_rl.sim.action import (
    ActionSpec,
    incremental_direct_wheel_speeds,
    inverse_kinematics,
    yaw_gated_action,
)
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES

RESIDUAL = OBS_NAMES.index("prev_residual_left")
MEAS_OMEGA = OBS_NAMES.index("meas_omega")


def test_no_yaw_error_no_yaw_step_whatever_the_gain() -> None:
    spec = ActionSpec()
    obs = np.zeros(OBS_DIM)
    obs[1] = obs[MEAS_OMEGA] = 0.4
    for gain in (-1.0, 0.0, 1.0):
        np.testing.assert_array_equal(
            yaw_gated_action(obs, np.array([0.3, gain, 0.5, -0.5]), 1.0, 1.0, spec),
            [0.3, 0.3, 0.5, -0.5])


def test_the_yaw_step_is_the_gain_times_the_error_in_wheel_speed() -> None:
    spec = ActionSpec()
    obs = np.zeros(OBS_DIM)
    obs[1], obs[MEAS_OMEGA] = 0.5, 0.4  # turning 0.1 rad/s too slowly
    left, right = yaw_gated_action(obs, np.array([0.0, 0.0]), 1.2, 1.0, spec)
    # a[1] = 0: half the limit; IK of 0.6 x 0.1 rad/s of yaw rate
    expected = 0.6 * 0.1 * 0.5 * spec.track_width / spec.wheel_radius
    assert (left, right) == pytest.approx((-expected, expected), rel=1e-12)
    assert yaw_gated_action(obs, np.array([0.0, -1.0]), 1.2, 1.0, spec).tolist() == [0.0, 0.0]
    obs[MEAS_OMEGA] = 10.0  # a huge error: the step stays within the increment limit
    assert yaw_gated_action(obs, np.array([0.5, 1.0]), 1.2, 1.0, spec).tolist() == [1.0, -1.0]


def test_the_single_observation_path_is_the_array_path_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    spec = ActionSpec(wheel_radius=0.03, track_width=0.15, max_wheel_speed=10.0,
                      residual_limit=4.0)
    for _ in range(300):
        obs = rng.normal(0.0, 1.0, OBS_DIM).astype(np.float32)
        action = rng.uniform(-1.3, 1.3, 4).astype(np.float32)
        single = yaw_gated_action(obs, action, 0.9, 0.8, spec)
        batch = yaw_gated_action(obs[None], action[None], 0.9, 0.8, spec)
        np.testing.assert_array_equal(single, batch[0])


def test_the_env_integrates_the_yaw_error_and_keeps_the_gain_under_the_mirror() -> None:
    env = make_env_factory(EnvConfig(crawler_overrides={"motor.yaw_gain_limit": 1.0}))()
    try:
        info = describe_env(env, "CrawlerVelocity-v0")
        assert info["yaw_gain_limit"] == 1.0 and info["yaw_residual_probe"] is None
        assert info["mirror"]["action_perm"] == [0, 1, 3, 2]
        obs, _ = env.reset(seed=3)
        spec = env.unwrapped.sim.action_spec
        moved = 0.0
        for _ in range(40):  # a[0] = 0 holds the v mode: the yaw mode alone moves
            step = yaw_gated_action(obs, np.zeros(4), 1.0, 1.0, spec)[:2]
            before = obs[RESIDUAL:RESIDUAL + 2].astype(np.float64)
            obs, *_ = env.step(np.zeros(4, np.float32))
            after = obs[RESIDUAL:RESIDUAL + 2]
            np.testing.assert_allclose(after, before + step, atol=1e-5)  # within the band
            assert after[0] == pytest.approx(-after[1], abs=1e-5)
            moved += abs(step[1])
        assert moved > 0.05  # the measured yaw error moved it
    finally:
        env.close()


@pytest.fixture(scope="module")
def yaw_model(tmp_path_factory) -> tuple[object, Path]:
    return exported_crawler_model(tmp_path_factory.mktemp("yaw"), increment_limit=1.0,
                                  direct_limit=3.0, yaw_gain_limit=1.0)


def test_the_graph_integrates_as_the_simulator_does(yaw_model) -> None:
    checkpoint, path = yaw_model
    rng = np.random.default_rng(2)
    obs = crawler_observations(rng)
    obs[:, MEAS_OMEGA] = obs[:, 1] + rng.normal(0.0, 0.2, 256)
    module, names = deployable_module(checkpoint)
    with torch.no_grad():
        action = module.policy.act_deterministic(torch.from_numpy(obs)).numpy()
    spec = ActionSpec(**checkpoint.env_info["action_spec"])
    mapped = yaw_gated_action(obs, np.clip(action, -1.0, 1.0), 1.0, 1.0, spec)
    carried, sent = incremental_direct_wheel_speeds(obs, mapped, 1.0, 3.0, spec)
    got_sent, got_carried = OnnxController(path).session.run(names, {"obs": obs})
    np.testing.assert_allclose(got_sent, sent, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got_carried, carried, atol=1e-4, rtol=0)
    plain, _ = incremental_direct_wheel_speeds(obs, action, 1.0, 3.0, spec)
    assert np.abs(got_carried - plain).max() > 0.1  # the gating really acts
    policy = OnnxPolicy(path)
    assert policy.metadata["yaw_gain_limit"] == "1.0"
    assert "yaw_integrator" in policy.metadata["action_mapping"]
    ik = inverse_kinematics(obs[:, 0:2].astype(np.float64), spec)
    assert np.abs(got_sent - ik).max() <= spec.residual_limit + 1e-4
