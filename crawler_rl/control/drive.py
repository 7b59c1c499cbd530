"""`crawler-rl drive`: the inverse-kinematics controller through a command sequence, as a table.

The episode is driven by the evaluation's loop (`crawler_rl.control.episode.run_episode`) with the
open-loop IK controller; the table adds the env's own error, tension and slip figures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from crawler_rl.control.episode import OpenLoopIK, on_ik_base, run_episode
from crawler_rl.sim.config import (
    HULL_RADIUS_M,
    SURFACE_SLOPES_DEG,
    CrawlerConfig,
    load_crawler_config,
)
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario

SURFACE_SLOPES = {**SURFACE_SLOPES_DEG, "45deg": SURFACE_SLOPES_DEG["incline"]}
"""Surface names accepted by `drive_baseline` and their slope [deg] ("45deg": the incline)."""


def baseline_scenario(surface: str, tether_length: float) -> Scenario:
    """Return a randomized scenario for a named surface ("45deg": the 45 degree incline)."""
    if surface not in SURFACE_SLOPES:
        raise ValueError(f"surface must be one of {sorted(SURFACE_SLOPES)}, got {surface!r}")
    return Scenario(
        surface="incline" if surface == "45deg" else surface,
        slope_deg=SURFACE_SLOPES[surface],
        hull_radius=HULL_RADIUS_M,
        tether_length=tether_length,
        randomize=True,
    )


class CommandLoggingIK(OpenLoopIK):
    """Open-loop IK that also logs the env's exact (float64) command at each step.

    The observation carries the command in float32; the table reports the schedule's own values.
    """

    def __init__(self, env: CrawlerEnv) -> None:
        super().__init__(env.sim.action_spec)
        self.env = env
        self.commands: list[np.ndarray] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """IK of the observed command (action 0), logging the command it answers."""
        self.commands.append(self.env.commanded_twist)
        return super().__call__(obs)


INFO_KEYS = ("tracking_error_v", "tracking_error_omega", "tether_tension", "slip")
"""The env's per-step figures the table needs, besides the command."""


def run_baseline_episode(env: CrawlerEnv, scenario: Scenario, seed: int) -> dict[str, np.ndarray]:
    """One episode with zero residual (pure IK); per-step commands, errors, tension, slip."""
    controller = CommandLoggingIK(env)
    trace = run_episode(env, controller, seed, scenario, info_keys=INFO_KEYS)
    return {
        "commands": np.array(controller.commands),
        "errors": np.stack([trace["tracking_error_v"], trace["tracking_error_omega"]], axis=1),
        "tension": np.array(trace["tether_tension"]), "slip": np.array(trace["slip"]),
        "terminated": bool(trace["terminated"][0]),
    }


def drive_baseline(
    surface: str, tether_length: float, seconds: float, seed: int,
    config: CrawlerConfig | None = None,
) -> dict:
    """Run the IK baseline for `seconds` and print a table of tracking RMSE per command.

    Returns {"surface", "tether_length", "seconds", "seed", "rmse_v", "rmse_omega",
    "mean_tension", "max_slip", "detached", "segments": [...]}.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    config = config or load_crawler_config()
    config = on_ik_base(dataclasses.replace(
        config, task=dataclasses.replace(config.task, episode_seconds=float(seconds))))
    env = CrawlerEnv(config)
    try:
        episode = run_baseline_episode(env, baseline_scenario(surface, tether_length), seed)
    finally:
        env.close()
    commands, errors = episode["commands"], episode["errors"]
    change = np.flatnonzero(np.any(np.diff(commands, axis=0) != 0, axis=1)) + 1
    segments = []
    for rows in np.split(np.arange(len(commands)), change):
        segment_errors = errors[rows]
        segments.append({
            "v": float(commands[rows[0], 0]), "omega": float(commands[rows[0], 1]),
            "seconds": len(rows) * env.control_dt,
            "rmse_v": float(np.sqrt(np.mean(segment_errors[:, 0] ** 2))),
            "rmse_omega": float(np.sqrt(np.mean(segment_errors[:, 1] ** 2))),
        })
    result = {
        "surface": surface, "tether_length": float(tether_length), "seconds": float(seconds),
        "seed": int(seed),
        "rmse_v": float(np.sqrt(np.mean(errors[:, 0] ** 2))),
        "rmse_omega": float(np.sqrt(np.mean(errors[:, 1] ** 2))),
        "mean_tension": float(np.mean(episode["tension"])),
        "max_slip": float(np.max(episode["slip"])),
        "detached": bool(episode["terminated"]),
        "segments": segments,
    }
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    """Markdown table of one `drive_baseline` result."""
    lines = [
        f"IK baseline on {result['surface']}, tether {result['tether_length']:g} m, "
        f"seed {result['seed']}",
        "| cmd v [m/s] | cmd omega [rad/s] | seconds | RMSE v [m/s] | RMSE omega [rad/s] |",
        "|---:|---:|---:|---:|---:|",
    ]
    for seg in result["segments"]:
        lines.append(
            f"| {seg['v']:+.3f} | {seg['omega']:+.3f} | {seg['seconds']:.1f} | "
            f"{seg['rmse_v']:.4f} | {seg['rmse_omega']:.4f} |"
        )
    lines.append(
        f"| **all** | | {result['seconds']:.1f} | {result['rmse_v']:.4f} | "
        f"{result['rmse_omega']:.4f} |"
    )
    lines.append(f"mean tether tension {result['mean_tension']:.1f} N, "
                 f"max slip {result['max_slip']:.3f} m/s, detached: {result['detached']}")
    return "\n".join(lines)
