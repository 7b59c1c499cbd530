"""launch/deploy*.launch.py match the deploy graphs (fake launch/launch_ros: not installable)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from crawler_rl.paths import config_path
from crawler_rl.ros.deploy import build_graph
from crawler_rl.ros.deploy_graph import RVIZ_CONFIG, deploy_graph, sim_deploy_graph
from crawler_rl.ros.graph import PACKAGE, Graph

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


class Recorded:
    """Any fake launch action: remembers its constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class FakeContext:
    def __init__(self, launch_configurations: dict[str, str]) -> None:
        self.launch_configurations = launch_configurations


@pytest.fixture()
def fake_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    launch = types.ModuleType("launch")
    launch.LaunchDescription = Recorded
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = Recorded
    actions.OpaqueFunction = Recorded
    launch.actions = actions
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = Recorded
    launch_ros.actions = ros_actions
    for name, module in (("launch", launch), ("launch.actions", actions),
                         ("launch_ros", launch_ros), ("launch_ros.actions", ros_actions)):
        monkeypatch.setitem(sys.modules, name, module)


def launched_nodes(launch_file: str, arguments: dict[str, str]) -> list[dict[str, Any]]:
    """Run the launch file's OpaqueFunction with user arguments over the declared defaults."""
    spec = importlib.util.spec_from_file_location("launch_under_test", LAUNCH_DIR / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description().args[0]
    defaults = {entity.args[0]: entity.kwargs["default_value"] for entity in entities
                if "default_value" in entity.kwargs}
    (opaque,) = [entity for entity in entities if "function" in entity.kwargs]
    nodes = opaque.kwargs["function"](FakeContext({**defaults, **arguments}))
    return [node.kwargs for node in nodes]


def expected_nodes(graph: Graph) -> list[dict[str, Any]]:
    return [{"package": PACKAGE, "executable": spec.executable, "name": spec.name,
             "parameters": [spec.parameters], "remappings": list(spec.remappings.items())}
            for spec in graph.nodes]


def crawler_part(node: dict[str, Any]) -> dict[str, Any]:
    return {key: node[key] for key in ("package", "executable", "name", "parameters",
                                       "remappings")}


@pytest.mark.usefixtures("fake_launch")
def test_deploy_launch_is_the_deploy_graph(tmp_path: Path) -> None:
    policy = tmp_path / "controller.onnx"
    nodes = launched_nodes("deploy.launch.py", {"policy": str(policy)})
    assert [crawler_part(node) for node in nodes] == expected_nodes(deploy_graph(policy))
    assert nodes[0]["parameters"][0]["start_enabled"] is False


@pytest.mark.usefixtures("fake_launch")
def test_sim_deploy_launch_is_the_sim_graph_plus_rviz(tmp_path: Path) -> None:
    policy = tmp_path / "controller.onnx"
    nodes = launched_nodes("sim_deploy.launch.py", {"policy": str(policy)})
    assert [crawler_part(node) for node in nodes[:-1]] == expected_nodes(sim_deploy_graph(policy))
    rviz = nodes[-1]
    assert (rviz["package"], rviz["executable"]) == ("rviz2", "rviz2")
    assert rviz["arguments"] == ["-d", str(config_path(RVIZ_CONFIG))]
    no_rviz = launched_nodes("sim_deploy.launch.py", {"use_ik_fallback": "true", "rviz": "false"})
    assert [crawler_part(node) for node in no_rviz] == expected_nodes(
        sim_deploy_graph(None, use_ik_fallback=True))


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
