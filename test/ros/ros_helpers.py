"""Helpers for in-process ROS tests (the domain comes from the `ros_domain` fixture)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rclpy.executors import Executor


def spin_until(executor: Executor, done: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Spin until `done()` or `timeout` seconds; return done()."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
    return done()
