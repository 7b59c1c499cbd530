"""Tune the PI baseline's gains on the training distribution with Optuna (`tune-baseline`).

Why Optuna's TPE sampler: four bounded gains and a noisy, simulation-based objective with no
gradient; TPE handles both, its seeded sampler makes a study repeatable (same seed -> same
trials -> same gains, the objective being deterministic per episode seed), nothing needs
pruning (every trial is a fixed set of whole episodes), and Optuna is in the project's package
lists and well kept. scipy.optimize's local methods stall on the noise; CMA-ES needs more
evaluations than a 4-parameter problem deserves.

Objective: the mean over v and omega of RMSE(PI) / RMSE(IK), pooled over the same
`episodes` episodes for every trial (common random numbers). The episodes are drawn by
`CrawlerEnv.reset` from the training distribution (`config/crawler.yaml: training`), never from
the held-out scenarios. Default budget: 128 trials x 16 episodes x 400 steps = 819,200 env
steps, twice the default training run's 400,384: the baseline gets at least the learner's budget.
The multivariate TPE models the gains jointly (kp and ki of a channel trade off).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crawler_rl.control.episode import OpenLoopIK, WheelSpeedController, driving_env, run_episode
from crawler_rl.control.metrics import CHANNELS, squared_errors
from crawler_rl.control.pi import PIController, PIGains

TUNING_SEED_BASE = 5_000_000
"""Episode seeds are TUNING_SEED_BASE + 100_000 * seed + i (apart from every other seed use)."""
SEARCH_SPACE = {"kp_v": (0.01, 5.0), "ki_v": (0.01, 50.0),
                "kp_omega": (0.01, 5.0), "ki_omega": (0.01, 50.0)}
"""Log-uniform range of each gain (P in [1], I in [1/s])."""


@dataclass(frozen=True)
class TuningResult:
    """Best gains, their training-distribution score and how they were found."""

    gains: PIGains
    objective: float
    rmse: dict[str, float]
    ik_rmse: dict[str, float]
    trials: int
    seed: int
    episodes: int
    env_steps: int


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """Return the training-distribution episode seeds a study with `seed` evaluates on."""
    return [TUNING_SEED_BASE + 100_000 * seed + index for index in range(episodes)]


def pooled_rmse(env: Any, controller: WheelSpeedController, seeds: list[int]) -> dict[str, float]:
    """RMSE per channel over all steps of the episodes (scenario drawn from training)."""
    squared: dict[str, list[np.ndarray]] = {key: [] for key in CHANNELS}
    for seed in seeds:
        trace = run_episode(env, controller, seed)
        for key in CHANNELS:
            squared[key].append(squared_errors(trace, key))
    return {key: float(np.sqrt(np.mean(np.concatenate(values))))
            for key, values in squared.items()}


def tune_pi_gains(trials: int = 128, seed: int = 0, episodes: int = 16,
                  progress: bool = True) -> TuningResult:
    """Run the Optuna study and return the best gains with their score."""
    if trials < 1 or episodes < 1:
        raise ValueError(f"trials and episodes must be >= 1, got {trials}, {episodes}")
    import optuna
    from tqdm import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    env = driving_env()
    sim = env.unwrapped.sim
    seeds = episode_seeds(seed, episodes)
    max_steps = env.unwrapped.max_steps
    try:
        ik_rmse = pooled_rmse(env, OpenLoopIK(sim.action_spec), seeds)
        scores: dict[int, dict[str, float]] = {}

        def objective(trial: optuna.Trial) -> float:
            gains = PIGains(**{name: trial.suggest_float(name, *bounds, log=True)
                               for name, bounds in SEARCH_SPACE.items()})
            rmse = pooled_rmse(env, PIController(gains, sim.action_spec, sim.control_dt), seeds)
            scores[trial.number] = rmse
            return float(np.mean([rmse[key] / ik_rmse[key] for key in CHANNELS]))

        study = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.TPESampler(
                                        seed=seed, multivariate=True, n_startup_trials=16))
        with tqdm(total=trials, desc="tune-baseline", unit="trial", disable=not progress) as bar:
            def advance(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
                bar.set_postfix(best=f"{study.best_value:.4f}")
                bar.update(1)

            study.optimize(objective, n_trials=trials, callbacks=[advance])
    finally:
        env.close()
    best = study.best_trial
    return TuningResult(
        gains=PIGains(**best.params), objective=float(best.value), rmse=scores[best.number],
        ik_rmse=ik_rmse, trials=trials, seed=seed, episodes=episodes,
        env_steps=(trials + 1) * episodes * max_steps,
    )


def write_gains(result: TuningResult, path: Path, command: str) -> Path:
    """Write gains, training-distribution score and provenance as YAML (load_gains reads it)."""
    data = {
        "gains": result.gains.as_dict(),
        "training_score": {
            "objective": round(result.objective, 6),
            "objective_definition": "mean over v, omega of RMSE(PI) / RMSE(IK), pooled over "
                                    "the tuning episodes (training distribution)",
            **{f"rmse_{key}": round(value, 6) for key, value in result.rmse.items()},
            **{f"ik_rmse_{key}": round(value, 6) for key, value in result.ik_rmse.items()},
        },
        "tuning": {
            "command": command,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "sampler": "optuna TPESampler",
            "trials": result.trials,
            "seed": result.seed,
            "episodes": result.episodes,
            "first_episode_seed": episode_seeds(result.seed, 1)[0],
            "env_steps": result.env_steps,
        },
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# PI baseline gains (crawler_rl/control/pi.py), tuned on the training\n"
              "# distribution by `crawler-rl tune-baseline`; never on the held-out scenarios.\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path
