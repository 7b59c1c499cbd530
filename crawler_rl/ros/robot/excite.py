"""`crawler-rl excite`: run the calibration manoeuvre through the deployment graph and record it.

On the robot: recorder_node (with `--record`), controller_node started disabled (the exported
policy, or IK without one: open-loop wheel commands excite the motors most cleanly) and
excitation_driver, which starts once the controller is enabled and drives. With `--sim`
robot_sim_node stands in for the robot (in lockstep, `sim_parameters` for its surface, tether
and crawler config). The run ends when the manoeuvre is done.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from crawler_rl.calibration.excitation import excitation_seconds
from crawler_rl.control.onnx_runner import OnnxPolicy
from crawler_rl.ros.graph import Graph, NodeSpec
from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.robot.deploy_graph import RECORDER, deploy_graph, sim_deploy_graph
from crawler_rl.ros.robot.recording import check_record_path
from crawler_rl.stopping import StopRequest, exit_code

LOG = logging.getLogger(__name__)
EXCITATION_DRIVER = "excitation_driver"
RECORD_TAIL_SECONDS = 1.0
"""Kept running after the manoeuvre so the recorder gets the last messages [s]."""
ROBOT_WAIT_SECONDS = 600.0
"""On the robot: longest wait for the operator to enable the controller [s]."""
SIM_START_SECONDS = 60.0
"""In simulation: longest start-up of the nodes [s]."""


def excite_graph(sim: bool, policy: Path | None, record: Path | None, time_scale: float,
                 sim_parameters: dict[str, Any] | None = None) -> Graph:
    """Return the deployment graph with excitation_driver in place of a teleoperator."""
    if sim:
        graph = sim_deploy_graph(policy, use_ik_fallback=policy is None, record=record,
                                 scenario=sim_parameters)
    else:
        graph = deploy_graph(policy, record=record)  # IK when there is no policy
    recording = any(node.name == RECORDER for node in graph.nodes)
    graph.nodes.append(NodeSpec(executable=EXCITATION_DRIVER, name=EXCITATION_DRIVER,
                                parameters={"time_scale": float(time_scale),
                                            "wait_for_recorder": RECORDER if recording else ""}))
    return graph


def run_excite(sim: bool, record: Path | None, policy: Path | None = None,
               time_scale: float = 1.0, sim_parameters: dict[str, Any] | None = None) -> int:
    """Run the manoeuvre once; 0 when it completed (and the recording was written)."""
    if not 0.1 <= time_scale <= 10.0:
        raise ValueError(f"--time-scale must be in [0.1, 10], got {time_scale!r}")
    if record is not None:
        record = check_record_path(Path(record))
    if policy is not None:
        OnnxPolicy(policy)  # refuse a bad model here, with the message, before any process
    graph = excite_graph(sim, policy, record, time_scale, sim_parameters)
    seconds = excitation_seconds(time_scale)
    print(f"excitation: {seconds:.0f} s of steps and sweeps (|v| <= 0.08 m/s, |omega| <= 0.5 "
          "rad/s)" + ("" if sim else "; enable the controller to start it: `ros2 service call "
                      "/controller_node/enable std_srvs/srv/SetBool \"{data: true}\"`"),
          flush=True)
    limit = seconds + (SIM_START_SECONDS if sim else ROBOT_WAIT_SECONDS)
    with StopRequest() as stop:
        result = _run_until_done(graph, limit, stop)
    if stop.signum is not None:
        return exit_code(stop.signum)
    if record is not None and result == 0:
        if not record.is_file():
            LOG.error("no recording was written to %s", record)
            return 1
        print(f"recorded the excitation to {record}")
    return result


def _run_until_done(graph: Graph, limit: float, stop: StopRequest) -> int:
    """Start the graph; stop once the driver is done, a node fails or `limit` s pass."""
    processes = ProcessGraph(graph)
    end = time.monotonic() + limit
    result = 0
    try:
        processes.start()
        while not stop.requested:
            time.sleep(0.2)
            finished = processes.poll()
            if EXCITATION_DRIVER in finished and finished[EXCITATION_DRIVER] == 0:
                time.sleep(RECORD_TAIL_SECONDS)
                break
            if finished:
                name, code = next(iter(finished.items()))
                LOG.error("%s exited early with code %s; stopping", name, code)
                return code or 1
            if time.monotonic() > end:
                LOG.error("the excitation did not finish within %.0f s (controller never "
                          "enabled?); stopping", limit)
                return 1
    finally:
        processes.shutdown()
    return result
