"""Env steps/s per core (lumped and chain tether, single env and SyncVecEnv) vs raw PyBullet.

The raw limit loads the same URDF and hull with the same engine settings (12 substeps of
1/240 s inside each stepSimulation), and per control step only sets the wheel motors, steps
physics and reads the base velocity (no env logic, no magnet or tether force).
Chunks of raw, single-env and vectorized stepping alternate so machine noise hits all three;
medians over the chunks are reported. Prints JSON lines.
Usage: PYTHONPATH=. python bench/sim_throughput.py [--chunks 9]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import numpy as np
import pybullet as p

from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.vec_env import SyncVecEnv

SCENARIO = Scenario(surface="deck", tether_length=5.0, randomize=False, start_heading_deg=0.0)
VEC_ENVS = 16


def raw_chunk(sim: CrawlerSim, steps: int) -> float:
    """Control steps/s of bare PyBullet on the sim's world (robot, hull, chain if any)."""
    sim.reset(SCENARIO)
    robot, cid, joints, limits = sim.robot, sim._cid, sim.wheel_joints, sim._torque_limit
    start = time.perf_counter()
    for _ in range(steps):
        p.setJointMotorControlArray(robot, joints, p.VELOCITY_CONTROL, targetVelocities=[5.0, 4.0],
                                    forces=limits, physicsClientId=cid)
        p.stepSimulation(physicsClientId=cid)  # all substeps, as configured by load_crawler
        p.getBaseVelocity(robot, physicsClientId=cid)
    return steps / (time.perf_counter() - start)


def env_chunk(env: CrawlerEnv, steps: int) -> float:
    """Env steps/s of one CrawlerEnv with zero residual (IK) actions, resets included."""
    action = np.zeros(2, dtype=np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset(options={"scenario": SCENARIO})
    return steps / (time.perf_counter() - start)


def vec_chunk(vec: SyncVecEnv, steps: int) -> float:
    """Env steps/s summed over the SyncVecEnv's envs."""
    actions = np.zeros((vec.num_envs, 2), dtype=np.float32)
    rounds = max(1, steps // vec.num_envs)
    start = time.perf_counter()
    for _ in range(rounds):
        vec.step(actions)
    return rounds * vec.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=9, help="alternating measurement chunks")
    parser.add_argument("--steps", type=int, default=400, help="control steps per chunk")
    args = parser.parse_args()
    base = load_crawler_config()
    for model in ("lumped", "chain"):
        config = dataclasses.replace(base, tether=dataclasses.replace(base.tether, model=model))
        steps = args.steps if model == "lumped" else max(args.steps // 10, 20)
        sim = CrawlerSim(config, SCENARIO, np.random.default_rng(0))
        env = CrawlerEnv(config)
        env.reset(seed=0, options={"scenario": SCENARIO})
        vec = SyncVecEnv([lambda config=config: CrawlerEnv(config)] * VEC_ENVS)
        vec.reset(seed=0, options={"scenario": SCENARIO})
        rates: dict[str, list[float]] = {"raw": [], "single": [], f"sync_vec_{VEC_ENVS}": []}
        for _ in range(args.chunks):
            rates["raw"].append(raw_chunk(sim, steps))
            rates["single"].append(env_chunk(env, steps))
            rates[f"sync_vec_{VEC_ENVS}"].append(vec_chunk(vec, steps * 2))
        for closable in (sim, env, vec):
            closable.close()
        raw = statistics.median(rates["raw"])
        for mode in ("single", f"sync_vec_{VEC_ENVS}"):
            pairs = zip(rates[mode], rates["raw"], strict=True)
            ratios = [rate / raw_rate for rate, raw_rate in pairs]
            print(json.dumps({
                "bench": "sim_throughput", "tether": model, "mode": mode,
                "env_steps_per_s_per_core": round(statistics.median(rates[mode]), 1),
                "physics_steps_per_control_step": config.physics.substeps,
                "raw_pybullet_control_steps_per_s": round(raw, 1),
                "ratio_to_raw": round(statistics.median(ratios), 3),
                "chain_links": config.tether.chain_links if model == "chain" else 0,
                "chunks": args.chunks,
            }), flush=True)


if __name__ == "__main__":
    main()
