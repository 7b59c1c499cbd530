"""Alignment of recorded messages to control steps, and the errors of unusable recordings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from crawler_rl.calibration.recorded_run import (
    RecordingError,
    TimedSamples,
    align_to_control_steps,
)

DT = 0.05
MS = 1_000_000


def lockstep_streams(steps: int = 300, every: int = 1) -> dict[str, Any]:
    """Messages as the lockstep sim graph sends them: step k's IMU just before its encoders,
    odometry and load cell just after, then the command answering step k.

    Step k's encoders read k, its IMU 1000 + k, odometry 2000 + k; command k is (k, -k) + 1.
    `every` > 1: the encoders publish that many times per control step.
    """
    rng = np.random.default_rng(0)
    step_ns = 10**9 + np.arange(steps) * int(DT * 1e9) + rng.integers(0, 8 * MS, steps)
    encoder_ns = np.concatenate([step_ns[:, None] + np.arange(every)[None, :]
                                 * int(DT * 1e9 / every)], axis=None).reshape(-1)
    encoder_values = np.repeat(np.arange(steps, dtype=float), every)
    commands = np.stack([np.arange(steps) + 1.0, -np.arange(steps) - 1.0], axis=1)
    return {
        "joint_states": TimedSamples("/joint_states", encoder_ns,
                                     np.stack([encoder_values, encoder_values], axis=1)),
        "yaw_rate": TimedSamples("/imu", step_ns - MS // 5, 1000.0 + np.arange(steps)),
        "forward_velocity": TimedSamples("/odom", step_ns + MS // 2, 2000.0 + np.arange(steps)),
        "tether_tension": TimedSamples("/tether_tension", step_ns + MS // 3,
                                       np.full(steps, 3.0)),
        "wheel_commands": TimedSamples("/wheel_velocity_controller/commands",
                                       step_ns + 3 * MS, commands),
    }


def align(streams: dict[str, Any], **kwargs: Any):
    return align_to_control_steps(control_dt=DT, **streams, **kwargs)


def test_each_step_gets_the_command_before_it_and_its_own_readings() -> None:
    streams = lockstep_streams()
    # The encoders start at rest: zero wheel speeds until the first command shows.
    streams["joint_states"].values[:1] = 0.0
    run = align(streams)
    assert run.steps == 300 and run.seconds == pytest.approx(15.0)
    assert run.wheel_commands[0].tolist() == [0.0, 0.0]  # before the controller's first one
    # step k applies the command answering step k - 1: (k, -k)
    assert run.wheel_commands[1:, 0].tolist() == list(np.arange(1.0, 300.0))
    assert run.wheel_commands[1:, 1].tolist() == list(-np.arange(1.0, 300.0))
    assert run.wheel_speeds[5:, 0].tolist() == list(np.arange(5.0, 300.0))
    assert run.yaw_rate.tolist() == list(1000.0 + np.arange(300))
    assert run.forward_velocity.tolist() == list(2000.0 + np.arange(300))
    assert run.tether_tension is not None and np.all(run.tether_tension == 3.0)


def test_faster_encoders_are_decimated_to_the_control_period() -> None:
    streams = lockstep_streams(every=5)
    streams["joint_states"].values[:5] = 0.0
    run = align(streams)
    assert run.steps == 300
    assert run.wheel_speeds[1:, 0].tolist() == list(np.arange(1.0, 300.0))
    assert run.yaw_rate.tolist() == list(1000.0 + np.arange(300))


def test_a_recorder_that_started_late_on_a_topic_trims_the_start() -> None:
    streams = lockstep_streams()
    streams["joint_states"].values[:] = 0.1  # at rest
    odom = streams["forward_velocity"]
    streams["forward_velocity"] = TimedSamples("/odom", odom.times_ns[10:], odom.values[10:])
    run = align(streams)
    assert run.steps == 290
    assert run.forward_velocity[0] == 2010.0 and run.yaw_rate[0] == 1010.0


def test_signals_that_stop_first_at_the_end_trim_the_end() -> None:
    streams = lockstep_streams()
    streams["joint_states"].values[:1] = 0.0
    streams["wheel_commands"] = cut(streams["wheel_commands"], 280, 300)  # controller stopped
    streams["tether_tension"] = cut(streams["tether_tension"], 290, 300)
    run = align(streams)
    assert run.steps == 281  # step 280 still applies command 279
    assert run.wheel_commands[-1, 0] == 280.0 and run.yaw_rate[-1] == 1280.0


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.update(joint_states=cut(s["joint_states"], 150, 160)),
     r"/joint_states: gap of 0\.5\d s at 7\.\d s"),
    (lambda s: s.update(forward_velocity=cut(s["forward_velocity"], 100, 120)),
     r"/odom: no message for 0\.\d+ s at [45]\.\d s"),
    (lambda s: s.update(wheel_commands=cut(s["wheel_commands"], 100, 120)),
     r"/wheel_velocity_controller/commands: no message for"),
    (lambda s: s.update(joint_states=cut(s["joint_states"], 150, 300)),
     r"too short: 150 control steps \(7\.5 s\) of /joint_states, need at least 10 s"),
    (lambda s: s["yaw_rate"].values.__setitem__(7, np.nan),
     r"/imu: 1 messages with NaN"),
    (lambda s: s["wheel_commands"].values.__imul__(0.0),
     r"never reach 0\.5 rad/s"),
    (lambda s: s["joint_states"].values.__iadd__(3.0),
     r"starts with the wheels turning at 3\.00 rad/s"),
    (lambda s: s.update(tether_tension=cut(s["tether_tension"], 0, 300)),
     r"/tether_tension: no messages in the recording"),
])
def test_unusable_recordings_are_refused_naming_what_is_wrong(damage, message) -> None:
    streams = lockstep_streams()
    streams["joint_states"].values[:1] = 0.0
    damage(streams)
    with pytest.raises(RecordingError, match=message):
        align(streams)


def cut(samples: TimedSamples, start: int, end: int) -> TimedSamples:
    """`samples` without messages start..end-1."""
    keep = np.r_[0:start, end:len(samples.times_ns)]
    return TimedSamples(samples.source, samples.times_ns[keep], samples.values[keep])
