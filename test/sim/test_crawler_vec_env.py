import numpy as np

from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.vec_env import SyncVecEnv


def test_vec_env_auto_resets_and_reports_final_obs(with_episode_seconds):
    short = with_episode_seconds(0.25)  # 5 control steps
    vec = SyncVecEnv([lambda: CrawlerEnv(short)] * 2)
    try:
        obs = vec.reset(seed=5, options={"scenario": Scenario(surface="incline", slope_deg=30.0)})
        assert obs.shape == (2, vec.obs_dim)
        actions = np.zeros((2, vec.action_dim), dtype=np.float32)
        for _ in range(4):
            obs, _, terminated, truncated, infos = vec.step(actions)
            assert not truncated.any() and not terminated.any()
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert truncated.all()
        assert infos["final_obs"].shape == obs.shape
        # final_obs ends the old episode; obs starts the next one (no previous wheel command)
        assert not np.array_equal(infos["final_obs"], obs)
        assert np.all(obs[:, 9:11] == 0.0) and np.any(infos["final_obs"][:, 9:11] != 0.0)
        assert infos["tracking_error_v"].shape == (2,)
        assert np.all(np.isfinite(rewards))
        obs, _, _, truncated, _ = vec.step(actions)
        assert not truncated.any()
    finally:
        vec.close()
