"""Env steps/s per core (lumped and chain tether, single env and SyncVecEnv) vs raw PyBullet.

The chain rows also give `cost_vs_lumped`: lumped env steps/s / chain env steps/s of this run
(how many times slower the chain tether makes the env), for each `--chain-links` count.

The raw limit loads the same URDF and hull with the same engine settings (12 substeps of
1/240 s inside each stepSimulation), and per control step only sets the wheel motors, steps
physics and reads the base velocity (no env logic, no magnet or tether force).
Chunks of raw (one world, and VEC_ENVS worlds round-robin as SyncVecEnv steps them), single-env
and vectorized stepping alternate so machine noise hits all; medians over the chunks are reported.
Prints JSON lines.

`--physics` adds the price of a cheaper physics step: for each (physics_hz, solver_iterations)
variant, its env steps/s against the default's (alternating chunks, median of the per-chunk
ratios) beside its deviation from a converged reference (1 kHz, 100 solver iterations) on a
fixed set of open-loop trajectories (`FIDELITY_SCENARIOS` x `FIDELITY_COMMANDS`: the true body
twist, RMS over the steps, worst scenario), and whether it stays within `fidelity_bound`.
Usage: PYTHONPATH=. python bench/sim_throughput.py [--chunks 9] [--chain-links 12] [--physics]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from typing import Any

import numpy as np
import pybullet as p

from crawler_rl.sim.action import inverse_kinematics
from crawler_rl.sim.config import CrawlerConfig, load_crawler_config
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.vec_env import SyncVecEnv

SCENARIO = Scenario(surface="deck", tether_length=5.0, randomize=False, start_heading_deg=0.0)
VEC_ENVS = 16
VEC_MODE = f"sync_vec_{VEC_ENVS}"

REFERENCE_PHYSICS = (1000.0, 100)
"""(physics_hz, solver_iterations) of the converged reference the variants are measured against."""
CHEAPER_PHYSICS = ((240.0, 10), (160.0, 10), (120.0, 20), (120.0, 10), (80.0, 10))
"""Candidates (physics_hz, solver_iterations) measured against the configured default;
physics_hz a multiple of the 20 Hz control rate."""


def fidelity_bound(config: CrawlerConfig) -> tuple[float, float]:
    """Largest RMS deviation of the true (v [m/s], omega [rad/s]) from the reference on any
    fidelity trajectory: one std of the configured sensor noise (odometry, gyro), so what the
    physics step changes stays below what one reading can show the controller."""
    return config.sensors.odometry_noise, config.sensors.gyro_noise


FIDELITY_SCENARIOS = (
    Scenario("deck", 0.0, tether_length=5.0, randomize=False, start_heading_deg=0.0),
    Scenario("incline", 45.0, tether_length=25.0, randomize=False, start_heading_deg=30.0),
    Scenario("vertical", 90.0, tether_length=3.0, randomize=False, start_heading_deg=0.0),
    Scenario("vertical", 90.0, tether_length=25.0, randomize=False, start_heading_deg=-20.0),
)
"""Flat surfaces only: on the curved hull the reference itself does not converge (1 kHz with
200 solver iterations, or 2 kHz with 100, moves it by 0.002-0.016 m/s RMS, more than the
default's own deviation), so a deviation there measures solver noise, not the step size."""
FIDELITY_COMMANDS = ((0.1, 0.0), (0.1, 0.5), (-0.08, -0.6), (0.0, 0.8), (0.15, 0.0),
                     (-0.12, 0.3))
"""(v, omega) commands held 2 s each, sent open loop as IK wheel speeds."""


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


def physics_config(base: CrawlerConfig, physics_hz: float,
                   solver_iterations: int) -> CrawlerConfig:
    """`base` with another physics rate and solver iteration count."""
    physics = dataclasses.replace(base.physics, physics_hz=physics_hz,
                                  solver_iterations=solver_iterations)
    return dataclasses.replace(base, physics=physics)


def twist_trajectory(config: CrawlerConfig, scenario: Scenario) -> np.ndarray:
    """True (v, omega) after each control step of FIDELITY_COMMANDS, open loop. Shape (T, 2)."""
    sim = CrawlerSim(config, scenario, np.random.default_rng(0))
    hold = int(round(2.0 / sim.control_dt))
    twists = []
    for command in FIDELITY_COMMANDS:
        wheels = inverse_kinematics(np.asarray(command), sim.action_spec)
        for _ in range(hold):
            sim.apply_wheel_speeds(wheels)
            sim.step_control()
            twists.append(sim.true_twist())
    sim.close()
    return np.asarray(twists)


def rms_deviation(trajectory: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """RMS over the steps of trajectory - reference, per channel (v, omega). Shape (2,)."""
    return np.sqrt(np.mean(np.square(trajectory - reference), axis=0))


def physics_rows(base: CrawlerConfig, steps: int, chunks: int) -> list[dict[str, Any]]:
    """Speed-up against the default and deviation from the reference: the default's row first,
    then one per CHEAPER_PHYSICS candidate."""
    variants = [(base.physics.physics_hz, base.physics.solver_iterations), *CHEAPER_PHYSICS]
    reference = [twist_trajectory(physics_config(base, *REFERENCE_PHYSICS), scenario)
                 for scenario in FIDELITY_SCENARIOS]
    finer = physics_config(base, REFERENCE_PHYSICS[0], 2 * REFERENCE_PHYSICS[1])
    convergence = np.max([rms_deviation(twist_trajectory(finer, scenario), converged)
                          for scenario, converged in zip(FIDELITY_SCENARIOS, reference,
                                                         strict=True)], axis=0)
    vecs = []
    for variant in variants:
        config = physics_config(base, *variant)
        vecs.append(SyncVecEnv([lambda config=config: ScenarioEnv(config)] * VEC_ENVS))
        vecs[-1].reset(seed=0)
    rates: list[list[float]] = [[] for _ in variants]
    for _ in range(chunks):
        for index, vec in enumerate(vecs):
            rates[index].append(vec_chunk(vec, steps * 2))
    for vec in vecs:
        vec.close()
    bound = fidelity_bound(base)
    rows = []
    for index, variant in enumerate(variants):
        config = physics_config(base, *variant)
        deviations = {scenario.label: rms_deviation(twist_trajectory(config, scenario), converged)
                      for scenario, converged in zip(FIDELITY_SCENARIOS, reference, strict=True)}
        worst = np.max(list(deviations.values()), axis=0)
        ratios = [rate / default for rate, default in zip(rates[index], rates[0], strict=True)]
        rows.append({
            "bench": "sim_throughput", "mode": "physics", "physics_hz": variant[0],
            "solver_iterations": variant[1], "substeps": config.physics.substeps,
            "default": index == 0,
            "env_steps_per_s_per_core": round(statistics.median(rates[index]), 1),
            "speedup_vs_default": round(statistics.median(ratios), 3),
            "reference": {"physics_hz": REFERENCE_PHYSICS[0],
                          "solver_iterations": REFERENCE_PHYSICS[1],
                          "rms_change_at_twice_the_iterations_v_omega":
                              [round(float(x), 6) for x in convergence]},
            "deviation_v": round(float(worst[0]), 5),
            "deviation_omega": round(float(worst[1]), 5),
            "deviation_per_scenario_v_omega": {label: [round(float(x), 5) for x in value]
                                               for label, value in deviations.items()},
            "bound_v": bound[0], "bound_omega": bound[1],
            "within_bound": bool(worst[0] <= bound[0] and worst[1] <= bound[1]),
            "chunks": chunks,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=9, help="alternating measurement chunks")
    parser.add_argument("--steps", type=int, default=400, help="control steps per chunk")
    parser.add_argument("--chain-links", default="12",
                        help="comma-separated chain link counts to measure")
    parser.add_argument("--physics", action="store_true",
                        help="also measure cheaper physics steps against a converged reference")
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
    if args.physics:
        for row in physics_rows(base, args.steps, args.chunks):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
