"""Recorded signals as arrays, one row per control step, and the checks a fit needs.

Times are send times. The step clock is the wheel encoders' message stream (joint states: one
per control period from the simulated robot, decimated when a driver publishes faster). For
step k the replay applies the newest wheel command sent before encoder message k and compares
the simulator with encoder message k and with the odometry / IMU / load cell samples sent
nearest to it (robot_sim_node sends them together, in any order; the controller answers the
odometry with the next step's command).
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
        gap = (step_times[first + 1] - step_times[first]) / 1e9
        raise RecordingError(
            f"{joint_states.source}: gap of {gap:.2f} s at "
            f"{(step_times[first] - step_times[0]) / 1e9:.1f} s into the recording "
            f"(longest allowed {max_gap_seconds} s): record again without interruptions")
    # The recorder subscribes to each topic as it discovers it, and the nodes stop one by one:
    # keep the steps while every signal is there.
    half_step = int(0.5 * control_dt * 1e9)
    sensors = [samples for samples in (yaw_rate, forward_velocity, tether_tension)
               if samples is not None]
    first = int(np.searchsorted(step_times, max(int(s.times_ns[0]) for s in sensors)
                                - half_step))
    end = int(np.searchsorted(step_times, min(
        [int(s.times_ns[-1]) + half_step for s in sensors]
        + [int(wheel_commands.times_ns[-1]) + 3 * half_step]), side="right"))
    clock, step_times = clock[first:end], step_times[first:end]
    seconds = len(step_times) * control_dt
    if seconds < min_seconds:
        raise RecordingError(
            f"recording too short: {len(step_times)} control steps ({seconds:.1f} s) of "
            f"{joint_states.source}, need at least {min_seconds:.0f} s (run crawler-rl excite)")
    moving = np.max(np.abs(joint_states.values[clock[0]]))
    if moving > MIN_WHEEL_COMMAND:
        raise RecordingError(
            f"{joint_states.source}: the recording starts with the wheels turning at {moving:.2f}"
            " rad/s; the replay starts from rest (start recording before the manoeuvre)")
    commands = _hold(wheel_commands, step_times, max_gap_ns)
    if np.max(np.abs(commands)) < MIN_WHEEL_COMMAND:
        raise RecordingError(
            f"{wheel_commands.source}: the wheel commands never reach {MIN_WHEEL_COMMAND} rad/s"
            " (the robot did not move; was the controller enabled during crawler-rl excite?)")
    return RecordedRun(
        control_dt=control_dt,
        wheel_commands=commands,
        wheel_speeds=joint_states.values[clock].astype(np.float64),
        yaw_rate=_nearest(yaw_rate, step_times, max_gap_ns),
        forward_velocity=_nearest(forward_velocity, step_times, max_gap_ns),
        tether_tension=(None if tether_tension is None
                        else _nearest(tether_tension, step_times, max_gap_ns)),
        commanded_twist=(None if commanded_twist is None  # drawn only: gaps do not matter
                         else _hold(commanded_twist, step_times, NO_GAP_LIMIT)),
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
    """Return the indices of the encoder messages marking control steps (decimated if faster)."""
    intervals = np.diff(joint_states.times_ns) / 1e9
    if len(intervals) == 0:
        return np.arange(len(joint_states.times_ns))
    median = float(np.median(intervals))
    every = max(1, int(round(control_dt / median))) if median > 0 else 1
    return np.arange(0, len(joint_states.times_ns), every)


def _hold(samples: TimedSamples, step_times: np.ndarray, max_gap_ns: int) -> np.ndarray:
    """Newest sample sent before each step's encoder message (a command's zero-order hold).

    Steps before the first sample get zeros (commands before the controller's first one: the
    robot stands still). A sample older than `max_gap_ns` at a step is a gap in the recording.
    """
    index = np.searchsorted(samples.times_ns, step_times, side="left") - 1
    held = np.asarray(samples.values, dtype=np.float64)[np.maximum(index, 0)].copy()
    missing = index < 0
    held[missing] = 0.0
    present = np.flatnonzero(~missing)
    _check_gaps(samples, step_times, present, step_times[present] - samples.times_ns[
        index[present]], max_gap_ns)
    return held


def _nearest(samples: TimedSamples, step_times: np.ndarray, max_gap_ns: int) -> np.ndarray:
    """Return the sample sent nearest to each step's encoder message (the same step's reading)."""
    after = np.clip(np.searchsorted(samples.times_ns, step_times), 0, len(samples.times_ns) - 1)
    before = np.maximum(after - 1, 0)
    distance_after = np.abs(samples.times_ns[after] - step_times)
    distance_before = np.abs(samples.times_ns[before] - step_times)
    index = np.where(distance_before < distance_after, before, after)
    distance = np.minimum(distance_before, distance_after)
    _check_gaps(samples, step_times, np.arange(len(step_times)), distance, max_gap_ns)
    return np.asarray(samples.values, dtype=np.float64)[index]


def _check_gaps(samples: TimedSamples, step_times: np.ndarray, steps: np.ndarray,
                distance: np.ndarray, max_gap_ns: int) -> None:
    """RecordingError when a step's sample is further than `max_gap_ns` from it."""
    stale = np.flatnonzero(distance > max_gap_ns)
    if len(stale):
        step = int(steps[stale[0]])
        raise RecordingError(
            f"{samples.source}: no message for {distance[stale[0]] / 1e9:.2f} s at "
            f"{(step_times[step] - step_times[0]) / 1e9:.1f} s into the recording (longest "
            f"allowed gap {max_gap_ns / 1e9} s)")
