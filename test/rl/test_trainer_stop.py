"""A stop signal ends local training with a final checkpoint equal to a periodic one there."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.checkpoint import Checkpoint, list_checkpoints, load_checkpoint
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout_workers import RolloutWorkers
from crawler_rl.rl.trainer import run_training
from crawler_rl.stopping import Stopped

STEPS, ENVS = 50, 4
BATCH = STEPS * ENVS


class Killed(Exception):
    """Stands for SIGKILL: the run ends where it is, with nothing written."""


def config(checkpoint_every: int, workers: int):
    return toy_config(env={"env_id": "rl_toy_env:SignalsTheTrainer", "num_workers": workers},
                      ppo={"num_steps": STEPS},
                      run={"total_steps": 6 * BATCH, "checkpoint_every": checkpoint_every,
                           "keep_checkpoints": 0})


def assert_same_training_state(a: Checkpoint, b: Checkpoint) -> None:
    assert (a.iteration, a.global_step, a.learning_rate) == (
        b.iteration, b.global_step, b.learning_rate)
    for key, tensor in a.model.items():
        assert torch.equal(tensor, b.model[key]), key
    for param, state in a.optimizer["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b.optimizer["state"][param][key]), (param, key)
    assert torch.equal(a.rng_state["torch"], b.rng_state["torch"])
    assert torch.equal(a.rng_state["numpy"][1], b.rng_state["numpy"][1])
    assert a.rng_state["python"] == b.rng_state["python"]


@pytest.mark.parametrize(("workers", "stop_signal", "during"), [
    pytest.param(1, signal.SIGINT, "rollout", id="in-process-sigint-mid-rollout"),
    pytest.param(2, signal.SIGTERM, "rollout", id="workers-sigterm-mid-rollout"),
    pytest.param(2, signal.SIGHUP, "update", id="workers-sighup-during-update"),
])
def test_stop_signal_writes_the_last_update_s_checkpoint_and_resume_continues_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, stop_signal: int, during: str
) -> None:
    # Reference: a run whose periodic checkpoint falls at iteration 2, killed after iteration 3.
    def kill_after_iteration_3(stats: dict[str, float]) -> None:
        if stats["global_step"] >= 3 * BATCH:
            raise Killed

    with pytest.raises(Killed):
        run_training(config(2, workers), tmp_path / "reference", progress=False,
                     on_iteration=kill_after_iteration_3)
    periodic = load_checkpoint(list_checkpoints(tmp_path / "reference")[0])
    assert periodic.iteration == 2

    # The stopped run has no periodic checkpoint before iteration 100: the stop writes it.
    on_iteration = None
    if during == "rollout":  # the env signals us 20 steps into iteration 3's rollout
        monkeypatch.setenv("TOY_STOP_PID", str(os.getpid()))
        monkeypatch.setenv("TOY_STOP_SIGNAL", str(int(stop_signal)))
        monkeypatch.setenv("TOY_STOP_AT_STEP", str(2 * STEPS + 20))
        monkeypatch.setenv("TOY_STOP_ONCE", str(tmp_path / "signalled"))
    else:  # right after iteration 2's update: the stop waits for the iteration's end

        def on_iteration(stats: dict[str, float]) -> None:
            if stats["global_step"] == 2 * BATCH:
                os.kill(os.getpid(), stop_signal)

    # Under nohup SIGHUP arrives ignored, and the trainer leaves it so: not what is tested here.
    previous = signal.getsignal(stop_signal)
    if previous is signal.SIG_IGN:
        signal.signal(stop_signal, signal.SIG_DFL)
    ours = signal.getsignal(stop_signal)
    try:
        with pytest.raises(Stopped) as stopped:
            run_training(config(100, workers), tmp_path / "stopped", progress=False,
                         on_iteration=on_iteration)
        assert signal.getsignal(stop_signal) == ours  # the trainer's handler is gone
    finally:
        signal.signal(stop_signal, previous)
    assert stopped.value.exit_code == 128 + stop_signal
    assert [path.name for path in list_checkpoints(tmp_path / "stopped")] == ["ckpt_000002.pt"]
    final = load_checkpoint(list_checkpoints(tmp_path / "stopped")[0])
    assert_same_training_state(final, periodic)

    monkeypatch.delenv("TOY_STOP_PID", raising=False)
    steps: list[float] = []
    run_training(config(100, workers), tmp_path / "stopped", resume=True, progress=False,
                 on_iteration=lambda stats: steps.append(stats["global_step"]))
    assert steps[0] == 3 * BATCH and steps[-1] == 6 * BATCH


def test_a_stop_signal_during_the_last_update_is_not_lost(tmp_path: Path) -> None:
    def stop_at_the_end(stats: dict[str, float]) -> None:
        if stats["global_step"] == 2 * BATCH:
            os.kill(os.getpid(), signal.SIGTERM)

    cfg = toy_config(ppo={"num_steps": STEPS}, run={"total_steps": 2 * BATCH})
    with pytest.raises(Stopped, match="as training finished") as stopped:
        run_training(cfg, tmp_path, progress=False, on_iteration=stop_at_the_end)
    assert stopped.value.exit_code == 143
    assert load_checkpoint(list_checkpoints(tmp_path)[-1]).global_step == 2 * BATCH


def test_workers_leave_ctrl_c_and_hangups_to_the_trainer_and_end_on_sigterm() -> None:
    cfg = toy_config()
    workers = RolloutWorkers(cfg.env, cfg.model, num_envs=2, num_workers=2)
    try:
        for process in workers.processes:  # what a terminal sends the whole process group
            os.kill(process.pid, signal.SIGINT)
            os.kill(process.pid, signal.SIGHUP)
        workers.reset(seed=0)
        policy = ActorCritic(workers.obs_dim, workers.action_dim, cfg.model)
        rollout = workers.collect(policy, torch.zeros(3, 2, workers.action_dim))
        assert rollout.obs.shape[:2] == (3, 2)
        os.kill(workers.processes[0].pid, signal.SIGTERM)
        workers.processes[0].join(10)
        assert workers.processes[0].exitcode == -signal.SIGTERM
        with pytest.raises(RuntimeError, match="env worker 0 exited unexpectedly"):
            workers.collect(policy, torch.zeros(3, 2, workers.action_dim))
    finally:
        workers.close()
