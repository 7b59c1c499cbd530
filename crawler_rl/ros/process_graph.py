"""Run a Graph as OS processes with real DDS: respawn and clean shutdown (training and deploy).

Each NodeSpec becomes `python -m <the executable's module> --ros-args -r __node:=<name>
-p key:=value ...` in its own process group. Children get SIGTERM if the launcher dies, also
by SIGKILL (PR_SET_PDEATHSIG), and `shutdown` sends SIGINT, then SIGTERM, then SIGKILL, so no
process outlives the launcher. SIGINT, SIGTERM or SIGHUP to the launcher shut the graph down
and it exits with 130, 143 or 129.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler_rl.ros.graph import COMPOSED_EXECUTABLES, Graph, NodeSpec
from crawler_rl.ros.interface_paths import extend_environment
from crawler_rl.ros.nodes import NODE_MODULES
from crawler_rl.ros.signals import request_stack_dumps
from crawler_rl.stopping import child_setup

LOG = logging.getLogger(__name__)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def format_param(value: Any) -> str:
    """Render a parameter value so that rcl's YAML parser gives back the same type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} is not supported")


def node_command(spec: NodeSpec) -> list[str]:
    """Return the command line of one NodeSpec."""
    command = [sys.executable, "-m", NODE_MODULES[spec.executable], *spec.extra_args,
               "--ros-args"]
    if spec.executable not in COMPOSED_EXECUTABLES:
        command += ["-r", f"__node:={spec.name}"]
    if spec.namespace:
        command += ["-r", f"__ns:={spec.namespace}"]
    for source, target in spec.remappings.items():
        command += ["-r", f"{source}:={target}"]
    for key, value in spec.parameters.items():
        command += ["-p", f"{key}:={format_param(value)}"]
    return command


def child_environment() -> dict[str, str]:
    """Return the launcher's environment with this tree (and its interfaces) importable."""
    env = extend_environment(dict(os.environ))
    paths = [str(SOURCE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ManagedProcess:
    """A running NodeSpec and its restart bookkeeping."""

    spec: NodeSpec
    process: subprocess.Popen
    respawns: int = 0
    exited_at: float | None = None


class ProcessGraph:
    """Start, watch (respawn) and stop the processes of a Graph."""

    def __init__(self, graph: Graph, log_dir: Path | None = None) -> None:
        self.graph = graph
        self.log_dir = log_dir
        self.running: dict[str, ManagedProcess] = {}
        self.env = child_environment()

    def _spawn(self, spec: NodeSpec) -> subprocess.Popen:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115
        try:
            return subprocess.Popen(
                node_command(spec), env=self.env, stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True, preexec_fn=child_setup(signal.SIGTERM),
            )
        finally:
            if output is not None:
                output.close()

    def start(self) -> None:
        """Start every node of the graph."""
        for spec in self.graph.nodes:
            self.running[spec.name] = ManagedProcess(spec, self._spawn(spec))

    def poll(self) -> dict[str, int]:
        """Respawn dead respawning nodes (after their delay); return exit codes of the others."""
        finished: dict[str, int] = {}
        now = time.monotonic()
        for name, managed in self.running.items():
            code = managed.process.poll()
            if code is None:
                continue
            if not managed.spec.respawn:
                finished[name] = code
                continue
            if managed.exited_at is None:
                managed.exited_at = now
                LOG.warning("%s exited with %s; respawning in %.1f s", name, code,
                            managed.spec.respawn_delay)
            if now - managed.exited_at >= managed.spec.respawn_delay:
                managed.process = self._spawn(managed.spec)
                managed.respawns += 1
                managed.exited_at = None
        return finished

    def pids(self) -> list[int]:
        """Process ids of the current children."""
        return [managed.process.pid for managed in self.running.values()]

    def shutdown(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGINT every child, then SIGTERM and SIGKILL the process groups that linger.

        Each phase waits `timeout` seconds; after SIGINT, a node with a longer `stop_timeout`
        (the head: its learner's last checkpoint) gets that long, as under `ros2 launch`.
        Before SIGKILL a lingering node gets SIGUSR1: it writes its threads' stacks to its log.
        """
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [m for m in self.running.values() if m.process.poll() is None]
            if not alive:
                break
            if sig == signal.SIGKILL:
                request_stack_dumps([managed.process.pid for managed in alive], wait=1.0)
            for managed in alive:
                try:
                    os.killpg(managed.process.pid, sig)
                except ProcessLookupError:
                    pass
            wait = timeout
            if sig == signal.SIGINT:
                wait = max([timeout, *(m.spec.stop_timeout or 0.0 for m in alive)])
            deadline = time.monotonic() + wait
            for managed in alive:
                try:
                    managed.process.wait(max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    LOG.warning("%s ignored %s", managed.spec.name, sig.name)
        for managed in self.running.values():
            try:  # grandchildren sharing the group (none expected) go too
                os.killpg(managed.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return {name: m.process.wait() for name, m in self.running.items()}
