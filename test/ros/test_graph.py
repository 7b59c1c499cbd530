from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.graph import (
    LAUNCH_ARGUMENTS,
    graph_from_launch_arguments,
    to_launch_description,
    training_graph,
)
from crawler_rl.ros.launcher import format_param, node_command

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


def cfg() -> TrainConfig:
    return TrainConfig.from_dict({"env": {"env_id": "Pendulum-v1"}, "ppo": {"num_steps": 8},
                                  "run": {"seed": 3}})


def test_training_graph_has_head_and_respawning_actors(tmp_path: Path) -> None:
    graph = training_graph(cfg(), actors=3, envs_per_actor=5, run_dir=tmp_path, resume=True)
    assert [n.name for n in graph.nodes] == ["head", "actor_0", "actor_1", "actor_2"]
    head = graph.by_name("head")
    assert head.parameters["envs_per_update"] == 15 and head.parameters["num_steps"] == 8
    assert head.parameters["resume"] is True and not head.respawn
    # Inference bounds what it tracks by the graph: 3 actors + the respawn margin, 5 envs each.
    assert (head.parameters["max_actors"], head.parameters["max_envs_per_actor"]) == (5, 5)
    # Inference takes the device from here, the learner from config_file: they agree.
    assert head.parameters["device"] == "auto"
    on_cpu = TrainConfig.from_dict({"run": {"device": "cpu"}})
    assert training_graph(on_cpu, 1, 1, tmp_path).by_name("head").parameters["device"] == "cpu"
    actor = graph.by_name("actor_2")
    assert actor.respawn and actor.parameters["actor_id"] == 2
    assert actor.parameters["num_envs"] == 5 and actor.parameters["env_id"] == "Pendulum-v1"
    remote = training_graph(cfg(), 3, 5, tmp_path, local_actors=False)
    assert [n.name for n in remote.nodes] == ["head"]
    with pytest.raises(ValueError, match="actors must be >= 1"):
        training_graph(cfg(), 0, 5, tmp_path)


def test_node_command_types_parameters_for_rcl_yaml() -> None:
    assert [format_param(v) for v in (True, 3, 2.0, "1e-3")] == ["true", "3", "2.0", '"1e-3"']
    graph = training_graph(cfg(), 1, 2, Path("runs/x"))
    command = node_command(graph.by_name("actor_0"))
    assert command[1:3] == ["-m", "crawler_rl.ros.actor_node"]
    assert "__node:=actor_0" in command and "num_envs:=2" in command
    head = node_command(graph.by_name("head"))
    assert not any(arg.startswith("__node") for arg in head)  # composed: two nodes inside
    assert 'device:="auto"' in head
    with pytest.raises(TypeError, match="not supported"):
        format_param([1, 2])


@pytest.fixture
def fake_launch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Minimal stand-ins for launch / launch_ros (not installable here): record what is built."""

    class LaunchDescription:
        def __init__(self, entities: list) -> None:
            self.entities = list(entities)

    class DeclareLaunchArgument:
        def __init__(self, name: str, default_value: str, description: str) -> None:
            self.name, self.default_value = name, default_value

    class OpaqueFunction:
        def __init__(self, function) -> None:
            self.function = function

    class Node:
        def __init__(self, **kwargs) -> None:
            self.kwargs = kwargs

    launch = types.ModuleType("launch")
    launch.LaunchDescription = LaunchDescription
    launch_actions = types.ModuleType("launch.actions")
    launch_actions.DeclareLaunchArgument = DeclareLaunchArgument
    launch_actions.OpaqueFunction = OpaqueFunction
    launch.actions = launch_actions
    launch_ros = types.ModuleType("launch_ros")
    launch_ros_actions = types.ModuleType("launch_ros.actions")
    launch_ros_actions.Node = Node
    launch_ros.actions = launch_ros_actions
    for name, module in (("launch", launch), ("launch.actions", launch_actions),
                         ("launch_ros", launch_ros), ("launch_ros.actions", launch_ros_actions)):
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(OpaqueFunction=OpaqueFunction, DeclareLaunchArgument=(
        DeclareLaunchArgument))


def load_launch_file(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize("part", ["train", "head", "actors"])
def test_launch_files_start_exactly_the_graph(
    part: str, fake_launch: types.SimpleNamespace, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(cfg().to_dict()))
    description = load_launch_file(f"{part}.launch.py")
    declared = [e for e in description.entities
                if isinstance(e, fake_launch.DeclareLaunchArgument)]
    assert {d.name for d in declared} == set(LAUNCH_ARGUMENTS)
    (opaque,) = [e for e in description.entities if isinstance(e, fake_launch.OpaqueFunction)]
    arguments = {"config": str(config), "run_dir": str(tmp_path / "run"), "actors": "2",
                 "envs_per_actor": "3", "resume": "false"}
    nodes = opaque.function(types.SimpleNamespace(launch_configurations=arguments))
    graph = graph_from_launch_arguments(arguments, part)
    assert len(nodes) == len(graph.nodes) > 0
    for node, spec in zip(nodes, graph.nodes, strict=True):
        kwargs = node.kwargs
        assert kwargs["package"] == "crawler_rl" and kwargs["executable"] == spec.executable
        assert kwargs["name"] == (None if spec.executable == "head_node" else spec.name)
        assert kwargs["parameters"] == [spec.parameters]
        assert kwargs["respawn"] == spec.respawn
    if part != "actors":
        written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
        assert written["ppo"]["num_steps"] == 8


def test_to_launch_description_wraps_every_node(fake_launch, tmp_path: Path) -> None:
    graph = training_graph(cfg(), 2, 1, tmp_path)
    description = to_launch_description(graph)
    assert [e.kwargs["executable"] for e in description.entities] == [
        "head_node", "actor_node", "actor_node"]
