"""Our PPO vs Stable-Baselines3 PPO: same env, env steps, hyper-parameters, torch threads, cores.

Prints one JSON line per library form and seed, then one per run with its time to target, and
a final line of medians over the seeds and their ratios: wall clock, steps/s, and the wall
clock / env steps at which the rollout tracking error (RMS of info tracking_error_v and
tracking_error_omega, trailing mean over 5 rollouts) first fell to the SAME ABSOLUTE error for
every library: `--target-error V OMEGA`, or by default `--target` times the median over all
runs (all libraries and seeds) of the first 5 rollouts' error. Per seed, SB3 and our local
trainer see the same episodes (the same env seeds; the ROS graph's actors seed their envs by
actor id, so its episodes differ).

Cores: ours uses the config's rollout worker processes (2, one per core). SB3 runs in both of
its forms (`--sb3-vec dummy subproc`): DummyVecEnv (one process, so one core) and
SubprocVecEnv (one process per env, on the same cores). The headline (`fair_*`, the >= 2x
target) is against SubprocVecEnv, the form that can use every core. SB3 gets the config's PPO
settings and learning-rate schedule (linear or constant; it has no KL-adaptive one). It has
no mirror augmentation (`ppo.mirror_augmentation`): `--no-mirror` turns ours off too, to
compare the rest.

SB3 is a bench-only dependency: `.venv/bin/pip install stable-baselines3`.

    PYTHONPATH=. .venv/bin/python bench/ppo_vs_sb3.py --total-steps 100000
    PYTHONPATH=. .venv/bin/python bench/ppo_vs_sb3.py --ours ros --actors 2   # the ROS 2 graph
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.envs import TRACKING_KEYS, make_env_factory
from crawler_rl.rl.trainer import env_reset_seed, run_training


class TimeToTarget:
    """Record per-rollout tracking errors; find when both reach an absolute target.

    Per-rollout errors swing with the random commands of each rollout, so the curve is a
    trailing mean over `window` rollouts (and so is `initial`, the first window's error).
    """

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self.history: list[dict[str, float]] = []

    def record(self, step: float, wall: float, errors: dict[str, float]) -> None:
        self.history.append({"step": step, "wall_time_s": wall, **errors})

    def _smoothed(self, index: int, key: str) -> float:
        recent = self.history[max(index - self.window + 1, 0):index + 1]
        return sum(entry[key] for entry in recent) / len(recent)

    def initial(self) -> dict[str, float] | None:
        """The trailing-mean error after the first `window` rollouts (None: too few)."""
        if len(self.history) < self.window:
            return None
        return {key: self._smoothed(self.window - 1, key) for key in TRACKING_KEYS}

    def result(self, target: dict[str, float]) -> dict[str, float | None]:
        """Wall clock and env steps when every key's trailing mean is <= target[key]."""
        for index in range(self.window - 1, len(self.history)):
            if all(self._smoothed(index, key) <= target[key] for key in TRACKING_KEYS):
                entry = self.history[index]
                return {"time_to_target_s": entry["wall_time_s"],
                        "steps_to_target": entry["step"]}
        return {"time_to_target_s": None, "steps_to_target": None}


def bench_ours(cfg: TrainConfig) -> tuple[dict, TimeToTarget]:
    tracker = TimeToTarget()

    def on_iteration(stats: dict[str, float]) -> None:
        if all(key in stats for key in TRACKING_KEYS):
            tracker.record(stats["global_step"], stats["wall_time_s"],
                           {key: stats[key] for key in TRACKING_KEYS})

    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        summary = run_training(cfg, Path(run_dir), progress=False, on_iteration=on_iteration)
        wall = time.perf_counter() - start
    final = tracker.history[-1] if tracker.history else {}
    name = "crawler_rl" + (" (overlap_update)" if cfg.run.overlap_update else "")
    return {"library": name, "env_steps": summary["global_step"], "wall_time_s": wall,
            "sps": summary["global_step"] / wall,
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS}}, tracker


def bench_ours_ros(cfg: TrainConfig, actors: int,
                   envs_per_actor: int) -> tuple[dict, TimeToTarget]:
    """Our ROS 2 backend (actor processes, head, learner over DDS), timed from launch.

    The clock includes process start-up and DDS discovery; tracking errors come from the
    learner's metrics lines (one per PPO update, stamped with wall time).
    """
    import random

    from crawler_rl.ros.training.launcher import run_training_graph

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randrange(120, 230)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tracker = TimeToTarget()
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
            "sps": metrics[-1]["global_step"] / wall,
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS}}, tracker


def bench_sb3(cfg: TrainConfig, vec: str = "dummy") -> tuple[dict, TimeToTarget]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    tracker = TimeToTarget()

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
    vec_class = SubprocVecEnv if vec == "subproc" else DummyVecEnv
    venv = vec_class([make_env_factory(cfg.env) for _ in range(cfg.env.num_envs)])
    venv = VecNormalize(venv, norm_obs=model.normalize_obs, norm_reward=False,
                        clip_obs=model.obs_clip)
    batch = ppo.num_steps * cfg.env.num_envs
    # SB3 anneals by progress_remaining (1 -> 0 over the run, once per rollout), as ours does
    # with lr_schedule "linear"; it has no KL-adaptive schedule, so "adaptive" runs constant.
    learning_rate = ((lambda remaining: ppo.learning_rate * remaining)
                     if ppo.lr_schedule == "linear" else ppo.learning_rate)
    agent = PPO(
        "MlpPolicy", venv, learning_rate=learning_rate, n_steps=ppo.num_steps,
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
    # SB3 seeds env i with seed + i (PPO.set_random_seed): give it our env seeds, so both
    # libraries see the same episodes (consecutive run seeds would otherwise share 15 of 16 envs).
    agent.set_random_seed(env_reset_seed(cfg, 0))
    start = time.perf_counter()
    agent.learn(total_timesteps=cfg.run.total_steps, callback=Tracking())
    wall = time.perf_counter() - start
    venv.close()
    final = tracker.history[-1] if tracker.history else {}
    return {"library": f"stable-baselines3 ({vec_class.__name__})",
            "env_steps": int(agent.num_timesteps),
            "wall_time_s": wall, "sps": agent.num_timesteps / wall,
            "final_tracking": {key: final.get(key) for key in TRACKING_KEYS},
            "note": f"SB3: {'linear' if ppo.lr_schedule == 'linear' else 'constant'} "
                    "learning rate, no mirror augmentation"}, tracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--env", default=None, help="override env.env_id")
    parser.add_argument("--total-steps", type=int, default=50_000)
    parser.add_argument("--target", type=float, default=0.6,
                        help="absolute target = this times the median initial error of all runs")
    parser.add_argument("--target-error", type=float, nargs=2, default=None,
                        metavar=("V", "OMEGA"), help="absolute RMS tracking error target "
                        "(m/s, rad/s) instead of --target")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None,
                        help="our rollout workers (default: the config's env.num_workers)")
    parser.add_argument("--overlap-update", action="store_true",
                        help="ours with run.overlap_update (default: the config's)")
    parser.add_argument("--also-overlap", action="store_true",
                        help="also run ours with run.overlap_update on (form ours_overlap)")
    parser.add_argument("--sb3-vec", choices=["dummy", "subproc"], nargs="+",
                        default=["dummy", "subproc"],
                        help="SB3's vector env forms: in-process, and/or one process per env")
    parser.add_argument("--ours", choices=["local", "ros"], default="local",
                        help="our trainer: in-process (local) or the ROS 2 graph (ros)")
    parser.add_argument("--actors", type=int, default=2, help="--ours ros: actor processes")
    parser.add_argument("--no-mirror", action="store_true",
                        help="ours without ppo.mirror_augmentation (SB3 has none)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="run seeds (SB3 and the local trainer see the same episodes)")
    args = parser.parse_args()
    overrides = {"run.total_steps": args.total_steps, "run.torch_threads": args.threads,
                 "run.export_onnx": False}
    if args.workers is not None:
        overrides["env.num_workers"] = args.workers
    if args.overlap_update:
        overrides["run.overlap_update"] = True
    if args.no_mirror:
        overrides["ppo.mirror_augmentation"] = False
    if args.env:
        overrides["env.env_id"] = args.env
    cfg = load_train_config(args.config, overrides)
    torch.set_num_threads(args.threads)
    # Pay torch's one-time optimizer import (torch._dynamo, ~1.5 s) before either clock starts.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    if args.ours == "ros":
        if cfg.env.num_envs % args.actors:
            raise SystemExit(f"env.num_envs={cfg.env.num_envs} must split over {args.actors} "
                             "actors (same env columns per update as SB3)")
        envs_per_actor = cfg.env.num_envs // args.actors

        def ours(cfg: TrainConfig) -> tuple[dict, TimeToTarget]:
            return bench_ours_ros(cfg, args.actors, envs_per_actor)
    else:
        ours = bench_ours
    benches = {"ours": ours}
    if args.also_overlap:
        benches["ours_overlap"] = lambda cfg: ours(dataclasses.replace(
            cfg, run=dataclasses.replace(cfg.run, overlap_update=True)))
    benches.update({f"sb3_{vec}": functools.partial(bench_sb3, vec=vec) for vec in args.sb3_vec})
    runs: dict[str, list[tuple[dict, TimeToTarget]]] = {name: [] for name in benches}
    for seed in args.seeds:  # alternate the libraries, so machine noise hits all of them
        seeded = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seed=seed))
        for name, bench in benches.items():
            load = os.getloadavg()[0]
            result, tracker = bench(seeded)
            result = {"bench": "ppo_vs_sb3_run", "form": name, "env_id": cfg.env.env_id,
                      "num_envs": cfg.env.num_envs, "threads": args.threads, "seed": seed,
                      "load_avg_1min_at_start": round(load, 2), **result,
                      "initial_tracking": tracker.initial()}
            runs[name].append((result, tracker))
            print(json.dumps(result), flush=True)
    target = absolute_target(args, [tracker for pairs in runs.values() for _, tracker in pairs])
    evaluated = {name: [{**result, **tracker.result(target)} for result, tracker in pairs]
                 for name, pairs in runs.items()}
    for results in evaluated.values():
        for result in results:
            print(json.dumps({**result, "bench": "ppo_vs_sb3"}), flush=True)
    print(json.dumps(summarize(evaluated, target)), flush=True)


def absolute_target(args: argparse.Namespace,
                    trackers: list[TimeToTarget]) -> dict[str, float]:
    """The one absolute error target of every library: given, or --target x median initial."""
    if args.target_error is not None:
        return dict(zip(TRACKING_KEYS, args.target_error, strict=True))
    initials = [initial for tracker in trackers if (initial := tracker.initial()) is not None]
    if not initials:
        raise SystemExit("no run logged 5 rollouts: raise --total-steps")
    return {key: args.target * statistics.median(initial[key] for initial in initials)
            for key in TRACKING_KEYS}


def _median(values: list[float | None]) -> float | None:
    """Median, counting a run that never reached the target as infinitely slow."""
    ranked = sorted(math.inf if value is None else value for value in values)
    middle = ranked[len(ranked) // 2] if len(ranked) % 2 else sum(
        ranked[len(ranked) // 2 - 1:len(ranked) // 2 + 1]) / 2
    return None if math.isinf(middle) else middle


def summarize(runs: dict[str, list[dict]], target: dict[str, float]) -> dict:
    """Medians over the seeds, our advantage over each SB3 form (> 1: we are faster) and the
    headline (the config as given) against the fair form (SubprocVecEnv when it ran)."""
    ours_forms = [name for name in runs if name.startswith("ours")]
    summary: dict = {"bench": "ppo_vs_sb3_summary", "seeds": [r["seed"] for r in runs["ours"]],
                     "target_error": {key: round(value, 5) for key, value in target.items()},
                     "ours_library": runs["ours"][0]["library"]}
    for name, results in runs.items():
        for key in ("sps", "steps_to_target", "time_to_target_s"):
            summary[f"{name}_median_{key}"] = _median([r[key] for r in results])
        summary[f"{name}_reached"] = sum(r["time_to_target_s"] is not None for r in results)
    for mine_name in ours_forms:
        prefix = "" if mine_name == "ours" else f"{mine_name}_"
        for name in runs:
            if name in ours_forms:
                continue
            for key in ("sps", "steps_to_target", "time_to_target_s"):
                mine = summary[f"{mine_name}_median_{key}"]
                theirs = summary[f"{name}_median_{key}"]
                # sps: ours / theirs; steps and time to target: theirs / ours (> 1: we win)
                ratio = ((mine / theirs if key == "sps" else theirs / mine)
                         if mine and theirs else None)
                summary[f"{prefix}{key}_advantage_over_{name}"] = ratio
    fair = "sb3_subproc" if "sb3_subproc" in runs else next(
        name for name in runs if name not in ours_forms)
    summary["fair_form"] = fair
    summary["fair_time_to_target_advantage"] = summary[f"time_to_target_s_advantage_over_{fair}"]
    advantage = summary["fair_time_to_target_advantage"]
    summary["target_2x_holds"] = None if advantage is None else advantage >= 2.0
    summary["load_avg_at_end"] = [round(value, 2) for value in os.getloadavg()]
    return summary


if __name__ == "__main__":
    main()
