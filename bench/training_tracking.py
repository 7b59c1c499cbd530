"""Learned vs PI vs IK on training-distribution episodes (for choosing between training variants).

Design choices are screened here, never on the held-out scenarios: the episodes are drawn by
`CrawlerEnv.reset` from the training distribution, with seeds apart from the PI tuning's
(`crawler_rl.control.tuning.episode_seeds(seed=1000 + S)`). Prints one JSON line: RMSE and
learned / PI, learned / IK ratios (full and steady), overall and per surface family; with
--oracle-scale also the lookahead oracle's (oracle / PI, oracle / IK: for choosing its channel
weights, e.g. as a distillation teacher, without the held-out set). Usage:
PYTHONPATH=. python bench/training_tracking.py --policy runs/x/controller.onnx [--episodes 32]
PYTHONPATH=. python bench/training_tracking.py --oracle-scale 0.01,0.2 [--episodes 32]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.metrics import CHANNELS, squared_errors, steady_mask
from crawler_rl.control.oracle import error_scale_argument
from crawler_rl.control.tuning import episode_seeds
from crawler_rl.rl.evaluate import build_controllers

SEED_OFFSET = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", default=None, help="controller.onnx")
    parser.add_argument("--oracle-scale", type=error_scale_argument, default=None,
                        metavar="V,OMEGA",
                        help="also run the lookahead oracle with these error scales")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.policy is None and args.oracle_scale is None:
        parser.error("give --policy and/or --oracle-scale")
    env = driving_env()
    control_dt = env.unwrapped.sim.control_dt
    baselines = ["ik", "pi"] + (["oracle"] if args.oracle_scale is not None else [])
    controllers = build_controllers(Path(args.policy) if args.policy else None, baselines, env,
                                    None, args.oracle_scale)
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
        for subject, label in (("policy", "learned"), ("oracle", "oracle")):
            for reference in ("pi", "ik"):
                for key in rmse.get(subject, {}):
                    ratio = rmse[subject][key] / max(rmse[reference][key], 1e-12)
                    result[group][f"{label}/{reference}_{key}"] = round(ratio, 3)
    print(json.dumps({"bench": "training_tracking", "policy": args.policy,
                      "oracle_scale": args.oracle_scale, "episodes": args.episodes, **result}))


if __name__ == "__main__":
    main()
