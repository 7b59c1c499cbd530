"""Run a Graph as OS processes with real DDS: respawn, progress bar, clean shutdown.

Each NodeSpec becomes `python -m crawler_rl.ros.<executable> --ros-args -r __node:=<name>
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

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.graph import (
    COMPOSED_EXECUTABLES,
    Graph,
    NodeSpec,
    actor_specs,
    training_graph,
    write_run_config,
)
from crawler_rl.ros.interface_paths import check_built, extend_environment
from crawler_rl.ros.signals import request_stack_dumps
from crawler_rl.stopping import StopRequest, child_setup, exit_code

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
    command = [sys.executable, "-m", f"crawler_rl.ros.{spec.executable}", *spec.extra_args,
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


def parse_metrics(msg: Any) -> dict[str, Any] | None:
    """Return the learner's metrics, or None for an inconsistent message (any peer may send)."""
    from crawler_rl.ros.codec import CodecError
    from crawler_rl.ros.training_metrics import decode_metrics

    try:
        return decode_metrics(msg)
    except CodecError:
        return None


class MetricsListener:
    """Subscribe to the learner's latched metrics in a private rclpy context."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from crawler_rl.ros import qos
        from crawler_rl.ros.interfaces import TrainingMetricsMsg

        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("training_monitor", context=self.context)
        self.latest: dict[str, Any] = {}
        self.rejected = 0
        self.node.create_subscription(TrainingMetricsMsg, qos.METRICS_TOPIC, self._on_metrics,
                                      qos.metrics_qos())
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_metrics(self, msg: Any) -> None:
        metrics = parse_metrics(msg)
        if metrics is None:
            self.rejected += 1
        else:
            self.latest = metrics

    def spin_once(self, timeout: float) -> dict[str, Any]:
        """Process pending messages for up to `timeout` seconds; return the latest metrics."""
        self.executor.spin_once(timeout_sec=timeout)
        return self.latest

    def close(self) -> None:
        """Leave the graph."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def _postfix(metrics: dict[str, Any]) -> dict[str, str]:
    shown = {"sps": "sps", "rew": "mean_reward", "e_v": "tracking_error_v",
             "e_w": "tracking_error_omega", "ver": "policy_version", "lag": "policy_lag"}
    return {label: f"{metrics[key]:.3g}" for label, key in shown.items()
            if isinstance(metrics.get(key), (int, float))}


def run_graph(graph: Graph, total_steps: int | None, log_dir: Path | None = None,
              progress: bool = True, shutdown_timeout: float = 10.0) -> int:
    """Run `graph` until a required node exits (graph.py's stopping rule) or Ctrl-C.

    `total_steps` sizes the progress bar (the learner's metrics). Returns the required node's
    exit code (0 when the head finished training), 128 + the signal number when stopped by
    SIGINT, SIGTERM or SIGHUP (checked every 0.2 s; a second one does not cut the shutdown
    short), or the exit code (1 for 0) of another non-respawning node that exited.
    """
    with StopRequest() as stop:
        return _run_graph(graph, total_steps, log_dir, progress, shutdown_timeout, stop)


def _run_graph(graph: Graph, total_steps: int | None, log_dir: Path | None, progress: bool,
               shutdown_timeout: float, stop: StopRequest) -> int:
    from tqdm import tqdm

    processes = ProcessGraph(graph, log_dir)
    listener = MetricsListener() if total_steps is not None else None
    bar = tqdm(total=total_steps, disable=not progress or total_steps is None, unit="step",
               dynamic_ncols=True)
    result = 0
    try:
        processes.start()
        while not stop.requested:
            if listener is not None:
                metrics = listener.spin_once(0.2)
                step = int(metrics.get("global_step", 0))
                if step > bar.n:
                    bar.update(step - bar.n)
                    bar.set_postfix(_postfix(metrics), refresh=False)
            else:
                time.sleep(0.2)
            finished = processes.poll()
            if finished:
                name, code = next(iter(finished.items()))
                if processes.running[name].spec.required and code == 0:
                    LOG.info("%s finished; stopping the graph", name)
                    break
                LOG.error("%s exited with code %s; stopping the graph", name, code)
                result = code or 1
                break
        if stop.signum is not None:
            result = exit_code(stop.signum)
    finally:
        bar.close()
        if listener is not None:
            listener.close()
        exit_codes = processes.shutdown(shutdown_timeout)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / "exit_codes.json").write_text(json.dumps(exit_codes))
    return result


def run_training_graph(cfg: TrainConfig, run_dir: Path, resume: bool, actors: int,
                       envs_per_actor: int, local_actors: bool = True,
                       progress: bool = True) -> int:
    """`crawler-rl train --backend ros`: head + actors as processes until total steps."""
    check_built()  # before any process starts: the nodes' messages need the built interfaces
    run_dir = Path(run_dir)
    write_run_config(cfg, run_dir)
    graph = training_graph(cfg, actors, envs_per_actor, run_dir, resume, local_actors)
    return run_graph(graph, cfg.run.total_steps, run_dir / "logs", progress)


def run_actor_fleet(cfg: TrainConfig, count: int, envs_per_actor: int,
                    first_id: int = 0) -> int:
    """`crawler-rl actors`: only actor processes (worker machines), until Ctrl-C."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    check_built()
    return run_graph(Graph(actor_specs(cfg, count, envs_per_actor, first_id)), None)
