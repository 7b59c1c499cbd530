"""Replay recorded wheel commands open loop in CrawlerSim and return what its sensors show.

The replay is deterministic for a parameter set: nominal parameters (no randomization), a fixed
seed and noise-free sensors (the sensor delays and the velocity source stay as configured), so
the simulated signals are the model's prediction and the residual against the recording is the
recording's noise plus the model's error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from crawler_rl.sim.config import CrawlerConfig
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.scenario import Scenario

REPLAY_SEED = 0
"""Seed of the replay's simulator (nothing random is drawn with nominal, noise-free sensors)."""
NOISE_FIELDS = ("encoder_noise", "gyro_noise", "gravity_noise", "accel_noise", "odometry_noise",
                "tension_noise", "gyro_bias", "gyro_drift")


@dataclass(frozen=True)
class SimulatedSignals:
    """What the replayed simulator's sensors read after each step (same shapes as RecordedRun)."""

    wheel_speeds: np.ndarray
    yaw_rate: np.ndarray
    forward_velocity: np.ndarray
    tether_tension: np.ndarray
    detached_at: int | None
    """First step at which the crawler lost the hull, None if it never did."""


def noise_free(config: CrawlerConfig) -> CrawlerConfig:
    """Return the config with every sensor noise, bias and drift set to zero.

    An intermittent load cell reads every step here: outages are random, the replay is not.
    """
    sensors = dataclasses.replace(config.sensors, **{name: 0.0 for name in NOISE_FIELDS})
    if sensors.tension_sensor == "intermittent":
        sensors = dataclasses.replace(sensors, tension_sensor=True)
    return dataclasses.replace(config, sensors=sensors)


def nominal_scenario(scenario: Scenario) -> Scenario:
    """Return the scenario without randomization, with a fixed start heading (0 when not given)."""
    heading = 0.0 if scenario.start_heading_deg is None else scenario.start_heading_deg
    return dataclasses.replace(scenario, randomize=False, start_heading_deg=heading)


def replay(config: CrawlerConfig, scenario: Scenario,
           wheel_commands: np.ndarray) -> SimulatedSignals:
    """Apply `wheel_commands` (Shape: (N, 2) [rad/s]) one per control step from rest."""
    commands = np.asarray(wheel_commands, dtype=np.float64)
    steps = len(commands)
    wheel_speeds = np.zeros((steps, 2))
    twist = np.zeros((steps, 2))
    tension = np.zeros(steps)
    detached_at = None
    sim = CrawlerSim(noise_free(config), nominal_scenario(scenario),
                     np.random.default_rng(REPLAY_SEED))
    try:
        for step in range(steps):
            sim.apply_wheel_speeds(commands[step])
            sim.step_control()
            measured_twist, _, encoders, tether_tension, _ = sim.observation_inputs()
            twist[step], wheel_speeds[step] = measured_twist, encoders
            tension[step] = tether_tension
            if detached_at is None and sim.detached:
                detached_at = step
    finally:
        sim.close()
    return SimulatedSignals(wheel_speeds=wheel_speeds, yaw_rate=twist[:, 1],
                            forward_velocity=twist[:, 0], tether_tension=tension,
                            detached_at=detached_at)
