"""Any Gymnasium env with Box spaces: built by id or "module:Class", sized, scaled, torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from crawler_rl.rl.config import EnvConfig
from crawler_rl.rl.envs import ActionScaler, check_box_spaces, describe_env, make_env_factory

REPO = Path(__file__).resolve().parents[2]


class TinyLineEnv(gym.Env):
    """Drive a point on a line to 0: obs (x, 1), action a push in [-0.5, 0.5]; 5-step episodes."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-0.5, 0.5, (1,), np.float32)
        self.position = 0.0
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position = float(self.np_random.uniform(-1.0, 1.0))
        self.steps = 0
        return np.array([self.position, 1.0], np.float32), {}

    def step(self, action: np.ndarray):
        self.position += float(np.asarray(action).reshape(-1)[0])
        self.steps += 1
        obs = np.array([self.position, 1.0], np.float32)
        return obs, -abs(self.position), False, self.steps >= 5, {}


class DiscreteEnv(TinyLineEnv):
    """Same dynamics with a Discrete action space, which crawler_rl does not support."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Discrete(3)


def make_tiny_env() -> gym.Env:
    """Gymnasium-style entry-point function."""
    return TinyLineEnv()


@pytest.mark.parametrize("entry", ["TinyLineEnv", "make_tiny_env"])
def test_module_class_env_is_built_sized_and_time_limited(entry: str) -> None:
    cfg = EnvConfig(env_id=f"{__name__}:{entry}", max_episode_steps=3)
    env = make_env_factory(cfg)()
    assert isinstance(env.unwrapped, TinyLineEnv)
    assert check_box_spaces(env, cfg.env_id) == (2, 1)
    env.reset(seed=0)
    truncated = [env.step(np.zeros(1, np.float32))[3] for _ in range(3)]
    assert truncated == [False, False, True]  # our limit of 3, not the env's own 5
    info = describe_env(env, cfg.env_id)
    assert (info["action_low"], info["action_high"]) == ([-0.5], [0.5])
    assert info["action_spec"] is None


def test_registered_id_and_package_prefixed_id_build_pendulum() -> None:
    for env_id in ("Pendulum-v1", "gymnasium.envs.classic_control:Pendulum-v1"):
        env = make_env_factory(EnvConfig(env_id=env_id))()
        assert check_box_spaces(env, env_id) == (3, 1)
        assert describe_env(env, env_id)["action_high"] == [2.0]
        env.close()


@pytest.mark.parametrize("env_id, message", [
    ("NoSuchEnv-v0", "NoSuchEnv-v0"),
    ("no_such_module_xyz:Env", "no_such_module_xyz"),
    (f"{__name__}:NoSuchClass", "NoSuchClass"),
])
def test_bad_env_ids_name_the_value(env_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_env_factory(EnvConfig(env_id=env_id))()


def test_non_box_spaces_are_rejected_by_name() -> None:
    env = make_env_factory(EnvConfig(env_id=f"{__name__}:DiscreteEnv"))()
    with pytest.raises(ValueError, match="action space is Discrete"):
        describe_env(env, "DiscreteEnv")


def test_action_scaler_maps_unit_actions_onto_the_box() -> None:
    scale = ActionScaler([-2.0, 0.0], [2.0, 1.0])
    actions = np.array([[-1.0, -1.0], [0.0, 0.0], [3.0, 1.0]], np.float32)
    np.testing.assert_allclose(scale(actions), [[-2.0, 0.0], [0.0, 0.5], [2.0, 1.0]])
    unbounded = ActionScaler([-np.inf], [np.inf])
    assert unbounded(np.array([[5.0]])) == 5.0


def test_env_module_and_actor_node_do_not_import_torch() -> None:
    code = ("import sys, crawler_rl.rl.envs, crawler_rl.ros.training.actor_node; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={"PYTHONPATH": str(REPO),
                                                         "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
