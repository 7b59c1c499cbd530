"""Tracking RMSE of open-loop IK, IK + tuned PI and the learned controller per held-out scenario.

Prints one JSON line per scenario and controller (full and steady RMSE, step-response medians,
mean tether tension for IK) and a markdown table. Usage:
PYTHONPATH=. python bench/baseline_tracking.py [--episodes 4] [--policy test/data/controller.onnx]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crawler_rl.control.episode import driving_env, run_episodes
from crawler_rl.control.metrics import step_summary, tracking_rmse
from crawler_rl.rl.evaluate import LABELS, build_controllers
from crawler_rl.sim.scenario import held_out_scenarios

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "test" / "data" / "controller.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4, help="seeded episodes per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default=str(DEFAULT_POLICY),
                        help="controller.onnx ('' for the baselines only)")
    args = parser.parse_args()
    env = driving_env()
    control_dt = env.unwrapped.sim.control_dt
    controllers = build_controllers(Path(args.policy) if args.policy else None, ["ik", "pi"],
                                    env, None)
    rows = []
    for index, scenario in enumerate(held_out_scenarios()):
        seeds = [args.seed + index + 1000 * episode for episode in range(args.episodes)]
        row = {"bench": "baseline_tracking", "scenario": scenario.label,
               "tether_length": round(scenario.tether_length, 2),
               "slope_deg": round(scenario.slope_deg, 1), "episodes": args.episodes}
        for name, controller in controllers.items():
            trace = run_episodes(env, controller, seeds, scenario)
            terminated = bool(trace.pop("terminated")[0])
            figures = {key: round(value, 4)
                       for key, value in tracking_rmse(trace, control_dt).items()}
            step = step_summary(trace, control_dt)
            row[LABELS[name]] = {**figures, "terminated": terminated, "step": step}
        rows.append(row)
        print(json.dumps(row), flush=True)
    env.close()
    names = [LABELS[name] for name in controllers]
    print("\n| scenario | " + " | ".join(f"{n} v / omega (steady)" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in rows:
        cells = [f"{row[n]['rmse_v']:.4f} / {row[n]['rmse_omega']:.4f} "
                 f"({row[n]['steady_rmse_v']:.4f} / {row[n]['steady_rmse_omega']:.4f})"
                 for n in names]
        print(f"| {row['scenario']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
