"""Tracking RMSE of the IK baseline per surface x tether length over seeded randomized episodes.

Prints one JSON line per cell and a markdown table. Usage:
PYTHONPATH=. python bench/baseline_tracking.py [--episodes 4]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.drive import run_baseline_episode
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import held_out_scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4, help="seeded episodes per cell")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env = CrawlerEnv(load_crawler_config())
    rows = []
    for scenario in held_out_scenarios():
        errors, tension, slip, detached = [], [], [], 0
        for episode in range(args.episodes):
            result = run_baseline_episode(env, scenario, seed=args.seed + episode)
            errors.append(result["errors"])
            tension.append(result["tension"])
            slip.append(result["slip"])
            detached += int(result["terminated"])
        errors = np.concatenate(errors)
        row = {
            "bench": "baseline_tracking", "scenario": scenario.label,
            "tether_length": round(scenario.tether_length, 2),
            "slope_deg": round(scenario.slope_deg, 1), "episodes": args.episodes,
            "rmse_v": round(float(np.sqrt(np.mean(errors[:, 0] ** 2))), 4),
            "rmse_omega": round(float(np.sqrt(np.mean(errors[:, 1] ** 2))), 4),
            "mean_tension": round(float(np.mean(np.concatenate(tension))), 2),
            "mean_slip": round(float(np.mean(np.concatenate(slip))), 4),
            "detached_episodes": detached,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    env.close()
    print("\n| scenario | tether [m] | RMSE v [m/s] | RMSE omega [rad/s] | tension [N] "
          "| detached |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['scenario']} | {row['tether_length']:.1f} | {row['rmse_v']:.4f} | "
              f"{row['rmse_omega']:.4f} | {row['mean_tension']:.1f} | "
              f"{row['detached_episodes']}/{row['episodes']} |")


if __name__ == "__main__":
    main()
