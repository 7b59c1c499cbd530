"""Split the steady yaw-rate (or forward speed) error into each segment's offset and jitter.

For every command segment of the held-out episodes, the omega (`--channel v`: v) error
(true - commanded) is cut into windows by the time since the command changed (0.5-1 s, 1-2 s,
2-4 s, 4 s on); in each window the segment's mean error is its offset and the standard
deviation its jitter. Prints one JSON line per scenario and controller: the RMS offset and mean
jitter per window. An offset that stays while the segment lasts is error the controller's
integral action never removes (docs/baseline.md). Usage:
PYTHONPATH=. python bench/steady_offset.py --policy runs/x/controller.onnx [--episodes 4]
[--channel v]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.metrics import command_changes
from crawler_rl.rl.evaluate import build_controllers
from crawler_rl.sim.suites import suite_cases

WINDOWS_S = ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, float("inf")))
FLAT_FAMILIES = ("deck", "45deg", "curved")
MIN_SAMPLES = 4


def segment_windows(trace: dict[str, list[float]], control_dt: float,
                    key: str = "omega") -> dict[tuple[float, float], list[tuple[float, float]]]:
    """(offset, jitter) of each command segment within each window of `WINDOWS_S`."""
    error = np.asarray(trace[key]) - np.asarray(trace[f"cmd_{key}"])
    segment = np.cumsum(command_changes(trace))
    since = np.zeros(len(error))
    starts = np.flatnonzero(command_changes(trace))
    for start, end in zip(starts, [*starts[1:], len(error)], strict=True):
        since[start:end] = np.arange(end - start) * control_dt
    result: dict[tuple[float, float], list[tuple[float, float]]] = {w: [] for w in WINDOWS_S}
    for window in WINDOWS_S:
        for index in np.unique(segment):
            mask = (segment == index) & (since >= window[0]) & (since < window[1])
            if mask.sum() >= MIN_SAMPLES:
                result[window].append((float(error[mask].mean()), float(error[mask].std())))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="controller.onnx")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--channel", choices=("omega", "v"), default="omega",
                        help="the yaw rate (default) or the forward speed")
    parser.add_argument("--families", default=",".join(FLAT_FAMILIES),
                        help="held-out scenario families (deck, 45deg, vertical, curved)")
    args = parser.parse_args()
    families = args.families.split(",")
    for index, case in enumerate(suite_cases("held-out")):
        if case.label.split("/")[0] not in families:
            continue
        env = driving_env(case.config())
        control_dt = env.unwrapped.sim.control_dt
        controllers = build_controllers(Path(args.policy), ["pi"], env, None)
        for name, controller in controllers.items():
            pooled: dict[tuple[float, float], list[tuple[float, float]]] = {w: []
                                                                            for w in WINDOWS_S}
            for episode in range(args.episodes):
                seed = index + 1000 * episode  # crawler-rl eval's episodes (seed 0)
                trace = run_episode(env, controller, seed, case.scenario)
                for window, rows in segment_windows(trace, control_dt,
                                                     args.channel).items():
                    pooled[window].extend(rows)
            print(json.dumps({
                "scenario": case.label, "controller": name, "channel": args.channel,
                "windows_s": [list(w) for w in WINDOWS_S if pooled[w]],
                "offset_rms": [round(float(np.sqrt(np.mean([o * o for o, _ in pooled[w]]))), 5)
                               for w in WINDOWS_S if pooled[w]],
                "jitter_mean": [round(float(np.mean([j for _, j in pooled[w]])), 5)
                                for w in WINDOWS_S if pooled[w]],
            }), flush=True)
        env.close()


if __name__ == "__main__":
    main()
