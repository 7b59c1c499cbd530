"""Stopping every entry point with SIGINT, SIGTERM or SIGKILL (some: SIGHUP) while it is busy.

Started as a shell would (foreground job, or background job of a script: SIGINT ignored),
each run must leave no process behind, exit with the documented code (130, 143, 129; 137 for
SIGKILL as a shell reports it), and training must resume from its final checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from fault_rig import read_metrics
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from shell_runs import BACKGROUND, FOREGROUND, ShellRun, start
from std_msgs.msg import Float64MultiArray
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from crawler_rl.rl.checkpoint import checkpoint_iteration, list_checkpoints, load_checkpoint
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.trainer import run_training
from crawler_rl.ros.robot import robot_interface as robot

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CRAWLER_RL = shutil.which("crawler-rl") or "crawler-rl"
POLICY = REPO / "test" / "data" / "controller.onnx"
CHECKPOINT_EVERY = 3
GRACE_S = 30.0
"""How long the run's processes may take to go once the top process has exited: after a
SIGKILL of the launcher the head still waits for its learner's last checkpoint, bounded by
`signals.ignore_stop_signals` (normally a few seconds)."""

# (signal, how it is started, to the process group like Ctrl-C in a terminal)
STOPS = [
    pytest.param(signal.SIGINT, FOREGROUND, True, id="ctrl-c"),
    pytest.param(signal.SIGINT, BACKGROUND, False, id="sigint-background-job"),
    pytest.param(signal.SIGTERM, FOREGROUND, False, id="sigterm"),
    pytest.param(signal.SIGKILL, FOREGROUND, False, id="sigkill"),
]
HANGUP = pytest.param(signal.SIGHUP, FOREGROUND, True, id="terminal-closed")


def smoke_config(tmp_path: Path, checkpoint_every: int = CHECKPOINT_EVERY,
                 **env: object) -> tuple[Path, int]:
    """The smoke config, endless, with sparse checkpoints; (path, steps per iteration)."""
    cfg = yaml.safe_load((REPO / "config" / "train_smoke.yaml").read_text())
    cfg["env"].update(env)
    cfg["run"].update({"total_steps": 10**7, "checkpoint_every": checkpoint_every,
                       "export_onnx": False, "device": "cpu"})
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg["env"]["num_envs"] * cfg["ppo"]["num_steps"]


def periodic_checkpoint_saved(run_dir: Path) -> bool:
    """Whether a periodic checkpoint was saved: the newest is at CHECKPOINT_EVERY or later.

    Not "ckpt_000003.pt exists": the smoke run saves every few hundredths of a second and
    keeps two, so that file can come and go between two polls.
    """
    saved = list_checkpoints(run_dir)
    return bool(saved) and checkpoint_iteration(saved[-1]) >= CHECKPOINT_EVERY


def logged_steps(run_dir: Path) -> list[list[int]]:
    """global_step of each logged iteration, per TensorBoard file (one per training process)."""
    files = sorted((run_dir / "tb").glob("events.out.tfevents.*"), key=lambda f: f.stat().st_mtime)
    return [[event.step for event in EventFileLoader(str(f)).Load()
             if any(value.tag == "charts/sps" for value in event.summary.value)] for f in files]


def stop_busy_run(run: ShellRun, ready: Callable[[], bool], stop_signal: int, group: bool,
                  expected_processes: int, while_waiting: Callable[[], object] | None = None,
                  ) -> tuple[int, dict[int, str]]:
    """Wait until busy, signal, wait; return (exit status, processes left after the grace)."""
    try:
        run.wait_until(ready, timeout=180)
        running = run.processes()
        assert len(running) >= expected_processes, running
        run.send(stop_signal, group=group)
        code = run.wait(timeout=60, while_waiting=while_waiting)
        return code, run.leftovers(GRACE_S)
    finally:
        run.kill_all()


def expect_exit(run: ShellRun, code: int, stop_signal: int) -> None:
    assert code == 128 + stop_signal, run.output()[-3000:]
    if run.how == FOREGROUND and stop_signal != signal.SIGKILL:
        assert run.shell.returncode == code  # exited with the code, not killed by the signal


@pytest.mark.parametrize(("stop_signal", "how", "group"), [*STOPS, HANGUP])
def test_local_training_stops_without_orphans_and_resumes_from_its_final_checkpoint(
    tmp_path: Path, stop_signal: int, how: str, group: bool
) -> None:
    config, batch = smoke_config(tmp_path, num_workers=2)
    run_dir = tmp_path / "run"
    train = [CRAWLER_RL, "train", "--backend", "local", "--config", str(config), "--run-dir",
             str(run_dir), "--no-progress"]
    run = start(train, tmp_path / "train.log", how)
    # trainer + 2 rollout workers (+ the script's shell)
    code, left = stop_busy_run(run, lambda: periodic_checkpoint_saved(run_dir), stop_signal,
                               group, 3)
    assert left == {}, left
    expect_exit(run, code, stop_signal)

    newest = load_checkpoint(list_checkpoints(run_dir)[-1])
    if stop_signal == signal.SIGKILL:  # the newest periodic checkpoint is what is left
        assert newest.iteration % CHECKPOINT_EVERY == 0
    else:  # the final checkpoint holds the last update done
        assert newest.global_step == logged_steps(run_dir)[-1][-1] >= CHECKPOINT_EVERY * batch
        assert f"stopped by {signal.Signals(stop_signal).name}" in run.output()

    # `crawler-rl train --resume` = run_training(resume=True): here, without another start-up.
    resumed_at = newest.global_step
    cfg = load_train_config(config, {"run.total_steps": resumed_at + 2 * batch})
    steps: list[float] = []
    run_training(cfg, run_dir, resume=True, progress=False,
                 on_iteration=lambda stats: steps.append(stats["global_step"]))
    assert steps == [resumed_at + batch, resumed_at + 2 * batch]


ROS_STOPS = [stop for stop in STOPS if stop.id != "ctrl-c"]  # the launcher's nodes have own
# sessions: Ctrl-C reaches the launcher only, as a plain SIGINT does


def learner_updated_twice(run_dir: Path) -> Callable[[], bool]:
    return lambda: any(m["iteration"] >= 2 for m in read_metrics(run_dir))


@pytest.mark.parametrize(("stop_signal", "how", "group"), ROS_STOPS)
def test_ros_training_stops_without_orphans_and_the_learner_keeps_its_last_update(
    tmp_path: Path, ros_domain: int, stop_signal: int, how: str, group: bool
) -> None:
    config, _ = smoke_config(tmp_path, checkpoint_every=1000)  # only a final one is written
    run_dir = tmp_path / "run"
    train = [CRAWLER_RL, "train", "--backend", "ros", "--config", str(config), "--run-dir",
             str(run_dir), "--no-progress"]
    run = start(train, tmp_path / "train.log", how)
    # launcher, head, learner, actor
    code, left = stop_busy_run(run, learner_updated_twice(run_dir), stop_signal, group, 4)
    assert left == {}, left
    expect_exit(run, code, stop_signal)

    # Even after SIGKILL of the launcher: its head gets SIGTERM (PR_SET_PDEATHSIG) and stops
    # the learner with SIGINT.
    head_log = (run_dir / "logs" / "head.log").read_text()[-3000:]
    assert list_checkpoints(run_dir), head_log
    newest = load_checkpoint(list_checkpoints(run_dir)[-1])
    done = read_metrics(run_dir)[-1]
    assert newest.global_step == done["global_step"], head_log
    if stop_signal != signal.SIGTERM:
        return  # one resume through the graph is enough: the learner resumes the same way

    batch = done["global_step"] // done["iteration"]
    resume = start([*train, "--resume", "--total-steps", str(newest.global_step + 2 * batch)],
                   tmp_path / "resume.log", FOREGROUND)
    try:
        assert resume.wait(timeout=180) == 0, resume.output()[-3000:]
    finally:
        resume.kill_all()
    session = read_metrics(run_dir)[-1]["session"]
    steps = [m["global_step"] for m in read_metrics(run_dir) if m["session"] == session]
    assert steps == [newest.global_step + step * batch for step in range(3)]


def test_learner_stopped_by_sigterm_keeps_its_last_update_and_the_run_ends_with_143(
    tmp_path: Path, ros_domain: int
) -> None:
    config, _ = smoke_config(tmp_path, checkpoint_every=1000)
    run_dir = tmp_path / "run"
    run = start([CRAWLER_RL, "train", "--backend", "ros", "--config", str(config), "--run-dir",
                 str(run_dir), "--no-progress"], tmp_path / "train.log", FOREGROUND)
    try:
        run.wait_until(learner_updated_twice(run_dir), timeout=180)
        learners = [pid for pid, command in run.processes().items() if "learner_node" in command]
        assert len(learners) == 1, run.processes()
        os.kill(learners[0], signal.SIGTERM)  # as a process manager stopping it would
        code = run.wait(timeout=60)  # the head leaves with the learner's code, the graph ends
        left = run.leftovers(GRACE_S)
    finally:
        run.kill_all()
    assert left == {}, left
    assert code == 143, run.output()[-3000:]
    assert json.loads((run_dir / "logs" / "exit_codes.json").read_text())["head"] == 143
    newest = load_checkpoint(list_checkpoints(run_dir)[-1])
    assert newest.global_step == read_metrics(run_dir)[-1]["global_step"]


@pytest.mark.parametrize(("stop_signal", "how", "group"), [*ROS_STOPS, HANGUP])
def test_actor_fleet_stops_without_orphans(
    tmp_path: Path, ros_domain: int, stop_signal: int, how: str, group: bool
) -> None:
    config, _ = smoke_config(tmp_path)
    run = start([CRAWLER_RL, "actors", "--count", "2", "--config", str(config)],
                tmp_path / "actors.log", how)

    def both_actors_up() -> bool:
        return all(f"actor {index}:" in run.output() for index in range(2))

    code, left = stop_busy_run(run, both_actors_up, stop_signal, group, 3)
    assert left == {}, left
    expect_exit(run, code, stop_signal)


@pytest.mark.parametrize(("stop_signal", "how", "group"), [*ROS_STOPS, HANGUP])
def test_deploy_stops_without_orphans_and_the_wheels_end_at_rest(
    tmp_path: Path, ros_context: Context, stop_signal: int, how: str, group: bool
) -> None:
    node = Node("wheel_listener", context=ros_context)
    commands: list[np.ndarray] = []
    node.create_subscription(
        Float64MultiArray, robot.wheel_command_topic(robot.DEFAULT_CONTROLLER_NAME),
        lambda msg: commands.append(np.array(msg.data)), robot.command_qos())
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    # --duration adds the square driver: the controller is driving when the signal comes
    run = start([CRAWLER_RL, "deploy", "--sim", "--policy", str(POLICY), "--duration", "600"],
                tmp_path / "deploy.log", how)

    def driving() -> bool:
        executor.spin_once(timeout_sec=0.05)
        return bool(commands) and bool(np.any(commands[-1] != 0))

    try:
        # deploy, controller_node, robot_sim_node, square_path
        code, left = stop_busy_run(run, driving, stop_signal, group, 4,
                                   while_waiting=lambda: executor.spin_once(timeout_sec=0.05))
        for _ in range(20):  # what was sent on the way out
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
    assert left == {}, left
    expect_exit(run, code, stop_signal)
    np.testing.assert_array_equal(commands[-1], np.zeros(2))


def test_a_command_without_stop_handling_of_its_own_takes_sigint_as_a_background_job(
    tmp_path: Path
) -> None:
    run = start([CRAWLER_RL, "drive", "--seconds", "3000"], tmp_path / "drive.log", BACKGROUND)
    code, left = stop_busy_run(run, lambda: run.catches(signal.SIGINT), signal.SIGINT, False, 1)
    assert left == {}, left
    expect_exit(run, code, signal.SIGINT)
