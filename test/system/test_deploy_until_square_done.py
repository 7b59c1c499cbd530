"""A simulated `deploy --record` without `--duration` ends when its square does, not on a timer
started at launch (the square waits for the controller, so a fixed time could cut its end)."""

from __future__ import annotations

import time

import pytest

from crawler_rl.ros.graph import Graph, NodeSpec
from crawler_rl.ros.robot.deploy import SQUARE_SETTLE_SECONDS, _run_until_stopped
from crawler_rl.ros.robot.deploy_graph import SQUARE_PATH
from crawler_rl.stopping import StopRequest

pytestmark = pytest.mark.slow

SIDE = 0.5
"""Seconds per side and per corner of the short square: 4 s in all."""


def square_graph() -> Graph:
    return Graph(nodes=[NodeSpec(executable=SQUARE_PATH, name=SQUARE_PATH, parameters={
        "side_seconds": SIDE, "turn_seconds": SIDE, "start_delay": 0.0,
        "controller_name": ""})])


def test_the_run_ends_after_the_square_not_at_the_cap(ros_domain: int) -> None:
    started = time.monotonic()
    with StopRequest() as stop:
        result = _run_until_stopped(square_graph(), sim=True, duration=120.0, stop=stop,
                                    until_square_done=True)
    took = time.monotonic() - started
    assert result == 0
    # the square's 4 s plus the node's start-up, far below the 120 s cap
    assert 8 * SIDE + SQUARE_SETTLE_SECONDS <= took < 60.0, took


def test_without_it_the_run_lasts_its_duration(ros_domain: int) -> None:
    started = time.monotonic()
    with StopRequest() as stop:
        result = _run_until_stopped(square_graph(), sim=True, duration=8.0, stop=stop)
    took = time.monotonic() - started
    assert result == 0
    assert took >= 8.0, took
