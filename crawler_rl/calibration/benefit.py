"""Does calibrating pay? The "true" robot of bench/calibration_benefit.py and its evaluation.

The true crawler has slower, weaker motors and a draggier tether than config/crawler.yaml
assumes (each value outside the default randomization range). Controllers trained on the
defaults and on the fitted config are compared on it: the held-out scenarios, no
randomization, RMSE of the true twist against the command (full and steady), pooled overall
and per surface family. Shared by the bench and test/calibration/test_calibration_benefit.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crawler_rl.calibration.excitation import excitation_command, excitation_seconds
from crawler_rl.calibration.fit import with_values
from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.control.episode import WheelSpeedController, on_ik_base, run_episodes
from crawler_rl.paths import config_path
from crawler_rl.rl.evaluate import (
    build_controllers,
    pooled_by_family,
    pooled_figures,
    scenario_family,
)
from crawler_rl.sim.action import inverse_kinematics
from crawler_rl.sim.config import config_from_dict
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario, held_out_scenarios

TRUE_ROBOT = {"motor.gain": 0.8, "motor.lag_time": 0.15, "motor.droop": 5.0,
              "tether.drag_per_metre": 1.0}
"""Defaults 1.0, 0.06, 2.5, 0.4, randomized x[0.9, 1.05], [0.03, 0.1], [1.5, 3.5], x[0.7, 1.3]."""
UNEVEN_ROBOT = {**TRUE_ROBOT, "motor.gain_imbalance": 0.1}
"""The same robot with one side's motor weaker than the other's (gains 0.72 and 0.88): driven
straight with IK it turns, so it differs in yaw too (default 0; the per-wheel randomization
x[0.9, 1.05] spans at most a 17 % difference between the sides)."""
TRUE_ROBOTS = {"slow": TRUE_ROBOT, "uneven": UNEVEN_ROBOT}
RECORDED_ON = Scenario(surface="deck", tether_length=5.0, randomize=False, start_heading_deg=0.0)
"""The surface the true robot's excitation is recorded on."""


def base_config() -> dict[str, Any]:
    """Return the packaged crawler YAML as a nested dict."""
    return yaml.safe_load(config_path("crawler.yaml").read_text())


def true_robot_config(values: dict[str, float] | None = None) -> dict[str, Any]:
    """Return the packaged crawler YAML with the true robot's values (default TRUE_ROBOT)."""
    return with_values(base_config(), TRUE_ROBOT if values is None else values)


def record_excitation(config_data: dict[str, Any], seed: int) -> RecordedRun:
    """Drive the crawler `config_data` through the excitation with IK (noisy sensors)."""
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


def evaluate_on_true_robot(policies: dict[str, Path], episodes: int, seed: int,
                           baselines: tuple[str, ...] = ("ik",),
                           robot: dict[str, Any] | None = None) -> dict[str, Any]:
    """Drive the held-out scenarios on the true robot (or `robot`'s config) with each policy.

    Scenario i runs `episodes` episodes with seeds seed + i + 1000 * episode, as `crawler-rl
    evaluate` does, with randomization off (exactly that robot), and the `baselines` too ("ik",
    "pi" with the shipped gains, "oracle": `crawler-rl eval`'s, on this robot).
    Returns {"overall": {controller: {rmse_v, rmse_omega, steady_rmse_v, steady_rmse_omega}},
    "families": {family: the same}} (pooled over the steps of all episodes).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    from crawler_rl.control.onnx_runner import OnnxPolicy

    # the controllers output wheel speeds, which run_episode maps onto the IK residual base
    env = CrawlerEnv(on_ik_base(config_from_dict(
        true_robot_config() if robot is None else robot)))
    try:
        controllers: dict[str, WheelSpeedController] = {
            **build_controllers(None, list(baselines), env, None),
            **{name: OnnxPolicy(Path(path)) for name, path in policies.items()}}
        results: list[dict[str, Any]] = []
        traces: dict[str, dict[str, dict[str, list[float]]]] = {}
        for index, scenario in enumerate(held_out_scenarios()):
            scenario = dataclasses.replace(scenario, randomize=False)
            seeds = [seed + index + 1000 * episode for episode in range(episodes)]
            results.append({"scenario": scenario.label, "family": scenario_family(scenario.label)})
            traces[scenario.label] = {}
            for name, controller in controllers.items():
                trace = run_episodes(env, controller, seeds, scenario)
                trace.pop("terminated")
                traces[scenario.label][name] = trace
        names = list(controllers)
        control_dt = env.control_dt
    finally:
        env.close()
    return {"overall": _without_ratios(pooled_figures(list(traces.values()), names, control_dt)),
            "families": {family: _without_ratios(figures) for family, figures
                         in pooled_by_family(results, traces, names, control_dt).items()}}


def _without_ratios(figures: dict[str, Any]) -> dict[str, Any]:
    """`pooled_figures` without its ratios entry (its pairs are evaluate's controller names)."""
    return {name: values for name, values in figures.items() if name != "ratios"}
