"""Shared by the nodes: the `~/status` JSON service and the spin-until-shutdown mains."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import rclpy
from rclpy.callback_groups import CallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_srvs.srv import Trigger

from crawler_rl.ros.signals import StopDeadline, dump_stacks_on_sigusr1
from crawler_rl.stopping import StopRequest, exit_code, stop_on_signals

NodeT = TypeVar("NodeT", bound=Node)


def serve_status(node: Node, status: Callable[[], dict[str, Any]],
                 callback_group: CallbackGroup | None = None) -> None:
    """Offer `~/status` (std_srvs/Trigger) answering with `status()` as JSON."""

    def on_status(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = True
        response.message = json.dumps(status())
        return response

    node.create_service(Trigger, "~/status", on_status, callback_group=callback_group)


SHUTDOWN_SETTLE_S = 1.0
"""How long an error may precede the context shutdown of the signal that caused it."""


def spin_until_shutdown(spin: Callable[[], None]) -> None:
    """Run `spin()` until Ctrl-C or external shutdown.

    A signal shuts the context down at any point, also inside a callback that is publishing or
    taking a message, and rclpy does that from another thread: an error raised while the
    context is, or within SHUTDOWN_SETTLE_S becomes, shut down is a clean stop. The same error
    with the context alive is a real failure and propagates.
    """
    try:
        spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not _context_goes_down(SHUTDOWN_SETTLE_S):
            raise


def spin_until_stopped(node: Node, stop: StopRequest, period: float = 0.05) -> None:
    """Spin `node` until a stop signal arrived (`stopping.stop_on_signals`) or the context ends.

    The event is checked at least every `period` seconds; callbacks are never interrupted. A
    node that shut its context down while being built (a learner resuming a finished run) does
    not spin at all.
    """
    if not node.context.ok():
        return
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=period)
    except ExternalShutdownException:
        pass
    finally:
        executor.remove_node(node)
        executor.shutdown()


def build_or_exit(make_node: Callable[[], NodeT], name: str) -> NodeT:
    """Build a node; a `ValueError` (bad parameters) is logged as fatal and exits 2."""
    try:
        return make_node()
    except ValueError as error:
        rclpy.logging.get_logger(name).fatal(f"refusing to start: {error}")
        rclpy.try_shutdown()
        raise SystemExit(2) from error


def run_stoppable_node(make_node: Callable[[], Node], name: str,
                       args: list[str] | None = None) -> None:
    """Run a robot-side node: SIGINT/SIGTERM stop the spin, then `close()` runs.

    A `ValueError` while building the node (bad parameters) is logged as fatal and exits 2.
    The node must have a `close()` method (save, release, publish a last message).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = stop_on_signals()
    dump_stacks_on_sigusr1()
    node = build_or_exit(make_node, name)
    try:
        spin_until_stopped(node, stop)
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()


def _context_goes_down(settle: float) -> bool:
    """Whether the default context is shut down now or within `settle` seconds."""
    deadline = time.monotonic() + settle
    try:
        while rclpy.ok():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
    except KeyboardInterrupt:  # the signal's own Python handler, chained by rclpy
        pass
    return True


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Init rclpy, spin the node until Ctrl-C or external shutdown, then clean up.

    For stateless nodes (actor, inference): once the spin ends (or the context goes down
    under a callback) the cleanup has `signals.STOP_DEADLINE_S`, else the process dumps its
    stacks and exits 1 (`signals.StopDeadline`).
    """
    rclpy.init(args=args)
    dump_stacks_on_sigusr1()
    deadline = StopDeadline(rclpy.get_default_context().ok)
    node = None
    try:
        node = make_node()
        spin_until_shutdown(lambda: rclpy.spin(node))
    finally:
        deadline.arm()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        deadline.disarm()


def run_node_until_signal(make_node: Callable[[], Node], on_signal: Callable[[Node], None],
                          args: list[str] | None = None) -> None:
    """Run a node like `run_node`; SIGINT or SIGTERM ends it with 130 or 143.

    The callback that is running finishes first, then `on_signal(node)` runs (a final
    checkpoint, say) before the node is destroyed. A node that shuts its own context down (the
    learner when training is done) ends normally, with exit code 0.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = stop_on_signals()
    dump_stacks_on_sigusr1()
    node = None
    try:
        node = make_node()
        spin_until_stopped(node, stop)
        if stop.signum is not None:
            on_signal(node)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if stop.signum is not None:
        raise SystemExit(exit_code(stop.signum))
