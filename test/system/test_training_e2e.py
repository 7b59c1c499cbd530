"""Acceptance: `crawler-rl train --backend ros` with 2 actor processes + head over real DDS."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from fault_rig import read_metrics, start_cli_training
from policy_check import trained_and_initial_returns

from crawler_rl.rl.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


def processes_in_domain(domain: int) -> dict[int, str]:
    """pid -> command line of every process (but us) whose environment has our ROS domain."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"ROS_DOMAIN_ID={domain}".encode() in environ:
            found[int(entry.name)] = cmdline
    return found


@pytest.mark.slow
def test_ros_training_learns_survives_an_actor_crash_and_leaves_no_orphans(
    ros_domain: int, tmp_path: Path
) -> None:
    iterations, actors, envs, steps = 20, 2, 4, 16
    cfg = TrainConfig.from_dict({
        "env": {"env_id": "rl_toy_env:VelocityTrackingToy"},
        "ppo": {"num_steps": steps},
        "run": {"total_steps": iterations * actors * envs * steps, "export_onnx": False,
                "checkpoint_every": 5},
    })
    launcher, run_dir = start_cli_training(cfg, actors, envs, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while len(read_metrics(run_dir)) < 3 and time.monotonic() < deadline:
            assert launcher.poll() is None, launcher.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        victims = [pid for pid, cmd in processes_in_domain(ros_domain).items()
                   if "__node:=actor_1" in cmd]
        assert victims, processes_in_domain(ros_domain)
        os.kill(victims[0], signal.SIGKILL)  # a crashed actor must be respawned
        output, _ = launcher.communicate(timeout=180)  # its own budget: the rest of the run
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            launcher.wait(15)
    assert launcher.returncode == 0, output.decode()[-3000:]

    metrics = [m for m in read_metrics(run_dir) if m["iteration"] > 0]
    assert [m["policy_version"] for m in metrics] == list(range(1, iterations + 1))
    assert metrics[-1]["done"] and metrics[-1]["global_step"] >= cfg.run.total_steps
    trained, initial = trained_and_initial_returns(run_dir)
    print(json.dumps({"metric": "e2e_returns", "trained": trained, "initial": initial}))
    # Returns are <= 0 and replayed deterministically, so any gain is learning, not luck; an
    # actor is killed mid-run and ROS batches vary: after 14 iterations measured -0.19 to -0.95
    # from -1.83 in nine runs and -1.29 in a tenth (a loaded CI machine), so the run has 20.
    assert trained > 0.7 * initial, (trained, initial)  # error cut by at least 30 %
    assert list((run_dir / "checkpoints").glob("ckpt_*.pt"))
    logs = run_dir / "logs"
    codes = json.loads((logs / "exit_codes.json").read_text())
    assert (codes["head"], codes["actor_0"]) == (0, 0), codes
    # the respawned actor may still be importing when training ends: SIGINT then is clean too
    assert codes["actor_1"] in (0, -signal.SIGINT), codes
    assert "respawning" in output.decode()
    time.sleep(0.5)
    assert processes_in_domain(ros_domain) == {}
