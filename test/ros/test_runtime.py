"""spin_until_shutdown: errors caused by a shutdown are a clean stop, others propagate."""

from __future__ import annotations

import threading

import pytest
import rclpy
from rclpy.signals import SignalHandlerOptions

from crawler_rl.ros import runtime


def fail() -> None:
    raise RuntimeError("take failed")


def init_default_context() -> None:
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)


def test_an_error_with_the_context_alive_propagates(
    ros_domain: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "SHUTDOWN_SETTLE_S", 0.2)
    init_default_context()
    try:
        with pytest.raises(RuntimeError, match="take failed"):
            runtime.spin_until_shutdown(fail)
    finally:
        rclpy.try_shutdown()


def test_an_error_just_before_a_shutdown_from_another_thread_is_a_clean_stop(
    ros_domain: int,
) -> None:
    init_default_context()
    try:
        # As rclpy's signal handling does: the context goes down from another thread, shortly
        # after the main thread's take already failed.
        threading.Timer(0.1, rclpy.try_shutdown).start()
        runtime.spin_until_shutdown(fail)
        assert not rclpy.ok()
    finally:
        rclpy.try_shutdown()
