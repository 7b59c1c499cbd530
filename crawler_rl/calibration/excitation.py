"""The excitation manoeuvre: steps and sweeps in v and omega with hold-still segments.

Safe speeds (|v| <= 0.08 m/s, |omega| <= 0.5 rad/s, inside the training command ranges) and
about 32 s long at `time_scale` 1. The steps show gain and lag, turning in place loads the
wheels (droop), driving towards and away from the tether anchor changes the tether's pull, and
the chirps cover 0.2-1.5 Hz. `excitation_command` is what `excitation_driver` publishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_V = 0.08
"""Largest forward speed of the manoeuvre [m/s]."""
MAX_OMEGA = 0.5
"""Largest yaw rate of the manoeuvre [rad/s]."""
SWEEP_HZ = (0.2, 1.5)
"""Start and end frequency of the chirps [Hz]."""


@dataclass(frozen=True)
class Segment:
    """One part of the manoeuvre: a held (v, omega), or a chirp of amplitude (v, omega)."""

    v: float
    omega: float
    seconds: float
    sweep: bool = False


SEGMENTS = (
    Segment(0.0, 0.0, 2.0),                       # hold still: sensor offsets, tether at rest
    Segment(MAX_V, 0.0, 3.0),                     # forward step
    Segment(0.0, 0.0, 1.5),
    Segment(-MAX_V, 0.0, 3.0),                    # backward step
    Segment(0.0, 0.0, 1.5),
    Segment(0.0, MAX_OMEGA, 2.5),                 # turn in place (scrub load: droop)
    Segment(0.0, 0.0, 1.0),
    Segment(0.0, -MAX_OMEGA, 2.5),
    Segment(0.0, 0.0, 1.0),
    Segment(0.75 * MAX_V, 0.6 * MAX_OMEGA, 2.5),  # arc
    Segment(0.0, 0.8 * MAX_OMEGA, 5.0, sweep=True),
    Segment(MAX_V, 0.0, 5.0, sweep=True),
    Segment(0.0, 0.0, 2.0),                       # hold still at the end
)


def excitation_seconds(time_scale: float = 1.0) -> float:
    """Length of the manoeuvre [s]."""
    return time_scale * sum(segment.seconds for segment in SEGMENTS)


def excitation_command(elapsed: float, time_scale: float = 1.0) -> tuple[float, float] | None:
    """(v, omega) `elapsed` s into the manoeuvre; zero before it, None after its end."""
    if not time_scale > 0.0:
        raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
    if elapsed < 0.0:
        return 0.0, 0.0
    for segment in SEGMENTS:
        seconds = segment.seconds * time_scale
        if elapsed < seconds:
            if not segment.sweep:
                return segment.v, segment.omega
            return _chirp(elapsed, seconds) * segment.v, _chirp(elapsed, seconds) * segment.omega
        elapsed -= seconds
    return None


def _chirp(t: float, seconds: float) -> float:
    """Linear chirp from SWEEP_HZ[0] to SWEEP_HZ[1] over `seconds`, in [-1, 1]."""
    start, end = SWEEP_HZ
    phase = 2.0 * math.pi * (start * t + 0.5 * (end - start) / seconds * t * t)
    return math.sin(phase)
