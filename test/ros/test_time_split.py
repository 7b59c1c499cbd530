from __future__ import annotations

import time

import pytest

from crawler_rl.ros.training.time_split import TimeSplit, cpu_per_unit, fractions, start


def busy(cpu_seconds: float) -> None:
    end = time.thread_time() + cpu_seconds
    while time.thread_time() < end:
        pass


def test_parts_keep_wall_and_cpu_apart_and_the_rest_closes_the_sum() -> None:
    split = TimeSplit(("compute", "sleep"), waits=("wait",))
    before = split.snapshot()
    clock = start()
    busy(0.03)
    clock = split.add("compute", clock)
    time.sleep(0.05)
    split.add("sleep", clock)
    split.add_wait("wait", 0.01)
    time.sleep(0.02)  # in no part: the rest
    after = split.snapshot()
    assert after["compute"] + 1e-4 >= after["cpu_compute"] >= 0.03
    assert after["sleep"] >= 0.05 and after["cpu_sleep"] < 0.02  # sleeping costs no CPU
    assert after["wait"] == 0.01 and "cpu_wait" not in after
    shares = fractions(before, after, rest="idle")
    assert sum(shares[p] for p in ("compute", "sleep", "wait", "idle")) == pytest.approx(1.0)
    window = after["wall"] - before["wall"]
    # the rest: the last sleep less the wait added without passing time
    assert (0.02 - 0.01) / window <= shares["idle"] < 0.5 and 0 < shares["cpu"] < 1.5
    costs = cpu_per_unit(before, after, units=10, rest="other")
    assert costs["compute"] == pytest.approx(after["cpu_compute"] / 10)
    assert costs["total"] == pytest.approx(
        costs["compute"] + costs["sleep"] + costs["other"])


def test_profiling_refuses_empty_windows() -> None:
    split = TimeSplit(("compute",))
    snapshot = split.snapshot()
    with pytest.raises(ValueError, match="apart"):
        fractions(snapshot, snapshot)
    with pytest.raises(ValueError, match="no work"):
        cpu_per_unit(snapshot, split.snapshot(), units=0)
