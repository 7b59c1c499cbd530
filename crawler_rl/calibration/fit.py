"""Fit simulator parameters to a recorded run: weighted least squares over the replay.

The residual of each signal is (simulated - recorded) / sigma, sigma being the sensor's noise
from the config (floored), so the cost is the recording's negative log-likelihood under
Gaussian sensor noise. scipy's `least_squares` (trust region reflective, bounded) minimises it
with finite differences; the parameter uncertainty is the Gauss-Newton covariance at the
optimum, s^2 (J^T J)^-1 (white-noise assumption: the sensor noise is white, model errors are
not, so treat it as a lower bound).
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crawler_rl.calibration.recorded_run import RecordedRun
from crawler_rl.calibration.replay import SimulatedSignals, replay
from crawler_rl.sim.config import CrawlerConfig, config_from_dict
from crawler_rl.sim.scenario import Scenario


@dataclass(frozen=True)
class FittableParameter:
    """Bounds of a fittable config key and the randomization range that spreads around it."""

    low: float
    high: float
    randomization: str | None = None
    """Key under `randomization:`; None when nothing randomizes this parameter."""
    spread: str = "absolute"
    """How that range applies: "absolute" values, a "scale" of the value, or an "error"
    (relative, around 0)."""


FITTABLE = {
    "motor.gain": FittableParameter(0.5, 1.5, "motor_gain", "scale"),
    "motor.gain_imbalance": FittableParameter(-0.3, 0.3),
    "motor.lag_time": FittableParameter(0.005, 0.4, "motor_lag"),
    "motor.droop": FittableParameter(0.0, 10.0, "motor_droop"),
    "motor.max_torque": FittableParameter(0.3, 10.0),
    "tether.drag_per_metre": FittableParameter(0.0, 3.0, "tether_drag_scale", "scale"),
    "tether.weight_per_metre": FittableParameter(0.0, 1.0, "tether_weight_scale", "scale"),
    "tether.pretension": FittableParameter(0.0, 20.0),
    "robot.wheel_radius": FittableParameter(0.01, 0.06, "wheel_radius_error", "error"),
    "contact.wheel_friction": FittableParameter(0.1, 1.5, "wheel_friction"),
    "contact.rolling_friction": FittableParameter(0.0, 0.005),
}
"""Config keys `crawler-rl calibrate --params` accepts, with their search bounds."""
DEFAULT_PARAMS = ("motor.gain", "motor.lag_time", "motor.droop", "tether.drag_per_metre")
NOISE_FLOORS = {"wheel_speeds": 0.01, "yaw_rate": 0.002, "forward_velocity": 0.001,
                "tether_tension": 0.05}
"""Smallest sigma per signal (a noise-free config must not give a signal infinite weight)."""
NOISE_KEYS = {"wheel_speeds": "encoder_noise", "yaw_rate": "gyro_noise",
              "forward_velocity": "odometry_noise", "tether_tension": "tension_noise"}
MAX_RELATIVE_STD = 0.5
"""A fitted parameter less certain than this (std / value) is not identified by the run."""
DIFF_STEP = 0.03
"""Relative finite-difference step: contact physics is smooth only on this scale (1 % steps
gave gradients that stopped the fit short of the optimum)."""
JACOBIAN = "3-point"
"""Central differences (one-sided ones also stopped short, measured)."""


def expand_params(spec: str | None) -> list[str]:
    """Parse `--params` ("motor.*,tether.drag_per_metre"); None or "" gives the defaults."""
    if not spec:
        return list(DEFAULT_PARAMS)
    names: list[str] = []
    for pattern in (part.strip() for part in spec.split(",")):
        matched = [name for name in FITTABLE if fnmatch.fnmatchcase(name, pattern)]
        if not pattern or not matched:
            raise ValueError(f"--params: {pattern!r} matches no fittable parameter "
                             f"(fittable: {', '.join(FITTABLE)})")
        names.extend(name for name in matched if name not in names)
    return names


def config_value(data: dict[str, Any], dotted: str) -> float:
    """Value of `dotted` in a nested config dict (the dataclass default when absent)."""
    node: Any = config_from_dict(data)
    for key in dotted.split("."):
        node = getattr(node, key)
    return float(node)


def with_values(data: dict[str, Any], values: dict[str, float]) -> dict[str, Any]:
    """Copy of a nested config dict with dotted keys set."""
    result = {key: dict(value) if isinstance(value, dict) else value
              for key, value in data.items()}
    for dotted, value in values.items():
        section, leaf = dotted.split(".")
        result.setdefault(section, {})[leaf] = float(value)
    return result


@dataclass
class FitResult:
    """What a fit found, and whether it can be trusted."""

    names: list[str]
    start: dict[str, float]
    values: dict[str, float]
    std: dict[str, float]
    noise: dict[str, float]
    """Sigma of each signal [its unit]."""
    rmse_before: dict[str, float]
    rmse_after: dict[str, float]
    evaluations: int
    seconds: float
    converged: bool
    problems: list[str] = field(default_factory=list)
    """Why the fit is not trusted (empty when converged)."""
    before: SimulatedSignals | None = None
    after: SimulatedSignals | None = None


class ReplayObjective:
    """Weighted residuals of the replay against a recording, as a function of the parameters."""

    def __init__(self, run: RecordedRun, base: dict[str, Any], names: list[str],
                 scenario: Scenario, progress: Callable[[str], None] | None = None) -> None:
        self.run, self.base, self.names, self.scenario = run, base, names, scenario
        config = config_from_dict(base)
        control_dt = config.physics.substeps / config.physics.physics_hz
        if not math.isclose(control_dt, run.control_dt, rel_tol=1e-6):
            raise ValueError(f"recording steps of {run.control_dt} s, config control period "
                             f"{control_dt} s")
        self.use_tension = run.tether_tension is not None and config.sensors.tension_sensor
        self.noise = {signal: max(float(getattr(config.sensors, key)), NOISE_FLOORS[signal])
                      for signal, key in NOISE_KEYS.items()
                      if signal != "tether_tension" or self.use_tension}
        self.scale = np.array([max(abs(config_value(base, name)),
                                   0.1 * (FITTABLE[name].high - FITTABLE[name].low))
                               for name in names])
        self.progress = progress
        self.evaluations = 0
        self.best = math.inf
        self.started = time.monotonic()

    def values(self, x: np.ndarray) -> dict[str, float]:
        """Parameter values of the normalised vector `x` (value = x * scale)."""
        return {name: float(v) for name, v in zip(self.names, x * self.scale, strict=True)}

    def simulate(self, values: dict[str, float]) -> SimulatedSignals:
        """Replay the recording's wheel commands with these parameter values."""
        config: CrawlerConfig = config_from_dict(with_values(self.base, values))
        return replay(config, self.scenario, self.run.wheel_commands)

    def signals(self, simulated: SimulatedSignals) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return (simulated, recorded) per fitted signal."""
        run = self.run
        pairs = {"wheel_speeds": (simulated.wheel_speeds, run.wheel_speeds),
                 "yaw_rate": (simulated.yaw_rate, run.yaw_rate),
                 "forward_velocity": (simulated.forward_velocity, run.forward_velocity)}
        if self.use_tension:
            pairs["tether_tension"] = (simulated.tether_tension, run.tether_tension)
        return pairs

    def residuals(self, simulated: SimulatedSignals) -> np.ndarray:
        """All weighted residuals, (simulated - recorded) / sigma, as one vector."""
        return np.concatenate([((sim - rec) / self.noise[name]).reshape(-1)
                               for name, (sim, rec) in self.signals(simulated).items()])

    def rmse(self, simulated: SimulatedSignals) -> dict[str, float]:
        """RMSE per signal in its own unit."""
        return {name: float(np.sqrt(np.mean((sim - rec) ** 2)))
                for name, (sim, rec) in self.signals(simulated).items()}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Replay with the normalised parameters `x`; return the weighted residuals."""
        residuals = self.residuals(self.simulate(self.values(x)))
        self.evaluations += 1
        cost = float(np.mean(residuals ** 2))
        self.best = min(self.best, cost)
        if self.progress is not None and (self.evaluations == 1 or self.evaluations % 10 == 0):
            self.progress(f"evaluation {self.evaluations}: mean squared residual {cost:.3f} "
                          f"(best {self.best:.3f}, 1 = sensor noise), "
                          f"{time.monotonic() - self.started:.0f} s")
        return residuals


def fit_parameters(run: RecordedRun, base: dict[str, Any], scenario: Scenario,
                   names: list[str] | None = None, max_evaluations: int = 200,
                   progress: Callable[[str], None] | None = None) -> FitResult:
    """Fit `names` (default DEFAULT_PARAMS) of the config `base` (nested dict) to `run`."""
    from scipy.optimize import least_squares

    names = list(names or DEFAULT_PARAMS)
    unknown = [name for name in names if name not in FITTABLE]
    if unknown:
        raise ValueError(f"not fittable: {unknown} (fittable: {', '.join(FITTABLE)})")
    objective = ReplayObjective(run, base, names, scenario, progress)
    lower = np.array([FITTABLE[name].low for name in names]) / objective.scale
    upper = np.array([FITTABLE[name].high for name in names]) / objective.scale
    start = {name: config_value(base, name) for name in names}
    x0 = np.clip(np.array([start[name] for name in names]) / objective.scale, lower, upper)
    before = objective.simulate(objective.values(x0))
    result = least_squares(objective, x0, bounds=(lower, upper), method="trf",
                           diff_step=DIFF_STEP, jac=JACOBIAN, max_nfev=max_evaluations,
                           x_scale=1.0)
    values = objective.values(result.x)
    after = objective.simulate(values)
    std = _standard_deviations(result.jac, result.fun, objective.scale)
    problems = _problems(result, names, values, std, lower, upper, after)
    return FitResult(
        names=names, start=start, values=values,
        std={name: float(s) for name, s in zip(names, std, strict=True)},
        noise=dict(objective.noise), rmse_before=objective.rmse(before),
        rmse_after=objective.rmse(after), evaluations=objective.evaluations,
        seconds=time.monotonic() - objective.started, converged=not problems,
        problems=problems, before=before, after=after)


def _standard_deviations(jacobian: np.ndarray, residuals: np.ndarray,
                         scale: np.ndarray) -> np.ndarray:
    """Gauss-Newton standard deviation of each parameter (inf when not identifiable)."""
    dof = max(len(residuals) - jacobian.shape[1], 1)
    variance = float(residuals @ residuals) / dof
    try:
        covariance = np.linalg.inv(jacobian.T @ jacobian) * variance
    except np.linalg.LinAlgError:
        return np.full(jacobian.shape[1], np.inf)
    diagonal = np.diag(covariance)
    return np.where(diagonal >= 0, np.sqrt(np.abs(diagonal)), np.inf) * scale


def _problems(result: Any, names: list[str], values: dict[str, float], std: np.ndarray,
              lower: np.ndarray, upper: np.ndarray, after: SimulatedSignals) -> list[str]:
    """Reasons not to trust the fit (empty: converged)."""
    problems = []
    if result.status <= 0:
        problems.append(f"the optimizer stopped without converging after {result.nfev} "
                        f"evaluations ({result.message})")
    span = upper - lower
    for index, name in enumerate(names):
        margin = min(result.x[index] - lower[index], upper[index] - result.x[index])
        if margin < 1e-3 * span[index]:
            problems.append(f"{name} = {values[name]:.4g} ended at its search bound "
                            f"[{FITTABLE[name].low}, {FITTABLE[name].high}]")
        elif not std[index] <= MAX_RELATIVE_STD * max(abs(values[name]), 1e-9):
            problems.append(f"{name} is not identified by this recording (std {std[index]:.3g}"
                            f" for a value of {values[name]:.4g})")
    if after.detached_at is not None:
        problems.append(f"the fitted robot lost the hull at step {after.detached_at}")
    return problems
