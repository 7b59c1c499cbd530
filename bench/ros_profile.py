"""The ROS 2 training graph against the env ceiling: ratio, time split and CPU per env step.

Each round runs, one after another: `core_bound.py`'s env ceiling (one SyncVecEnv of 16 envs
per core, zero actions, nothing else; summed steps/s), the ceiling's CPU per env step (the same
loop in this process), and for every form KxT of `--forms` the training graph with `--actors`
actor processes of K envs and rollouts of T steps, or AxKxT with A actor processes
(`pipeline_throughput.ros_pipeline`: head with inference and the learner child, real DDS,
default PPO config otherwise, the learner updating on actors * K * T transitions). The forms'
order alternates between rounds, so machine noise hits every form; the summary gives medians
over rounds.

Per graph run: `ratio_to_ceiling` (steps/s over the same round's ceiling); `cpu_ratio_to_ceiling`
(the ceiling's CPU per env step over the graph's, summed over all its processes: does not
depend on the load from other jobs); `time_split` (fractions of wall time per part, per
process) and `cpu_ms_per_step` (CPU per env step per process and part), from the nodes'
`~/status` time splits (crawler_rl/ros/training/time_split.py).

    PYTHONPATH=. python bench/ros_profile.py --rounds 3 --forms 4x32 8x32 16x32 16x16
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from core_bound import parallel_rate
from local_profile import ceiling_cpu_per_step
from pipeline_throughput import ros_pipeline

ENV_ID = "CrawlerVelocity-v0"


def load() -> float:
    """One-minute load average of the machine."""
    return round(os.getloadavg()[0], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", nargs="+", default=["4x32", "8x32", "16x32", "16x16"],
                        help="KxT: envs per actor x ppo.num_steps (the default is 4x32), or "
                        "AxKxT with A actor processes")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds after the first steps before measuring")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    ratios: dict[str, list[float]] = {form: [] for form in args.forms}
    cpu_ratios: dict[str, list[float]] = {form: [] for form in args.forms}
    rates: dict[str, list[float]] = {form: [] for form in args.forms}
    ceilings: list[float] = []
    for round_index in range(args.rounds):
        load_before = load()
        ceiling = sum(parallel_rate("env", args.cores, args.seconds))
        ceiling_cpu = ceiling_cpu_per_step(args.seconds / 2)
        ceilings.append(ceiling)
        print(json.dumps({"round": round_index, "form": "ceiling", "steps_per_s": round(ceiling),
                          "cpu_ms_per_step": round(1e3 * ceiling_cpu, 4),
                          "load": [load_before, load()]}), flush=True)
        order = args.forms if round_index % 2 == 0 else list(reversed(args.forms))
        for form in order:
            sizes = [int(part) for part in form.split("x")]
            actors, num_envs, num_steps = sizes if len(sizes) == 3 else [args.actors, *sizes]
            load_before = load()
            result = ros_pipeline(ENV_ID, num_envs, args.seconds, args.warmup, actors, num_steps)
            result["round"] = round_index
            result["form"] = form
            result["ratio_to_ceiling"] = result["steps_per_s"] / ceiling
            result["cpu_ratio_to_ceiling"] = (1e3 * ceiling_cpu
                                              / result["cpu_ms_per_step"]["total"])
            result["load"] = [load_before, load()]
            ratios[form].append(result["ratio_to_ceiling"])
            cpu_ratios[form].append(result["cpu_ratio_to_ceiling"])
            rates[form].append(result["steps_per_s"])
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in result.items()}), flush=True)
    print(json.dumps({
        "summary": "ros_profile", "actors": args.actors, "rounds": args.rounds,
        "ceiling_steps_per_s_median": round(statistics.median(ceilings)),
        "steps_per_s_median": {k: round(statistics.median(v)) for k, v in rates.items()},
        "ratio_to_ceiling_median": {k: round(statistics.median(v), 3)
                                    for k, v in ratios.items()},
        "ratio_to_ceiling_rounds": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
        "cpu_ratio_to_ceiling_median": {k: round(statistics.median(v), 3)
                                        for k, v in cpu_ratios.items()},
        "cpu_ratio_to_ceiling_rounds": {k: [round(x, 3) for x in v]
                                        for k, v in cpu_ratios.items()},
        "cpu_count": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }), flush=True)


if __name__ == "__main__":
    main()
