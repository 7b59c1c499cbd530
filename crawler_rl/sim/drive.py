"""Drive today's inverse-kinematics controller through a command sequence and report tracking."""

from __future__ import annotations

import dataclasses

import numpy as np

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


def run_baseline_episode(env: CrawlerEnv, scenario: Scenario, seed: int) -> dict[str, np.ndarray]:
    """One episode with zero residual (pure IK); per-step commands, errors, tension, slip."""
    env.reset(seed=seed, options={"scenario": scenario})
    commands, errors, tension, slip = [], [], [], []
    action = np.zeros(2, dtype=np.float32)
    while True:
        command = env.commanded_twist
        _, _, terminated, truncated, info = env.step(action)
        commands.append(command)
        errors.append((info["tracking_error_v"], info["tracking_error_omega"]))
        tension.append(info["tether_tension"])
        slip.append(info["slip"])
        if terminated or truncated:
            break
    return {
        "commands": np.array(commands), "errors": np.array(errors),
        "tension": np.array(tension), "slip": np.array(slip), "terminated": terminated,
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
    config = dataclasses.replace(  # action 0 = IK whatever the configured residual base
        config, task=dataclasses.replace(config.task, episode_seconds=float(seconds)),
        motor=dataclasses.replace(config.motor, residual_base="ik"),
    )
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
