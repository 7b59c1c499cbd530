"""launch/deploy*.launch.py match the deploy graphs (evaluated with the real launch_ros)."""

from __future__ import annotations

from pathlib import Path

import pytest
from launch_file_rig import evaluate, load, require_launch_ros, started

from crawler_rl.paths import config_path
from crawler_rl.ros.graph import PACKAGE, Graph
from crawler_rl.ros.robot.deploy import build_graph
from crawler_rl.ros.robot.deploy_graph import RVIZ_CONFIG, deploy_graph, sim_deploy_graph


def launched(launch_file: str, arguments: dict[str, str]) -> list[object]:
    """The actions the launch file's OpaqueFunction makes for these user arguments."""
    require_launch_ros()
    return evaluate(load(launch_file), arguments)[1]


def launched_nodes(launch_file: str, arguments: dict[str, str]) -> list[tuple]:
    """(package, executable, name, parameters, remappings) of every node it would start."""
    require_launch_ros()
    context, actions = evaluate(load(launch_file), arguments)
    nodes = [started(context, action) for action in actions]
    return [(n.package, n.executable, n.name, n.parameters, n.remappings) for n in nodes]


def expected_nodes(graph: Graph) -> list[tuple]:
    return [(PACKAGE, spec.executable, spec.name, spec.parameters,
             list(spec.remappings.items())) for spec in graph.nodes]


def test_deploy_launch_is_the_deploy_graph(tmp_path: Path) -> None:
    policy = tmp_path / "controller.onnx"
    nodes = launched_nodes("deploy.launch.py", {"policy": str(policy)})
    assert nodes == expected_nodes(deploy_graph(policy))
    assert nodes[0][3]["start_enabled"] is False


def test_sim_deploy_launch_is_the_sim_graph_plus_rviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_launch_ros()
    import ament_index_python.packages as ament_index
    from launch_ros.actions import Node

    policy = tmp_path / "controller.onnx"
    monkeypatch.setattr(ament_index, "get_package_prefix", lambda package: "/opt/ros")
    actions = launched("sim_deploy.launch.py", {"policy": str(policy)})  # rviz: default true
    *crawler, rviz = actions
    assert len(crawler) == len(sim_deploy_graph(policy).nodes)
    assert isinstance(rviz, Node)
    assert (rviz.node_package, rviz.node_executable) == ("rviz2", "rviz2")
    assert [arg[0].text for arg in rviz.cmd[1:3]] == ["-d", str(config_path(RVIZ_CONFIG))]
    assert launched_nodes("sim_deploy.launch.py", {"policy": str(policy), "rviz": "false"}) == (
        expected_nodes(sim_deploy_graph(policy)))
    no_rviz = launched_nodes("sim_deploy.launch.py", {"use_ik_fallback": "true",
                                                      "rviz": "false"})
    assert no_rviz == expected_nodes(sim_deploy_graph(None, use_ik_fallback=True))


def test_sim_deploy_launch_without_rviz2_says_so_once_and_runs_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_launch_ros()
    import ament_index_python.packages as ament_index
    from launch.actions import LogInfo

    def not_installed(package: str) -> str:
        raise ament_index.PackageNotFoundError(package)

    monkeypatch.setattr(ament_index, "get_package_prefix", not_installed)
    policy = tmp_path / "controller.onnx"
    *crawler, notice = launched("sim_deploy.launch.py", {"policy": str(policy)})
    assert isinstance(notice, LogInfo)
    assert "rviz2 is not installed: running without RViz" in "".join(
        part.text for part in notice.msg)
    assert len(crawler) == len(sim_deploy_graph(policy).nodes)


def test_run_deploy_starts_the_launch_graph_plus_the_demo_driver(tmp_path: Path) -> None:
    policy = tmp_path / "controller.onnx"
    assert build_graph(False, policy, None, None) == deploy_graph(policy)
    graph = build_graph(True, policy, None, 10.0)
    assert graph.nodes[:2] == sim_deploy_graph(policy).nodes
    assert [spec.executable for spec in graph.nodes[2:]] == ["square_path"]
    assert build_graph(True, policy, None, None) == sim_deploy_graph(policy)
    with pytest.raises(ValueError, match="--record needs --sim"):
        build_graph(False, policy, tmp_path / "run.png", None)


def test_rviz_config_shows_the_deploy_topics() -> None:
    text = config_path(RVIZ_CONFIG).read_text()
    for needle in ("rviz_default_plugins/RobotModel", "rviz_default_plugins/TF",
                   "rviz_default_plugins/Odometry", "rviz_default_plugins/MarkerArray",
                   "/robot_description", "/odom", "/markers"):
        assert needle in text, needle
