"""Shared by the fault tests: a toy training graph as real processes, watched over DDS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
import yaml
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import Trigger

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import TrainingMetricsMsg
from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.training.training_metrics import decode_metrics

REPO = Path(__file__).resolve().parents[2]
TOY_ENV_DIR = REPO / "test" / "rl"  # rl_toy_env.VelocityTrackingToy: learnable in ~1k steps


def toy_config(actors: int, envs: int, steps: int, iterations: int, **run: Any) -> TrainConfig:
    """A run of `iterations` PPO updates over `actors * envs` toy envs of `steps` steps."""
    return TrainConfig.from_dict({
        "env": {"env_id": "rl_toy_env:VelocityTrackingToy"},
        "ppo": {"num_steps": steps},
        "run": {"total_steps": iterations * actors * envs * steps, "export_onnx": False, **run},
    })


def start_cli_training(cfg: TrainConfig, actors: int, envs: int,
                       workdir: Path) -> tuple[subprocess.Popen, Path]:
    """`crawler-rl train --backend ros` on `cfg` as a subprocess; return it and its run dir."""
    config = Path(workdir) / "train.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    run_dir = Path(workdir) / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TOY_ENV_DIR)])}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "crawler_rl.cli", "train", "--backend", "ros", "--config",
         str(config), "--actors", str(actors), "--envs-per-actor", str(envs), "--run-dir",
         str(run_dir), "--no-progress"],
        env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return launcher, run_dir


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every line the learner(s) of a run appended to metrics.jsonl, in order.

    Complete lines only: a line the learner is appending may be read half-written.
    """
    path = Path(run_dir) / "metrics.jsonl"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


class GraphMonitor:
    """Collects training-metrics messages and asks nodes for `~/status`.

    `processes`: the ProcessGraph this test runs (polled so it respawns), or None when the
    graph runs elsewhere (a `crawler-rl train` subprocess).

    The metrics topic is latched with depth 1, so a burst can skip messages: use them for
    timing and progress, and `read_metrics` for the complete record.

    `wait_for` spins DDS and polls the ProcessGraph (which respawns dead nodes) until a
    condition holds, so the test waits on events, not on fixed sleeps.
    """

    def __init__(self, context: Context, processes: ProcessGraph | None) -> None:
        self.processes = processes
        self.node = rclpy.create_node("fault_monitor", context=context)
        self.metrics: list[tuple[float, dict[str, Any]]] = []
        self.node.create_subscription(TrainingMetricsMsg, qos.METRICS_TOPIC, self._on_metrics,
                                      qos.metrics_qos())
        self.clients: dict[str, Any] = {}
        self.status_failure = ""
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)

    def _on_metrics(self, msg: TrainingMetricsMsg) -> None:
        self.metrics.append((time.monotonic(), decode_metrics(msg)))

    @property
    def latest(self) -> dict[str, Any]:
        """The newest metrics message ({} before the first)."""
        return self.metrics[-1][1] if self.metrics else {}

    def spin(self, seconds: float) -> None:
        """Process DDS and respawn dead nodes for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if self.processes is not None:  # None: someone else runs the graph
                finished = self.processes.poll()
                assert not finished, f"non-respawning node exited: {finished}"

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Spin until `done()` or `timeout` seconds; return done()."""
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self.spin(0.05)
        return done()

    def status(self, service: str, timeout: float = 30.0,
               attempt: float = 2.0) -> dict[str, Any] | None:
        """Call a node's `~/status`; None if it gives no answer within `timeout` seconds.

        Waits for the service to be discovered, then resends the (read-only) request every
        `attempt` seconds: a response is lost when the server has not yet matched this
        client's response reader (Fast DDS waits only 100 ms for that, which a loaded machine
        can exceed after a head restart). Why a call failed is kept in `status_failure`.
        """
        client = self.clients.get(service)
        if client is None:
            client = self.clients[service] = self.node.create_client(Trigger, service)
        deadline = time.monotonic() + timeout
        if not self.wait_for(client.service_is_ready, timeout):
            self.status_failure = f"{service} not discovered within {timeout} s"
            return None
        sent = 0
        while time.monotonic() < deadline:
            future = client.call_async(Trigger.Request())
            sent += 1
            retry_at = min(time.monotonic() + attempt, deadline)
            while not future.done() and time.monotonic() < retry_at:
                self.spin(0.05)
            if future.done():
                return json.loads(future.result().message)
            client.remove_pending_request(future)
        self.status_failure = f"{service}: no answer to {sent} requests within {timeout} s"
        return None

    def close(self) -> None:
        """Leave the graph."""
        self.executor.shutdown()
        self.node.destroy_node()


def steps_per_second(samples: list[tuple[float, dict[str, Any]]]) -> float:
    """Env steps per wall second between the first and last (time, metrics) sample."""
    (start, first), (end, last) = samples[0], samples[-1]
    return (last["global_step"] - first["global_step"]) / max(end - start, 1e-9)
