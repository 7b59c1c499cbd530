"""`motor.residual_base: incremental` (the default): action 0 holds the previous residual on IK,
the action moves it by at most `increment_limit` per step, and the observation carries it."""

from __future__ import annotations

import numpy as np
import pytest

from crawler_rl.rl.config import EnvConfig
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.sim.action import (
    ActionSpec,
    incremental_action_for_wheel_speeds,
    incremental_wheel_speeds,
    inverse_kinematics,
)
from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.observation import ACTOR_OBS_DIM, OBS_DIM, OBS_NAMES, ObservationBuilder

RESIDUAL = OBS_NAMES.index("prev_residual_left")
WHEEL_CMD = OBS_NAMES.index("prev_wheel_cmd_left")


def test_default_env_is_incremental_and_its_residual_integrates() -> None:
    env = make_env_factory(EnvConfig())()
    try:
        base = env.unwrapped
        assert base.increment_limit == 1.0  # config/crawler.yaml
        assert describe_env(env, "CrawlerVelocity-v0")["increment_limit"] == 1.0
        obs, _ = env.reset(seed=2)
        spec = base.sim.action_spec
        np.testing.assert_array_equal(obs[RESIDUAL:RESIDUAL + 2], 0.0)
        schedule = base.command_schedule
        change = int(np.flatnonzero(np.any(schedule[1:] != schedule[:-1], axis=1))[0]) + 1
        pushes = [np.array([0.5, -0.25])] * 4 + [np.zeros(2)] * (change + 5 - 4)
        no_kick = np.zeros(2)  # the set-anew corrections (motor.direct_limit), off here
        expected = np.zeros(2)
        for step, push in enumerate(pushes):
            command = base.commanded_twist
            obs, *_ = env.step(np.concatenate([push, no_kick]).astype(np.float32))
            expected = np.clip(expected + push, -spec.residual_limit, spec.residual_limit)
            residual = obs[WHEEL_CMD:WHEEL_CMD + 2] - inverse_kinematics(command, spec)
            np.testing.assert_allclose(residual, expected, atol=1e-5, err_msg=f"step {step}")
            np.testing.assert_allclose(obs[RESIDUAL:RESIDUAL + 2], residual, atol=1e-5)
        # action 0 held the residual (2, -1) rad/s across the command change at step `change`,
        # while the wheel commands followed the new command's IK at once
        assert change < len(pushes) - 1
        np.testing.assert_allclose(obs[RESIDUAL:RESIDUAL + 2], [2.0, -1.0], atol=1e-5)
    finally:
        env.close()


def test_the_actor_does_not_read_the_residual_and_the_model_input_is_the_whole_observation(
) -> None:
    import torch

    from crawler_rl.rl.config import ModelConfig
    from crawler_rl.rl.policy import ActorCritic

    env = make_env_factory(EnvConfig())()
    try:
        info = describe_env(env, "CrawlerVelocity-v0")
    finally:
        env.close()
    assert (info["actor_obs_dim"], info["model_obs_dim"]) == (ACTOR_OBS_DIM, OBS_DIM)
    assert ACTOR_OBS_DIM == RESIDUAL == OBS_DIM - 2
    policy = ActorCritic.for_env(info, OBS_DIM, 2, ModelConfig())
    obs = torch.randn(8, OBS_DIM)
    moved = obs.clone()
    moved[:, RESIDUAL:] += 3.0
    with torch.no_grad():
        assert torch.equal(policy.action_mean(obs), policy.action_mean(moved))
        assert not torch.equal(policy.value(obs), policy.value(moved))  # the critic reads it


def test_residual_is_limited_around_ik_and_does_not_wind_up() -> None:
    spec = ActionSpec()
    obs = np.zeros(OBS_DIM)
    obs[0:2] = (0.1, 0.0)
    obs[RESIDUAL:RESIDUAL + 2] = (spec.residual_limit, -spec.residual_limit)
    wheels = incremental_wheel_speeds(obs, np.array([1.0, -1.0]), 1.0, spec)
    ik = inverse_kinematics(obs[0:2], spec)
    np.testing.assert_allclose(wheels - ik, [spec.residual_limit, -spec.residual_limit])
    back = incremental_wheel_speeds(obs, np.array([-1.0, 1.0]), 1.0, spec)
    np.testing.assert_allclose(back - ik, [spec.residual_limit - 1, 1 - spec.residual_limit])
    with pytest.raises(ValueError, match="non-finite action"):
        incremental_wheel_speeds(obs, np.array([np.nan, 0.0]), 1.0, spec)


def test_inverse_mapping_reproduces_reachable_wheel_speeds_and_clips_the_rest() -> None:
    spec = ActionSpec()
    rng = np.random.default_rng(0)
    obs = np.zeros((64, OBS_DIM))
    obs[:, 0] = rng.uniform(-0.15, 0.15, 64)
    obs[:, 1] = rng.uniform(-0.8, 0.8, 64)
    obs[:, RESIDUAL:RESIDUAL + 2] = rng.uniform(-3, 3, (64, 2))
    action = rng.uniform(-1, 1, (64, 2))
    wheels = incremental_wheel_speeds(obs, action, 0.5, spec)
    np.testing.assert_allclose(incremental_action_for_wheel_speeds(obs, wheels, 0.5, spec),
                               action, atol=1e-9)
    far = wheels + 10.0
    np.testing.assert_array_equal(incremental_action_for_wheel_speeds(obs, far, 0.5, spec), 1.0)


def test_observation_builder_records_the_residual_on_the_commands_ik() -> None:
    spec = ActionSpec()
    builder = ObservationBuilder(0.05, spec)
    inputs = dict(measured_twist=(0.0, 0.0), gravity_body=(0.0, 0.0, -1.0),
                  wheel_speeds=(0.0, 0.0), tether_tension=0.0, tether_tension_valid=1)
    builder.build(commanded_twist=(0.1, 0.2), **inputs)
    ik = inverse_kinematics(np.array([0.1, 0.2]), spec)
    builder.record_wheel_command(ik + (0.3, -0.4))
    # the next command differs: the residual stays relative to the command it answered
    obs = builder.build(commanded_twist=(-0.05, 0.0), **inputs)
    np.testing.assert_allclose(obs[RESIDUAL:RESIDUAL + 2], [0.3, -0.4], atol=1e-6)
    builder.reset()
    obs = builder.build(commanded_twist=(-0.05, 0.0), **inputs)
    np.testing.assert_array_equal(obs[RESIDUAL:RESIDUAL + 2], 0.0)


def test_bad_increment_limit_is_a_clear_error() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="increment_limit"):
            load_crawler_config(overrides={"motor.increment_limit": bad})


def test_the_mirror_image_swaps_the_residuals_as_it_swaps_the_wheels() -> None:
    from crawler_rl.sim.observation import mirror_spec

    spec = mirror_spec()
    left, right = RESIDUAL, RESIDUAL + 1
    assert (spec["obs_perm"][left], spec["obs_perm"][right]) == (right, left)
    assert spec["obs_sign"][left] == spec["obs_sign"][right] == 1.0
    # a state and its mirror: the mirrored residual is the residual of the mirrored command
    obs = np.zeros(OBS_DIM)
    obs[0:2] = (0.1, 0.4)
    obs[RESIDUAL:RESIDUAL + 2] = (0.7, -0.2)
    mirrored = np.asarray(spec["obs_sign"]) * obs[spec["obs_perm"]]
    ik_spec = ActionSpec()
    wheels = incremental_wheel_speeds(obs, np.array([0.3, -0.1]), 1.0, ik_spec)
    mirrored_wheels = incremental_wheel_speeds(mirrored, np.array([-0.1, 0.3]), 1.0, ik_spec)
    np.testing.assert_allclose(mirrored_wheels, wheels[::-1], atol=1e-12)


def test_the_single_observation_path_is_the_array_path_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    spec = ActionSpec(wheel_radius=0.03, track_width=0.15, max_wheel_speed=10.0,
                      residual_limit=4.0)
    for _ in range(500):
        obs = rng.normal(0.0, 3.0, OBS_DIM).astype(np.float32)
        obs[0], obs[1] = rng.uniform(-0.5, 0.5), rng.uniform(-2.0, 2.0)  # some at the limit
        action = rng.normal(0.0, 1.0, 2).astype(np.float32)  # some beyond +-1
        single = incremental_wheel_speeds(obs, action, 0.7, spec)
        batch = incremental_wheel_speeds(obs[None], action[None], 0.7, spec)[0]
        assert single.shape == (2,) and np.array_equal(single, batch)
