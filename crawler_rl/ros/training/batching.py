"""Inference-side bookkeeping without ROS: actor liveness, dynamic batching, trajectories.

The inference node feeds every decoded ObsBatch to `InferenceBatcher.submit`, runs the policy
once over `take()` when `ready()`, and hands the outputs back through `complete`, which returns
the finished rollouts to ship to the learner.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from crawler_rl.rl.rollout import Rollout
from crawler_rl.ros.interfaces import ActionBatchMsg
from crawler_rl.ros.training.codec import ObsBatch


class Verdict(StrEnum):
    """What `submit` did with a message; rejections are counted under their value."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE_SEQ = "stale_seq"
    NON_FINITE = "non_finite"
    WRONG_SIZE = "wrong_size"
    TOO_MANY_ENVS = "too_many_envs"
    UNKNOWN_ACTOR = "unknown_actor"


BATCHER_COUNTERS = ("accepted_steps", "actor_restarts", "seq_gap_restarts", "dropped_actors",
                    "discarded_env_steps", "trajectory_restarts", "rollouts",
                    *(verdict.value for verdict in Verdict if verdict is not Verdict.ACCEPTED))
"""Every counter an InferenceBatcher keeps: `~/status` reports each, 0 until it happens."""


class TrajectoryBuilder:
    """Per-env trajectories of one actor session, emitted as a Rollout every `num_steps`."""

    def __init__(self, actor_id: int, num_steps: int, num_envs: int, obs_dim: int,
                 action_dim: int) -> None:
        self.actor_id = actor_id
        self.num_steps = num_steps
        shape = (num_steps, num_envs)
        self.obs = np.zeros((*shape, obs_dim), np.float32)
        self.actions = np.zeros((*shape, action_dim), np.float32)
        self.log_probs = np.zeros(shape, np.float32)
        self.values = np.zeros(shape, np.float32)
        self.rewards = np.zeros(shape, np.float32)
        self.terminated = np.zeros(shape, bool)
        self.truncated = np.zeros(shape, bool)
        self.final_values = np.zeros(shape, np.float32)
        self.tracking_error = np.zeros((*shape, 2), np.float32)
        self.versions: list[int] = []
        self.step = 0
        self.pending: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None = None

    def record(self, batch: ObsBatch, actions: np.ndarray, log_probs: np.ndarray,
               values: np.ndarray, final_values: np.ndarray, version: int) -> Rollout | None:
        """Close the previous step with this message's outcome and open the new one.

        Shapes: actions (K, A), log_probs/values (K,), final_values (F,) for the truncated envs.
        Returns a Rollout when `num_steps` steps are complete.
        """
        rollout = None
        if self.pending is not None:
            obs, prev_actions, prev_log_probs, prev_values, prev_version = self.pending
            t = self.step
            self.obs[t], self.actions[t] = obs, prev_actions
            self.log_probs[t], self.values[t] = prev_log_probs, prev_values
            self.rewards[t] = batch.rewards
            self.terminated[t], self.truncated[t] = batch.terminated, batch.truncated
            self.final_values[t] = 0.0
            self.final_values[t, batch.truncated] = final_values
            self.tracking_error[t] = batch.tracking_error
            self.versions.append(prev_version)
            self.step += 1
            if self.step == self.num_steps:
                rollout = self._emit(batch.obs, values)
        self.pending = (np.array(batch.obs), actions, log_probs, values, version)
        return rollout

    def _emit(self, last_obs: np.ndarray, last_values: np.ndarray) -> Rollout:
        rollout = Rollout(
            actor_id=self.actor_id,
            policy_version=min(self.versions),
            newest_version=max(self.versions),
            obs=self.obs.copy(), actions=self.actions.copy(), log_probs=self.log_probs.copy(),
            values=self.values.copy(), rewards=self.rewards.copy(),
            terminated=self.terminated.copy(), truncated=self.truncated.copy(),
            final_values=self.final_values.copy(), tracking_error=self.tracking_error.copy(),
            last_obs=np.array(last_obs, np.float32), last_values=np.array(last_values, np.float32),
        )
        self.step = 0
        self.versions = []
        return rollout


@dataclass
class ActorState:
    """What the inference node knows about one live actor session."""

    session: int
    num_envs: int
    last_seq: int
    last_seen: float
    trajectory: TrajectoryBuilder
    waiting: ObsBatch | None = None
    received_at: float = 0.0
    last_reply: tuple[int, ActionBatchMsg] | None = None


@dataclass
class InferenceBatcher:
    """Dynamic batching over actors: run when every live actor waits or `max_wait` passed.

    Memory is bounded by the graph, not by messages: at most `max_actors` actor ids are
    tracked at once (a step from a new id beyond that is rejected as `unknown_actor`), and
    a step of more than `max_envs_per_actor` envs is rejected as `too_many_envs`, so no
    message allocates trajectory buffers beyond `max_actors x max_envs_per_actor` envs.
    """

    obs_dim: int
    action_dim: int
    num_steps: int
    max_wait: float
    actor_timeout: float
    max_actors: int = 1024
    max_envs_per_actor: int = 4096
    actors: dict[int, ActorState] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)

    def submit(self, batch: ObsBatch, now: float) -> Verdict:
        """Validate and queue one actor step; duplicates and stale/bad data are not queued."""
        verdict = self.check(batch)
        if verdict is not Verdict.ACCEPTED:
            self.counters[verdict.value] += 1
            return verdict
        state = self.actors.get(batch.actor_id)
        if state is not None and state.session == batch.session:
            state.last_seen = now
            if batch.seq == state.last_seq:
                self.counters[Verdict.DUPLICATE.value] += 1
                return Verdict.DUPLICATE
            if batch.seq < state.last_seq or batch.num_envs != state.num_envs:
                verdict = Verdict.STALE_SEQ if batch.seq < state.last_seq else Verdict.WRONG_SIZE
                self.counters[verdict.value] += 1
                return verdict
            if batch.seq > state.last_seq + 1:
                # A step went missing: never stitch across the gap, restart the trajectory.
                self.counters["seq_gap_restarts"] += 1
                self._discard(state)
                state = None
        elif state is not None:
            self.counters["actor_restarts"] += 1
            self._discard(state)
            state = None
        elif len(self.actors) >= self.max_actors:
            self.counters[Verdict.UNKNOWN_ACTOR.value] += 1
            return Verdict.UNKNOWN_ACTOR
        if state is None:
            state = ActorState(
                session=batch.session, num_envs=batch.num_envs, last_seq=batch.seq, last_seen=now,
                trajectory=TrajectoryBuilder(batch.actor_id, self.num_steps, batch.num_envs,
                                             self.obs_dim, self.action_dim),
            )
            self.actors[batch.actor_id] = state
        state.last_seq = batch.seq
        state.waiting = batch
        state.received_at = now
        self.counters["accepted_steps"] += 1
        return Verdict.ACCEPTED

    def check(self, batch: ObsBatch) -> Verdict:
        """Whether one step suits this graph on its own (size, envs, finite values)."""
        if batch.obs.shape[1] != self.obs_dim:
            return Verdict.WRONG_SIZE
        if batch.num_envs > self.max_envs_per_actor:
            return Verdict.TOO_MANY_ENVS
        for array in (batch.obs, batch.rewards, batch.final_obs, batch.tracking_error):
            if not np.all(np.isfinite(array)):
                return Verdict.NON_FINITE
        return Verdict.ACCEPTED

    def drop_stale(self, now: float) -> list[int]:
        """Forget actors silent for more than `actor_timeout`; their partial data is discarded."""
        stale = [aid for aid, s in self.actors.items() if now - s.last_seen > self.actor_timeout]
        for actor_id in stale:
            self._discard(self.actors.pop(actor_id))
        self.counters["dropped_actors"] += len(stale)
        return stale

    def restart_trajectories(self) -> None:
        """Discard every partial trajectory: the policy lineage changed (learner restarted)."""
        for actor_id, state in self.actors.items():
            self._discard(state)
            state.trajectory = TrajectoryBuilder(actor_id, self.num_steps, state.num_envs,
                                                 self.obs_dim, self.action_dim)
        self.counters["trajectory_restarts"] += 1

    def _discard(self, state: ActorState) -> None:
        """Count the env steps of a partial trajectory that is thrown away."""
        self.counters["discarded_env_steps"] += state.trajectory.step * state.num_envs

    def ready(self, now: float) -> bool:
        """Tell whether all live actors wait for actions or the oldest waited `max_wait`."""
        waiting = [s.received_at for s in self.actors.values() if s.waiting is not None]
        if not waiting:
            return False
        return len(waiting) == len(self.actors) or now - min(waiting) >= self.max_wait

    def waiting(self) -> bool:
        """Tell whether any live actor waits for actions."""
        return any(s.waiting is not None for s in self.actors.values())

    def take(self) -> list[ObsBatch]:
        """Remove and return the waiting steps (one per actor), in actor id order."""
        batches = []
        for actor_id in sorted(self.actors):
            state = self.actors[actor_id]
            if state.waiting is not None:
                batches.append(state.waiting)
                state.waiting = None
        return batches

    def complete(self, batch: ObsBatch, actions: np.ndarray, log_probs: np.ndarray,
                 values: np.ndarray, final_values: np.ndarray, version: int,
                 reply: ActionBatchMsg) -> Rollout | None:
        """Record the policy outputs of a taken step; returns a finished rollout, if any."""
        state = self.actors.get(batch.actor_id)
        if state is None or state.session != batch.session:
            return None  # dropped or restarted while the batch ran: its data is discarded
        state.last_reply = (batch.seq, reply)
        rollout = state.trajectory.record(batch, actions, log_probs, values, final_values,
                                          version)
        if rollout is not None:
            self.counters["rollouts"] += 1
        return rollout

    def cached_reply(self, actor_id: int, seq: int) -> ActionBatchMsg | None:
        """Return the action message already sent for this step (resent on a duplicate)."""
        state = self.actors.get(actor_id)
        if state is None or state.last_reply is None or state.last_reply[0] != seq:
            return None
        return state.last_reply[1]
