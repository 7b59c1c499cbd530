"""How much of the previous residual an incremental-base controller keeps from step to step.

On the `incremental` base the exported graph adds the previous residual r (wheel command minus
IK of the command) to IK and the network's increment. If the network's increment did not
depend on r, the controller would keep all of it (retention 1: an integrator). A network that
can read r, directly or rebuilt from the previous wheel command and the encoders, can learn to
leak it away (retention 0: the IK base, a residual set afresh each step). This bench measures
that on states of training-distribution episodes (`CrawlerEnv.reset`, seeds apart from the PI
tuning's), driving the model itself:

    retention = d wheel_t / d r_(t-1),

by finite differences: the previous residual, the previous wheel command and the encoder
reading move together by `--delta` [rad/s] (the state of a robot whose last command was that
much higher and whose wheel followed it), for both wheels alike (common: the v mode), apart
(differential: the yaw mode) and for the left wheel only (left on left, left on right).
Prints one JSON line with the median and the 10th / 90th percentiles. Usage:
PYTHONPATH=. python bench/residual_retention.py --policy runs/x/controller.onnx [--episodes 8]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.control.tuning import episode_seeds
from crawler_rl.sim.action import ActionSpec, output_limits
from crawler_rl.sim.observation import OBS_NAMES, RESIDUAL_CARRIERS

SEED_OFFSET = 2000
INCREMENTAL_MAPPINGS = ("incremental_residual_on_inverse_kinematics",
                        "incremental_and_direct_residual_on_inverse_kinematics")
"""Exported mappings on the incremental base (with one-step corrections or without: the
retention is read on the wheel command sent, corrections included)."""


class RecordingPolicy:
    """An `OnnxPolicy` that keeps every observation it is asked about."""

    def __init__(self, policy: OnnxPolicy) -> None:
        self.policy = policy
        self.observations: list[np.ndarray] = []

    def reset(self) -> None:
        """Stateless, as the policy."""
        self.policy.reset()

    @property
    def carried(self) -> np.ndarray | None:
        """The policy's carried command (one-step corrections), for the next observation."""
        return self.policy.carried

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.observations.append(np.asarray(obs, dtype=np.float32).copy())
        return self.policy(obs)


def shifted(observations: np.ndarray, moves: dict[str, float]) -> np.ndarray:
    """Copy of `observations` (N, OBS_DIM) with the residual's carriers of each side moved."""
    result = observations.copy()
    for side, delta in moves.items():
        for name in RESIDUAL_CARRIERS:
            result[:, OBS_NAMES.index(f"{name}_{side}")] += delta
    return result


def wheel_speeds(policy: OnnxPolicy, observations: np.ndarray) -> np.ndarray:
    """The model's wheel speeds for each observation row. Shape: (N, 2)."""
    return np.stack([policy(row) for row in observations])


def free_of_limits(speeds: np.ndarray, limits: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    """Rows (N,) whose wheel speeds (N, 2) are inside both output limits (N, 2, 2)."""
    inside = (speeds > limits[:, 0] + margin) & (speeds < limits[:, 1] - margin)
    return inside.all(axis=1)


def summary(values: np.ndarray) -> dict[str, float]:
    """Median and the 10th / 90th percentiles, rounded."""
    low, median, high = np.percentile(values, [10, 50, 90])
    return {"median": round(float(median), 3), "p10": round(float(low), 3),
            "p90": round(float(high), 3)}


def measure(wheels_of: Callable[[np.ndarray], np.ndarray], observations: np.ndarray,
            spec: ActionSpec, delta: float) -> dict[str, dict[str, float]]:
    """Retention summaries of a controller: both wheels' residuals moved alike (common, read
    on the left wheel: the v mode), apart (differential: half the change of right minus left,
    the yaw mode), and the left one alone (read on the left and on the right wheel).

    `wheels_of`: observations (N, OBS_DIM) -> wheel speeds (N, 2); `spec` gives its output
    limits. States where a limit binds, before or after the shift, are left out.
    """
    base = wheels_of(observations)
    limits = np.stack([np.stack(output_limits(row[0:2], spec)) for row in observations])
    results: dict[str, dict[str, float]] = {}
    for label, moves, read in (
            ("common", {"left": delta, "right": delta}, (1.0, 0.0)),
            ("differential", {"left": -delta, "right": delta}, (-0.5, 0.5)),
            ("left_on_left", {"left": delta}, (1.0, 0.0)),
            ("left_on_right", {"left": delta}, (0.0, 1.0))):
        moved = wheels_of(shifted(observations, moves))
        unclipped = free_of_limits(base, limits) & free_of_limits(moved, limits)
        if not unclipped.any():
            raise ValueError("every state sits at an output limit: nothing to measure")
        retention = (moved[unclipped] - base[unclipped]) @ np.array(read) / delta
        results[label] = {**summary(retention), "states_used": int(unclipped.sum())}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="controller.onnx (incremental base)")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--delta", type=float, default=0.1, help="residual shift [rad/s]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.episodes < 1 or not args.delta > 0.0:
        parser.error("--episodes must be >= 1 and --delta > 0")
    policy = OnnxPolicy(Path(args.policy))
    if policy.metadata.get("action_mapping") not in INCREMENTAL_MAPPINGS:
        parser.error(f"{args.policy} is not an incremental-base model "
                     f"(action_mapping {policy.metadata.get('action_mapping')!r})")
    recorder = RecordingPolicy(policy)
    env = driving_env()
    try:
        for seed in episode_seeds(SEED_OFFSET + args.seed, args.episodes):
            run_episode(env, recorder, seed)
    finally:
        env.close()
    observations = np.stack(recorder.observations)
    results = measure(lambda batch: wheel_speeds(policy, batch), observations,
                      policy.action_spec, args.delta)
    print(json.dumps({"bench": "residual_retention", "policy": args.policy,
                      "episodes": args.episodes, "states": len(observations),
                      "delta": args.delta, **results}))


if __name__ == "__main__":
    main()
