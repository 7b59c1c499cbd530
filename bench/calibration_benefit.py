"""Does calibrating pay? Train on the defaults and on a fitted config; evaluate on the true robot.

1. A "true" crawler with slower, weaker motors and a draggier tether than config/crawler.yaml
   assumes (outside the default randomization ranges) drives the excitation manoeuvre with IK,
   noisy sensors on (in-process: the ROS recording path is tested by
   test/system/test_calibration_round_trip.py).
2. `fit_parameters` fits motor.gain, lag_time, droop and tether.drag_per_metre to it.
3. PPO trains twice with the same budget and seed: on the defaults and on the fitted YAML.
4. Both controllers and IK drive the held-out scenarios on the true robot (no randomization):
   RMSE of the true twist against the command.

Prints JSON lines (fit, then one per controller and scenario family) and a summary line.
Usage: PYTHONPATH=. python bench/calibration_benefit.py [--total-steps 60000] [--episodes 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import yaml

from crawler_rl.calibration.excitation import excitation_command, excitation_seconds
from crawler_rl.calibration.fit import fit_parameters, with_values
from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.calibration.report import write_fitted_config
from crawler_rl.control.episode import OpenLoopIK, run_episodes
from crawler_rl.control.metrics import tracking_rmse
from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.paths import config_path
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.trainer import run_training
from crawler_rl.sim.action import inverse_kinematics
from crawler_rl.sim.config import config_from_dict
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario, held_out_scenarios

TRUE_ROBOT = {"motor.gain": 0.8, "motor.lag_time": 0.15, "motor.droop": 5.0,
              "tether.drag_per_metre": 1.0}
"""Defaults 1.0, 0.06, 2.5, 0.4, randomized x[0.9, 1.05], [0.03, 0.1], [1.5, 3.5], x[0.7, 1.3]."""
RECORDED_ON = Scenario(surface="deck", tether_length=5.0, randomize=False, start_heading_deg=0.0)


def record(config_data: dict, seed: int) -> RecordedRun:
    """The true robot driven through the excitation with IK (noisy sensors)."""
    sim = CrawlerSim(config_from_dict(config_data), RECORDED_ON, np.random.default_rng(seed))
    steps = int(round(excitation_seconds() / sim.control_dt))
    rows = []
    for step in range(steps):
        twist = np.array(excitation_command(step * sim.control_dt) or (0.0, 0.0))
        command = inverse_kinematics(twist, sim.action_spec)
        sim.apply_wheel_speeds(command)
        sim.step_control()
        reading = sim.read_sensors()
        rows.append((command, reading.wheel_speeds, *reading.measured_twist,
                     reading.tether_tension))
    sim.close()
    columns = (np.array(column) for column in zip(*rows, strict=True))
    commands, speeds, velocity, yaw, tension = columns
    return RecordedRun(sim.control_dt, commands, speeds, yaw, velocity, tension)


def train(name: str, crawler_config: Path | None, steps: int, seed: int, out: Path) -> Path:
    """Train with the packaged train.yaml; return the exported controller.onnx."""
    overrides = {"run.total_steps": steps, "run.seed": seed}
    if crawler_config is not None:
        overrides["env.crawler_config"] = str(crawler_config)
    start = time.monotonic()
    summary = run_training(load_train_config(None, overrides), out / name, progress=False)
    print(json.dumps({"bench": "calibration_benefit", "trained": name, "steps": steps,
                      "seconds": round(time.monotonic() - start)}), flush=True)
    return Path(summary["onnx"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--total-steps", type=int, default=60_000, help="PPO steps per model")
    parser.add_argument("--episodes", type=int, default=2, help="episodes per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/calibration_benefit")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(config_path("crawler.yaml").read_text())
    true_data = with_values(base, TRUE_ROBOT)
    result = fit_parameters(record(true_data, args.seed + 1), base, RECORDED_ON)
    fitted = write_fitted_config(out / "crawler_fit.yaml", base, result,
                                 ["bench/calibration_benefit.py"])
    print(json.dumps({"bench": "calibration_benefit", "true": TRUE_ROBOT,
                      "fitted": {k: round(v, 4) for k, v in result.values.items()},
                      "std": {k: round(v, 4) for k, v in result.std.items()},
                      "evaluations": result.evaluations}), flush=True)
    policies = {"default": train("default", None, args.total_steps, args.seed, out),
                "fitted": train("fitted", fitted, args.total_steps, args.seed, out)}
    env = CrawlerEnv(config_from_dict(true_data))
    controllers = {"ik": OpenLoopIK(env.sim.action_spec),
                   **{name: OnnxPolicy(path)
                      for name, path in policies.items()}}
    pooled: dict[str, dict[str, list[float]]] = {name: {} for name in controllers}
    for index, scenario in enumerate(held_out_scenarios()):
        scenario = dataclasses.replace(scenario, randomize=False)  # exactly the true robot
        seeds = [args.seed + index + 1000 * episode for episode in range(args.episodes)]
        for name, controller in controllers.items():
            trace = run_episodes(env, controller, seeds, scenario)
            trace.pop("terminated")
            for key, values in trace.items():
                pooled[name].setdefault(key, []).extend(values)
    summary = {}
    for name, trace in pooled.items():
        figures = tracking_rmse(trace, env.control_dt)
        summary[name] = {key: round(value, 4) for key, value in figures.items()}
        print(json.dumps({"bench": "calibration_benefit", "controller": name,
                          "on": "true robot, held-out scenarios", **summary[name]}), flush=True)
    env.close()
    print(json.dumps({"bench": "calibration_benefit", "fitted_over_default": {
        key: round(summary["fitted"][key] / summary["default"][key], 3)
        for key in ("rmse_v", "rmse_omega")}}), flush=True)


if __name__ == "__main__":
    main()
