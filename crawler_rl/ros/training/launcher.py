"""Run the training graph as processes: `crawler-rl train --backend ros` and `crawler-rl actors`.

`run_graph` runs a Graph with `crawler_rl.ros.process_graph.ProcessGraph` until its required node
exits, showing the learner's metrics as a progress bar.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.graph import Graph
from crawler_rl.ros.interface_paths import check_built
from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.training.graph import actor_specs, training_graph, write_run_config
from crawler_rl.stopping import StopRequest, exit_code

LOG = logging.getLogger(__name__)


def parse_metrics(msg: Any) -> dict[str, Any] | None:
    """Return the learner's metrics, or None for an inconsistent message (any peer may send)."""
    from crawler_rl.ros.training.codec import CodecError
    from crawler_rl.ros.training.training_metrics import decode_metrics

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
