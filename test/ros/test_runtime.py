"""spin_until_shutdown and spin_until_stopped: how signals and shutdowns end a spin."""

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


def test_signals_stop_the_spin_between_callbacks_without_an_exception(ros_domain: int) -> None:
    import os
    import signal

    from std_msgs.msg import Float32

    from crawler_rl.stopping import stop_on_signals

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    init_default_context()
    node = rclpy.create_node("busy")
    try:
        received: list[float] = []
        node.create_subscription(Float32, "busy", lambda msg: received.append(msg.data), 10)
        publisher = node.create_publisher(Float32, "busy", 10)
        node.create_timer(0.001, lambda: publisher.publish(Float32(data=1.0)))
        for signum in (signal.SIGINT, signal.SIGTERM):
            stop = stop_on_signals()
            threading.Timer(0.3, os.kill, (os.getpid(), signum)).start()
            before = len(received)
            runtime.spin_until_stopped(node, stop)  # a KeyboardInterrupt would fail the test
            assert stop.is_set() and len(received) > before, signum
        assert rclpy.ok()  # the context stays up for a last message
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        node.destroy_node()
        rclpy.try_shutdown()
