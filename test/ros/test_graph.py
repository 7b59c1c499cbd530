from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from launch_file_rig import StartedNode, declared, evaluate, load, require_launch_ros, started

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.graph import (
    PACKAGE,
    NodeSpec,
    RequiredNodeFailed,
    end_launch_on_exit,
    launch_node_arguments,
    to_launch_description,
)
from crawler_rl.ros.process_graph import format_param, node_command
from crawler_rl.ros.training.graph import (
    LAUNCH_ARGUMENTS,
    graph_from_launch_arguments,
    training_graph,
)


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
    assert command[1:3] == ["-m", "crawler_rl.ros.training.actor_node"]
    assert "__node:=actor_0" in command and "num_envs:=2" in command
    head = node_command(graph.by_name("head"))
    assert not any(arg.startswith("__node") for arg in head)  # composed: two nodes inside
    assert 'device:="auto"' in head
    with pytest.raises(TypeError, match="not supported"):
        format_param([1, 2])


def expected_start(spec: NodeSpec) -> tuple:
    """What launch_ros must start for a NodeSpec (as launch_file_rig.StartedNode fields)."""
    timeout = "5" if spec.stop_timeout is None else str(spec.stop_timeout)
    return (PACKAGE, spec.executable, None if spec.executable == "head_node" else spec.name,
            spec.parameters, list(spec.remappings.items()), timeout)


def as_started(node: StartedNode) -> tuple:
    return (node.package, node.executable, node.name, node.parameters, node.remappings,
            node.sigterm_timeout)


@pytest.mark.parametrize("part", ["train", "head", "actors"])
def test_launch_files_start_exactly_the_graph(part: str, tmp_path: Path) -> None:
    require_launch_ros()
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(cfg().to_dict()))
    description = load(f"{part}.launch.py")
    assert declared(description) == {name: default
                                     for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    arguments = {"config": str(config), "run_dir": str(tmp_path / "run"), "actors": "2",
                 "envs_per_actor": "3", "resume": "false"}
    context, actions = evaluate(description, arguments)
    graph = graph_from_launch_arguments(arguments, part)
    assert len(graph.nodes) > 0
    assert [as_started(started(context, action)) for action in actions] == [
        expected_start(spec) for spec in graph.nodes]
    if part != "actors":
        written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
        assert written["ppo"]["num_steps"] == 8


def test_the_head_ends_the_launch_and_actors_respawn(tmp_path: Path) -> None:
    graph = training_graph(cfg(), 2, 1, tmp_path)
    head = launch_node_arguments(graph.by_name("head"))
    actor = launch_node_arguments(graph.by_name("actor_1"))
    assert head["on_exit"] is end_launch_on_exit and not head["respawn"]
    assert "on_exit" not in actor and actor["respawn"] and actor["respawn_delay"] == 1.0


def test_a_required_node_exit_shuts_the_launch_down_and_a_failure_fails_it() -> None:
    require_launch_ros()
    from launch.actions import Shutdown
    from launch.events.process import ProcessExited

    from launch import LaunchContext

    def exited(code: int) -> ProcessExited:
        return ProcessExited(action=None, name="head_node-1", cmd=["head_node"], cwd=None,
                             env=None, pid=1, returncode=code)

    context = LaunchContext()
    assert isinstance(end_launch_on_exit(exited(0), context), Shutdown)
    with pytest.raises(RequiredNodeFailed, match="head_node-1 exited with code -9"):
        end_launch_on_exit(exited(-9), context)
    context._set_is_shutdown(True)  # already stopping (Ctrl-C): its exit is expected
    assert end_launch_on_exit(exited(-2), context) is None


def test_to_launch_description_wraps_every_node(tmp_path: Path) -> None:
    require_launch_ros()
    graph = training_graph(cfg(), 2, 1, tmp_path)
    description = to_launch_description(graph)
    assert [e.node_executable for e in description.entities] == [
        "head_node", "actor_node", "actor_node"]
