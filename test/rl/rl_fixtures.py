"""Shared helpers of the RL tests (imported by name: test/rl is on sys.path under pytest)."""

from __future__ import annotations

from crawler_rl.rl.config import TrainConfig

TOY_ENV = "rl_toy_env:VelocityTrackingToy"


def toy_config(**sections: dict) -> TrainConfig:
    """A small config on the toy env; `sections` override per section."""
    data: dict = {
        "env": {"env_id": TOY_ENV, "num_envs": 4, "num_workers": 1},
        "ppo": {"num_steps": 50, "num_epochs": 4, "num_minibatches": 4, "gamma": 0.9},
        "model": {"actor_hidden": [32, 32], "critic_hidden": [32, 32], "init_std": 0.5},
        "run": {"total_steps": 2000, "checkpoint_every": 2, "export_onnx": False},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return TrainConfig.from_dict(data)


def random_checkpoint(crawler: bool = True, seed: int = 0, crawler_actions: int = 2):
    """A Checkpoint of an untrained (but non-trivial) policy, without running an env.

    `crawler_actions`: 4 for a crawler with set-anew corrections (`motor.direct_limit`).
    """
    import torch

    from crawler_rl.rl.checkpoint import Checkpoint, capture_rng_state
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.ppo import PPO
    from crawler_rl.sim.action import ActionSpec
    from crawler_rl.sim.observation import ACTOR_OBS_DIM, OBS_DIM

    torch.manual_seed(seed)
    obs_dim, action_dim = (OBS_DIM, crawler_actions) if crawler else (3, 1)
    actor_obs_dim = ACTOR_OBS_DIM if crawler else None  # as the crawler env describes itself
    cfg = toy_config()
    policy = ActorCritic(obs_dim, action_dim, cfg.model, actor_obs_dim)
    # Give the normalizer and the actor head real values so the export has something to carry.
    policy.obs_normalizer.update(torch.randn(64, obs_dim) * 3.0 + 1.0)
    torch.nn.init.normal_(policy.actor_head.weight, std=0.5)
    spec = ActionSpec(wheel_radius=0.03, track_width=0.15, max_wheel_speed=10.0,
                      residual_limit=4.0)
    env_info = {
        "env_id": "CrawlerVelocity-v0" if crawler else "rl_toy_env:VelocityTrackingToy",
        "action_low": [-1.0] * action_dim if crawler else [-2.0],
        "action_high": [1.0] * action_dim if crawler else [2.0],
        "action_spec": {k: getattr(spec, k) for k in
                        ("wheel_radius", "track_width", "max_wheel_speed", "residual_limit")}
        if crawler else None,
        "control_dt": 0.05 if crawler else None,
        "actor_obs_dim": actor_obs_dim,
        "model_obs_dim": OBS_DIM if crawler else None,
    }
    return Checkpoint(
        model=policy.state_dict(), optimizer=PPO(policy, cfg.ppo).optimizer.state_dict(),
        iteration=3, global_step=600, config=cfg.to_dict(), learning_rate=1e-3,
        obs_dim=obs_dim, action_dim=action_dim, env_info=env_info,
        rng_state=capture_rng_state(),
    )


def exported_crawler_model(folder, **env_info):
    """(checkpoint, controller.onnx) of a random 4-action crawler policy with these mapping
    entries in its env_info (e.g. increment_limit=1.0, direct_limit=3.0)."""
    from crawler_rl.rl.checkpoint import save_checkpoint
    from crawler_rl.rl.export import export_checkpoint

    checkpoint = random_checkpoint(crawler=True, crawler_actions=4)
    checkpoint.env_info.update(env_info)
    path = export_checkpoint(save_checkpoint(folder / "c.pt", checkpoint),
                             folder / "controller.onnx")
    return checkpoint, path


def crawler_observations(rng, count: int = 256):
    """`count` random float32 observations with commands in the training ranges and previous
    residuals within +-4 rad/s (the rest N(0, 2))."""
    import numpy as np

    from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES

    residual = OBS_NAMES.index("prev_residual_left")
    obs = rng.normal(0.0, 2.0, (count, OBS_DIM)).astype(np.float32)
    obs[:, 0], obs[:, 1] = rng.uniform(-0.15, 0.15, count), rng.uniform(-0.8, 0.8, count)
    obs[:, residual:residual + 2] = rng.uniform(-4, 4, (count, 2))
    return obs
