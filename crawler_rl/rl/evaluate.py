"""Evaluate controllers on the seeded held-out scenarios: RMSE table, JSON report and a PNG plot.

Controllers: an exported controller.onnx (obs -> wheel speeds) and/or the IK baseline. Both are
run through the same `CrawlerVelocity-v0` env with the same seeds; the achieved velocity is the
simulator's true twist, not the noisy measurement the controller sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.rl.eval_replay import select_scenarios, write_replays
from crawler_rl.sim.action import ActionSpec, inverse_kinematics

WheelSpeedController = Callable[[np.ndarray], np.ndarray]
"""obs (OBS_DIM,) -> wheel speed command (2,) [rad/s]."""


def action_for_wheel_speeds(
    commanded_twist: np.ndarray, wheel_speeds: np.ndarray, spec: ActionSpec
) -> np.ndarray:
    """Env action whose residual mapping reproduces `wheel_speeds` exactly (inverse mapping).

    Valid because wheel_speeds = clip(IK + limit * a) lies within residual_limit of the clipped IK.
    """
    ik = inverse_kinematics(np.asarray(commanded_twist, dtype=np.float64), spec)
    return np.clip((np.asarray(wheel_speeds, dtype=np.float64) - ik) / spec.residual_limit, -1, 1)


def run_episode(
    env: Any, controller: WheelSpeedController | None, scenario: Any, seed: int
) -> dict[str, list[float]]:
    """Drive one held-out episode; controller None means the IK baseline (action 0)."""
    obs, _ = env.reset(seed=seed, options={"scenario": scenario})
    sim = env.unwrapped.sim
    spec = sim.action_spec
    trace: dict[str, list[float]] = {key: [] for key in ("t", "cmd_v", "cmd_omega", "v", "omega")}
    step = 0
    done = False
    while not done:
        commanded = np.asarray(obs[0:2], dtype=np.float64)
        if controller is None:
            action = np.zeros(2)
        else:
            action = action_for_wheel_speeds(commanded, controller(obs), spec)
        obs, _, terminated, truncated, _ = env.step(action.astype(np.float32))
        v, omega = sim.true_twist()
        step += 1
        trace["t"].append(step * sim.control_dt)
        trace["cmd_v"].append(float(commanded[0]))
        trace["cmd_omega"].append(float(commanded[1]))
        trace["v"].append(float(v))
        trace["omega"].append(float(omega))
        done = bool(terminated or truncated)
    trace["terminated"] = [float(terminated)]
    return trace


def tracking_rmse(trace: dict[str, list[float]]) -> dict[str, float]:
    """RMSE of achieved vs commanded v [m/s] and omega [rad/s] over an episode."""
    result = {}
    for key in ("v", "omega"):
        error = np.asarray(trace[key]) - np.asarray(trace[f"cmd_{key}"])
        result[f"rmse_{key}"] = float(np.sqrt(np.mean(np.square(error))))
    return result


def run_episodes(
    env: Any, controller: WheelSpeedController | None, scenario: Any, seeds: list[int]
) -> dict[str, list[float]]:
    """`run_episode` for each seed, traces joined end to end (time keeps counting)."""
    joined: dict[str, list[float]] = {"t": []}
    terminated = 0.0
    for seed in seeds:
        trace = run_episode(env, controller, scenario, seed)
        offset = joined["t"][-1] if joined["t"] else 0.0
        joined["t"] += [t + offset for t in trace.pop("t")]
        terminated = max(terminated, *trace.pop("terminated"))
        for key, values in trace.items():
            joined.setdefault(key, []).extend(values)
    joined["terminated"] = [terminated]
    return joined


def run_evaluation(
    policy: Path | None, baseline: str | None, out_dir: Path, seed: int = 0, episodes: int = 1,
    replay: str | None = None, replay_format: str = ".png",
) -> dict[str, Any]:
    """Evaluate `policy` (controller.onnx) and/or `baseline` ("ik") on the held-out scenarios.

    Each scenario runs `episodes` episodes (seeds seed + index + 1000 * episode: other command
    schedules and randomization draws) and its RMSE pools their steps. Writes
    <out_dir>/report.json and <out_dir>/tracking.png, prints the RMSE table and returns the
    report dict. `replay` ("all" or scenario labels, comma-separated) also writes each chosen
    scenario's first episode as <out_dir>/replay/<scenario>_<controller><replay_format>.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    import gymnasium as gym

    import crawler_rl.sim  # noqa: F401 - registers CrawlerVelocity-v0
    from crawler_rl.rl.export import OnnxController
    from crawler_rl.sim.scenario import held_out_scenarios

    if policy is None and baseline is None:
        raise ValueError("run_evaluation needs a policy file and/or a baseline")
    if baseline not in (None, "ik"):
        raise ValueError(f"unknown baseline {baseline!r}; available: 'ik'")
    controllers: dict[str, WheelSpeedController | None] = {}
    if policy is not None:
        if not Path(policy).is_file():
            raise FileNotFoundError(f"policy file not found: {policy}")
        onnx_controller = OnnxController(Path(policy))
        controllers["policy"] = lambda obs: onnx_controller(obs)
    if baseline == "ik":
        controllers["ik"] = None

    env = gym.make("CrawlerVelocity-v0")
    scenarios = held_out_scenarios()
    replayed = select_scenarios(scenarios, replay) if replay else []
    results: list[dict[str, Any]] = []
    try:
        for index, scenario in enumerate(scenarios):
            seeds = [seed + index + 1000 * episode for episode in range(episodes)]
            entry: dict[str, Any] = {"scenario": scenario.label, "seed": seed + index,
                                     "seeds": seeds}
            for name, controller in controllers.items():
                trace = run_episodes(env, controller, scenario, seeds)
                entry[name] = {**tracking_rmse(trace), "terminated": bool(trace["terminated"][0]),
                               "trace": {k: v for k, v in trace.items() if k != "terminated"}}
            results.append(entry)
        for scenario in replayed:  # each chosen scenario's first episode, played again
            first_seed = seed + scenarios.index(scenario)
            write_replays(env, controllers, Path(out_dir) / "replay", replay_format,
                          lambda env, controller, scenario=scenario, first_seed=first_seed:
                          run_episode(env, controller, scenario, first_seed))
    finally:
        env.close()

    report: dict[str, Any] = {
        "policy": str(policy) if policy else None,
        "baseline": baseline,
        "seed": seed,
        "episodes": episodes,
        "scenarios": [
            {key: ({k: v for k, v in value.items() if k != "trace"} if isinstance(value, dict)
                   else value) for key, value in entry.items()}
            for entry in results
        ],
        "overall": _overall(results, list(controllers)),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    traces = {entry["scenario"]: {name: entry[name]["trace"] for name in controllers}
              for entry in results}
    (out_dir / "report.json").write_text(json.dumps({**report, "traces": traces}, indent=1))
    report["plot"] = str(plot_tracking(traces, out_dir / "tracking.png"))
    report["report"] = str(out_dir / "report.json")
    print(format_table(report))
    return report


def _overall(results: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Pooled RMSE per controller (over all scenarios' steps) and the policy/IK ratios."""
    overall: dict[str, Any] = {}
    for name in names:
        squared = {"v": [], "omega": []}
        for entry in results:
            trace = entry[name]["trace"]
            for key in squared:
                error = np.asarray(trace[key]) - np.asarray(trace[f"cmd_{key}"])
                squared[key].extend(np.square(error).tolist())
        overall[name] = {f"rmse_{k}": float(np.sqrt(np.mean(v))) for k, v in squared.items()}
    if "policy" in overall and "ik" in overall:
        for key in ("rmse_v", "rmse_omega"):
            overall[f"ratio_{key}"] = overall["policy"][key] / max(overall["ik"][key], 1e-12)
        overall["worst_scenario_ratio"] = max(
            entry["policy"][key] / max(entry["ik"][key], 1e-12)
            for entry in results for key in ("rmse_v", "rmse_omega")
        )
    return overall


def format_table(report: dict[str, Any]) -> str:
    """Human-readable RMSE table (policy vs IK per scenario, then overall ratios)."""
    names = [name for name in ("policy", "ik") if name in report["overall"]]
    header = f"{'scenario':<16}" + "".join(
        f"{name + ' v':>12}{name + ' omega':>14}" for name in names
    )
    if len(names) == 2:
        header += f"{'ratio v':>9}{'ratio w':>9}"
    lines = [header, "-" * len(header)]
    for entry in report["scenarios"]:
        row = f"{entry['scenario']:<16}" + "".join(
            f"{entry[name]['rmse_v']:>12.4f}{entry[name]['rmse_omega']:>14.4f}" for name in names
        )
        if len(names) == 2:
            row += "".join(
                f"{entry['policy'][k] / max(entry['ik'][k], 1e-12):>9.2f}"
                for k in ("rmse_v", "rmse_omega")
            )
        lines.append(row)
    overall = report["overall"]
    row = f"{'overall':<16}" + "".join(
        f"{overall[name]['rmse_v']:>12.4f}{overall[name]['rmse_omega']:>14.4f}" for name in names
    )
    if len(names) == 2:
        row += f"{overall['ratio_rmse_v']:>9.2f}{overall['ratio_rmse_omega']:>9.2f}"
    lines += ["-" * len(header), row, "(RMSE of true twist vs command: v [m/s], omega [rad/s])"]
    return "\n".join(lines)


def plot_tracking(traces: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> Path:
    """Commanded vs achieved v and omega over time, one row per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(traces)
    figure, axes = plt.subplots(rows, 2, figsize=(12, 2.2 * rows), squeeze=False, sharex=True)
    styles = {"policy": ("tab:blue", "learned"), "ik": ("tab:orange", "IK baseline")}
    for row, (label, by_controller) in enumerate(traces.items()):
        for col, (key, unit) in enumerate((("v", "m/s"), ("omega", "rad/s"))):
            axis = axes[row][col]
            first = next(iter(by_controller.values()))
            axis.plot(first["t"], first[f"cmd_{key}"], color="black", lw=1.5, label="commanded")
            for name, trace in by_controller.items():
                color, text = styles[name]
                axis.plot(trace["t"], trace[key], color=color, lw=1.0, label=text)
            axis.set_ylabel(f"{key} [{unit}]")
            axis.set_title(f"{label}: {key}", fontsize=9)
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper right")
    for axis in axes[-1]:
        axis.set_xlabel("time [s]")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
