"""The three evaluation suites for one policy and its baselines, and the issue's fidelity targets.

Runs `run_evaluation` on held-out, ood and chain (same seeds, `--episodes` per scenario), then
per suite and channel (v, omega):
- advantage = 1 - learned RMSE / best classical RMSE (pooled over the suite's steps);
- retention = advantage on the suite / advantage on held-out (target >= 0.8 on ood and chain);
- worst scenario = max over scenarios of learned RMSE / best classical RMSE (target <= 1.1);
- the same advantage and retention without the scenarios where every controller detached.
"Best classical" is, per scenario (or pooled), the lower RMSE of the baselines given.
Prints JSON lines and markdown tables (one line per scenario; "x" marks a detached episode).
Usage: PYTHONPATH=. python bench/fidelity_suites.py --policy controller.onnx --baseline ik
       [--episodes 4] [--suites held-out,ood,chain] [--out-dir runs/fidelity]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.rl.evaluate import run_evaluation

CHANNELS = ("v", "omega")
RETENTION_TARGET = 0.8
WORST_RATIO_TARGET = 1.1


def best_classical(figures: dict[str, Any], baselines: list[str], key: str) -> float:
    """Lowest RMSE `key` among the baselines present in `figures`."""
    return min(figures[name][key] for name in baselines if name in figures)


def pooled_rmse(traces: dict[str, dict[str, Any]], labels: list[str], name: str,
                channel: str) -> float:
    """RMSE of controller `name` pooled over the steps of the scenarios `labels`."""
    squared = np.concatenate([
        np.square(np.asarray(traces[label][name][channel])
                  - np.asarray(traces[label][name][f"cmd_{channel}"]))
        for label in labels])
    return float(np.sqrt(np.mean(squared)))


def suite_summary(report: dict[str, Any], traces: dict[str, Any],
                  baselines: list[str]) -> dict[str, Any]:
    """Advantage and worst-scenario ratio of the learned controller vs the best baseline.

    `kept_*` pool only the scenarios where some controller stayed on the hull (a case that
    detaches every controller is outside the robot's envelope, and its huge RMSE would swamp
    the pooled figure).
    """
    entries = report["scenarios"]
    names = [name for name in ("policy", *baselines) if name in report["overall"]]
    kept = [entry["scenario"] for entry in entries
            if not all(entry[name]["terminated"] for name in names)]
    summary: dict[str, Any] = {"all_detached": [entry["scenario"] for entry in entries
                                                if entry["scenario"] not in kept]}
    for channel in CHANNELS:
        key = f"rmse_{channel}"
        overall = report["overall"]
        summary[f"advantage_{channel}"] = 1.0 - overall["policy"][key] / best_classical(
            overall, baselines, key)
        best_kept = min(pooled_rmse(traces, kept, name, channel) for name in baselines
                        if name in overall)
        summary[f"kept_advantage_{channel}"] = (
            1.0 - pooled_rmse(traces, kept, "policy", channel) / best_kept)
        ratios = {entry["scenario"]: entry["policy"][key] / best_classical(entry, baselines, key)
                  for entry in entries}
        worst = max(ratios, key=ratios.get)
        summary[f"worst_{channel}"] = {"scenario": worst, "ratio": ratios[worst]}
    return summary


def markdown_table(report: dict[str, Any], names: list[str]) -> str:
    """One line per scenario: RMSE v / omega of each controller, learned / best ratios."""
    labels = {"policy": "learned", "ik": "IK", "pi": "PI"}
    baselines = [name for name in names if name != "policy"]
    header = "| scenario | " + " | ".join(
        f"{labels.get(name, name)} v | {labels.get(name, name)} ω" for name in names)
    header += " | learned/best v | learned/best ω |"
    lines = [header, "|---" * (1 + 2 * len(names) + 2) + "|"]
    rows = [(entry["scenario"], entry) for entry in report["scenarios"]]
    rows.append(("**overall**", report["overall"]))
    for label, figures in rows:
        cells = []
        for name in names:
            mark = " x" if figures[name].get("terminated") else ""
            cells += [f"{figures[name]['rmse_v']:.4f}{mark}", f"{figures[name]['rmse_omega']:.4f}"]
        for channel in CHANNELS:
            key = f"rmse_{channel}"
            cells.append(f"{figures['policy'][key] / best_classical(figures, baselines, key):.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", required=True, help="controller.onnx")
    parser.add_argument("--baseline", default="ik", help="baselines, comma-separated")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suites", default="held-out,ood,chain")
    parser.add_argument("--out-dir", default="runs/fidelity")
    args = parser.parse_args()
    baselines = args.baseline.split(",")
    summaries: dict[str, dict[str, Any]] = {}
    tables = []
    for suite in args.suites.split(","):
        report = run_evaluation(Path(args.policy), args.baseline, Path(args.out_dir) / suite,
                                seed=args.seed, episodes=args.episodes, suite=suite)
        names = [name for name in ("policy", "pi", "ik") if name in report["overall"]]
        traces = json.loads(Path(report["report"]).read_text())["traces"]
        summaries[suite] = suite_summary(report, traces, baselines)
        tables.append(f"### {suite}\n\n{markdown_table(report, names)}")
    held_out = summaries.get("held-out")
    for suite, summary in summaries.items():
        row = {"bench": "fidelity_suites", "suite": suite, "policy": args.policy,
               "baselines": baselines, "episodes": args.episodes, "seed": args.seed, **summary}
        if held_out is not None and suite != "held-out":
            for channel in CHANNELS:
                row[f"retention_{channel}"] = (summary[f"advantage_{channel}"]
                                               / held_out[f"advantage_{channel}"])
                row[f"kept_retention_{channel}"] = (summary[f"kept_advantage_{channel}"]
                                                    / held_out[f"kept_advantage_{channel}"])
            row["retention_met"] = all(row[f"retention_{c}"] >= RETENTION_TARGET
                                       for c in CHANNELS)
        row["worst_met"] = all(summary[f"worst_{c}"]["ratio"] <= WORST_RATIO_TARGET
                               for c in CHANNELS)
        print(json.dumps(row), flush=True)
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
