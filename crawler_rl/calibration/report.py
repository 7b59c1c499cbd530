"""What `crawler-rl calibrate` writes: the fitted crawler YAML, a JSON report and a figure.

The fitted YAML is the base config with the fitted values, and each fitted parameter's
randomization range centred on the fit: half as wide as the base range, or +-3 standard
deviations where the fit is less certain than that. It is written only for a converged fit,
and holds only what differs from the package's defaults (the fit, its ranges, and whatever the
base config changed): every other key keeps following the package, so a later default (a
reward term, a sensor assumption) reaches a model trained on an older fit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from crawler_rl.calibration.fit import FITTABLE, FitResult, with_values
from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.sim.config import CrawlerConfig, config_from_dict
from crawler_rl.validation import plain

NARROWING = 0.5
"""Width of a fitted parameter's randomization range relative to the base range's."""
STD_SPREAD = 3.0
"""The range covers at least this many standard deviations of the fit on each side."""


def report_paths(output: Path) -> tuple[Path, Path]:
    """Return the JSON report and the PNG written beside the fitted YAML."""
    output = Path(output)
    return output.with_suffix(".report.json"), output.with_suffix(".png")


def centred_randomization(base: dict[str, Any], result: FitResult) -> dict[str, list[float]]:
    """Randomization ranges of the fitted parameters, centred on the fit."""
    ranges = config_from_dict(base).randomization
    centred = {}
    for name in result.names:
        spec = FITTABLE[name]
        if spec.randomization is None:
            continue
        low, high = getattr(ranges, spec.randomization)
        value, std = result.values[name], result.std[name]
        if spec.spread == "absolute":
            half = max(NARROWING * 0.5 * (high - low), STD_SPREAD * std)
            centred[spec.randomization] = [max(value - half, 0.0), value + half]
        else:  # relative to the fitted value: a scale around 1 or an error around 0
            centre = 1.0 if spec.spread == "scale" else 0.0
            half = max(NARROWING * 0.5 * (high - low), STD_SPREAD * std / max(abs(value), 1e-9))
            centred[spec.randomization] = [max(centre - half, 0.0) if centre else -half,
                                           centre + half]
    return centred


def fitted_config_data(base: dict[str, Any], result: FitResult) -> dict[str, Any]:
    """Return the base config (nested dict) with the fit and centred ranges (validated)."""
    data = with_values(base, result.values)
    data["randomization"] = {**data.get("randomization", {}),
                             **centred_randomization(base, result)}
    config_from_dict(data)
    return data


def beyond_defaults(data: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """Return the entries of a nested config dict that differ from the package's defaults.

    Compared per `section.key` (a dict-valued key whole); the dotted keys in `keep` are kept
    whatever their value.
    """
    defaults = plain(dataclasses.asdict(CrawlerConfig()))
    kept: dict[str, Any] = {}
    for section, values in data.items():
        for key, value in values.items():
            if f"{section}.{key}" in keep or plain(value) != defaults[section].get(key):
                kept.setdefault(section, {})[key] = value
    return kept


def write_fitted_config(path: Path, base: dict[str, Any], result: FitResult,
                        header: list[str]) -> Path:
    """Write the fitted crawler YAML (refuses a fit that did not converge)."""
    if not result.converged:
        raise ValueError("refusing to write the config of a fit that did not converge")
    path = Path(path)
    keep = {*result.values, *(f"randomization.{name}"
                              for name in centred_randomization(base, result))}
    text = "".join(f"# {line}\n" for line in [
        *header, "Only what differs from the package's config/crawler.yaml: every other key",
        "takes the installed package's default."])
    text += yaml.safe_dump(beyond_defaults(fitted_config_data(base, result), keep),
                           sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def report_dict(result: FitResult, run: RecordedRun, extra: dict[str, Any]) -> dict[str, Any]:
    """JSON-serialisable summary of the fit."""
    return {
        **extra,
        "converged": result.converged,
        "problems": result.problems,
        "recording_seconds": round(run.seconds, 3),
        "control_steps": run.steps,
        "evaluations": result.evaluations,
        "fit_seconds": round(result.seconds, 1),
        "parameters": {name: {"start": result.start[name], "fitted": result.values[name],
                              "std": result.std[name]} for name in result.names},
        "sensor_noise": result.noise,
        "rmse_before": result.rmse_before,
        "rmse_after": result.rmse_after,
    }


def write_report(path: Path, report: dict[str, Any]) -> Path:
    """Write the JSON report."""
    path = Path(path)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def plot_fit(path: Path, run: RecordedRun, result: FitResult) -> Path:
    """Draw the recorded signals and the replay before and after the fit, a panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time = np.arange(run.steps) * run.control_dt
    panels = [("left wheel [rad/s]", run.wheel_speeds[:, 0], lambda s: s.wheel_speeds[:, 0]),
              ("right wheel [rad/s]", run.wheel_speeds[:, 1], lambda s: s.wheel_speeds[:, 1]),
              ("yaw rate [rad/s]", run.yaw_rate, lambda s: s.yaw_rate),
              ("forward velocity [m/s]", run.forward_velocity, lambda s: s.forward_velocity)]
    if "tether_tension" in result.rmse_after:
        panels.append(("tether tension [N]", run.tether_tension, lambda s: s.tether_tension))
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 2.0 * len(panels)), sharex=True)
    for axis, (label, recorded, simulated) in zip(axes, panels, strict=True):
        axis.plot(time, recorded, color="0.55", linewidth=0.8, label="recorded")
        if result.before is not None:
            axis.plot(time, simulated(result.before), "--", color="tab:orange", linewidth=0.9,
                      label="simulated, start values")
        if result.after is not None:
            axis.plot(time, simulated(result.after), color="tab:blue", linewidth=1.0,
                      label="simulated, fitted")
        axis.set_ylabel(label, fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1].set_xlabel("time [s]")
    fitted = ", ".join(f"{name} {result.values[name]:.4g} +- {result.std[name]:.2g}"
                       for name in result.names)
    status = "" if result.converged else "NOT CONVERGED: "
    figure.suptitle(f"{status}{fitted}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
