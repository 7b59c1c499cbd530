"""bench/recurrent_actor.py: the recurrent actor's sequence pass, training and controller."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "recurrent_actor.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("recurrent_actor", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sequence_pass_equals_stepping_with_resets(bench) -> None:
    torch.manual_seed(0)
    policy = bench.RecurrentActorCritic(obs_dim=5, action_dim=2, hidden=8)
    obs = torch.randn(6, 3, 5)
    starts = torch.zeros(6, 3, dtype=torch.bool)
    starts[3, 1] = True  # env 1's episode ends after step 2
    state0 = torch.randn(3, 8)
    sequence = policy.actor_sequence(obs, state0, starts)
    state = state0.clone()
    for t in range(6):
        for env in range(3):
            if starts[t, env]:
                state[env] = 0.0
        mean, state = policy.actor_step(obs[t], state)
        assert torch.allclose(sequence[t], mean, atol=1e-6)
    # the reset matters: without it env 1's later means differ
    unreset = policy.actor_sequence(obs, state0, torch.zeros_like(starts))
    assert not torch.allclose(unreset[3:, 1], sequence[3:, 1])
    assert torch.allclose(unreset[:, 0], sequence[:, 0])


def test_short_training_run_gives_a_stateful_controller(bench, tmp_path: Path) -> None:
    path = bench.train(None, seed=0, total_steps=1024, run_dir=tmp_path, progress=False)
    assert path.is_file()
    rows = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(rows) == 2  # 1,024 steps = 2 rollouts of 16 envs x 32 steps
    controller = bench.RecurrentController(path)
    rng = np.random.default_rng(0)
    observations = rng.normal(0.0, 0.1, (5, controller.policy.obs_normalizer.mean.shape[0]))
    first = [controller(obs) for obs in observations]
    controller.reset()
    again = [controller(obs) for obs in observations]
    np.testing.assert_allclose(first, again)  # reset() forgets the history
    assert np.isfinite(first).all()
    assert np.abs(first).max() <= controller.spec.max_wheel_speed
    controller.reset()
    controller(observations[1])
    # the same observation after another history gives another command: the state is used
    assert not np.allclose(controller(observations[2]), first[1])
