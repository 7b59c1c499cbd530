"""Learned vs PI vs IK on training-distribution episodes (for choosing between training variants).

Design choices are screened here, never on the held-out scenarios: the episodes are drawn by
`CrawlerEnv.reset` from the training distribution, with seeds apart from the PI tuning's
(`crawler_rl.control.tuning.episode_seeds(seed=1000 + S)`). Prints one JSON line: RMSE and
learned / PI, learned / IK ratios (full and steady), overall and per surface family. Usage:
PYTHONPATH=. python bench/training_tracking.py --policy runs/x/controller.onnx [--episodes 32]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.metrics import CHANNELS, squared_errors, steady_mask
from crawler_rl.control.tuning import episode_seeds
from crawler_rl.rl.evaluate import build_controllers

SEED_OFFSET = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="controller.onnx")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env = driving_env()
    control_dt = env.unwrapped.sim.control_dt
    controllers = build_controllers(Path(args.policy), ["ik", "pi"], env, None)
    errors: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {}
    for seed in episode_seeds(SEED_OFFSET + args.seed, args.episodes):
        for name, controller in controllers.items():
            trace = run_episode(env, controller, seed)
            family = env.unwrapped.scenario.surface
            steady = steady_mask(trace, control_dt)
            for group in (family, "overall"):
                bucket = errors.setdefault(group, {}).setdefault(name, {})
                for key in CHANNELS:
                    squared = squared_errors(trace, key)
                    bucket.setdefault(f"rmse_{key}", []).append(squared)
                    bucket.setdefault(f"steady_rmse_{key}", []).append(squared[steady])
    env.close()
    result: dict[str, dict[str, float]] = {}
    for group, by_name in errors.items():
        rmse = {name: {key: float(np.sqrt(np.mean(np.concatenate(parts))))
                       for key, parts in figures.items()} for name, figures in by_name.items()}
        result[group] = {f"{name}_{key}": round(value, 5)
                         for name, figures in rmse.items() for key, value in figures.items()}
        for reference in ("pi", "ik"):
            for key in rmse["policy"]:
                ratio = rmse["policy"][key] / max(rmse[reference][key], 1e-12)
                result[group][f"learned/{reference}_{key}"] = round(ratio, 3)
    print(json.dumps({"bench": "training_tracking", "policy": args.policy,
                      "episodes": args.episodes, **result}))


if __name__ == "__main__":
    main()
