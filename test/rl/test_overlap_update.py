"""run.overlap_update: rollout k+1 is collected during update k (lag 1), each rollout once."""

from __future__ import annotations

import copy
import hashlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl import trainer
from crawler_rl.rl.checkpoint import list_checkpoints, load_checkpoint
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout
from crawler_rl.rl.rollout_workers import RolloutWorkers
from crawler_rl.rl.trainer import run_training
from crawler_rl.stopping import Stopped

STEPS, ENVS, ITERATIONS = 25, 4, 6


def overlap_config(**run: object) -> TrainConfig:
    return toy_config(env={"num_workers": 2}, ppo={"num_steps": STEPS},
                      run={"total_steps": ITERATIONS * STEPS * ENVS, "overlap_update": True,
                           **run})


def fingerprint(obs: np.ndarray | torch.Tensor) -> str:
    array = obs.cpu().numpy() if isinstance(obs, torch.Tensor) else obs
    return hashlib.sha1(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


def test_each_rollout_is_acted_by_the_weights_before_the_last_update_and_trained_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[int, dict]] = []  # (updates done when started, acting weights)
    finished: list[str] = []
    trained: list[str] = []
    learners: list = []
    real_start, real_finish = RolloutWorkers.start, RolloutWorkers.finish
    real_update = trainer.Learner.update

    def start(self: RolloutWorkers, policy: ActorCritic, noise: torch.Tensor) -> None:
        started.append((learners[0].iteration, copy.deepcopy(policy.state_dict())))
        real_start(self, policy, noise)

    def finish(self: RolloutWorkers) -> Rollout:
        rollout = real_finish(self)
        finished.append(fingerprint(rollout.obs))
        # The stored log-probs and values are the acting policy's, not recomputed later.
        acting = ActorCritic(3, 1, learners[0].cfg.model)
        acting.load_state_dict(started[len(finished) - 1][1])
        with torch.no_grad():
            obs = torch.from_numpy(rollout.obs).reshape(-1, 3)
            actions = torch.from_numpy(rollout.actions).reshape(-1, 1)
            log_probs, _, values = acting.evaluate(obs, actions)
        torch.testing.assert_close(log_probs, torch.from_numpy(rollout.log_probs).flatten())
        torch.testing.assert_close(values, torch.from_numpy(rollout.values).flatten())
        return rollout

    def update(self, storage, last_values):
        trained.append(fingerprint(storage.obs))
        return real_update(self, storage, last_values)

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        learners.append(self)

    real_init = trainer.Learner.__init__
    monkeypatch.setattr(trainer.Learner, "__init__", init)
    monkeypatch.setattr(trainer.Learner, "update", update)
    monkeypatch.setattr(RolloutWorkers, "start", start)
    monkeypatch.setattr(RolloutWorkers, "finish", finish)
    lags: list[float] = []
    summary = run_training(overlap_config(), tmp_path, progress=False,
                           on_iteration=lambda m: lags.append(m["policy_lag"]))

    assert summary["iterations"] == ITERATIONS
    assert summary["global_step"] == ITERATIONS * STEPS * ENVS
    # Rollout 0 is acted by the initial weights and trained by update 0; rollout k >= 1 is
    # started with the weights of k - 1 updates (before update k - 1 runs) and trained by
    # update k: one update behind.
    assert [iteration for iteration, _ in started] == [0, *range(ITERATIONS - 1)]
    assert lags == [0.0] + [1.0] * (ITERATIONS - 1)
    # No rollout left running at the end, none skipped, none trained twice.
    assert len(started) == len(finished) == len(trained) == ITERATIONS
    assert trained == finished and len(set(trained)) == ITERATIONS
    # The lag is real: rollout 1 was acted by the initial weights, not by those of update 1.
    assert torch.equal(started[1][1]["actor_head.weight"], started[0][1]["actor_head.weight"])
    assert not torch.equal(started[2][1]["actor_head.weight"],
                           started[1][1]["actor_head.weight"])


def test_overlapped_run_is_deterministic_for_a_seed_and_differs_from_the_default(
        tmp_path: Path) -> None:
    runs = [run_training(overlap_config(), tmp_path / name, progress=False)
            for name in ("a", "b")]
    default = run_training(overlap_config(overlap_update=False), tmp_path / "c", progress=False)
    a, b, c = (load_checkpoint(Path(run["checkpoint"])) for run in (*runs, default))
    for key, tensor in a.model.items():
        assert torch.equal(tensor, b.model[key]), key
    assert not all(torch.equal(tensor, c.model[key]) for key, tensor in a.model.items())
    assert runs[0]["final"]["tracking_error_v"] == runs[1]["final"]["tracking_error_v"]


@pytest.mark.parametrize(("sections", "key"), [
    ({"env": {"num_workers": 1}}, "env.num_workers"),
    ({"run": {"exact_resume": True}}, "run.exact_resume"),
])
def test_overlap_update_refuses_settings_it_cannot_honour(sections: dict, key: str) -> None:
    data = {"env": {"num_envs": 4, "num_workers": 2}, "run": {"overlap_update": True}}
    for name, values in sections.items():
        data[name] = {**data[name], **values}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        TrainConfig.from_dict(data)


def test_workers_refuse_a_second_request_and_a_reset_while_one_is_under_way() -> None:
    cfg = overlap_config()
    workers = RolloutWorkers(cfg.env, cfg.model, ENVS, 2)
    try:
        workers.reset(seed=0)
        policy = ActorCritic(3, 1, cfg.model)
        noise = torch.zeros(STEPS, ENVS, 1)
        with pytest.raises(RuntimeError, match="no rollout under way"):
            workers.finish()
        workers.start(policy, noise)
        with pytest.raises(RuntimeError, match="already under way"):
            workers.start(policy, noise)
        with pytest.raises(RuntimeError, match="under way"):
            workers.reset(seed=0)
        rollout = workers.finish()
        assert rollout.obs.shape == (STEPS, ENVS, 3)
        parts = {"load", "sim", "policy", "busy", "cpu"}
        assert [set(t) for t in workers.last_timings] == [parts] * 2
        assert all(t["busy"] >= t["sim"] + t["policy"] > 0.0 for t in workers.last_timings)
    finally:
        workers.close()


def test_a_stop_abandons_the_rollout_under_way_and_resume_continues_from_the_last_update(
        tmp_path: Path) -> None:
    batch = STEPS * ENVS

    def stop_after_update_2(stats: dict[str, float]) -> None:
        if stats["global_step"] == 2 * batch:  # rollout 3 is under way in the workers now
            os.kill(os.getpid(), signal.SIGTERM)

    cfg = overlap_config(checkpoint_every=100, keep_checkpoints=0)
    with pytest.raises(Stopped) as stopped:
        run_training(cfg, tmp_path, progress=False, on_iteration=stop_after_update_2)
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert [path.name for path in list_checkpoints(tmp_path)] == ["ckpt_000002.pt"]
    assert load_checkpoint(list_checkpoints(tmp_path)[0]).global_step == 2 * batch
    steps: list[float] = []
    lags: list[float] = []

    def record(stats: dict[str, float]) -> None:
        steps.append(stats["global_step"])
        lags.append(stats["policy_lag"])

    run_training(cfg, tmp_path, resume=True, progress=False, on_iteration=record)
    assert steps == [k * batch for k in range(3, ITERATIONS + 1)]
    assert lags == [0.0] + [1.0] * (ITERATIONS - 3)  # a fresh rollout after the resume
