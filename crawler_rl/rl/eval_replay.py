"""Replays of evaluation episodes (`crawler-rl eval --replay`): figure or animation per controller.

A replayed episode is played again through `ReplayRecorder` with the evaluation's seed (the
simulator is deterministic), so the evaluation itself records nothing it does not need and the
episode runner stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from crawler_rl.viz.replay import check_replay_path, write_replay
from crawler_rl.viz.trace import RunTrace, trace_for_sim

CONTROLLER_NAMES = {"policy": "learned", "ik": "IK", "pi": "PI"}
PlayEpisode = Callable[[gym.Env, Any], Any]
"""(env, controller) -> plays one episode on env (reset, then step until done)."""


class ReplayRecorder(gym.Wrapper):
    """Record a `RunTrace` of the episode played through this wrapper of a CrawlerEnv."""

    def __init__(self, env: gym.Env, name: str = "") -> None:
        super().__init__(env)
        self.name = name
        self.trace: RunTrace | None = None
        self.steps = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env and start a new trace on its hull."""
        observation, info = self.env.reset(**kwargs)
        crawler_env = self.env.unwrapped
        label = f"{crawler_env.scenario.label} {self.name}".strip()
        self.trace = trace_for_sim(crawler_env.sim, label)
        self.steps = 0
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step and record the state reached, with the command this step tracked."""
        if self.trace is None:
            raise RuntimeError("ReplayRecorder: reset() before step()")
        crawler_env = self.env.unwrapped
        commanded = crawler_env.commanded_twist
        result = self.env.step(action)
        self.steps += 1
        self.trace.add_from_sim(crawler_env.sim, self.steps * crawler_env.control_dt, commanded)
        return result


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


def record_episode(env: gym.Env, play: Callable[[gym.Env], Any], name: str = "") -> RunTrace:
    """Run `play(recording_env)` (one episode) and return its `RunTrace`."""
    recorder = ReplayRecorder(env, name)
    play(recorder)
    if recorder.trace is None:
        raise ValueError("the episode was never reset: nothing to replay")
    return recorder.trace


def write_replays(env: gym.Env, controllers: dict[str, Any], out_dir: Path, suffix: str,
                  play: PlayEpisode) -> list[Path]:
    """Replay one episode per controller into <out_dir>/<scenario>_<controller><suffix>."""
    paths = []
    for key, controller in controllers.items():
        trace = record_episode(env, lambda recording_env, controller=controller:
                               play(recording_env, controller), CONTROLLER_NAMES.get(key, key))
        scenario = env.unwrapped.scenario.label.replace("/", "_")
        path = check_replay_path(Path(out_dir) / f"{scenario}_{key}{suffix}")
        paths.append(write_replay(trace, path))
        print(f"replay: {path}")
    return paths
