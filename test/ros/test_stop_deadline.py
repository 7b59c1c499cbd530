"""run_node's stop deadline: a stateless node hung in its cleanup still leaves, with a trace."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from crawler_rl.ros.signals import STOP_DEADLINE_S

LAUNCH_SIGINT_TIMEOUT_S = 5.0
"""`ros2 launch` sends SIGTERM to a node still running this long after its SIGINT."""

NODE = """
import ctypes, sys, time
from rclpy.node import Node
from crawler_rl.ros.runtime import run_node

class Stuck(Node):
    def __init__(self):
        super().__init__("stuck")
        print("up", flush=True)

    def destroy_node(self):
        if sys.argv[1] == "hang":
            time.sleep(60)  # a cleanup that never returns
        if sys.argv[1] == "hang-holding-gil":
            ctypes.PyDLL(None).sleep(60)  # a C call that blocks with the GIL held (DDS, say)
        super().destroy_node()

run_node(Stuck)
"""


def stop_after_start(mode: str) -> tuple[int, float, str]:
    """Start the node, SIGINT it once it is up; (exit code, seconds to exit, stderr)."""
    child = subprocess.Popen([sys.executable, "-c", NODE, mode], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"
        time.sleep(0.5)  # into the spin
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, stderr = child.communicate(timeout=STOP_DEADLINE_S + 20)
        return child.returncode, time.monotonic() - sent, stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


@pytest.mark.parametrize("mode", ["hang", "hang-holding-gil", "clean"])
def test_a_hung_cleanup_ends_at_the_deadline_with_its_stack(ros_domain: int, mode: str) -> None:
    code, seconds, stderr = stop_after_start(mode)
    if mode == "clean":
        assert (code, "most recent call first" in stderr) == (0, False), stderr
        assert seconds < LAUNCH_SIGINT_TIMEOUT_S, seconds  # left on the SIGINT
    else:
        # before `ros2 launch` escalates, where it hung on stderr, not a clean exit code
        assert code == 1, stderr
        assert STOP_DEADLINE_S - 0.5 < seconds < LAUNCH_SIGINT_TIMEOUT_S, seconds
        assert "most recent call first" in stderr and "in destroy_node" in stderr, stderr
