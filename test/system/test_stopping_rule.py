"""`crawler-rl`'s process launcher follows graph.py's stopping rule (as `ros2 launch` does).

A graph runs until a required node exits; every other node is then stopped, and the run's exit
code is the required node's. Real node processes, real DDS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_training_e2e import processes_in_domain

from crawler_rl.ros.graph import Graph, NodeSpec
from crawler_rl.ros.training.launcher import run_graph

pytestmark = pytest.mark.slow


def robot_sim() -> NodeSpec:
    """A node that never ends by itself (and would be respawned)."""
    return NodeSpec(executable="robot_sim_node", name="robot_sim_node", respawn=True,
                    respawn_delay=1.0)


def run(graph: Graph, log_dir: Path) -> tuple[int, dict[str, int]]:
    code = run_graph(graph, None, log_dir, progress=False)
    return code, json.loads((log_dir / "exit_codes.json").read_text())


def test_a_finished_required_node_ends_the_run_with_0(ros_domain: int, tmp_path: Path) -> None:
    square = NodeSpec(executable="square_path", name="square_path", required=True, parameters={
        "side_seconds": 0.5, "turn_seconds": 0.5, "start_delay": 2.0,
        "controller_name": ""})  # no controller here: start at once
    code, codes = run(Graph([square, robot_sim()]), tmp_path / "logs")
    logs = {path.name: path.read_text()[-1500:] for path in (tmp_path / "logs").glob("*.log")}
    assert code == 0 and codes["square_path"] == 0, (codes, logs)
    assert set(codes) == {"square_path", "robot_sim_node"}  # the other node was stopped
    assert processes_in_domain(ros_domain) == {}


def test_a_failed_required_node_ends_the_run_with_its_code(
    ros_domain: int, tmp_path: Path
) -> None:
    controller = NodeSpec(executable="controller_node", name="controller_node", required=True,
                          parameters={"policy_path": str(tmp_path / "missing.onnx")})
    code, codes = run(Graph([controller, robot_sim()]), tmp_path / "logs")
    log = (tmp_path / "logs" / "controller_node.log").read_text()
    assert code == codes["controller_node"] == 2, (codes, log[-1500:])
    assert "refusing to start" in log
    assert processes_in_domain(ros_domain) == {}
