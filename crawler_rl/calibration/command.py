"""`crawler-rl calibrate`: fit a recorded run, then write the fitted YAML, report and figure."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crawler_rl.calibration.fit import FitResult, fit_parameters
from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.calibration.report import (
    plot_fit,
    report_dict,
    report_paths,
    write_fitted_config,
    write_report,
)
from crawler_rl.paths import config_path
from crawler_rl.sim.config import config_from_dict
from crawler_rl.sim.scenario import Scenario

FIXED_SLOPES = {"deck": 0.0, "vertical": 90.0}
"""Surfaces whose slope is implied [deg]; incline and curved need --slope-deg."""


def load_base_config(path: Path | None) -> dict[str, Any]:
    """Load the crawler YAML the fit starts from, as a nested dict (validated)."""
    path = Path(path) if path is not None else config_path("crawler.yaml")
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    config_from_dict(data)
    return data


def recorded_scenario(surface: str, tether_length: float, slope_deg: float | None = None,
                      hull_radius: float = 3.0, start_heading_deg: float = 0.0) -> Scenario:
    """Describe the surface the run was recorded on, as the user describes it."""
    if slope_deg is None:
        if surface not in FIXED_SLOPES:
            raise ValueError(f"--slope-deg is needed for the {surface} surface")
        slope_deg = FIXED_SLOPES[surface]
    return Scenario(surface=surface, slope_deg=slope_deg, hull_radius=hull_radius,
                    tether_length=tether_length, randomize=False,
                    start_heading_deg=start_heading_deg, name="recorded")


@dataclass
class CalibrationOutcome:
    """The fit and the files written."""

    result: FitResult
    report: Path
    figure: Path
    config: Path | None
    """The fitted YAML; None when the fit did not converge (nothing misleading is written)."""


def calibrate(run: RecordedRun, base: dict[str, Any], scenario: Scenario, output: Path,
              names: list[str], max_evaluations: int, recording: str,
              progress: bool = True,
              command: str = "crawler-rl calibrate") -> CalibrationOutcome:
    """Fit, print the table, write report + figure, and the YAML only when converged."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else None
    print(f"calibrating {', '.join(names)} on {run.seconds:.1f} s of {recording} "
          f"({scenario.surface}, slope {scenario.slope_deg:g} deg, tether "
          f"{scenario.tether_length:g} m)", flush=True)
    result = fit_parameters(run, base, scenario, names, max_evaluations, progress=say)
    report_path, figure_path = report_paths(output)
    extra = {"recording": str(recording), "command": command,
             "scenario": {"surface": scenario.surface, "slope_deg": scenario.slope_deg,
                          "hull_radius": scenario.hull_radius,
                          "tether_length": scenario.tether_length,
                          "start_heading_deg": scenario.start_heading_deg}}
    write_report(report_path, report_dict(result, run, extra))
    plot_fit(figure_path, run, result)
    for name in result.names:
        print(f"  {name:24s} {result.start[name]:9.4g} -> {result.values[name]:9.4g} "
              f"+- {result.std[name]:.2g}")
    for signal, noise in result.noise.items():
        print(f"  RMSE {signal:18s} {result.rmse_before[signal]:9.4g} -> "
              f"{result.rmse_after[signal]:9.4g} (sensor noise {noise:.3g})")
    config = None
    if result.converged:
        header = [f"Fitted by `{command}` from {recording}",
                  f"({result.evaluations} replays; report: {report_path.name})"]
        config = write_fitted_config(output, base, result, header)
        print(f"fitted config: {config}  (train: crawler-rl train --crawler-config {config})")
    else:
        print("the fit did NOT converge; no config written:\n  - "
              + "\n  - ".join(result.problems), file=sys.stderr)
    print(f"report: {report_path}  figure: {figure_path}")
    return CalibrationOutcome(result, report_path, figure_path, config)
