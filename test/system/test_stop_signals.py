"""Stopping every entry point with SIGINT, SIGTERM or SIGKILL while it is busy.

Started as a shell would (foreground job, or background job of a script: SIGINT ignored),
each run must leave no process behind, exit with the documented code (130, 143; 137 for
SIGKILL as a shell reports it), and training must resume from its final checkpoint.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import yaml
from shell_runs import BACKGROUND, FOREGROUND, ShellRun, start
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from crawler_rl.rl.checkpoint import list_checkpoints, load_checkpoint
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.trainer import run_training

REPO = Path(__file__).resolve().parents[2]
CRAWLER_RL = shutil.which("crawler-rl") or "crawler-rl"
CHECKPOINT_EVERY = 3
GRACE_S = 10.0
"""How long the run's processes may take to go once the top process has exited."""

# (signal, how it is started, to the process group like Ctrl-C in a terminal)
STOPS = [
    pytest.param(signal.SIGINT, FOREGROUND, True, id="ctrl-c"),
    pytest.param(signal.SIGINT, BACKGROUND, False, id="sigint-background-job"),
    pytest.param(signal.SIGTERM, FOREGROUND, False, id="sigterm"),
    pytest.param(signal.SIGKILL, FOREGROUND, False, id="sigkill"),
]


def smoke_config(tmp_path: Path, **env: object) -> tuple[Path, int]:
    """The smoke config with rollout workers and sparse checkpoints; (path, steps/iteration)."""
    cfg = yaml.safe_load((REPO / "config" / "train_smoke.yaml").read_text())
    cfg["env"].update(env)
    cfg["run"].update({"total_steps": 10**7, "checkpoint_every": CHECKPOINT_EVERY,
                       "export_onnx": False, "device": "cpu"})
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg["env"]["num_envs"] * cfg["ppo"]["num_steps"]


def logged_steps(run_dir: Path) -> list[list[int]]:
    """global_step of each logged iteration, per TensorBoard file (one per training process)."""
    files = sorted((run_dir / "tb").glob("events.out.tfevents.*"), key=lambda f: f.stat().st_mtime)
    return [[event.step for event in EventFileLoader(str(f)).Load()
             if any(value.tag == "charts/sps" for value in event.summary.value)] for f in files]


def stop_busy_run(run: ShellRun, ready: object, stop_signal: int, group: bool,
                  expected_processes: int) -> tuple[int, dict[int, str]]:
    """Wait until busy, signal, wait; return (exit status, processes left after the grace)."""
    try:
        run.wait_until(ready, timeout=180)
        running = run.processes()
        assert len(running) >= expected_processes, running
        run.send(stop_signal, group=group)
        code = run.wait(timeout=60)
        return code, run.leftovers(GRACE_S)
    finally:
        run.kill_all()


def expect_exit(run: ShellRun, code: int, stop_signal: int) -> None:
    assert code == 128 + stop_signal, run.output()[-3000:]
    if run.how == FOREGROUND and stop_signal != signal.SIGKILL:
        assert run.shell.returncode == code  # exited with the code, not killed by the signal


@pytest.mark.parametrize(("stop_signal", "how", "group"), STOPS)
def test_local_training_stops_without_orphans_and_resumes_from_its_final_checkpoint(
    tmp_path: Path, stop_signal: int, how: str, group: bool
) -> None:
    config, batch = smoke_config(tmp_path, num_workers=2)
    run_dir = tmp_path / "run"
    train = [CRAWLER_RL, "train", "--backend", "local", "--config", str(config), "--run-dir",
             str(run_dir), "--no-progress"]
    run = start(train, tmp_path / "train.log", how)
    first_periodic = run_dir / "checkpoints" / f"ckpt_{CHECKPOINT_EVERY:06d}.pt"
    # trainer + 2 rollout workers (+ the script's shell)
    code, left = stop_busy_run(run, first_periodic.is_file, stop_signal, group, 3)
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
