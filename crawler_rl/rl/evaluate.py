"""Evaluate controllers on a suite of seeded scenarios: RMSE tables, JSON report and a PNG plot.

Suites (crawler_rl/sim/suites.py): held-out (inside the training ranges), ood (outside them)
and chain (the held-out set on the multibody tether).

Controllers: an exported controller.onnx (obs -> wheel speeds; "policy", the learned one, run by
the robot's runner `crawler_rl.control.onnx_runner.OnnxPolicy`) and the
classical baselines, open-loop IK ("ik") and IK + tuned PI ("pi", `crawler_rl.control.pi`), and
a bound, not a controller: the one-step lookahead oracle ("oracle", `crawler_rl.control.oracle`),
which tries commands on the simulator itself (about 6x the cost of an episode). All
run through the same `CrawlerVelocity-v0` env with the same seeds and see the same observation;
the achieved velocity is the simulator's true twist, not the noisy measurement. Figures per
controller: full-episode RMSE, steady RMSE (without the first 0.5 s after each command change)
and step-response figures (`crawler_rl.control.metrics`), per scenario, per surface family and
overall.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.control.episode import (
    OpenLoopIK,
    WheelSpeedController,
    driving_env,
    run_episode,
    run_episodes,
)
from crawler_rl.control.metrics import (
    CHANNELS,
    SETTLE_SECONDS,
    squared_errors,
    steady_mask,
    step_summary,
    tracking_rmse,
)
from crawler_rl.control.pi import PIController, PIGains, load_gains
from crawler_rl.rl.eval_replay import select_scenarios, write_replays

BASELINES = ("ik", "pi", "oracle")
LABELS = {"policy": "learned", "ik": "IK", "pi": "PI", "oracle": "oracle"}
RMSE_KEYS = ("rmse_v", "rmse_omega", "steady_rmse_v", "steady_rmse_omega")
FULL_RMSE_KEYS = ("rmse_v", "rmse_omega")
RATIO_PAIRS = (("policy", "pi"), ("policy", "ik"), ("pi", "ik"), ("oracle", "pi"))
"""(controller, reference) pairs reported as RMSE ratios when both ran."""


def parse_baselines(baseline: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """"ik,pi" (or a list) -> ["ik", "pi"]; unknown names are a ValueError."""
    if baseline is None:
        return []
    names = baseline.split(",") if isinstance(baseline, str) else list(baseline)
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; available: {', '.join(BASELINES)}")
    return list(dict.fromkeys(names))


def scenario_family(label: str) -> str:
    """Surface family of a scenario label ("vertical/short" -> "vertical")."""
    return label.split("/")[0]


def build_controllers(policy: Path | None, baselines: list[str], env: Any,
                      pi_gains: PIGains | None,
                      oracle_scale: tuple[float, float] | None = None,
                      make_policy: Callable[[Any], WheelSpeedController] | None = None,
                      ) -> dict[str, WheelSpeedController]:
    """Return the controllers to compare, keyed "policy", "ik", "pi", "oracle" (in that order).

    `oracle_scale`: the oracle's (v, omega) error scales (None: its default). `make_policy(env)`
    builds the "policy" controller instead of `OnnxPolicy(policy)` (one that is not an ONNX
    file, e.g. bench/recurrent_actor.py's).
    """
    sim = env.unwrapped.sim
    controllers: dict[str, WheelSpeedController] = {}
    if make_policy is not None:
        controllers["policy"] = make_policy(env)
    elif policy is not None:
        from crawler_rl.control.onnx_runner import OnnxPolicy

        controllers["policy"] = OnnxPolicy(Path(policy))  # the robot's runner
    if "ik" in baselines:
        controllers["ik"] = OpenLoopIK(sim.action_spec)
    if "pi" in baselines:
        controllers["pi"] = PIController(pi_gains or load_gains(), sim.action_spec,
                                         sim.control_dt)
    if "oracle" in baselines:
        from crawler_rl.control.oracle import ERROR_SCALE, LookaheadOracle

        warm_start = PIController(pi_gains or load_gains(), sim.action_spec, sim.control_dt)
        controllers["oracle"] = LookaheadOracle(env.unwrapped, warm_start,
                                                oracle_scale or ERROR_SCALE)
    return controllers


def run_evaluation(
    policy: Path | None, baseline: str | list[str] | None, out_dir: Path, seed: int = 0,
    episodes: int = 1, pi_gains: PIGains | None = None, suite: str = "held-out",
    replay: str | None = None, replay_format: str = ".png",
    oracle_scale: tuple[float, float] | None = None,
    make_policy: Callable[[Any], WheelSpeedController] | None = None,
) -> dict[str, Any]:
    """Evaluate `policy` (controller.onnx) and the `baseline`s ("ik,pi") on a suite's scenarios.

    `suite` is one of `crawler_rl.sim.suites.SUITE_NAMES` (held-out, ood, chain, ...); each
    case runs under its own config overrides. Each scenario runs `episodes` episodes (seeds
    seed + index + 1000 * episode: other command schedules and randomization draws) and its
    RMSE pools their steps. `pi_gains` defaults to the shipped config/baseline_pi.yaml. Writes
    <out_dir>/report.json and <out_dir>/tracking.png, prints the tables and returns the report.
    `replay` ("all" or scenario labels, comma-separated) also writes each chosen scenario's
    first episode as <out_dir>/replay/<scenario>_<controller><replay_format>.
    `oracle_scale`: the oracle baseline's (v, omega) error scales (None: its default).
    `make_policy`: builds the "policy" controller (see `build_controllers`); `policy` then only
    names it in the report.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    from crawler_rl.sim.suites import suite_cases

    baselines = parse_baselines(baseline)
    if oracle_scale is not None and "oracle" not in baselines:
        raise ValueError("--oracle-scale weighs the oracle baseline: add oracle to --baseline")
    if policy is None and not baselines:
        raise ValueError("run_evaluation needs a policy file and/or a baseline")
    if make_policy is not None and policy is None:
        raise ValueError("make_policy needs a policy path to name the controller in the report")
    if make_policy is None and policy is not None and not Path(policy).is_file():
        raise FileNotFoundError(f"policy file not found: {policy}")
    cases = suite_cases(suite)
    replayed = select_scenarios([case.scenario for case in cases], replay) if replay else []
    results: list[dict[str, Any]] = []
    traces: dict[str, dict[str, dict[str, list[float]]]] = {}
    controllers: dict[str, WheelSpeedController] = {}
    control_dt = 0.0
    for index, case in enumerate(cases):
        env = driving_env(case.config())
        try:
            control_dt = env.unwrapped.sim.control_dt
            controllers = build_controllers(policy, baselines, env, pi_gains, oracle_scale,
                                            make_policy)
            scenario = case.scenario
            seeds = [seed + index + 1000 * episode for episode in range(episodes)]
            entry: dict[str, Any] = {"scenario": scenario.label,
                                     "family": scenario_family(scenario.label),
                                     "seed": seed + index, "seeds": seeds}
            traces[scenario.label] = {}
            for name, controller in controllers.items():
                trace = run_episodes(env, controller, seeds, scenario)
                terminated = bool(trace.pop("terminated")[0])
                entry[name] = {**tracking_rmse(trace, control_dt), "terminated": terminated,
                               "step": step_summary(trace, control_dt)}
                traces[scenario.label][name] = trace
            results.append(entry)
            if scenario in replayed:  # its first episode, played again
                write_replays(env, controllers, Path(out_dir) / "replay", replay_format,
                              lambda env, controller, scenario=scenario, first=seeds[0]:
                              run_episode(env, controller, first, scenario))
        finally:
            env.close()

    names = list(controllers)
    pi = controllers.get("pi")
    report: dict[str, Any] = {
        "policy": str(policy) if policy else None,
        "baseline": ",".join(baselines) or None,
        "pi_gains": pi.gains.as_dict() if isinstance(pi, PIController) else None,
        "oracle_scale": list(getattr(controllers.get("oracle"), "error_scale", [])) or None,
        "suite": suite,
        "seed": seed,
        "episodes": episodes,
        "settle_seconds_excluded": SETTLE_SECONDS,
        "scenarios": results,
        "families": pooled_by_family(results, traces, names, control_dt),
        "overall": pooled_figures(list(traces.values()), names, control_dt),
    }
    report["overall"].update(legacy_ratios(results, report["overall"]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps({**report, "traces": traces}, indent=1))
    report["plot"] = str(plot_tracking(traces, out_dir / "tracking.png"))
    report["report"] = str(out_dir / "report.json")
    print(format_table(report))
    return report


def pooled_figures(traces: list[dict[str, dict[str, list[float]]]], names: list[str],
                   control_dt: float) -> dict[str, Any]:
    """RMSE per controller pooled over the given scenarios' steps, and the controllers' ratios."""
    figures: dict[str, Any] = {}
    for name in names:
        squared: dict[str, list[np.ndarray]] = {key: [] for key in RMSE_KEYS}
        for by_controller in traces:
            trace = by_controller[name]
            steady = steady_mask(trace, control_dt)
            for key in CHANNELS:
                error = squared_errors(trace, key)
                squared[f"rmse_{key}"].append(error)
                squared[f"steady_rmse_{key}"].append(error[steady])
        figures[name] = {key: float(np.sqrt(np.mean(np.concatenate(values))))
                         for key, values in squared.items()}
    figures["ratios"] = {
        f"{name}/{reference}": {key: figures[name][key] / max(figures[reference][key], 1e-12)
                                for key in RMSE_KEYS}
        for name, reference in RATIO_PAIRS if name in figures and reference in figures
    }
    return figures


def pooled_by_family(results: list[dict[str, Any]],
                     traces: dict[str, dict[str, dict[str, list[float]]]],
                     names: list[str], control_dt: float) -> dict[str, Any]:
    """`pooled_figures` over each surface family's scenarios (deck, 45deg, vertical, curved)."""
    families: dict[str, list[str]] = {}
    for entry in results:
        families.setdefault(entry["family"], []).append(entry["scenario"])
    return {family: pooled_figures([traces[label] for label in labels], names, control_dt)
            for family, labels in families.items()}


def legacy_ratios(results: list[dict[str, Any]], overall: dict[str, Any]) -> dict[str, Any]:
    """Return the learned / IK ratios under their historical report keys (when both ran)."""
    if "policy" not in overall or "ik" not in overall:
        return {}
    return {
        **{f"ratio_{key}": overall["ratios"]["policy/ik"][key] for key in FULL_RMSE_KEYS},
        "worst_scenario_ratio": max(entry["policy"][key] / max(entry["ik"][key], 1e-12)
                                    for entry in results for key in FULL_RMSE_KEYS),
    }


def format_table(report: dict[str, Any]) -> str:
    """Human-readable tables: full and steady RMSE with ratios, then step-response figures."""
    names = [name for name in ("policy", "pi", "ik", "oracle") if name in report["overall"]]
    ratios = list(report["overall"]["ratios"])
    rows = [(entry["scenario"], entry) for entry in report["scenarios"]]
    rows += [(f"[{family}]", figures) for family, figures in report["families"].items()]
    rows.append(("overall", report["overall"]))
    lines = []
    for title, prefix in (("full-episode RMSE", ""), ("steady RMSE (0.5 s after each "
                                                      "command change left out)", "steady_")):
        header = f"{'scenario':<16}" + "".join(
            f"{LABELS[name] + ' v':>11}{LABELS[name] + ' w':>11}" for name in names
        ) + "".join(f"{_ratio_label(pair) + ' v':>14}{_ratio_label(pair) + ' w':>14}"
                    for pair in ratios)
        lines += [title, header, "-" * len(header)]
        for label, figures in rows:
            row = f"{label:<16}" + "".join(
                f"{figures[name][prefix + 'rmse_v']:>11.4f}"
                f"{figures[name][prefix + 'rmse_omega']:>11.4f}" for name in names)
            for pair in ratios:
                first, second = (figures[name] for name in pair.split("/"))
                row += "".join(
                    f"{first[prefix + key] / max(second[prefix + key], 1e-12):>14.2f}"
                    for key in FULL_RMSE_KEYS)
            lines.append(row)
        lines.append("")
    header = f"{'scenario':<16}" + "".join(
        f"{LABELS[name] + ' ' + part:>24}" for name in names
        for part in ("rise v/w", "overshoot% v/w", "settle v/w"))
    lines += ["step response (medians over command changes; rise 10-90 % [s], overshoot [%], "
              "settling to 10 % [s])", header, "-" * len(header)]
    for entry in report["scenarios"]:
        row = f"{entry['scenario']:<16}"
        for name in names:
            step = entry[name]["step"]
            row += (f"{_pair(step, 'RiseTime', '.2f'):>24}{_pair(step, 'Overshoot', '.0f'):>24}"
                    f"{_pair(step, 'SettlingTime', '.2f'):>24}")
        lines.append(row)
    lines.append("(true twist vs command: v [m/s], w = omega [rad/s])")
    return "\n".join(lines)


def _ratio_label(pair: str) -> str:
    first, second = pair.split("/")
    return f"{LABELS[first]}/{LABELS[second]}"


def _pair(step: dict[str, Any], name: str, spec: str) -> str:
    return "/".join(format(step[key][name], spec) for key in CHANNELS)


def plot_tracking(traces: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> Path:
    """Commanded vs achieved v and omega over time, one row per scenario, one line each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(traces)
    figure, axes = plt.subplots(rows, 2, figsize=(12, 2.2 * rows), squeeze=False, sharex=True)
    styles = {"policy": "tab:blue", "ik": "tab:orange", "pi": "tab:green", "oracle": "tab:gray"}
    for row, (label, by_controller) in enumerate(traces.items()):
        for col, (key, unit) in enumerate((("v", "m/s"), ("omega", "rad/s"))):
            axis = axes[row][col]
            first = next(iter(by_controller.values()))
            axis.plot(first["t"], first[f"cmd_{key}"], color="black", lw=1.5, label="commanded")
            for name, trace in by_controller.items():
                axis.plot(trace["t"], trace[key], color=styles[name], lw=1.0, label=LABELS[name])
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
