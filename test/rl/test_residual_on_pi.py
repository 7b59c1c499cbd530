"""`motor.residual_base: pi`: action 0 is IK + the PI on the observation, in every env factory."""

from __future__ import annotations

import numpy as np
import pytest

from crawler_rl.rl.config import EnvConfig
from crawler_rl.rl.envs import describe_env, make_env_factory
from crawler_rl.sim.action import observation_pi_wheel_speeds
from crawler_rl.sim.config import load_crawler_config


def test_action_zero_commands_the_observation_pi() -> None:
    env = make_env_factory(EnvConfig(crawler_overrides={"motor.residual_base": "pi"}))()
    try:
        gains = (0.42, 3.36, 0.17, 16.3)  # config/crawler.yaml
        assert env.unwrapped.residual_base_gains == gains
        assert describe_env(env, "CrawlerVelocity-v0")["residual_base_gains"] == list(gains)
        obs, _ = env.reset(seed=3)
        spec = env.unwrapped.sim.action_spec
        differs = 0
        for _ in range(60):
            expected = observation_pi_wheel_speeds(obs, gains, spec)
            obs, *_ = env.step(np.zeros(2, dtype=np.float32))
            np.testing.assert_allclose(obs[9:11], expected, rtol=1e-6, atol=1e-6)
            ik = observation_pi_wheel_speeds(obs, (0.0, 0.0, 0.0, 0.0), spec)
            differs += bool(np.abs(obs[9:11] - ik).max() > 0.05)
        assert differs > 10  # the feedback acts, it is not IK
    finally:
        env.close()


def test_bad_residual_base_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="motor.residual_base"):
        load_crawler_config(overrides={"motor.residual_base": "pid"})
    with pytest.raises(ValueError, match="residual_base_gains"):
        load_crawler_config(overrides={"motor.residual_base_gains": [0.1, -1.0, 0.1, 1.0]})
    with pytest.raises(ValueError, match="residual_base_gains"):
        load_crawler_config(overrides={"motor.residual_base_gains": [0.1, 1.0]})
