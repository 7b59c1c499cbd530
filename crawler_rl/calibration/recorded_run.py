"""Recorded signals as arrays, one row per control step, and the checks a fit needs.

The step clock is the wheel encoders' message stream (joint states: one per control period
from the simulated robot, decimated when a driver publishes faster). For step k the replay
applies the latest wheel command logged before encoder message k and compares the simulator
with encoder message k and with the latest odometry / IMU / load cell sample logged before the
next encoder message: the order robot_sim_node publishes in (encoders, IMU, load cell, then
odometry, which the controller answers with the next command).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SECONDS = 10.0
"""Shortest recording a fit accepts [s]."""
MAX_GAP_SECONDS = 0.5
"""Longest silence of a needed signal inside the recording [s]."""
MIN_WHEEL_COMMAND = 0.5
"""The wheel commands must reach this somewhere, or the robot never moved [rad/s]."""


NO_GAP_LIMIT = np.iinfo(np.int64).max


class RecordingError(ValueError):
    """A recording that cannot be calibrated from (the message says what is missing)."""


@dataclass(frozen=True)
class TimedSamples:
    """One recorded signal: receive times [ns] and values, Shape: (M,) and (M,) or (M, K)."""

    source: str
    """Where it came from (a topic name), for error messages."""
    times_ns: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        if len(self.times_ns) != len(self.values):
            raise ValueError(f"{self.source}: {len(self.times_ns)} times for "
                             f"{len(self.values)} values")


@dataclass(frozen=True)
class RecordedRun:
    """A run as the calibration sees it; every array has one row per control step."""

    control_dt: float
    wheel_commands: np.ndarray
    """Commanded wheel speeds (left, right) applied during each step [rad/s], Shape: (N, 2)."""
    wheel_speeds: np.ndarray
    """Encoder wheel speeds (left, right) after each step [rad/s], Shape: (N, 2)."""
    yaw_rate: np.ndarray
    """Gyro yaw rate [rad/s], Shape: (N,)."""
    forward_velocity: np.ndarray
    """Odometry forward velocity [m/s], Shape: (N,)."""
    tether_tension: np.ndarray | None = None
    """Load cell [N], Shape: (N,); None when the robot has none."""
    commanded_twist: np.ndarray | None = None
    """cmd_vel (v, omega) for the figure, Shape: (N, 2); None when not recorded."""

    @property
    def steps(self) -> int:
        """Control steps in the run."""
        return len(self.wheel_commands)

    @property
    def seconds(self) -> float:
        """Length of the run [s]."""
        return self.steps * self.control_dt


def align_to_control_steps(
    joint_states: TimedSamples, wheel_commands: TimedSamples, yaw_rate: TimedSamples,
    forward_velocity: TimedSamples, control_dt: float,
    tether_tension: TimedSamples | None = None, commanded_twist: TimedSamples | None = None,
    min_seconds: float = MIN_SECONDS, max_gap_seconds: float = MAX_GAP_SECONDS,
) -> RecordedRun:
    """Build the per-step arrays; RecordingError naming the signal when one is unusable."""
    for samples in (joint_states, wheel_commands, yaw_rate, forward_velocity, tether_tension,
                    commanded_twist):
        if samples is not None:
            _check_samples(samples)
    clock = _step_clock(joint_states, control_dt)
    step_times = joint_states.times_ns[clock]
    max_gap_ns = int(max_gap_seconds * 1e9)
    gaps = np.flatnonzero(np.diff(step_times) > max_gap_ns)
    if len(gaps):
        first = gaps[0]
        raise RecordingError(
            f"{joint_states.source}: gap of {(step_times[first + 1] - step_times[first]) / 1e9:.2f}"
            f" s at {(step_times[first] - step_times[0]) / 1e9:.1f} s into the recording "
            f"(longest allowed {max_gap_seconds} s): record again without interruptions")
    seconds = len(step_times) * control_dt
    if seconds < min_seconds:
        raise RecordingError(
            f"recording too short: {len(step_times)} control steps ({seconds:.1f} s) of "
            f"{joint_states.source}, need at least {min_seconds:.0f} s (run crawler-rl excite)")
    # A sample "after step k" is the newest one logged before the next step's encoders.
    window_end = np.append(step_times[1:], step_times[-1] + int(control_dt * 1e9))
    commands = _hold(wheel_commands, step_times, max_gap_ns, leading_zero=True)
    if np.max(np.abs(commands)) < MIN_WHEEL_COMMAND:
        raise RecordingError(
            f"{wheel_commands.source}: the wheel commands never reach {MIN_WHEEL_COMMAND} rad/s"
            " (the robot did not move; was the controller enabled during crawler-rl excite?)")
    return RecordedRun(
        control_dt=control_dt,
        wheel_commands=commands,
        wheel_speeds=joint_states.values[clock].astype(np.float64),
        yaw_rate=_hold(yaw_rate, window_end, max_gap_ns, step_times),
        forward_velocity=_hold(forward_velocity, window_end, max_gap_ns, step_times),
        tether_tension=(None if tether_tension is None
                        else _hold(tether_tension, window_end, max_gap_ns, step_times)),
        commanded_twist=(None if commanded_twist is None  # drawn only: gaps do not matter
                         else _hold(commanded_twist, step_times, NO_GAP_LIMIT,
                                    leading_zero=True)),
    )


def _check_samples(samples: TimedSamples) -> None:
    if len(samples.times_ns) == 0:
        raise RecordingError(f"{samples.source}: no messages in the recording")
    if not np.all(np.isfinite(samples.values)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(
            samples.values.reshape(len(samples.values), -1)), axis=1)))
        raise RecordingError(f"{samples.source}: {bad} messages with NaN or infinite values")
    if np.any(np.diff(samples.times_ns) < 0):
        raise RecordingError(f"{samples.source}: receive times go backwards")


def _step_clock(joint_states: TimedSamples, control_dt: float) -> np.ndarray:
    """Indices of the encoder messages that mark control steps (decimated when faster)."""
    intervals = np.diff(joint_states.times_ns) / 1e9
    if len(intervals) == 0:
        return np.arange(len(joint_states.times_ns))
    median = float(np.median(intervals))
    every = max(1, int(round(control_dt / median))) if median > 0 else 1
    return np.arange(0, len(joint_states.times_ns), every)


def _hold(samples: TimedSamples, before_ns: np.ndarray, max_gap_ns: int,
          step_times: np.ndarray | None = None, leading_zero: bool = False) -> np.ndarray:
    """Newest sample logged before each time in `before_ns` (zero-order hold).

    `leading_zero`: steps before the first sample get zeros (commands before the controller's
    first one: the robot stands still); otherwise such steps are an error. A sample older than
    `max_gap_ns` at a step is a gap in the recording.
    """
    index = np.searchsorted(samples.times_ns, before_ns, side="left") - 1
    values = np.asarray(samples.values, dtype=np.float64)
    held = values[np.maximum(index, 0)].copy()
    missing = index < 0
    if np.any(missing):
        if not leading_zero:
            raise RecordingError(
                f"{samples.source}: no message before {int(np.count_nonzero(missing))} of the "
                "first control steps (start the recording before the robot's drivers)")
        held[missing] = 0.0
    reference = before_ns if step_times is None else step_times
    present = ~missing
    age = reference[present] - samples.times_ns[index[present]]
    stale = np.flatnonzero(age > max_gap_ns)
    if len(stale):
        step = int(np.flatnonzero(present)[stale[0]])
        raise RecordingError(
            f"{samples.source}: no message for {age[stale[0]] / 1e9:.2f} s at "
            f"{(reference[step] - reference[0]) / 1e9:.1f} s into the recording (longest "
            f"allowed gap {max_gap_ns / 1e9} s)")
    return held
