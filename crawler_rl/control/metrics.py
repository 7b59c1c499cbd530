"""Tracking figures a control engineer reads: full and steady RMSE, step-response figures.

Step-response figures follow python-control's `step_info` vocabulary, measured on each command
change of an episode (a step from the previous to the new commanded value, normalized so that
0 is the previous command and 1 the new one):

- RiseTime: time from 10% to 90% of the step [s];
- Overshoot: largest excursion beyond the new command, in % of the step;
- SettlingTime: time after the change until the response stays within 10% of the step around
  the new command for the rest of the segment [s] (NaN when it never does).

Unlike `step_info`, the target is the commanded value, not the response's own final value: a
controller that settles with an offset is not settled.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CHANNELS = ("v", "omega")
SETTLE_SECONDS = 0.5
"""Steady RMSE leaves out this long after each command change (and each episode start)."""
SETTLING_BAND = 0.1
MIN_STEP = {"v": 0.05, "omega": 0.2}
"""Smallest command change [m/s, rad/s] analysed as a step (smaller ones drown in noise)."""


def command_changes(trace: dict[str, list[float]]) -> np.ndarray:
    """Bool per step: the command differs from the previous step's, or an episode starts."""
    command = np.stack([np.asarray(trace["cmd_v"]), np.asarray(trace["cmd_omega"])], axis=1)
    changed = np.ones(len(command), dtype=bool)
    changed[1:] = np.any(command[1:] != command[:-1], axis=1)
    if "episode_start" in trace:
        changed |= np.asarray(trace["episode_start"], dtype=bool)
    return changed


def steady_mask(trace: dict[str, list[float]], control_dt: float,
                settle_seconds: float = SETTLE_SECONDS) -> np.ndarray:
    """Bool per step: False within `settle_seconds` after a command change or episode start."""
    changes = np.flatnonzero(command_changes(trace))
    window = int(round(settle_seconds / control_dt))
    mask = np.ones(len(trace["cmd_v"]), dtype=bool)
    for start in changes:
        mask[start:start + window] = False
    return mask


def squared_errors(trace: dict[str, list[float]], key: str) -> np.ndarray:
    """Per-step squared tracking error of channel `key` ("v" or "omega")."""
    return np.square(np.asarray(trace[key]) - np.asarray(trace[f"cmd_{key}"]))


def tracking_rmse(trace: dict[str, list[float]], control_dt: float) -> dict[str, float]:
    """Full-episode and steady RMSE of true vs commanded v [m/s] and omega [rad/s]."""
    steady = steady_mask(trace, control_dt)
    result = {}
    for key in CHANNELS:
        squared = squared_errors(trace, key)
        result[f"rmse_{key}"] = float(np.sqrt(np.mean(squared)))
        result[f"steady_rmse_{key}"] = (
            float(np.sqrt(np.mean(squared[steady]))) if steady.any() else math.nan
        )
    return result


def step_info(response: np.ndarray, control_dt: float) -> dict[str, float]:
    """RiseTime, Overshoot [%] and SettlingTime of a normalized step response (0 -> 1).

    `response[k]` is the output at time (k + 1) * control_dt after the command change (0 at the
    change itself); crossing times are interpolated linearly between samples.
    """
    time = (np.arange(len(response)) + 1) * control_dt
    rise = _crossing_time(response, 0.9, control_dt) - _crossing_time(response, 0.1, control_dt)
    overshoot = 100.0 * max(0.0, float(np.max(response)) - 1.0)
    outside = np.flatnonzero(np.abs(response - 1.0) > SETTLING_BAND)
    if not len(outside):
        settling = time[0]
    elif outside[-1] == len(response) - 1:
        settling = math.nan
    else:
        settling = time[outside[-1] + 1]
    return {"RiseTime": float(rise), "Overshoot": overshoot, "SettlingTime": float(settling)}


def _crossing_time(response: np.ndarray, level: float, control_dt: float) -> float:
    """First time the response reaches `level`, linear between samples (0 at the change)."""
    reached = np.flatnonzero(response >= level)
    if not len(reached):
        return math.nan
    index = int(reached[0])
    before = float(response[index - 1]) if index > 0 else 0.0
    if before >= level:  # already there at the change (the previous command was not held)
        return index * control_dt
    fraction = (level - before) / (float(response[index]) - before)
    return (index + fraction) * control_dt


def step_responses(trace: dict[str, list[float]], key: str,
                   control_dt: float) -> list[dict[str, float]]:
    """`step_info` of every command change of channel `key` at least MIN_STEP[key] high."""
    command = np.asarray(trace[f"cmd_{key}"])
    achieved = np.asarray(trace[key])
    starts = list(np.flatnonzero(command_changes(trace)))
    episode_start = np.asarray(trace.get("episode_start", np.zeros(len(command))), dtype=bool)
    results = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(command)
        previous = 0.0 if episode_start[start] or start == 0 else command[start - 1]
        step = command[start] - previous
        if abs(step) < MIN_STEP[key]:
            continue
        response = (achieved[start:end] - previous) / step
        results.append({**step_info(response, control_dt), "step": float(step)})
    return results


def step_summary(trace: dict[str, list[float]], control_dt: float) -> dict[str, Any]:
    """Per channel: medians of RiseTime, Overshoot, SettlingTime over its steps, and counts."""
    summary: dict[str, Any] = {}
    for key in CHANNELS:
        steps = step_responses(trace, key, control_dt)
        entry: dict[str, Any] = {"steps": len(steps)}
        for name in ("RiseTime", "Overshoot", "SettlingTime"):
            values = np.array([step[name] for step in steps], dtype=np.float64)
            defined = values[np.isfinite(values)]
            entry[name] = float(np.median(defined)) if len(defined) else math.nan
        entry["settled"] = int(sum(math.isfinite(step["SettlingTime"]) for step in steps))
        summary[key] = entry
    return summary
