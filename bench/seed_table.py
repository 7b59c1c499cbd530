"""The seed study's benchmark table, for our setups on this machine: steps/s, time, cores, cost.

Setups: the local backend (one process + its rollout workers) and the ROS backend (head =
inference + learner, plus 1/2/4 actor processes of K envs each, real DDS on this host).
Each setup trains for `--seconds` and reports env steps/s. Time-to-target is the tracking-error
target of the PPO issue (learned RMSE <= 0.5x IK on held-out scenarios); this script does not
train to it: it takes `--steps-to-target` (env steps the local backend needed, measured by a
full run) and divides, so every time and cost it prints is labelled "extrapolated".
Each measured row names the torch device its learner and inference ran the policy on.
Cost uses the study's Sep. 2019 prices (CPU core $0.0475/h, P100 $1.46/h, TPU v3 core $1.00/h).
The study's own rows are printed as "quoted, not re-measured".

    PYTHONPATH=. python bench/seed_table.py --quick --steps-to-target 400000 --out runs/seed_table

Writes <out>/seed_table.md and <out>/seed_table.png; prints one JSON line per row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaling import graph_point  # noqa: E402  (bench/ sibling)

CPU_CORE_PER_H = 0.0475
GPU_P100_PER_H = 1.46
TPU_V3_CORE_PER_H = 1.00
QUOTED = [
    {"setup": "Isaac Gym + rl_games (GPU)", "actors": "1024", "device": "GPU",
     "steps_per_s": 21917, "time_to_target": "12m10s", "cores": "GPU", "cost_usd": "< 0.296"},
    {"setup": "small SEED-RL (PyBullet)", "actors": "3.5", "device": "-", "steps_per_s": 260,
     "time_to_target": "-", "cores": "-", "cost_usd": "0.807"},
    {"setup": "big SEED-RL (PyBullet)", "actors": "26 (many lost)", "device": "-",
     "steps_per_s": 2988, "time_to_target": "1h39m", "cores": "-", "cost_usd": "0.517"},
]


def policy_device(spec: str) -> str:
    """What the learner and inference resolve a `run.device` value to here, e.g. "cpu"."""
    from crawler_rl.rl.device import describe_device, resolve_device

    return describe_device(resolve_device(spec))


class _TimeUp(Exception):
    """Raised from the trainer's per-iteration hook to end a timed local run."""


def local_point(env_id: str, num_envs: int, num_workers: int, seconds: float) -> dict[str, Any]:
    """Env steps/s of the local backend (PPO updates included) over about `seconds`."""
    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.rl.trainer import run_training

    cfg = TrainConfig.from_dict({
        "env": {"env_id": env_id, "num_envs": num_envs, "num_workers": num_workers},
        "run": {"total_steps": 10**9, "export_onnx": False, "checkpoint_every": 10**6},
    })
    seen: list[dict[str, float]] = []

    def on_iteration(values: dict[str, float]) -> None:
        seen.append(values)
        if values["wall_time_s"] >= seconds:
            raise _TimeUp

    with tempfile.TemporaryDirectory(prefix="seed_table_") as run_dir:
        try:
            run_training(cfg, Path(run_dir), progress=False, on_iteration=on_iteration)
        except _TimeUp:
            pass
    # The first iteration carries start-up (imports, env creation): measure from its end.
    first, last = seen[0], seen[-1]
    steps = last["global_step"] - first["global_step"]
    elapsed = last["wall_time_s"] - first["wall_time_s"]
    return {"setup": f"local backend, {num_envs} envs, {num_workers} rollout workers",
            "backend": "local", "device": policy_device(cfg.run.device),
            "actors": num_workers, "envs_per_actor": num_envs // num_workers,
            "processes": 1 + (num_workers if num_workers > 1 else 0),
            "steps_per_s": round(steps / max(elapsed, 1e-9), 1), "seconds": round(elapsed, 1)}


def ros_point(env_id: str, actors: int, envs_per_actor: int, seconds: float) -> dict[str, Any]:
    """Env steps/s of the ROS backend (learner updating) with `actors` actor processes."""
    from crawler_rl.rl.config import TrainConfig

    point = graph_point(env_id, actors, envs_per_actor, seconds, warmup=2.0)
    # graph_point keeps run.device at its default; its learner reports the device it used.
    device = point.get("learner_device") or policy_device(TrainConfig().run.device)
    return {"setup": f"ROS backend, {actors} actor(s) x {envs_per_actor} envs",
            "backend": "ros", "device": device, "actors": actors,
            "envs_per_actor": envs_per_actor,
            "processes": 1 + actors, "steps_per_s": point["learner_steps_per_s"],
            "actor_steps_per_s": point["steps_per_s"], "seconds": point["seconds"],
            "startup_s": point["startup_s"]}


def add_cost(row: dict[str, Any], steps_to_target: int, cpus: int) -> dict[str, Any]:
    """Extrapolated time-to-target and its price: busy cores x hours x $/core-hour."""
    cores = min(row["processes"], cpus)
    hours = steps_to_target / max(row["steps_per_s"], 1e-9) / 3600.0
    return {**row, "cores": cores, "time_to_target_s": round(hours * 3600.0, 1),
            "cost_usd": round(cores * hours * CPU_CORE_PER_H, 4), "time_source": "extrapolated"}


def hms(seconds: float) -> str:
    """1h02m03s style."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any], steps_to_target: int) -> str:
    """The table, quoted rows first, with the provenance of every number."""
    lines = [
        f"Measured {machine['date']} on {machine['cpus']} CPU cores ({machine['platform']}), "
        f"GPU: {machine['gpu']}, 1-min load average at start {machine['load_average_1min']}.",
        f"Time-to-target extrapolated from --steps-to-target={steps_to_target:,} env steps "
        "(passed in: steps the local backend needs to reach learned RMSE <= 0.5x IK) at each "
        "setup's steps/s; cost = cores x "
        f"hours x ${CPU_CORE_PER_H}/core-h (Sep. 2019 prices: P100 ${GPU_P100_PER_H}/h, "
        f"TPU v3 core ${TPU_V3_CORE_PER_H}/h).",
        "",
        "| setup | actors | policy device | steps/s | time to target | cores | cost (USD) "
        "| source |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for row in QUOTED:
        lines.append(f"| {row['setup']} | {row['actors']} | {row['device']} | "
                     f"{row['steps_per_s']:,} | "
                     f"{row['time_to_target']} | {row['cores']} | {row['cost_usd']} | "
                     "quoted, not re-measured |")
    for row in rows:
        lines.append(
            f"| {row['setup']} | {row['actors']} | {row['device']} | "
            f"{row['steps_per_s']:,.0f} | "
            f"{hms(row['time_to_target_s'])} (extrapolated) | {row['cores']} | "
            f"{row['cost_usd']:.3f} (extrapolated) | measured {row['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def bar_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Steps/s per setup, quoted rows hatched (log scale: they span 2 orders of magnitude)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['setup']}\n(quoted)" for r in QUOTED] + [r["setup"] for r in rows]
    values = [r["steps_per_s"] for r in QUOTED] + [r["steps_per_s"] for r in rows]
    fig, axis = plt.subplots(figsize=(9, 0.5 * len(labels) + 1.5))
    bars = axis.barh(labels, values, color=["0.7"] * len(QUOTED) + ["tab:blue"] * len(rows))
    for bar in bars[:len(QUOTED)]:
        bar.set_hatch("//")
    axis.set_xscale("log")
    axis.set_xlabel("env steps/s (learner-consumed)")
    axis.invert_yaxis()
    axis.set_title("Seed study (quoted, not re-measured) vs crawler_rl on this machine")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def gpu_name() -> str:
    """The CUDA device the inference/learner nodes would use, or 'none'."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~20 s per setup")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measuring time per setup (default 20 quick, 120 otherwise)")
    parser.add_argument("--steps-to-target", type=int, required=True,
                        help="env steps the local backend needed to reach the target")
    parser.add_argument("--env", default="CrawlerVelocity-v0")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--envs-per-actor", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/seed_table"))
    args = parser.parse_args()
    if args.steps_to_target < 1:
        parser.error(f"--steps-to-target must be >= 1, got {args.steps_to_target}")
    seconds = args.seconds or (20.0 if args.quick else 120.0)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    cpus = os.cpu_count() or 1
    machine = {"mode": "machine", "cpus": cpus, "platform": platform.platform(),
               "gpu": gpu_name(), "date": time.strftime("%Y-%m-%d"),
               "load_average_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(machine), flush=True)
    for row in QUOTED:
        print(json.dumps({**row, "source": "quoted, not re-measured"}), flush=True)
    rows = []
    measured = [local_point(args.env, 16, 2, seconds)]
    print(json.dumps(measured[0]), flush=True)
    for actors in args.actors:
        measured.append(ros_point(args.env, actors, args.envs_per_actor, seconds))
        print(json.dumps(measured[-1]), flush=True)
    for row in measured:
        rows.append(add_cost(row, args.steps_to_target, cpus))
        print(json.dumps({"mode": "table_row", **rows[-1]}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seed_table.md").write_text(markdown(rows, machine, args.steps_to_target))
    bar_chart(rows, args.out / "seed_table.png")
    print(json.dumps({"mode": "written", "table": str(args.out / "seed_table.md"),
                      "chart": str(args.out / "seed_table.png")}), flush=True)


if __name__ == "__main__":
    main()
