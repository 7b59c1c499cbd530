"""Drive `CrawlerVelocity-v0` episodes with a wheel speed controller and record the tracking.

Shared by the evaluation (`crawler_rl.rl.evaluate`), the PI tuning (`tuning`) and the benchmarks.
The achieved twist recorded is the simulator's true twist, not the noisy measurement the
controller sees.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from crawler_rl.sim.action import ActionSpec, inverse_kinematics

TRACE_KEYS = ("t", "cmd_v", "cmd_omega", "v", "omega", "episode_start")
"""Per control step: time [s], command, true twist, 1.0 on the first step of an episode."""


class WheelSpeedController(Protocol):
    """obs (OBS_DIM,) -> wheel speed command (2,) [rad/s]; `reset()` at each episode start."""

    def reset(self) -> None:
        """Forget the controller's state (start of an episode)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Return the wheel speed command for one observation."""


class OpenLoopIK:
    """The open-loop baseline: wheel speeds = IK(command), i.e. the policy's action 0."""

    def __init__(self, spec: ActionSpec) -> None:
        self.spec = spec

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """IK of obs[0:2], clipped to the wheel speed limit."""
        return inverse_kinematics(np.asarray(obs[0:2], dtype=np.float64), self.spec)


def action_for_wheel_speeds(
    commanded_twist: np.ndarray, wheel_speeds: np.ndarray, spec: ActionSpec
) -> np.ndarray:
    """Env action whose residual mapping reproduces `wheel_speeds` exactly (inverse mapping).

    Valid because wheel_speeds = clip(IK + limit * a) lies within residual_limit of the clipped IK.
    """
    ik = inverse_kinematics(np.asarray(commanded_twist, dtype=np.float64), spec)
    return np.clip((np.asarray(wheel_speeds, dtype=np.float64) - ik) / spec.residual_limit, -1, 1)


def on_ik_base(config: Any) -> Any:
    """Return `config` (a CrawlerConfig) with `motor.residual_base: ik`.

    Action 0 is then IK whatever the configured base, so wheel speeds map onto actions exactly
    (`action_for_wheel_speeds`).
    """
    import dataclasses

    return dataclasses.replace(config, motor=dataclasses.replace(config.motor,
                                                                 residual_base="ik"))


def driving_env(config: Any = None, **kwargs: Any) -> Any:
    """`CrawlerVelocity-v0` for driving with wheel speed controllers: the IK residual base.

    The controllers compared here output wheel speeds (an exported policy carries its own
    residual base inside the graph), which `run_episode` maps exactly onto the env's IK-based
    action; `config` None loads config/crawler.yaml, whatever its `motor.residual_base`.
    """
    import gymnasium as gym

    import crawler_rl.sim  # noqa: F401 - registers CrawlerVelocity-v0
    from crawler_rl.sim.config import load_crawler_config

    config = config if config is not None else load_crawler_config()
    return gym.make("CrawlerVelocity-v0", config=on_ik_base(config), **kwargs)


def run_episode(
    env: Any, controller: WheelSpeedController, seed: int, scenario: Any = None,
    info_keys: tuple[str, ...] = (),
) -> dict[str, list[float]]:
    """Drive one episode (scenario None: drawn from the env's training distribution).

    The trace holds `TRACE_KEYS` per step, the env's `info_keys` per step and "terminated".
    """
    base = env.unwrapped
    if (getattr(base, "residual_base_gains", None) is not None
            or getattr(base, "increment_limit", None) is not None):
        raise ValueError("run_episode maps wheel speeds onto the IK residual base; this env's "
                         "action 0 is another base (motor.residual_base: pi or incremental): "
                         "drive in driving_env()")
    options = None if scenario is None else {"scenario": scenario}
    obs, _ = env.reset(seed=seed, options=options)
    controller.reset()
    sim = env.unwrapped.sim
    spec = sim.action_spec
    trace: dict[str, list[float]] = {key: [] for key in (*TRACE_KEYS, *info_keys)}
    step = 0
    done = False
    terminated = False
    while not done:
        commanded = np.asarray(obs[0:2], dtype=np.float64)
        action = action_for_wheel_speeds(commanded, controller(obs), spec)
        base.next_intended = getattr(controller, "carried", None)  # set-anew corrections
        obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
        v, omega = sim.true_twist()
        step += 1
        trace["t"].append(step * sim.control_dt)
        trace["cmd_v"].append(float(commanded[0]))
        trace["cmd_omega"].append(float(commanded[1]))
        trace["v"].append(float(v))
        trace["omega"].append(float(omega))
        trace["episode_start"].append(float(step == 1))
        for key in info_keys:
            trace[key].append(float(info[key]))
        done = bool(terminated or truncated)
    trace["terminated"] = [float(terminated)]
    return trace


def run_episodes(
    env: Any, controller: WheelSpeedController, seeds: list[int], scenario: Any = None
) -> dict[str, list[float]]:
    """`run_episode` for each seed, traces joined end to end (time keeps counting)."""
    joined: dict[str, list[float]] = {"t": []}
    terminated = 0.0
    for seed in seeds:
        trace = run_episode(env, controller, seed, scenario)
        offset = joined["t"][-1] if joined["t"] else 0.0
        joined["t"] += [t + offset for t in trace.pop("t")]
        terminated = max(terminated, *trace.pop("terminated"))
        for key, values in trace.items():
            joined.setdefault(key, []).extend(values)
    joined["terminated"] = [terminated]
    return joined
