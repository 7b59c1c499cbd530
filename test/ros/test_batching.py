from __future__ import annotations

import numpy as np
import pytest

from crawler_rl.ros.training.batching import InferenceBatcher, Verdict
from crawler_rl.ros.training.codec import ObsBatch

OBS_DIM, ACTION_DIM, K = 3, 2, 2


def step(actor: int, seq: int, session: int = 1, reward: float = 0.0,
         truncated: tuple[bool, ...] = (False, False), obs_value: float | None = None) -> ObsBatch:
    trunc = np.array(truncated, bool)
    value = float(seq) if obs_value is None else obs_value
    return ObsBatch(
        actor_id=actor, session=session, seq=seq,
        obs=np.full((K, OBS_DIM), value, np.float32),
        rewards=np.full(K, reward, np.float32), terminated=np.zeros(K, bool), truncated=trunc,
        tracking_error=np.zeros((K, 2), np.float32),
        final_obs=np.full((int(trunc.sum()), OBS_DIM), -1.0, np.float32),
    )


def batcher(num_steps: int = 3) -> InferenceBatcher:
    return InferenceBatcher(OBS_DIM, ACTION_DIM, num_steps, max_wait=0.01, actor_timeout=1.0)


def run(b: InferenceBatcher, version: int = 0) -> list:
    """Answer every waiting step like the inference node would; return finished rollouts."""
    rollouts = []
    for item in b.take():
        actions = np.full((item.num_envs, ACTION_DIM), item.seq, np.float32)
        values = np.full(item.num_envs, 10.0 + item.seq, np.float32)
        finals = np.full(len(item.final_obs), 99.0, np.float32)
        out = b.complete(item, actions, -values, values, finals, version, b"reply%d" % item.seq)
        if out is not None:
            rollouts.append(out)
    return rollouts


def test_ready_when_all_live_actors_waiting_or_deadline() -> None:
    b = batcher()
    assert b.submit(step(0, 0), now=0.0) is Verdict.ACCEPTED
    assert b.ready(0.0)  # the only live actor waits
    run(b)
    b.submit(step(1, 0), now=0.0)
    run(b)
    b.submit(step(0, 1), now=1.0)
    assert not b.ready(1.005)  # actor 1 has not reported yet
    assert b.ready(1.011)  # max_wait passed
    b.submit(step(1, 1), now=1.006)
    assert b.ready(1.006)
    assert [item.actor_id for item in b.take()] == [0, 1]
    assert not b.ready(2.0)


def test_trajectory_aligns_rewards_with_the_step_that_earned_them() -> None:
    b = batcher(num_steps=3)
    rollouts = []
    for seq in range(4):
        truncated = (True, False) if seq == 2 else (False, False)
        b.submit(step(0, seq, reward=100.0 + seq, truncated=truncated), now=float(seq))
        rollouts += run(b, version=5 + seq)
    assert len(rollouts) == 1
    r = rollouts[0]
    r.check(OBS_DIM, ACTION_DIM)
    # step t: obs of seq t, action chosen for seq t, reward carried by seq t + 1
    np.testing.assert_array_equal(r.obs[:, 0, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(r.actions[:, 0, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(r.rewards[:, 0], [101.0, 102.0, 103.0])
    np.testing.assert_array_equal(r.values[:, 0], [10.0, 11.0, 12.0])
    np.testing.assert_array_equal(r.truncated[:, 0], [False, True, False])
    np.testing.assert_array_equal(r.final_values[:, 0], [0.0, 99.0, 0.0])
    np.testing.assert_array_equal(r.final_values[:, 1], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(r.last_obs[:, 0], [3.0, 3.0])
    np.testing.assert_array_equal(r.last_values, [13.0, 13.0])
    assert (r.policy_version, r.newest_version) == (5, 7)


def test_duplicates_stale_and_bad_data_are_counted_not_queued() -> None:
    b = batcher()
    b.submit(step(0, 0), 0.0)
    run(b)
    assert b.submit(step(0, 0), 0.1) is Verdict.DUPLICATE
    assert b.cached_reply(0, 0) == b"reply0"
    b.submit(step(0, 1), 0.2)
    run(b)
    assert b.submit(step(0, 0), 0.3) is Verdict.STALE_SEQ
    assert b.submit(step(0, 2, obs_value=np.nan), 0.3) is Verdict.NON_FINITE
    assert b.submit(step(0, 2, reward=np.inf), 0.3) is Verdict.NON_FINITE
    wide = step(0, 2)
    wide.obs = np.zeros((K, OBS_DIM + 1), np.float32)
    assert b.submit(wide, 0.3) is Verdict.WRONG_SIZE
    assert not b.ready(10.0)
    assert b.counters["duplicate"] == 1 and b.counters["stale_seq"] == 1
    assert b.counters["non_finite"] == 2 and b.counters["wrong_size"] == 1


def test_restarted_actor_and_seq_gap_discard_partial_trajectories() -> None:
    b = batcher(num_steps=3)
    for seq in range(3):
        b.submit(step(0, seq, reward=1.0), float(seq))
        assert run(b) == []
    # a new session (respawned actor) starts over: its old two steps are never mixed in
    b.submit(step(0, 0, session=2, reward=5.0), 3.0)
    assert run(b) == [] and b.counters["actor_restarts"] == 1
    b.submit(step(0, 7, session=2), 4.0)  # gap: 1..6 missing
    assert run(b) == [] and b.counters["seq_gap_restarts"] == 1
    rollouts = []
    for seq in range(8, 11):
        b.submit(step(0, seq, session=2, reward=2.0), float(seq))
        rollouts += run(b)
    assert len(rollouts) == 1
    np.testing.assert_array_equal(rollouts[0].obs[:, 0, 0], [7.0, 8.0, 9.0])


def test_silent_actors_are_dropped_with_their_data() -> None:
    b = batcher(num_steps=2)
    b.submit(step(0, 0), 0.0)
    b.submit(step(1, 0), 0.0)
    run(b)
    b.submit(step(0, 1), 0.5)
    assert b.drop_stale(now=1.2) == [1]
    assert b.ready(0.5)  # actor 0 is now the only live actor
    item = b.take()[0]
    b.drop_stale(now=2.0)
    assert b.complete(item, np.zeros((K, 2)), np.zeros(K), np.zeros(K), np.zeros(0), 0,
                      b"") is None
    assert b.counters["dropped_actors"] == 2


@pytest.mark.parametrize("actors", [1, 3])
def test_every_actor_gets_its_own_rollout(actors: int) -> None:
    b = batcher(num_steps=2)
    rollouts = []
    for seq in range(3):
        for actor in range(actors):
            b.submit(step(actor, seq), float(seq))
        assert b.ready(float(seq))
        rollouts += run(b)
    assert sorted(r.actor_id for r in rollouts) == list(range(actors))
