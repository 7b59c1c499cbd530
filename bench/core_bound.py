"""How many env steps/s this machine's cores can give at all: the ceiling for any pipeline.

P processes (1, then every core) run at once, each for a fixed time, and their rates are
summed; P = 1 and P = all cores alternate over `--rounds` so machine noise hits both. Per
process:
- raw: bare PyBullet on VEC_ENVS crawler worlds on the deck, stepped round-robin without
  resets (sim_throughput.py's raw limit: motor command, stepSimulation with the 12 substeps
  of the default 240 Hz / 20 Hz timing, base velocity read; no env logic);
- env: a SyncVecEnv of VEC_ENVS CrawlerEnvs on the default training mix of surfaces
  (what the trainer and the actors step), zero residual (IK) actions, no policy.
Nothing else runs: no inference, no PPO update, no messages. Any training pipeline on these
cores stays below the `env` figure. Prints JSON lines; `goal_ratio` compares with the seed
study's 2,988 steps/s.

    PYTHONPATH=. python bench/core_bound.py --seconds 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sim_throughput import SCENARIO, VEC_ENVS, raw_step

SEED_STUDY_STEPS_PER_S = 2988.0


def _raw_rate(seconds: float, start: Callable[[], None]) -> float:
    from crawler_rl.sim.config import load_crawler_config
    from crawler_rl.sim.crawler import CrawlerSim

    config = load_crawler_config()
    sims = [CrawlerSim(config, SCENARIO, np.random.default_rng(i)) for i in range(VEC_ENVS)]
    start()
    steps, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:  # as sim_throughput.raw_vec_chunk, no resets
        for sim in sims:
            raw_step(sim)
        steps += VEC_ENVS
    rate = steps / (time.perf_counter() - begin)
    for sim in sims:
        sim.close()
    return rate


def _env_rate(seconds: float, start: Callable[[], None]) -> float:
    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.rl.envs import make_env_factory
    from crawler_rl.sim.vec_env import SyncVecEnv

    envs = SyncVecEnv([make_env_factory(TrainConfig().env)] * VEC_ENVS)
    envs.reset(seed=os.getpid())
    actions = np.zeros((VEC_ENVS, envs.action_dim), dtype=np.float32)
    start()
    steps, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        envs.step(actions)
        steps += VEC_ENVS
    rate = steps / (time.perf_counter() - begin)
    envs.close()
    return rate


def _run(mode: str, seconds: float, barrier: Any, results: mp.Queue) -> None:
    try:
        rate = (_raw_rate if mode == "raw" else _env_rate)(seconds, barrier.wait)
        results.put(("ok", rate))
    except Exception as error:  # noqa: BLE001 - reported by the parent
        barrier.abort()
        results.put(("error", f"{type(error).__name__}: {error}"))


def parallel_rate(mode: str, processes: int, seconds: float) -> list[float]:
    """Steps/s of each of `processes` forked processes running `mode` at the same time.

    A barrier starts their clocks together, after every process has built its worlds.
    """
    context = mp.get_context("fork")
    results: mp.Queue = context.Queue()
    barrier = context.Barrier(processes)
    workers = [context.Process(target=_run, args=(mode, seconds, barrier, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [text for kind, text in reports if kind == "error"]
    if errors:
        raise RuntimeError(f"core_bound {mode} process failed: {errors[0]}")
    return [rate for _, rate in reports]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per process and run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    totals: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for mode in ("raw", "env"):
            for processes in sorted({1, args.cores}):
                rates = parallel_rate(mode, processes, args.seconds)
                totals.setdefault((mode, processes), []).append(sum(rates))
    for (mode, processes), values in totals.items():
        total = statistics.median(values)
        single = statistics.median(totals[(mode, 1)])
        print(json.dumps({
            "bench": "core_bound", "mode": mode, "processes": processes,
            "envs_per_process": VEC_ENVS, "steps_per_s": round(total),
            "scaling_vs_one_process": round(total / single, 2),
            "goal_ratio": round(total / SEED_STUDY_STEPS_PER_S, 2),
            "rounds": [round(value) for value in values],
        }), flush=True)


if __name__ == "__main__":
    main()
