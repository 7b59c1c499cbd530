"""`ros2 launch crawler_rl train.launch.py` under the real launch system, real DDS.

Training ends by itself (the head is the graph's required node), a failed head fails the launch,
SIGINT stops everything cleanly, and the multi-host split runs as two launches.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import yaml
from fault_rig import read_metrics
from launch_rig import (
    CLEAN_EXIT_S,
    SMOKE_CONFIG,
    Ros2Process,
    nothing_left,
    require_launch_ros,
    wait_until,
)

from crawler_rl.rl.checkpoint import checkpoint_path, list_checkpoints
from crawler_rl.rl.config import load_train_config
from crawler_rl.ros.training.graph import HEAD_STOP_TIMEOUT

require_launch_ros()  # else the whole module is skipped, saying why
pytestmark = pytest.mark.slow
START_S = 120.0
"""Longest wait for a launch's first PPO update (imports, discovery, 64 env steps, 2 cores)."""


def long_smoke_config(tmp_path: Path) -> Path:
    """The smoke config with a budget no test reaches: the run stops only when told to.

    No periodic checkpoint within the test: a checkpoint on disk is the final one.
    """
    cfg = load_train_config(SMOKE_CONFIG).to_dict()
    cfg["run"]["total_steps"] = 10_000_000
    cfg["run"]["checkpoint_every"] = 1000
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def metrics(run_dir: Path) -> list[dict]:
    """The learner's metrics lines of finished PPO updates."""
    return [m for m in read_metrics(run_dir) if m["iteration"] > 0]


def train_launch(install: Path, tmp_path: Path, config: Path, run_dir: Path,
                 file: str = "train.launch.py") -> Ros2Process:
    """`ros2 launch crawler_rl <file>` with 2 actors x 2 envs (the issue's example)."""
    return Ros2Process(install, tmp_path / f"{file}.log", "launch", "crawler_rl", file,
                       f"config:={config}", f"run_dir:={run_dir}", "actors:=2",
                       "envs_per_actor:=2", cwd=tmp_path)


def test_train_launch_ends_by_itself_with_the_exported_controller(
    colcon_install: Path, ros_domain: int, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    launch = train_launch(colcon_install, tmp_path, SMOKE_CONFIG, run_dir)
    try:
        code = launch.wait(START_S + CLEAN_EXIT_S)
    finally:
        launch.stop()
    assert code == 0, launch.tail()
    assert (run_dir / "controller.onnx").is_file(), launch.tail()
    total = load_train_config(SMOKE_CONFIG).run.total_steps
    assert metrics(run_dir)[-1]["global_step"] >= total and metrics(run_dir)[-1]["done"]
    assert list_checkpoints(run_dir), launch.tail()
    text = launch.text()
    assert "process[head_node-1] was required: shutting down launched system" in text, text
    assert "escalating" not in text, text  # every node left on the launch's SIGINT
    assert nothing_left(ros_domain, []) == {}


def head_pid(launch: Ros2Process) -> int:
    """The head's process id, as launch logged it."""
    found = re.search(r"\[head_node-1\]: process started with pid \[(\d+)\]", launch.text())
    assert found, launch.tail()
    return int(found.group(1))


def start_long_run(install: Path, tmp_path: Path) -> tuple[Ros2Process, Path]:
    """A train launch that never finishes by itself, once its first PPO update is done."""
    run_dir = tmp_path / "run"
    launch = train_launch(install, tmp_path, long_smoke_config(tmp_path), run_dir)
    wait_until(lambda: metrics(run_dir) or launch.process.poll() is not None, START_S)
    assert metrics(run_dir) and launch.process.poll() is None, launch.tail()
    return launch, run_dir


def test_a_killed_head_fails_the_launch_and_leaves_nothing(
    colcon_install: Path, ros_domain: int, tmp_path: Path
) -> None:
    launch, _ = start_long_run(colcon_install, tmp_path)
    try:
        pids = launch.descendants()  # head, its learner child, actors
        assert len(pids) >= 4, launch.tail()
        os.kill(head_pid(launch), signal.SIGKILL)
        code = launch.wait(CLEAN_EXIT_S)
    finally:
        launch.stop()
    assert code == 1, launch.tail()  # launch's code for an error in its event loop
    assert "required node head_node-1 exited with code -9" in launch.text(), launch.tail()
    assert nothing_left(ros_domain, pids) == {}


def test_sigint_to_the_launch_stops_every_node_cleanly(
    colcon_install: Path, ros_domain: int, tmp_path: Path
) -> None:
    launch, run_dir = start_long_run(colcon_install, tmp_path)
    try:
        pids = launch.descendants()
        assert len(pids) >= 4, launch.tail()
        launch.interrupt()
        code = launch.wait(HEAD_STOP_TIMEOUT + CLEAN_EXIT_S)
    finally:
        launch.stop()
    text = launch.text()
    assert code == 0, text[-4000:]
    assert "escalating" not in text, text[-4000:]  # all left on SIGINT, none needed SIGTERM
    for process in ("head_node-1", "actor_node-2", "actor_node-3"):
        assert f"[{process}]: process has finished cleanly" in text, text[-4000:]
    # The learner's final checkpoint holds its last completed update: nothing is lost.
    newest = list_checkpoints(run_dir)[-1]
    assert newest.name == checkpoint_path(run_dir, metrics(run_dir)[-1]["iteration"]).name
    assert nothing_left(ros_domain, pids) == {}


def test_head_and_actors_launches_train_together(
    colcon_install: Path, ros_domain: int, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    head = train_launch(colcon_install, tmp_path, SMOKE_CONFIG, run_dir, "head.launch.py")
    actors = Ros2Process(colcon_install, tmp_path / "actors.log", "launch", "crawler_rl",
                         "actors.launch.py", f"config:={SMOKE_CONFIG}", "actors:=2",
                         "envs_per_actor:=2", cwd=tmp_path)
    try:
        head_code = head.wait(START_S + CLEAN_EXIT_S)
        # Actors have no required node: they serve the next head until stopped.
        assert actors.process.poll() is None, actors.tail()
        pids = actors.descendants()
        actors.interrupt()
        actors_code = actors.wait(CLEAN_EXIT_S)
    finally:
        head.stop()
        actors.stop()
    assert head_code == 0, head.tail()
    assert "actor_node" not in head.text()  # every rollout came from the other launch
    assert (run_dir / "controller.onnx").is_file(), head.tail()
    used = {actor for m in metrics(run_dir) for actor in m["actor_ids"]}
    assert used and used <= {0, 1}, metrics(run_dir)
    assert actors_code == 0, actors.tail()
    assert nothing_left(ros_domain, pids) == {}
