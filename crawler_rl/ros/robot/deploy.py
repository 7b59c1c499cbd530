"""`crawler-rl deploy`: start the deployment graph as processes, without launch tooling.

`--sim` adds the simulated crawler; with `--duration` or `--record` the crawler also drives one
square (square_path) so the run shows something, and the recording is written at the end. A
simulated `--record` without `--duration` ends `SQUARE_SETTLE_SECONDS` after the square does
(which starts with the controller's first command), at the latest after `SQUARE_RUN_CAP`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.paths import config_path
from crawler_rl.ros.graph import Graph, NodeSpec
from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.robot.deploy_graph import (
    RVIZ_CONFIG,
    SQUARE_PATH,
    deploy_graph,
    is_mcap,
    sim_deploy_graph,
    web_view_spec,
)
from crawler_rl.ros.robot.recording import check_record_path
from crawler_rl.stopping import StopRequest, child_setup, exit_code

LOG = logging.getLogger(__name__)
SQUARE_SECONDS = 1.0 + 4 * (4.0 + 3.2)
"""Length of the default square_path run [s] (start delay, 4 sides, 4 corners)."""
SQUARE_SETTLE_SECONDS = 1.0
"""A simulated `--record` goes on this long after the square ends: the stop is recorded too."""
SQUARE_RUN_CAP = SQUARE_SECONDS + 60.0
"""The longest a simulated `--record` without `--duration` runs [s]: the square plus start-up
(the controller may take tens of seconds on a busy machine)."""


def _start_rviz() -> subprocess.Popen | None:
    """RViz with the crawler config, when installed and a display exists."""
    rviz = shutil.which("rviz2")
    if rviz is None or not os.environ.get("DISPLAY"):
        LOG.info("RViz not started (rviz2 not found or no display)")
        return None
    return subprocess.Popen([rviz, "-d", str(config_path(RVIZ_CONFIG))],
                            start_new_session=True, preexec_fn=child_setup(signal.SIGTERM))


def build_graph(sim: bool, policy: Path | None, record: Path | None,
                duration: float | None, view: int | None = None) -> Graph:
    """Return the graph `run_deploy` starts (deploy or sim graph, the demo square, the view)."""
    if not sim:
        if record is not None and not is_mcap(record):
            raise ValueError("--record needs --sim for a replay (.png/.gif/.mp4: it draws the "
                             "simulated crawler); a .mcap recording works on the robot too")
        graph = deploy_graph(policy, record=record)
    else:
        graph = sim_deploy_graph(policy, record=record)
        if record is not None or duration is not None or view is not None:
            graph.nodes.append(NodeSpec(executable=SQUARE_PATH, name=SQUARE_PATH))
    if view is not None:
        graph.nodes.append(web_view_spec(view))
    return graph


def run_deploy(sim: bool, policy: Path | None, record: Path | None = None,
               duration: float | None = None, view: int | None = None) -> int:
    """Run controller_node (and robot_sim_node) until Ctrl-C or `duration` seconds.

    Returns 0, 128 + the signal number when stopped by SIGINT, SIGTERM or SIGHUP (the
    controller's last command is zero in every case), or the exit code of a node that stopped
    early (2: the controller refused the model).
    """
    if policy is not None:
        OnnxPolicy(policy)  # refuse a bad model here, with the message, before any process
    elif not sim:
        raise ValueError("deploy on the robot needs --policy controller.onnx")
    until_square_done = False
    if record is not None:
        record = check_record_path(record)
        if duration is None and sim:  # on the robot a recording runs until Ctrl-C
            duration, until_square_done = SQUARE_RUN_CAP, True
    if duration is not None and duration <= 0:
        raise ValueError(f"--duration must be > 0 s, got {duration!r}")
    if view is not None:
        if not 0 < view < 65536:
            raise ValueError(f"--view port must be in 1..65535, got {view!r}")
        print(f"live view: http://127.0.0.1:{view}/ (web_view_node)", flush=True)
    graph = build_graph(sim, policy, record, duration, view)
    with StopRequest() as stop:
        result = _run_until_stopped(graph, sim, duration, stop, until_square_done)
    if stop.signum is not None:
        return exit_code(stop.signum)
    if record is not None and result == 0:
        if record.is_file():
            print(f"recorded the run to {record}")
        else:
            LOG.error("robot_sim_node wrote no recording to %s", record)
            result = 1
    return result


def _run_until_stopped(graph: Graph, sim: bool, duration: float | None,
                       stop: StopRequest, until_square_done: bool = False) -> int:
    """Start the graph, watch it until a stop signal, `duration` or a node's early exit.

    With `until_square_done` the run also ends `SQUARE_SETTLE_SECONDS` after square_path
    exits 0 (its square driven to the end).
    """
    processes = ProcessGraph(graph)
    rviz = _start_rviz() if sim else None
    result = 0
    end = time.monotonic() + duration if duration is not None else float("inf")
    try:
        processes.start()
        if not sim:
            LOG.warning("controller_node started DISABLED: enable with "
                        "`ros2 service call /controller_node/enable std_srvs/srv/SetBool "
                        "\"{data: true}\"`")
        while time.monotonic() < end and not stop.requested:
            time.sleep(0.2)
            finished = processes.poll()
            if finished.pop(SQUARE_PATH, None) == 0 and until_square_done:
                end = min(end, time.monotonic() + SQUARE_SETTLE_SECONDS)
            if finished:
                name, code = next(iter(finished.items()))
                LOG.error("%s exited early with code %s; stopping", name, code)
                result = code or 1
                break
    finally:
        processes.shutdown()
        if rviz is not None:
            rviz.terminate()
            rviz.wait(5.0)
    return result
