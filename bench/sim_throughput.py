"""Env steps/s per core (lumped and chain tether, single env and SyncVecEnv) vs raw PyBullet.

The chain rows also give `cost_vs_lumped`: lumped env steps/s / chain env steps/s of this run
(how many times slower the chain tether makes the env), for each `--chain-links` count.

The raw limit loads the same URDF and hull with the same engine settings (12 substeps of
1/240 s inside each stepSimulation), and per control step only sets the wheel motors, steps
physics and reads the base velocity (no env logic, no magnet or tether force).
Chunks of raw (one world, and VEC_ENVS worlds round-robin as SyncVecEnv steps them), single-env
and vectorized stepping alternate so machine noise hits all; medians over the chunks are reported.
Prints JSON lines.
Usage: PYTHONPATH=. python bench/sim_throughput.py [--chunks 9] [--chain-links 12]
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
VEC_MODE = f"sync_vec_{VEC_ENVS}"


class ScenarioEnv(CrawlerEnv):
    """CrawlerEnv whose every episode (auto-resets included) runs on SCENARIO."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # noqa: D102
        return super().reset(seed=seed, options={**(options or {}), "scenario": SCENARIO})


def raw_step(sim: CrawlerSim) -> None:
    """One bare control step of the sim's world: motor command, stepSimulation, base velocity."""
    p.setJointMotorControlArray(sim.robot, sim.wheel_joints, p.VELOCITY_CONTROL,
                                targetVelocities=[5.0, 4.0], forces=sim._torque_limit,
                                physicsClientId=sim._cid)
    p.stepSimulation(physicsClientId=sim._cid)  # all substeps, as configured by load_crawler
    p.getBaseVelocity(sim.robot, physicsClientId=sim._cid)


def raw_chunk(sim: CrawlerSim, steps: int) -> float:
    """Control steps/s of bare PyBullet on the sim's world (robot, hull, chain if any)."""
    sim.reset(SCENARIO)
    start = time.perf_counter()
    for _ in range(steps):
        raw_step(sim)
    return steps / (time.perf_counter() - start)


def raw_vec_chunk(sims: list[CrawlerSim], steps: int) -> float:
    """Control steps/s of bare PyBullet stepping several worlds round-robin (as SyncVecEnv does).

    Many worlds in one process share the CPU caches, so the vectorized env is compared with
    this, not with a single world.
    """
    rounds = max(1, steps // len(sims))
    for sim in sims:
        sim.reset(SCENARIO)
    start = time.perf_counter()
    for _ in range(rounds):
        for sim in sims:
            raw_step(sim)
    return rounds * len(sims) / (time.perf_counter() - start)


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
    """Env steps/s summed over the SyncVecEnv's envs (every episode on SCENARIO)."""
    actions = np.zeros((vec.num_envs, 2), dtype=np.float32)
    rounds = max(1, steps // vec.num_envs)
    start = time.perf_counter()
    for _ in range(rounds):
        vec.step(actions)
    return rounds * vec.num_envs / (time.perf_counter() - start)


def measure(config, steps: int, chunks: int) -> dict[str, list[float]]:
    """Alternating chunks of raw, single-env, raw round-robin and SyncVecEnv stepping."""
    sim = CrawlerSim(config, SCENARIO, np.random.default_rng(0))
    env = CrawlerEnv(config)
    env.reset(seed=0, options={"scenario": SCENARIO})
    vec = SyncVecEnv([lambda config=config: ScenarioEnv(config)] * VEC_ENVS)
    vec.reset(seed=0)
    raw_sims = [CrawlerSim(config, SCENARIO, np.random.default_rng(i)) for i in range(VEC_ENVS)]
    rates: dict[str, list[float]] = {"raw": [], "single": [], "raw_vec": [], VEC_MODE: []}
    for _ in range(chunks):
        rates["raw"].append(raw_chunk(sim, steps))
        rates["single"].append(env_chunk(env, steps))
        rates["raw_vec"].append(raw_vec_chunk(raw_sims, steps * 2))
        rates[VEC_MODE].append(vec_chunk(vec, steps * 2))
    for closable in (sim, env, vec, *raw_sims):
        closable.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=9, help="alternating measurement chunks")
    parser.add_argument("--steps", type=int, default=400, help="control steps per chunk")
    parser.add_argument("--chain-links", default="12",
                        help="comma-separated chain link counts to measure")
    args = parser.parse_args()
    base = load_crawler_config()
    variants = [("lumped", 0)] + [("chain", int(n)) for n in args.chain_links.split(",")]
    lumped_rates: dict[str, float] = {}
    for model, links in variants:
        tether = dataclasses.replace(base.tether, model=model,
                                     chain_links=links or base.tether.chain_links)
        config = dataclasses.replace(base, tether=tether)
        steps = args.steps if model == "lumped" else max(args.steps // 4, 20)
        rates = measure(config, steps, args.chunks)
        for mode, raw_mode in (("single", "raw"), (VEC_MODE, "raw_vec")):
            pairs = zip(rates[mode], rates[raw_mode], strict=True)
            ratios = [rate / raw_rate for rate, raw_rate in pairs]
            rate = statistics.median(rates[mode])
            row = {
                "bench": "sim_throughput", "tether": model, "mode": mode,
                "env_steps_per_s_per_core": round(rate, 1),
                "physics_steps_per_control_step": config.physics.substeps,
                "raw_pybullet_control_steps_per_s": round(statistics.median(rates[raw_mode]), 1),
                "raw_worlds": 1 if mode == "single" else VEC_ENVS,
                "ratio_to_raw": round(statistics.median(ratios), 3),
                "chain_links": links,
                "chunks": args.chunks,
            }
            if model == "lumped":
                lumped_rates[mode] = rate
            else:
                row["cost_vs_lumped"] = round(lumped_rates[mode] / rate, 2)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
