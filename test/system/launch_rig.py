"""Shared by the `ros2 launch` / `ros2 run` tests: run the real ROS 2 tools on a colcon build.

Commands run as a user runs them on a ROS 2 install: `source <install>/setup.bash`, then
`ros2 ...` (from the kit in the venv, or the distribution's), each in a session of its own so
that a test can press Ctrl-C (SIGINT to the whole process group, as a terminal does).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from launch_file_rig import require_launch_ros
from test_training_e2e import processes_in_domain

from crawler_rl.ros.training.graph import HEAD_STOP_TIMEOUT

__all__ = ["require_launch_ros"]  # shared with the launch-file tests

REPO = Path(__file__).resolve().parents[2]
SMOKE_CONFIG = REPO / "config" / "train_smoke.yaml"
CLEAN_EXIT_S = 15.0
"""Longest wait for a launch to end once its nodes are told to stop: launch's own escalation
(SIGINT, SIGTERM after 5 s, SIGKILL after 5 s more) plus slack for a loaded machine. The head
gets graph.HEAD_STOP_TIMEOUT more."""


def ros2_command(install: Path, *arguments: str) -> list[str]:
    """`source <install>/setup.bash && exec ros2 <arguments>` as an argv for Popen."""
    script = f"source {shlex.quote(str(install / 'setup.bash'))} && exec ros2 \"$@\""
    return ["bash", "-c", script, "ros2", *arguments]


def ros2_environment() -> dict[str, str]:
    """The test's environment (its ROS domain) with this interpreter's venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Ros2Process:
    """One `ros2 ...` command in its own session, its output in a log file."""

    def __init__(self, install: Path, log: Path, *arguments: str, cwd: Path | None = None):
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                ros2_command(install, *arguments), env=ros2_environment(), cwd=cwd,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        """The `ros2` process id (bash exec'd into it); also its process group id."""
        return self.process.pid

    def text(self) -> str:
        """Everything the command printed so far."""
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        """The end of the output, for assertion messages."""
        return self.text()[-chars:]

    def wait(self, timeout: float) -> int:
        """Wait for the exit code; fail with the output if it takes longer."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s:\n{self.tail()}")

    def ctrl_c(self) -> None:
        """SIGINT to the command's process group, as Ctrl-C in its terminal (`ros2 run`)."""
        os.killpg(self.pid, signal.SIGINT)

    def interrupt(self) -> None:
        """SIGINT to `ros2` alone: with no terminal on stdin, `ros2 launch` passes it on to
        every node itself (a group SIGINT as well would reach each node twice)."""
        os.kill(self.pid, signal.SIGINT)

    def descendants(self) -> list[int]:
        """Process ids of every process below this command now."""
        import psutil

        try:
            return [child.pid for child in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """Leave nothing behind whatever the test did: SIGINT, then SIGKILL to the group."""
        if self.process.poll() is None:
            self.interrupt()
            try:
                self.process.wait(HEAD_STOP_TIMEOUT + CLEAN_EXIT_S)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()


def wait_until(condition: Callable[[], bool], timeout: float, period: float = 0.2) -> bool:
    """Poll `condition()` for up to `timeout` seconds; return its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(period)
    return True


def nothing_left(domain: int, pids: list[int], timeout: float = 5.0) -> dict[int, str]:
    """Wait until no process of the run is alive; return the survivors ({} when none)."""

    def survivors() -> dict[int, str]:
        alive = {pid: "(below the launch)" for pid in pids if is_running(pid)}
        return {**alive, **processes_in_domain(domain)}

    wait_until(lambda: not survivors(), timeout)
    return survivors()


def is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
