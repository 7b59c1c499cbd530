import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import crawler_rl.sim  # noqa: F401 - registers CrawlerVelocity-v0
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.observation import OBS_DIM
from crawler_rl.sim.scenario import Scenario


def test_check_env_passes(config):
    env = CrawlerEnv(config, render_mode="rgb_array")
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


def test_registered_id_makes_the_env():
    env = gym.make("CrawlerVelocity-v0")
    try:
        obs, _ = env.reset(seed=3)
        assert obs.shape == (OBS_DIM,)
        assert env.action_space.shape == (4,)  # incremental (2) and set-anew (2) corrections
    finally:
        env.close()


def _rollout(config, seed, steps=40):
    env = CrawlerEnv(config)
    try:
        obs, _ = env.reset(seed=seed)
        trace = [obs]
        actions = np.random.default_rng(seed).uniform(-1, 1, size=(steps, *env.action_space.shape))
        for action in actions:
            obs, reward, _, _, info = env.step(action.astype(np.float32))
            trace.append(np.append(obs, [reward, info["tether_tension"]]))
        return np.concatenate(trace)
    finally:
        env.close()


def test_same_seed_same_trajectory_other_seed_differs(config):
    first = _rollout(config, seed=11)
    assert np.array_equal(first, _rollout(config, seed=11))
    assert not np.array_equal(first, _rollout(config, seed=12))


@contextmanager
def env_with_reward(config, **reward) -> Iterator[CrawlerEnv]:
    """A CrawlerEnv on `config` with the given reward terms replaced; closed afterwards."""
    env = CrawlerEnv(dataclasses.replace(config, reward=dataclasses.replace(config.reward,
                                                                            **reward)))
    try:
        yield env
    finally:
        env.close()


def test_info_has_reward_terms_and_metrics(config):
    with env_with_reward(config, energy_scale=0.001) as env:
        env.reset(seed=0, options={"scenario": Scenario(surface="vertical", slope_deg=90.0)})
        _, reward, _, _, info = env.step(np.zeros(4, dtype=np.float32))
        for key in ("tracking_error_v", "tracking_error_omega", "tether_tension", "slip"):
            assert isinstance(info[key], float) and np.isfinite(info[key])
        terms = {k: v for k, v in info.items() if k.startswith("rew_")}
        expected = {"rew_tracking_v", "rew_tracking_omega", "rew_action_rate", "rew_energy"}
        assert expected <= set(terms)
        assert reward == pytest.approx(sum(terms.values()))
        assert info["rew_energy"] < 0.0  # holding on a vertical wall costs power


def test_the_correction_penalty_charges_only_the_one_step_corrections(config):
    with env_with_reward(config, direct_scale=0.2) as env:
        env.reset(seed=0)
        _, _, _, _, info = env.step(np.array([0.5, -0.5, 0.5, 2.0], dtype=np.float32))
        assert info["rew_direct"] == pytest.approx(-0.2 * (0.25 + 1.0))  # clipped to 1
        _, _, _, _, info = env.step(np.array([0.5, -0.5, 0.0, 0.0], dtype=np.float32))
        assert info["rew_direct"] == 0.0  # increments alone cost nothing here


def test_the_slip_penalty_charges_slip_beyond_two_centimetres_per_second(config):
    with env_with_reward(config, slip_scale=2.0) as env:
        env.reset(seed=0, options={"scenario": Scenario(
            surface="vertical", slope_deg=90.0, tether_length=30.0, randomize=False)})
        slips = []
        for _ in range(30):  # full speed down the wall: the wheels slip (0.026 m/s)
            _, _, _, _, info = env.step(np.full(4, -1.0, dtype=np.float32))
            assert info["rew_slip"] == pytest.approx(-2.0 * max(info["slip"] - 0.02, 0.0) / 0.05)
            slips.append(info["slip"])
        assert max(slips) > 0.02, slips  # the term was exercised


def test_episode_truncates_at_time_limit(with_episode_seconds):
    env = CrawlerEnv(with_episode_seconds(0.5))
    try:
        env.reset(seed=0, options={"scenario": Scenario(surface="deck")})
        flags = [env.step(np.zeros(4, dtype=np.float32))[3] for _ in range(10)]
        assert flags == [False] * 9 + [True]
    finally:
        env.close()


def test_nan_action_raises_clear_error(config):
    env = CrawlerEnv(config)
    try:
        env.reset(seed=0)
        for bad in ([np.nan, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, np.inf]):  # either part
            with pytest.raises(ValueError, match="non-finite action"):
                env.step(np.array(bad, dtype=np.float32))
    finally:
        env.close()


def test_render_returns_rgb_image(config):
    env = CrawlerEnv(config, render_mode="rgb_array")
    try:
        env.reset(seed=0, options={"scenario": Scenario(surface="curved", slope_deg=30.0)})
        image = env.render()
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert image.std() > 1.0  # not a blank frame: robot and hull are visible
    finally:
        env.close()


def test_scenario_option_type_is_checked(config):
    env = CrawlerEnv(config)
    try:
        with pytest.raises(TypeError, match="Scenario"):
            env.reset(seed=0, options={"scenario": "vertical"})
    finally:
        env.close()


def test_offset_penalty_is_the_running_mean_error_since_the_last_command_change(config):
    reward = dataclasses.replace(config.reward, offset_scale=2.0, offset_time_constant=0.25,
                                 offset_v_weight=3.0)
    env = CrawlerEnv(dataclasses.replace(
        config, reward=reward, motor=dataclasses.replace(config.motor, residual_base="ik")))
    try:
        env.reset(seed=1, options={"scenario": Scenario(surface="deck", randomize=False)})
        env._commands[:40] = (0.05, 0.2)
        env._commands[40:] = (-0.05, 0.0)
        alpha = env.control_dt / 0.25
        mean = np.zeros(2)
        penalties = []
        for step in range(60):
            command = env.command_schedule[step]
            if step == 40:
                mean[:] = 0.0  # a new command starts a new mean
            # Unequal wheels: errors in both channels, kept up by the constant residual.
            *_, info = env.step(np.array([0.3, 0.1], dtype=np.float32))
            mean += alpha * (command - np.array(env.sim.true_twist()) - mean)
            expected = -2.0 * (3.0 * abs(mean[0]) / 0.05 + abs(mean[1]) / 0.25)
            assert info["rew_offset"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
            penalties.append(info["rew_offset"])
        # Held command: the mean settles at the offset; the change resets it.
        assert penalties[38] < -0.5 and abs(penalties[40]) < 0.5 * abs(penalties[38])
    finally:
        env.close()


def test_offset_penalty_is_on_by_default_and_zero_turns_it_off(config):
    assert config.reward.offset_scale > 0.0
    off = dataclasses.replace(config, reward=dataclasses.replace(config.reward, offset_scale=0.0))
    for cfg, penalized in ((config, True), (off, False)):
        env = CrawlerEnv(cfg)
        try:
            env.reset(seed=0)
            for _ in range(5):
                *_, info = env.step(np.array([0.5, -0.5, 0.0, 0.0], dtype=np.float32))
            assert (info["rew_offset"] < 0.0) == penalized
            assert penalized or info["rew_offset"] == 0.0
        finally:
            env.close()
