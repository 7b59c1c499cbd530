"""Our PPO vs Stable-Baselines3 PPO: same env, same env steps, same hyper-parameters, one thread.

Prints one JSON line per library and a final comparison line: wall clock, steps/s, and the wall
clock / env steps at which the rollout tracking error (RMS of info tracking_error_v and
tracking_error_omega, trailing mean over 5 rollouts) first fell to `--target` times its value
over the first 5 rollouts.

SB3 is a bench-only dependency: `.venv/bin/pip install stable-baselines3`.

    PYTHONPATH=. .venv/bin/python bench/ppo_vs_sb3.py --total-steps 100000
    PYTHONPATH=. .venv/bin/python bench/ppo_vs_sb3.py --ours ros --actors 2   # the ROS 2 graph
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.trainer import TRACKING_KEYS, make_env_factory, run_training


class TimeToTarget:
    """Record per-rollout tracking errors; find when both reach target * their first value.

    Per-rollout errors swing with the random commands of each rollout, so both the reference
    (the first `window` rollouts) and the curve are trailing means over `window` rollouts.
    """

    def __init__(self, target: float, window: int = 5) -> None:
        self.target = target
        self.window = window
        self.history: list[dict[str, float]] = []

    def record(self, step: float, wall: float, errors: dict[str, float]) -> None:
        self.history.append({"step": step, "wall_time_s": wall, **errors})

    def _smoothed(self, index: int, key: str) -> float:
        recent = self.history[max(index - self.window + 1, 0):index + 1]
        return sum(entry[key] for entry in recent) / len(recent)

    def result(self) -> dict[str, float | None]:
        if len(self.history) < self.window:
            return {"time_to_target_s": None, "steps_to_target": None}
        first = {key: self._smoothed(self.window - 1, key) for key in TRACKING_KEYS}
        for index in range(self.window - 1, len(self.history)):
            if all(self._smoothed(index, key) <= self.target * first[key]
                   for key in TRACKING_KEYS):
                entry = self.history[index]
                return {"time_to_target_s": entry["wall_time_s"],
                        "steps_to_target": entry["step"]}
        return {"time_to_target_s": None, "steps_to_target": None}


def bench_ours(cfg: TrainConfig, target: float) -> dict:
    tracker = TimeToTarget(target)

    def on_iteration(stats: dict[str, float]) -> None:
        if all(key in stats for key in TRACKING_KEYS):
            tracker.record(stats["global_step"], stats["wall_time_s"],
                           {key: stats[key] for key in TRACKING_KEYS})

    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        summary = run_training(cfg, Path(run_dir), progress=False, on_iteration=on_iteration)
        wall = time.perf_counter() - start
    final = tracker.history[-1] if tracker.history else {}
    return {"library": "crawler_rl", "env_steps": summary["global_step"], "wall_time_s": wall,
            "sps": summary["global_step"] / wall, **tracker.result(),
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS}}


def bench_ours_ros(cfg: TrainConfig, target: float, actors: int, envs_per_actor: int) -> dict:
    """Our ROS 2 backend (actor processes, head, learner over DDS), timed from launch.

    The clock includes process start-up and DDS discovery; tracking errors come from the
    learner's metrics lines (one per PPO update, stamped with wall time).
    """
    import os
    import random

    from crawler_rl.ros.launcher import run_training_graph

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randrange(120, 230)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tracker = TimeToTarget(target)
    with tempfile.TemporaryDirectory() as run_dir:
        start_unix, start = time.time(), time.perf_counter()
        code = run_training_graph(cfg, Path(run_dir), False, actors, envs_per_actor,
                                  progress=False)
        wall = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"ROS training graph exited with {code}")
        lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
        metrics = [m for m in map(json.loads, lines) if m["iteration"] > 0]
    for m in metrics:
        tracker.record(m["global_step"], m["wall_time"] - start_unix,
                       {key: m[key] for key in TRACKING_KEYS})
    final = tracker.history[-1] if tracker.history else {}
    return {"library": f"crawler_rl ROS backend, {actors} actors x {envs_per_actor} envs",
            "env_steps": metrics[-1]["global_step"], "wall_time_s": wall,
            "sps": metrics[-1]["global_step"] / wall, **tracker.result(),
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS}}


def bench_sb3(cfg: TrainConfig, target: float) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    tracker = TimeToTarget(target)

    class Tracking(BaseCallback):
        def _on_training_start(self) -> None:
            self.start = time.perf_counter()
            self.sums = dict.fromkeys(TRACKING_KEYS, 0.0)
            self.count = 0

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if all(key in info for key in TRACKING_KEYS):
                    for key in TRACKING_KEYS:
                        self.sums[key] += float(info[key]) ** 2
                    self.count += 1
            return True

        def _on_rollout_end(self) -> None:
            if self.count:
                errors = {key: math.sqrt(value / self.count) for key, value in self.sums.items()}
                tracker.record(float(self.num_timesteps), time.perf_counter() - self.start,
                               errors)
            self.sums = dict.fromkeys(TRACKING_KEYS, 0.0)
            self.count = 0

    ppo, model = cfg.ppo, cfg.model
    venv = DummyVecEnv([make_env_factory(cfg.env) for _ in range(cfg.env.num_envs)])
    venv.seed(cfg.run.seed)
    venv = VecNormalize(venv, norm_obs=model.normalize_obs, norm_reward=False,
                        clip_obs=model.obs_clip)
    batch = ppo.num_steps * cfg.env.num_envs
    agent = PPO(
        "MlpPolicy", venv, learning_rate=ppo.learning_rate, n_steps=ppo.num_steps,
        batch_size=batch // ppo.num_minibatches, n_epochs=ppo.num_epochs, gamma=ppo.gamma,
        gae_lambda=ppo.gae_lambda, clip_range=ppo.clip_coef,
        clip_range_vf=ppo.clip_coef if ppo.clip_value_loss else None,
        ent_coef=ppo.entropy_coef, vf_coef=ppo.value_coef, max_grad_norm=ppo.max_grad_norm,
        target_kl=ppo.target_kl, seed=cfg.run.seed, device="cpu", verbose=0,
        policy_kwargs={
            "net_arch": {"pi": list(model.actor_hidden), "vf": list(model.critic_hidden)},
            "activation_fn": torch.nn.ELU if model.activation == "elu" else torch.nn.Tanh,
            "log_std_init": math.log(model.init_std),
        },
    )
    start = time.perf_counter()
    agent.learn(total_timesteps=cfg.run.total_steps, callback=Tracking())
    wall = time.perf_counter() - start
    venv.close()
    final = tracker.history[-1] if tracker.history else {}
    return {"library": "stable-baselines3", "env_steps": int(agent.num_timesteps),
            "wall_time_s": wall, "sps": agent.num_timesteps / wall, **tracker.result(),
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS},
            "note": "SB3 lr schedule is constant (ours follows ppo.lr_schedule)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--env", default=None, help="override env.env_id")
    parser.add_argument("--total-steps", type=int, default=50_000)
    parser.add_argument("--target", type=float, default=0.6,
                        help="tracking error target as a fraction of the first rollout's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1,
                        help="our env worker processes (1 matches SB3's in-process DummyVecEnv)")
    parser.add_argument("--ours", choices=["local", "ros"], default="local",
                        help="our trainer: in-process (local) or the ROS 2 graph (ros)")
    parser.add_argument("--actors", type=int, default=2, help="--ours ros: actor processes")
    args = parser.parse_args()
    overrides = {"run.total_steps": args.total_steps, "run.torch_threads": args.threads,
                 "run.export_onnx": False, "env.num_workers": args.workers}
    if args.env:
        overrides["env.env_id"] = args.env
    cfg = load_train_config(args.config, overrides)
    torch.set_num_threads(args.threads)
    # Pay torch's one-time optimizer import (torch._dynamo, ~1.5 s) before either clock starts.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    results = []
    if args.ours == "ros":
        if cfg.env.num_envs % args.actors:
            raise SystemExit(f"env.num_envs={cfg.env.num_envs} must split over {args.actors} "
                             "actors (same env columns per update as SB3)")
        envs_per_actor = cfg.env.num_envs // args.actors

        def ours(cfg: TrainConfig, target: float) -> dict:
            return bench_ours_ros(cfg, target, args.actors, envs_per_actor)
    else:
        ours = bench_ours
    for bench in (ours, bench_sb3):
        result = {"bench": "ppo_vs_sb3", "env_id": cfg.env.env_id, "num_envs": cfg.env.num_envs,
                  "threads": args.threads, "target_fraction": args.target,
                  **bench(cfg, args.target)}
        results.append(result)
        print(json.dumps(result), flush=True)
    ours, sb3 = results
    ratio = (ours["time_to_target_s"] / sb3["time_to_target_s"]
             if ours["time_to_target_s"] and sb3["time_to_target_s"] else None)
    print(json.dumps({
        "bench": "ppo_vs_sb3_summary", "sps_ratio_ours_over_sb3": ours["sps"] / sb3["sps"],
        "time_to_target_ratio_ours_over_sb3": ratio,
        "ours_reached": ours["time_to_target_s"] is not None,
        "sb3_reached": sb3["time_to_target_s"] is not None,
    }), flush=True)


if __name__ == "__main__":
    main()
