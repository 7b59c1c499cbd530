"""Does calibrating pay? Train on the defaults and on a fitted config; evaluate on the true robot.

For each seed:
1. The "true" crawler of crawler_rl/calibration/benefit.py (`--robot slow`: slower, weaker
   motors and a draggier tether than config/crawler.yaml assumes, outside the default
   randomization ranges; `--robot uneven`: the same with one side's motor weaker) drives
   the excitation manoeuvre with IK, noisy sensors on (in-process: the ROS recording path is
   tested by test/system/test_calibration_round_trip.py).
2. `fit_parameters` fits motor.gain, lag_time, droop and tether.drag_per_metre to it (and
   motor.gain_imbalance for the uneven robot: the keys the robot has values for).
3. PPO trains twice with the same budget and seed: on the defaults and on the fitted YAML
   (<out>/seed<N>/{crawler_fit.yaml, default/, fitted/}).
4. Both controllers and IK (`--baselines`: also the tuned PI and the lookahead oracle) drive
   the held-out scenarios on the true robot (no randomization):
   RMSE of the true twist against the command, full and steady, overall and per surface family.

Prints JSON lines (fit, training times, figures per seed and controller, the fitted / default
ratios per seed) and a last line with the median and range of the ratios over the seeds.
`--skip-training` re-evaluates the models an earlier run left in <out>; `--default-models DIR`
takes the default-trained models from an earlier run's DIR/seed<N>/default (they do not depend
on the robot) instead of training them again.
Usage: PYTHONPATH=. python bench/calibration_benefit.py [--total-steps 200000] [--seeds 0,1,2]
       [--episodes 4] [--robot slow|uneven] [--baselines ik,pi,oracle] [--skip-training]
       [--default-models DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crawler_rl.calibration.benefit import (
    RECORDED_ON,
    TRUE_ROBOTS,
    base_config,
    evaluate_on_true_robot,
    record_excitation,
    true_robot_config,
)
from crawler_rl.calibration.fit import fit_parameters
from crawler_rl.calibration.report import write_fitted_config
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.evaluate import RMSE_KEYS, parse_baselines
from crawler_rl.rl.trainer import run_training

BENCH = "calibration_benefit"


def emit(**fields: Any) -> None:
    """Print one JSON line of the bench."""
    print(json.dumps({"bench": BENCH, **fields}), flush=True)


def parse_seeds(text: str) -> list[int]:
    """Parse "0,1,2" into [0, 1, 2] (at least one seed, none twice)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds must name at least one seed, none twice, got {text!r}")
    return seeds


def fit(seed: int, seed_dir: Path, robot: dict[str, float]) -> Path:
    """Record the true robot (noise seed `seed` + 1), fit its keys, write crawler_fit.yaml."""
    base = base_config()
    start = time.monotonic()
    result = fit_parameters(record_excitation(true_robot_config(robot), seed + 1), base,
                            RECORDED_ON, list(robot))
    fitted = write_fitted_config(seed_dir / "crawler_fit.yaml", base, result,
                                 [f"bench/calibration_benefit.py, seed {seed}"])
    emit(seed=seed, true=robot, fitted={k: round(v, 4) for k, v in result.values.items()},
         std={k: round(v, 4) for k, v in result.std.items()}, evaluations=result.evaluations,
         seconds=round(time.monotonic() - start))
    return fitted


def train(name: str, crawler_config: Path | None, steps: int, seed: int, seed_dir: Path) -> Path:
    """Train with the packaged train.yaml; return the exported controller.onnx."""
    overrides: dict[str, Any] = {"run.total_steps": steps, "run.seed": seed}
    if crawler_config is not None:
        overrides["env.crawler_config"] = str(crawler_config)
    start = time.monotonic()
    summary = run_training(load_train_config(None, overrides), seed_dir / name, progress=False)
    emit(seed=seed, trained=name, steps=steps, seconds=round(time.monotonic() - start))
    return Path(summary["onnx"])


def existing_models(seed: int, seed_dir: Path, robot: dict[str, float]) -> dict[str, Path]:
    """Return the models an earlier run left in `seed_dir` (SystemExit naming what is missing)."""
    fitted = seed_dir / "crawler_fit.yaml"
    policies = {name: seed_dir / name / "controller.onnx" for name in ("default", "fitted")}
    missing = [str(path) for path in (fitted, *policies.values()) if not path.is_file()]
    if missing:
        raise SystemExit(f"--skip-training: seed {seed} lacks {', '.join(missing)}")
    data = yaml.safe_load(fitted.read_text())
    emit(seed=seed, true=robot, fitted={
        dotted: round(float(data[dotted.split(".")[0]][dotted.split(".")[1]]), 4)
        for dotted in robot}, reused=str(seed_dir))
    return policies


def reused_default(out: Path, seed: int) -> Path:
    """The default-trained model of an earlier run's `out` (SystemExit if it has none)."""
    model = out / f"seed{seed}" / "default" / "controller.onnx"
    if not model.is_file():
        raise SystemExit(f"--default-models: {model} does not exist")
    emit(seed=seed, trained="default", reused=str(model))
    return model


def ratios(figures: dict[str, Any]) -> dict[str, float]:
    """fitted / default for each RMSE key."""
    return {key: figures["fitted"][key] / max(figures["default"][key], 1e-12)
            for key in RMSE_KEYS}


def spread(values: list[float]) -> dict[str, float]:
    """Median and range, rounded."""
    return {"median": round(float(np.median(values)), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-steps", type=int, default=200_000, help="PPO steps per model")
    parser.add_argument("--episodes", type=int, default=4, help="episodes per scenario")
    parser.add_argument("--seeds", default="0", help="comma-separated, e.g. 0,1,2")
    parser.add_argument("--out", default="runs/calibration_benefit")
    parser.add_argument("--robot", choices=sorted(TRUE_ROBOTS), default="slow",
                        help="the true robot (crawler_rl/calibration/benefit.py)")
    parser.add_argument("--skip-training", action="store_true",
                        help="re-evaluate the models in <out>/seed<N>: no fit, no training")
    parser.add_argument("--baselines", default="ik",
                        help="classical controllers driven on the true robot too: ik,pi,oracle")
    parser.add_argument("--default-models", type=Path, default=None,
                        help="an earlier run's --out: reuse its seed<N>/default models")
    args = parser.parse_args()
    robot = TRUE_ROBOTS[args.robot]
    try:
        baselines = tuple(parse_baselines(args.baselines))
    except ValueError as error:
        raise SystemExit(f"--baselines: {error}") from None
    if args.episodes < 1:
        raise SystemExit(f"--episodes must be >= 1, got {args.episodes}")
    seeds = parse_seeds(args.seeds)
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        seed_dir = Path(args.out) / f"seed{seed}"
        if args.skip_training:
            policies = existing_models(seed, seed_dir, robot)
        else:
            seed_dir.mkdir(parents=True, exist_ok=True)
            fitted = fit(seed, seed_dir, robot)
            policies = {"default": (
                reused_default(args.default_models, seed) if args.default_models is not None
                else train("default", None, args.total_steps, seed, seed_dir)),
                "fitted": train("fitted", fitted, args.total_steps, seed, seed_dir)}
        start = time.monotonic()
        figures = evaluate_on_true_robot(policies, args.episodes, seed, baselines,
                                         robot=true_robot_config(robot))
        for scope, by_controller in (("overall", figures["overall"]),
                                     *figures["families"].items()):
            for name, values in by_controller.items():
                emit(seed=seed, scope=scope, controller=name,
                     **{key: round(value, 4) for key, value in values.items()})
        per_seed[seed] = {scope: ratios(by_controller) for scope, by_controller
                          in (("overall", figures["overall"]), *figures["families"].items())}
        emit(seed=seed, episodes=args.episodes, eval_seconds=round(time.monotonic() - start),
             fitted_over_default={scope: {key: round(value, 3) for key, value in values.items()}
                                  for scope, values in per_seed[seed].items()})
    scopes = per_seed[seeds[0]]
    emit(seeds=seeds, robot=args.robot,
         total_steps=None if args.skip_training else args.total_steps,
         episodes=args.episodes, fitted_over_default={
             scope: {key: spread([per_seed[seed][scope][key] for seed in seeds])
                     for key in RMSE_KEYS} for scope in scopes})


if __name__ == "__main__":
    main()
