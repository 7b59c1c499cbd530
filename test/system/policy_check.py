"""Did a run learn? Its trained policy against its initial one on fixed seeded episodes.

Training rewards are noisy (exploration, episode starts): a deterministic replay of the same
seeded episodes with each policy's mean action tells learning from luck.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from fault_rig import TOY_ENV_DIR

from crawler_rl.rl.checkpoint import latest_good_checkpoint, load_checkpoint
from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.envs import ActionScaler, check_box_spaces, make_env_factory
from crawler_rl.rl.learner import seed_everything
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.ros.training.graph import RUN_CONFIG_NAME


def initial_policy(cfg: TrainConfig) -> ActorCritic:
    """The policy the learner starts from: seeded with run.seed, built before anything else."""
    if str(TOY_ENV_DIR) not in sys.path:
        sys.path.append(str(TOY_ENV_DIR))
    probe = make_env_factory(cfg.env)()
    obs_dim, action_dim = check_box_spaces(probe, cfg.env.env_id)
    probe.close()
    seed_everything(cfg.run.seed)
    return ActorCritic(obs_dim, action_dim, cfg.model)


def trained_policy(cfg: TrainConfig, run_dir: Path) -> ActorCritic:
    """The run's newest good checkpoint, loaded into a policy."""
    path = latest_good_checkpoint(run_dir)
    assert path is not None, f"no checkpoint in {run_dir}"
    policy = initial_policy(cfg)
    policy.load_state_dict(load_checkpoint(path).model)
    return policy


def episode_returns(policy: ActorCritic, cfg: TrainConfig, seeds: range) -> np.ndarray:
    """Return of one episode per seed, acting with the policy's mean action."""
    env = make_env_factory(cfg.env)()
    scale = ActionScaler(env.action_space.low, env.action_space.high)
    returns = []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                with torch.no_grad():
                    action = policy.act_deterministic(torch.as_tensor(obs).reshape(1, -1))
                obs, reward, terminated, truncated, _ = env.step(scale(action.numpy())[0])
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.array(returns)


def trained_and_initial_returns(run_dir: Path,
                                seeds: range = range(1000, 1010)) -> tuple[float, float]:
    """Mean return of a run's trained and initial policy on the same seeded episodes.

    The run's own resolved config (<run_dir>/config.yaml, as the learner read it) says which
    env, model and seed.
    """
    cfg = load_train_config(Path(run_dir) / RUN_CONFIG_NAME)
    trained = episode_returns(trained_policy(cfg, run_dir), cfg, seeds)
    initial = episode_returns(initial_policy(cfg), cfg, seeds)
    return float(trained.mean()), float(initial.mean())
