"""Replays of evaluation episodes (`crawler-rl eval --replay`): figure or animation per controller.

Each replayed episode is run again with the same seed (the simulator is deterministic), so the
evaluation itself records nothing it does not need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.control.episode import run_episode
from crawler_rl.viz.replay import check_replay_path, write_replay
from crawler_rl.viz.trace import RunTrace, trace_for_sim

CONTROLLER_NAMES = {"policy": "learned", "ik": "IK", "pi": "PI"}


def select_scenarios(scenarios: list[Any], replay: str) -> list[Any]:
    """Pick the scenarios named in `replay` ("all", or labels like "curved/long,deck/short")."""
    if replay.strip() == "all":
        return list(scenarios)
    by_label = {scenario.label: scenario for scenario in scenarios}
    chosen = []
    for label in (part.strip() for part in replay.split(",") if part.strip()):
        if label not in by_label:
            raise ValueError(f"--replay: unknown scenario {label!r}; choose 'all' or from "
                             f"{sorted(by_label)}")
        chosen.append(by_label[label])
    return chosen


def record_episode(env: Any, controller: Any, scenario: Any, seed: int,
                   name: str = "") -> RunTrace:
    """Run one evaluation episode and return its `RunTrace`."""
    traces: list[RunTrace] = []

    def observe(sim: Any, t: float, commanded: np.ndarray) -> None:
        if not traces:
            label = f"{scenario.label} {name}".strip()
            traces.append(trace_for_sim(sim, label))
        traces[0].add_from_sim(sim, t, commanded)

    run_episode(env, controller, seed, scenario, observe=observe)
    return traces[0]


def write_replays(env: Any, controllers: dict[str, Any], scenario: Any, seed: int,
                  out_dir: Path, suffix: str = ".png") -> list[Path]:
    """Replay `scenario` with each controller into <out_dir>/<scenario>_<controller><suffix>."""
    paths = []
    for key, controller in controllers.items():
        name = CONTROLLER_NAMES.get(key, key)
        path = check_replay_path(Path(out_dir) / f"{scenario.label.replace('/', '_')}_{key}"
                                 f"{suffix}")
        paths.append(write_replay(record_episode(env, controller, scenario, seed, name), path))
        print(f"replay: {path}")
    return paths
