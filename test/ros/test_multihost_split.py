"""The head / worker split: `crawler-rl actors`, `train --no-local-actors`, the launch files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler_rl import cli
from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.graph import Graph
from crawler_rl.ros.training import launcher
from crawler_rl.ros.training.graph import graph_from_launch_arguments


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(TrainConfig.from_dict(
        {"env": {"env_id": "Pendulum-v1"}, "distributed": {"actors": 3, "envs_per_actor": 2}},
    ).to_dict()))
    return path


def test_worker_launch_gives_each_machine_its_own_actor_ids(tmp_path: Path) -> None:
    arguments = {"config": str(write_config(tmp_path)), "actors": "2", "first_id": "4"}
    graph = graph_from_launch_arguments(arguments, "actors")
    assert [n.name for n in graph.nodes] == ["actor_4", "actor_5"]
    assert [n.parameters["actor_id"] for n in graph.nodes] == [4, 5]
    head = graph_from_launch_arguments({**arguments, "run_dir": str(tmp_path / "run"),
                                        "actors": "6"}, "head")
    # the head expects every worker's envs in one update, and starts no actor itself
    assert [n.name for n in head.nodes] == ["head"]
    assert head.nodes[0].parameters["envs_per_update"] == 6 * 2


def test_cli_actors_starts_only_actor_processes(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Graph] = []
    monkeypatch.setattr(launcher, "run_graph",
                        lambda graph, total_steps, *a, **k: started.append(graph) or 0)
    code = cli.main(["actors", "--config", str(write_config(tmp_path)), "--count", "3",
                     "--first-id", "10"])
    assert code == 0
    (graph,) = started
    assert [n.executable for n in graph.nodes] == ["actor_node"] * 3
    assert [n.parameters["actor_id"] for n in graph.nodes] == [10, 11, 12]
    assert {n.parameters["num_envs"] for n in graph.nodes} == {2}  # distributed.envs_per_actor
    assert cli.main(["actors", "--config", str(write_config(tmp_path)), "--count", "0"]) == 2


def test_cli_train_without_local_actors_starts_only_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Graph] = []
    monkeypatch.setattr(launcher, "run_graph",
                        lambda graph, total_steps, *a, **k: started.append(graph) or 0)
    code = cli.main(["train", "--config", str(write_config(tmp_path)), "--no-local-actors",
                     "--actors", "4", "--envs-per-actor", "8", "--run-dir",
                     str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    (graph,) = started
    assert [n.executable for n in graph.nodes] == ["head_node"]
    assert graph.nodes[0].parameters["envs_per_update"] == 32
    assert (tmp_path / "run" / "config.yaml").is_file()
