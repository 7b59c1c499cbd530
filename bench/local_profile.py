"""Local trainer vs the env ceiling, and where its time goes, as JSON lines (one run).

Rounds alternate (so machine noise hits every form alike):
- ceiling: `core_bound.py`'s env mode, one SyncVecEnv process per core, nothing else;
- local training with the default config (`config/train.yaml`), `run.overlap_update` off;
- the same with `run.overlap_update` on (workers collect rollout k+1 during update k);
- with `--forms`, other shapes of the rollout: ENVSxSTEPS (`env.num_envs` x `ppo.num_steps`),
  `+overlap` for the overlap on it, e.g. `--forms default 32x16 32x16+overlap`.
A training round runs `--iterations` PPO iterations; the first `--warmup` are left out (they
pay process start-up and the first weights). Per training round the time split is given per
process: the trainer (waiting for the rollout, copying it into the storage, the PPO update,
other) and the mean rollout worker (loading weights, sim = `envs.step`, policy = acting and
values, the rest of its rollout loop, idle = waiting for a request). The summary line has the
medians over rounds and the ratios to the ceiling measured in the same rounds, and the
load average over the run (the machine may be shared: ratios in one run are what counts).
`cpu_ratio_to_ceiling` is load-proof: CPU seconds per env step of the ceiling's env loop
(one process, this one) over those of training (trainer + workers); it is the wall-clock
ratio the trainer would reach if it kept every core busy.

    PYTHONPATH=. python bench/local_profile.py --rounds 3 --iterations 16 --seconds 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from core_bound import VEC_ENVS, parallel_rate

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.envs import make_env_factory
from crawler_rl.rl.trainer import run_training
from crawler_rl.sim.vec_env import SyncVecEnv

FORMS = ("default", "overlap_update")
TRAINER_PARTS = ("rollout_wait_s", "fill_s", "update_s")
WORKER_PARTS = ("load", "sim", "policy", "busy", "cpu")


def ceiling_cpu_per_step(seconds: float) -> float:
    """CPU seconds per env step of the ceiling's env loop, in this process (load-proof)."""
    envs = SyncVecEnv([make_env_factory(TrainConfig().env)] * VEC_ENVS)
    envs.reset(seed=os.getpid())
    actions = np.zeros((VEC_ENVS, envs.action_dim), dtype=np.float32)
    steps, begin, begin_cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - begin < seconds:
        envs.step(actions)
        steps += VEC_ENVS
    cpu = time.process_time() - begin_cpu
    envs.close()
    return cpu / steps


def form_overrides(form: str) -> dict[str, Any]:
    """Config overrides of a form: default, overlap_update or ENVSxSTEPS[+overlap]."""
    overrides: dict[str, Any] = {}
    shape = form.removesuffix("+overlap")
    if form == "overlap_update" or shape != form:
        overrides["run.overlap_update"] = True
    if shape not in FORMS:
        try:
            envs, steps = (int(part) for part in shape.split("x"))
        except ValueError as error:
            raise SystemExit(f"form {form!r}: expected default, overlap_update or "
                             f"ENVSxSTEPS[+overlap], e.g. 32x16") from error
        overrides |= {"env.num_envs": envs, "ppo.num_steps": steps}
    return overrides


def train_round(overrides: dict[str, Any], iterations: int, warmup: int) -> dict:
    """Steps/s of the local trainer after `warmup` iterations, its time split and CPU/step."""
    base = load_train_config(None, overrides)
    batch = base.ppo.num_steps * base.env.num_envs
    cfg = load_train_config(None, {**overrides, "run.export_onnx": False,
                                   "run.checkpoint_every": 10**6,
                                   "run.total_steps": batch * (iterations + warmup)})
    metrics: list[dict[str, float]] = []

    def record(stats: dict[str, float]) -> None:
        metrics.append({**stats, "trainer_cpu_s": time.process_time()})

    with tempfile.TemporaryDirectory() as run_dir:
        run_training(cfg, Path(run_dir), progress=False, on_iteration=record)
    counted = metrics[warmup:]
    cpu = (counted[-1]["trainer_cpu_s"] - metrics[warmup - 1]["trainer_cpu_s"]
           + cfg.env.num_workers * sum(m["worker_cpu_s"] for m in counted))
    wall = counted[-1]["wall_time_s"] - metrics[warmup - 1]["wall_time_s"]
    steps = counted[-1]["global_step"] - metrics[warmup - 1]["global_step"]
    trainer = {part: sum(m[part] for m in counted) / wall for part in TRAINER_PARTS}
    trainer["other"] = 1.0 - sum(trainer.values())
    worker = {part: sum(m.get(f"worker_{part}_s", 0.0) for m in counted) / wall
              for part in WORKER_PARTS}
    worker.pop("cpu")
    busy = worker.pop("busy")
    worker["loop_other"] = busy - worker["load"] - worker["sim"] - worker["policy"]
    worker["idle"] = 1.0 - busy
    return {"steps_per_s": steps / wall, "iterations": len(counted),
            "trainer_fraction": {key: round(value, 3) for key, value in trainer.items()},
            "worker_fraction": {key: round(value, 3) for key, value in worker.items()},
            "policy_lag_mean": statistics.mean(m["policy_lag"] for m in counted),
            "cpu_s_per_step": cpu / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=16, help="measured, per round")
    parser.add_argument("--warmup", type=int, default=2, help="iterations left out")
    parser.add_argument("--seconds", type=float, default=6.0, help="ceiling, per round")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--forms", nargs="+", default=list(FORMS),
                        help="default, overlap_update, ENVSxSTEPS[+overlap]")
    args = parser.parse_args()
    forms = {form: form_overrides(form) for form in args.forms}
    for form, overrides in forms.items():  # refuse a form the trainer cannot run, before round 0
        try:
            load_train_config(None, overrides)
        except ValueError as error:
            raise SystemExit(f"form {form!r}: {error}") from error
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {"ceiling": [], **{form: [] for form in forms}}
    cpu_ratios: dict[str, list[float]] = {form: [] for form in forms}
    for round_index in range(args.rounds):
        ceiling = sum(parallel_rate("env", args.cores, args.seconds))
        ceiling_cpu = ceiling_cpu_per_step(args.seconds / 2)
        rates["ceiling"].append(ceiling)
        print(json.dumps({"bench": "local_profile", "round": round_index, "form": "ceiling",
                          "processes": args.cores, "steps_per_s": round(ceiling),
                          "cpu_s_per_step": ceiling_cpu,
                          "load_avg_1min": os.getloadavg()[0]}), flush=True)
        for form, overrides in forms.items():
            result = train_round(overrides, args.iterations, args.warmup)
            rates[form].append(result["steps_per_s"])
            result["steps_per_s"] = round(result["steps_per_s"])
            result["cpu_ratio_to_ceiling"] = round(ceiling_cpu / result["cpu_s_per_step"], 3)
            cpu_ratios[form].append(result["cpu_ratio_to_ceiling"])
            print(json.dumps({"bench": "local_profile", "round": round_index, "form": form,
                              **result, "ratio_to_ceiling": round(
                                  result["steps_per_s"] / ceiling, 3),
                              "load_avg_1min": os.getloadavg()[0]}), flush=True)
    medians = {form: statistics.median(values) for form, values in rates.items()}
    per_round = {form: [values[i] / rates["ceiling"][i] for i in range(args.rounds)]
                 for form, values in rates.items() if form != "ceiling"}
    print(json.dumps({
        "bench": "local_profile_summary", "rounds": args.rounds,
        "median_steps_per_s": {form: round(value) for form, value in medians.items()},
        "median_ratio_to_ceiling": {form: round(statistics.median(values), 3)
                                    for form, values in per_round.items()},
        "ratio_rounds": {form: [round(value, 3) for value in values]
                         for form, values in per_round.items()},
        **({"overlap_over_default": round(medians["overlap_update"] / medians["default"], 3)}
           if {"default", "overlap_update"} <= set(medians) else {}),
        "median_cpu_ratio_to_ceiling": {form: statistics.median(values)
                                        for form, values in cpu_ratios.items()},
        "target_ratio": 0.85,
        "load_avg_before": [round(v, 2) for v in load_before],
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }), flush=True)


if __name__ == "__main__":
    main()
