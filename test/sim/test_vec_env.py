import gymnasium as gym
import numpy as np
import pytest

from crawler_rl.sim.vec_env import SyncVecEnv


def make_pendulum(max_steps: int):
    return lambda: gym.make("Pendulum-v1", max_episode_steps=max_steps)


def test_reset_seeds_each_env_and_shapes():
    vec = SyncVecEnv([make_pendulum(5)] * 3)
    first = vec.reset(seed=7)
    again = vec.reset(seed=7)
    assert first.shape == (3, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[0], first[1])  # env i gets seed + i
    vec.close()


def test_same_step_autoreset_keeps_final_obs():
    vec = SyncVecEnv([make_pendulum(3)] * 2)
    vec.reset(seed=0)
    actions = np.zeros((2, 1), dtype=np.float32)
    for _ in range(2):
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert not truncated.any()
        np.testing.assert_array_equal(infos["final_obs"], obs)
    obs, rewards, terminated, truncated, infos = vec.step(actions)
    assert truncated.all() and not terminated.any()
    assert rewards.shape == (2,)
    # returned obs is the first obs of the next episode, not the final one
    assert not np.allclose(obs, infos["final_obs"])
    vec.close()


def test_wrong_action_shape_is_an_error():
    vec = SyncVecEnv([make_pendulum(3)])
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((2, 1)))


def test_rejects_non_box_spaces():
    with pytest.raises(TypeError, match="Box"):
        SyncVecEnv([lambda: gym.make("CartPole-v1")])
