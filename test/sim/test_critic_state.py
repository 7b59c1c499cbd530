"""The asymmetric critic's state: appended after the observation, never changing what it holds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import crawler_rl.sim  # noqa: F401 - registers CrawlerVelocity-v0
from crawler_rl.rl.symmetry import Mirror, MirrorSpec
from crawler_rl.sim.critic_state import (
    CRITIC_DIM,
    CRITIC_FIELDS,
    PrivilegedCriticObservation,
    next_change_steps,
    privileged_mirror_spec,
)
from crawler_rl.sim.observation import OBS_DIM


def test_next_change_steps_points_at_the_next_different_command() -> None:
    commands = np.array([[0, 0], [0, 0], [0.1, 0], [0.1, 0], [0.1, 0.2], [0.1, 0.2]])
    assert next_change_steps(commands).tolist() == [2, 2, 4, 4, 6, 6]
    assert next_change_steps(np.zeros((3, 2))).tolist() == [3, 3, 3]


def _drive(env: gym.Env, steps: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=11)
    seen = [obs]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-0.3, 0.3, env.action_space.shape).astype(np.float32))
        seen.append(obs)
    return seen


def test_the_actor_part_is_the_plain_observation_and_the_rest_is_hidden_state() -> None:
    plain = gym.make("CrawlerVelocity-v0")
    wrapped = PrivilegedCriticObservation(gym.make("CrawlerVelocity-v0"))
    try:
        assert wrapped.observation_space.shape == (OBS_DIM + CRITIC_DIM,)
        plain_obs, wrapped_obs = _drive(plain, 60), _drive(wrapped, 60)
        for mine, theirs in zip(wrapped_obs, plain_obs, strict=True):
            assert np.array_equal(mine[:OBS_DIM], theirs)  # bit for bit: the actor sees no more
        sim = wrapped.unwrapped.sim
        state = dict(zip(CRITIC_FIELDS, wrapped_obs[-1][OBS_DIM:].tolist(), strict=True))
        assert state["true_v"] == pytest.approx(sim.true_twist()[0], rel=1e-6, abs=1e-7)
        assert state["tether_length"] == pytest.approx(sim.params.tether.length, rel=1e-6)
        mean_v, mean_omega = wrapped.unwrapped.error_mean
        assert (mean_v, mean_omega) != (0.0, 0.0)
        assert state["error_mean_v"] == pytest.approx(mean_v, rel=1e-5, abs=1e-8)
        assert state["error_mean_omega"] == pytest.approx(mean_omega, rel=1e-5, abs=1e-8)
        assert np.all(np.isfinite(wrapped_obs[-1]))
    finally:
        plain.close()
        wrapped.close()


def test_time_to_next_command_counts_down_to_the_change() -> None:
    env = PrivilegedCriticObservation(gym.make("CrawlerVelocity-v0"))
    try:
        obs, _ = env.reset(seed=5)
        commands = env.unwrapped.command_schedule
        change = int(next_change_steps(commands)[0])
        dt = env.unwrapped.control_dt
        index = CRITIC_FIELDS.index("time_to_next_cmd")
        for step in range(1, change + 1):
            expected = min((change - (step - 1)) * dt, 2.0)
            assert obs[OBS_DIM + index] == pytest.approx(expected, rel=1e-5)
            if step - 1 == change - 1:  # the last step before the change
                assert obs[OBS_DIM:OBS_DIM + 2] == pytest.approx(commands[change], abs=1e-6)
            obs, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
        assert obs[0:2] == pytest.approx(commands[change], abs=1e-6)  # now the command itself
    finally:
        env.close()


def test_the_mirror_flips_yaw_terms_swaps_the_wheels_and_is_an_involution() -> None:
    import torch

    mirror = Mirror(MirrorSpec.from_dict(privileged_mirror_spec()), OBS_DIM + CRITIC_DIM, 2)
    state = torch.arange(1.0, OBS_DIM + CRITIC_DIM + 1).unsqueeze(0)
    mirrored = dict(zip(CRITIC_FIELDS, mirror.obs(state)[0, OBS_DIM:].tolist(), strict=True))
    value = dict(zip(CRITIC_FIELDS, state[0, OBS_DIM:].tolist(), strict=True))
    for name in ("next_cmd_omega", "true_omega", "tether_force_y", "error_mean_omega"):
        assert mirrored[name] == -value[name]
    for left in ("wheel_speed_left", "motor_state_left", "motor_gain_left",
                 "wheel_radius_scale_left"):
        right = left.replace("left", "right")
        assert (mirrored[left], mirrored[right]) == (value[right], value[left])
    for name in ("true_v", "tether_force_x", "slope_deg", "time_to_next_cmd", "error_mean_v"):
        assert mirrored[name] == value[name]
    assert torch.equal(mirror.obs(mirror.obs(state)), state)


def test_the_command_schedule_is_read_only_and_follows_the_steps() -> None:
    env = gym.make("CrawlerVelocity-v0")
    try:
        env.reset(seed=5)
        schedule = env.unwrapped.command_schedule
        with pytest.raises(ValueError):
            schedule[0, 0] = 1.0
        for step in range(3):
            assert env.unwrapped.step_index == step
            np.testing.assert_array_equal(env.unwrapped.commanded_twist, schedule[step])
            env.step(np.zeros(env.action_space.shape, np.float32))
    finally:
        env.close()
