"""A recorded run made in-process: the crawler with hidden parameters, driven by the excitation."""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from crawler_rl.calibration.excitation import excitation_command, excitation_seconds
from crawler_rl.calibration.fit import with_values
from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.paths import config_path
from crawler_rl.sim.action import inverse_kinematics
from crawler_rl.sim.config import config_from_dict
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.scenario import Scenario

TRUE_VALUES = {"motor.gain": 0.9, "motor.lag_time": 0.1, "motor.droop": 3.5,
               "tether.drag_per_metre": 0.7}
"""The hidden robot: 10-75 % away from the defaults (1.0, 0.06, 2.5, 0.4)."""
DECK = Scenario(surface="deck", slope_deg=0.0, tether_length=5.0, randomize=False,
                start_heading_deg=0.0)


def base_config() -> dict[str, Any]:
    """The packaged crawler YAML as a nested dict."""
    return yaml.safe_load(config_path("crawler.yaml").read_text())


def record_in_sim(values: dict[str, float], time_scale: float = 0.6, seed: int = 1,
                  scenario: Scenario = DECK) -> RecordedRun:
    """Drive the excitation with IK on a crawler with `values`; noisy sensors as configured."""
    config = config_from_dict(with_values(base_config(), values))
    sim = CrawlerSim(config, scenario, np.random.default_rng(seed))
    steps = int(round(excitation_seconds(time_scale) / sim.control_dt))
    commands, wheel_speeds = np.zeros((steps, 2)), np.zeros((steps, 2))
    yaw_rate, velocity, tension = np.zeros(steps), np.zeros(steps), np.zeros(steps)
    for step in range(steps):
        twist = excitation_command(step * sim.control_dt, time_scale) or (0.0, 0.0)
        commands[step] = inverse_kinematics(np.array(twist), sim.action_spec)
        sim.apply_wheel_speeds(commands[step])
        sim.step_control()
        reading = sim.read_sensors()
        wheel_speeds[step] = reading.wheel_speeds
        velocity[step], yaw_rate[step] = reading.measured_twist
        tension[step] = reading.tether_tension
    sim.close()
    return RecordedRun(control_dt=sim.control_dt, wheel_commands=commands,
                       wheel_speeds=wheel_speeds, yaw_rate=yaw_rate,
                       forward_velocity=velocity, tether_tension=tension)
