"""Where a training node's time goes: cumulative seconds per named part of its loop.

Each node brackets the parts of its callbacks with `start()` / `add()` and reports `snapshot()`
in its `~/status`; a profiler takes two snapshots and divides the differences by the wall time
between them (`fractions`) or by the env steps made meanwhile. Per part both the wall time
(perf_counter) and the calling thread's CPU time are kept: on a loaded machine the wall split
shows the waits, the CPU split what each part costs whatever the load. The node keeps no window
and pays four clock reads per part per step (~1 us). What no part covers (executor, message
intake, waiting for input) is the rest: `1 - sum(parts)`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

Clock = tuple[float, float]
"""(perf_counter, thread_time) at one instant."""


def start() -> Clock:
    """Read both clocks now (pass the result to `TimeSplit.add`)."""
    return time.perf_counter(), time.thread_time()


class TimeSplit:
    """Cumulative wall and CPU seconds of named parts, since the node started."""

    def __init__(self, parts: Iterable[str], waits: Iterable[str] = ()) -> None:
        """`parts` are timed by `add` (wall and CPU), `waits` by `add_wait` (wall only)."""
        self.started = time.perf_counter()
        self.cpu = dict.fromkeys(parts, 0.0)
        self.wall = dict.fromkeys([*self.cpu, *waits], 0.0)

    def add(self, part: str, since: Clock) -> Clock:
        """Add the time from `since` to now to `part`; return now (the next part's start)."""
        now = start()
        self.wall[part] += now[0] - since[0]
        self.cpu[part] += now[1] - since[1]
        return now

    def add_wait(self, part: str, seconds: float) -> None:
        """Add wall time only (a wait spans callbacks; its CPU is the executor's, in the rest)."""
        self.wall[part] += seconds

    def snapshot(self) -> dict[str, float]:
        """Wall seconds per part, `cpu_<part>`, wall since start (`wall`), process CPU (`cpu`)."""
        return {**self.wall, **{f"cpu_{part}": value for part, value in self.cpu.items()},
                "wall": time.perf_counter() - self.started, "cpu": time.process_time()}


def fractions(before: Mapping[str, float], after: Mapping[str, float],
              rest: str = "rest") -> dict[str, float]:
    """Fraction of the wall time between two snapshots spent in each part, plus `rest`.

    `cpu` is the process's CPU seconds per wall second (1.0: one busy core).
    """
    wall = after["wall"] - before["wall"]
    if wall <= 0:
        raise ValueError(f"snapshots {wall:.3g} s apart: take the later one second")
    parts = {name: (after[name] - before[name]) / wall for name in after
             if name not in ("wall", "cpu") and not name.startswith("cpu_")}
    return {**parts, rest: 1.0 - sum(parts.values()),
            "cpu": (after["cpu"] - before["cpu"]) / wall}


def cpu_per_unit(before: Mapping[str, float], after: Mapping[str, float], units: float,
                 rest: str = "rest") -> dict[str, float]:
    """CPU seconds per unit of work (e.g. per env step) of each part, the rest and the total.

    Does not depend on how much of a core the process got, unlike `fractions`.
    """
    if units <= 0:
        raise ValueError(f"no work between the snapshots ({units} units)")
    parts = {name[4:]: (after[name] - before[name]) / units for name in after
             if name.startswith("cpu_")}
    total = (after["cpu"] - before["cpu"]) / units
    return {**parts, rest: total - sum(parts.values()), "total": total}
