"""Head node: the inference node plus the learner, started together as one graph entry.

The learner runs in a child process of its own: a PPO update is mostly Python between small
torch kernels, so in the inference process it would hold the GIL for most of an update and
stall every actor waiting for actions (p99 action latency of hundreds of ms). As two
processes the update runs on another core while inference keeps answering.

The child gets the same ROS arguments, dies with the head (PR_SET_PDEATHSIG, SIGKILL), and
when it exits on its own the head leaves with its exit code, so a launcher sees one process
that fails and respawns as a whole. The learner exits 0 when training is done: the head then
exits 0, and as the graph's required node (crawler_rl.ros.graph) it ends the whole run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import rclpy
from rclpy.executors import SingleThreadedExecutor

from crawler_rl.ros.runtime import spin_until_shutdown
from crawler_rl.ros.signals import (
    dump_stacks_on_sigusr1,
    ignore_stop_signals,
    request_stack_dumps,
)
from crawler_rl.ros.training.graph import LEARNER_EXIT_GRACE
from crawler_rl.ros.training.inference_node import InferenceNode
from crawler_rl.stopping import child_setup

LEARNER_MODULE = "crawler_rl.ros.training.learner_node"


class LearnerExited(Exception):
    """The learner child process ended; carries its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"learner exited with {code}")
        self.code = code


def start_learner(ros_args: list[str]) -> subprocess.Popen:
    """Start the learner node as a child process with the head's ROS arguments.

    In a process group of its own: a launcher signals the head's group, and the head then
    forwards one SIGINT (`stop_learner`); a second one would interrupt the learner's cleanup
    and fail the head with exit code 1.
    """
    return subprocess.Popen([sys.executable, "-m", LEARNER_MODULE, *ros_args],
                            preexec_fn=child_setup(signal.SIGKILL), process_group=0)


def stop_learner(learner: subprocess.Popen) -> int:
    """SIGINT the learner (lets it flush), SIGKILL it if it lingers; return its exit code.

    A lingering learner first gets SIGUSR1: its Python stacks go to the log (faulthandler).
    """
    if learner.poll() is None:
        learner.send_signal(signal.SIGINT)
        try:
            return learner.wait(LEARNER_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            request_stack_dumps([learner.pid], wait=0.5)
            learner.kill()
    return learner.wait()


def hang_up_as_sigterm() -> None:
    """Stop on SIGHUP (a closed terminal) as on SIGTERM, unless it is ignored (nohup).

    rclpy handles only SIGINT and SIGTERM; this way the learner still writes a final checkpoint.
    """
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, lambda signum, frame: os.kill(os.getpid(), signal.SIGTERM))


def main(args: list[str] | None = None) -> None:
    """Run inference here and the learner in a child process until shutdown."""
    argv = list(sys.argv if args is None else args)
    learner = start_learner(argv[1:])
    rclpy.init(args=argv)
    hang_up_as_sigterm()
    dump_stacks_on_sigusr1()
    node = None
    code = 0
    try:
        node = InferenceNode()

        def watch_learner() -> None:
            returncode = learner.poll()
            if returncode is not None:
                raise LearnerExited(returncode)

        node.create_timer(0.5, watch_learner)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_shutdown(executor.spin)
    except LearnerExited as exited:
        code = exited.code
        if code == 0:
            node.get_logger().info("learner finished training; head shutting down")
        else:
            node.get_logger().error(f"{exited}; head shutting down")
    finally:
        ignore_stop_signals()  # a repeated signal must not cut the learner's final checkpoint
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        # A no-op when it already left. Asked to stop, an error while the learner winds down
        # is in its log, not a failed run: its exit code only counts via LearnerExited.
        stop_learner(learner)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main(sys.argv)
