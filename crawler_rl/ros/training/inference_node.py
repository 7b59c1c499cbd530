"""Inference node: batch all actors' observations, run the policy once, reply, ship rollouts.

The policy network is built from the run's TrainConfig (`config_file`, as the learner reads
it: obs/action dims of its env, the model section); a weights message is loaded only if its
architecture equals that one, so no message decides what the node allocates. Until the first
(latched) weights of the learner arrive, the latest step of each actor is held and answered
once they do. While the learner is away the last weights keep serving; when it comes back with
an older version (resumed from a checkpoint) every partial trajectory is discarded, so no
rollout mixes the lost policy with the resumed one. The graph sets `max_actors` and
`max_envs_per_actor` from its actor count, so a flood of strangers allocates nothing.
Rejected input is counted in `~/status` and logged once per kind. `~/act` (Act.srv) answers
any other client's observations with the current policy, outside the training data. The
policy runs on the `device` parameter's torch device (auto: a GPU when torch sees one); on a
CPU the training batches run on a numpy copy of each weights version (`rl/numpy_policy.py`).
Replies leave as numpy.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.device import DEVICE_FORMS, describe_device, resolve_setting
from crawler_rl.rl.envs import probe_env
from crawler_rl.rl.numpy_policy import NumpyActorCritic
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import (
    Act,
    ActionBatchMsg,
    ObservationBatchMsg,
    PolicyWeightsMsg,
    RolloutMsg,
)
from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.rejections import Rejections
from crawler_rl.ros.runtime import run_node, serve_status
from crawler_rl.ros.training.batching import BATCHER_COUNTERS, InferenceBatcher, Verdict
from crawler_rl.ros.training.codec import (
    ActionBatch,
    CodecError,
    ObsBatch,
    decode_act_request,
    decode_obs_batch,
    encode_action_batch,
    float_field,
)
from crawler_rl.ros.training.rollout import encode_rollout
from crawler_rl.ros.training.time_split import TimeSplit, start
from crawler_rl.ros.training.weights import (
    architecture,
    check_architecture,
    check_state,
    decode_weights,
    state_elements,
)

PARAMS = (
    ParamSpec("config_file", "", "TrainConfig YAML of the run, as the learner's ('': packaged "
              "config/train.yaml): fixes the policy architecture", read_only=True),
    ParamSpec("num_steps", 64, "steps per env in one shipped rollout", 1, 100_000,
              read_only=True),
    ParamSpec("max_wait", 0.005, "seconds to wait for the other actors before running a batch",
              0.0, 10.0),
    ParamSpec("actor_timeout", 10.0, "seconds of silence before an actor is dropped", 0.1,
              3600.0),
    ParamSpec("torch_threads", 1, "torch.set_num_threads of the policy forward pass", 1, 256),
    ParamSpec("seed", 0, "seed of the action sampling", 0, 2**31 - 1, read_only=True),
    ParamSpec("max_actors", 1024, "actor ids served at once; steps of further ids are rejected",
              1, 1_000_000),
    ParamSpec("max_envs_per_actor", 4096, "envs in one actor's step; larger steps are rejected",
              1, 4096, read_only=True),
    ParamSpec("device", "auto", f"torch device of the policy, {DEVICE_FORMS} (auto: CUDA when "
              "torch sees a GPU, else the CPU)", read_only=True),
)


class InferenceNode(Node):
    """Dynamic batching policy server for the actor fleet."""

    def __init__(self, name: str = "inference", **node_options: Any) -> None:
        super().__init__(name, **node_options)
        self.params = declare_validated(self, PARAMS)
        self.device = resolve_setting(self.params["device"], "parameter 'device'")
        torch.set_num_threads(self.params["torch_threads"])
        config_file = self.params["config_file"]
        cfg = load_train_config(Path(config_file) if config_file else None)
        env_info, obs_dim, action_dim = probe_env(cfg.env)
        self.architecture = architecture(obs_dim, action_dim, cfg.to_dict()["model"])
        self.policy = ActorCritic.for_env(env_info, obs_dim, action_dim,
                                          cfg.model).to(self.device).eval()
        self.weights_elements = state_elements(self.policy.state_dict())
        torch.manual_seed(self.params["seed"])
        self.rng = np.random.default_rng(self.params["seed"])
        self.acting: NumpyActorCritic | None = None
        """The batch forward pass on a CPU device: a numpy copy of each new version (per-op
        dispatch dominates torch on a few rows); None on a GPU, where torch batches pay."""
        self.has_weights = False
        self.policy_version = 0
        self.batcher = InferenceBatcher(
            obs_dim, action_dim, self.params["num_steps"], self.params["max_wait"],
            self.params["actor_timeout"], self.params["max_actors"],
            self.params["max_envs_per_actor"],
        )
        self.rejections = Rejections(self.get_logger())
        self.early_steps: dict[int, ObsBatch] = {}
        self.batch_envs: deque[int] = deque(maxlen=5000)
        # receive: decoding and batching an observation; policy: the forward pass; reply:
        # encoding and publishing actions; rollout: recording steps, shipping rollouts.
        self.time_split = TimeSplit(("receive", "policy", "reply", "rollout"))
        # One group: batching state is touched only from this node's callbacks, one at a time.
        group = MutuallyExclusiveCallbackGroup()
        self.action_pub = self.create_publisher(
            ActionBatchMsg, qos.ACTION_TOPIC, qos.action_qos()
        )
        self.rollout_pub = self.create_publisher(
            RolloutMsg, qos.ROLLOUT_TOPIC, qos.rollout_qos()
        )
        self.create_subscription(ObservationBatchMsg, qos.OBS_TOPIC, self.on_obs, qos.obs_qos(),
                                 callback_group=group)
        self.create_subscription(PolicyWeightsMsg, qos.WEIGHTS_TOPIC, self.on_weights,
                                 qos.weights_qos(), callback_group=group)
        self.create_service(Act, "~/act", self.on_act, callback_group=group)
        self.act_requests = 0
        serve_status(self, self.status, group)
        # Armed only while a step waits for slower actors: an idle 500 Hz timer would cost
        # the actors' cores an executor wake-up every 2 ms.
        self.deadline_timer = self.create_timer(0.002, self.on_deadline,
                                                callback_group=group)
        self.deadline_timer.cancel()
        self.create_timer(1.0, self.on_liveness, callback_group=group)
        self.get_logger().info(f"inference: policy on {describe_device(self.device)}")

    def on_weights(self, msg: PolicyWeightsMsg) -> None:
        """Load a new policy version if it has the configured architecture."""
        try:
            state, meta, version = decode_weights(msg, self.weights_elements)
            check_architecture(meta, self.architecture)
            check_state(state, self.policy.state_dict())
        except CodecError as error:  # WeightsError included
            self.rejections.reject("rejected_weights",
                                   f"rejecting weights, serving the last ones: {error}")
            return
        self.policy.load_state_dict(state)  # copies the CPU weights onto the device
        self.acting = NumpyActorCritic(self.policy) if self.device.type == "cpu" else None
        if self.has_weights and version < self.policy_version:
            self.batcher.restart_trajectories()
            self.get_logger().warning(
                f"policy version went back from {self.policy_version} to {version} (learner "
                "resumed from a checkpoint, or another peer's weights): partial trajectories "
                "discarded"
            )
        self.has_weights = True
        self.policy_version = version
        early, self.early_steps = self.early_steps, {}
        for batch in early.values():
            self.accept(batch)

    def on_act(self, request: Act.Request, response: Act.Response) -> Act.Response:
        """`~/act`: actions for any client's observations; nothing is recorded for training."""
        try:
            obs = decode_act_request(request, self.batcher.obs_dim,
                                     self.params["max_envs_per_actor"])
        except CodecError as error:
            return self.refuse_act(response, str(error))
        if not self.has_weights:
            return self.refuse_act(response, "no policy weights yet (no learner has published)")
        with torch.no_grad():
            observations = torch.from_numpy(obs).to(self.device)
            actions = (self.policy.act_deterministic(observations) if request.deterministic
                       else self.policy.act(observations)[0])
        actions = actions.cpu().numpy()
        self.act_requests += 1
        response.success = True
        response.policy_version = self.policy_version
        response.num_envs, response.action_dim = actions.shape
        response.actions = float_field(actions)
        return response

    def refuse_act(self, response: Act.Response, reason: str) -> Act.Response:
        """Answer an `~/act` request with the reason it was refused (counted, logged once)."""
        self.rejections.reject("rejected_act", f"refusing an ~/act request: {reason}")
        response.success, response.message = False, reason
        return response

    def on_obs(self, msg: ObservationBatchMsg) -> None:
        """Queue one actor step; run the batch when every live actor has reported."""
        begin = start()
        try:
            batch = decode_obs_batch(msg)
        except CodecError as error:
            self.rejections.reject("malformed", f"dropping malformed observation: {error}")
            return
        finally:
            self.time_split.add("receive", begin)
        if not self.has_weights:
            # No weights yet: hold the newest step per actor and answer it once they come.
            verdict = self.batcher.check(batch)
            if verdict is not Verdict.ACCEPTED:
                self.batcher.counters[verdict.value] += 1
                self.reject_step(batch, verdict)
            elif batch.actor_id in self.early_steps or (
                    len(self.early_steps) < self.params["max_actors"]):
                self.early_steps[batch.actor_id] = batch
            else:
                self.batcher.counters[Verdict.UNKNOWN_ACTOR.value] += 1
                self.reject_step(batch, Verdict.UNKNOWN_ACTOR)
            return
        self.accept(batch)

    def reject_step(self, batch: ObsBatch, verdict: Verdict) -> None:
        """Log the first step of each kind the batcher refused (it counts them all)."""
        detail = ""
        if verdict is Verdict.WRONG_SIZE and batch.obs.shape[1] != self.batcher.obs_dim:
            detail = (f" (observations of {batch.obs.shape[1]} values, this run's env has "
                      f"{self.batcher.obs_dim}: do the actors run the head's env config?)")
        self.rejections.log_once(verdict.value, f"rejected step {batch.seq} of actor "
                                              f"{batch.actor_id}: {verdict.value}{detail}")

    def accept(self, batch: ObsBatch) -> None:
        """Submit a decoded step to the batcher; answer duplicates, run a ready batch."""
        begin = start()
        now = time.monotonic()
        self.batcher.max_wait = self.params["max_wait"]
        self.batcher.actor_timeout = self.params["actor_timeout"]
        self.batcher.max_actors = self.params["max_actors"]
        verdict = self.batcher.submit(batch, now)
        if verdict is Verdict.DUPLICATE:
            reply = self.batcher.cached_reply(batch.actor_id, batch.seq)
            if reply is not None:
                self.action_pub.publish(reply)
        elif verdict is not Verdict.ACCEPTED:
            self.reject_step(batch, verdict)
        self.time_split.add("receive", begin)
        if self.batcher.ready(now):
            self.run_batch()
        elif self.deadline_timer.is_canceled() and self.batcher.waiting():
            self.deadline_timer.reset()

    def on_deadline(self) -> None:
        """Run a partial batch once the oldest waiting step is `max_wait` old."""
        if self.batcher.ready(time.monotonic()):
            self.run_batch()
        if not self.batcher.waiting():
            self.deadline_timer.cancel()

    def on_liveness(self) -> None:
        """Drop actors that went silent (their partial trajectories are discarded)."""
        for actor_id in self.batcher.drop_stale(time.monotonic()):
            self.get_logger().warning(f"actor {actor_id} timed out; dropped its partial data")

    def run_batch(self) -> None:
        """One policy forward pass for all waiting actors, then reply and record."""
        begin = start()
        batches = self.batcher.take()
        obs = np.concatenate([b.obs for b in batches])
        final_obs = np.concatenate([b.final_obs for b in batches])
        if self.acting is not None:
            noise = self.rng.standard_normal((len(obs), self.batcher.action_dim), np.float32)
            actions, log_probs, values = self.acting.act(obs, noise)
            final_values = self.acting.value(final_obs) if len(final_obs) else None
        else:
            with torch.no_grad():
                on_device = torch.from_numpy(obs).to(self.device)
                actions, log_probs, values = (t.cpu().numpy() for t in self.policy.act(on_device))
                final_values = (self.policy.value(torch.from_numpy(final_obs).to(self.device))
                                .cpu().numpy() if len(final_obs) else None)
        clock = self.time_split.add("policy", begin)
        self.batch_envs.append(len(obs))
        row = final_row = 0
        for batch in batches:
            rows = slice(row, row + batch.num_envs)
            finals = slice(final_row, final_row + len(batch.final_obs))
            row, final_row = rows.stop, finals.stop
            reply = encode_action_batch(ActionBatch(
                batch.actor_id, batch.session, batch.seq, self.policy_version, actions[rows]
            ))
            self.action_pub.publish(reply)
            clock = self.time_split.add("reply", clock)
            rollout = self.batcher.complete(
                batch, actions[rows], log_probs[rows], values[rows],
                np.zeros(0, np.float32) if final_values is None else final_values[finals],
                self.policy_version, reply,
            )
            if rollout is not None:
                self.rollout_pub.publish(encode_rollout(rollout))
            clock = self.time_split.add("rollout", clock)

    def status(self) -> dict[str, object]:
        """Counters of accepted/rejected data, live actors and inference batch sizes."""
        sizes = np.array(self.batch_envs) if self.batch_envs else np.zeros(1)
        return {
            "malformed": 0,
            "rejected_weights": 0,
            "rejected_act": 0,
            "act_requests": self.act_requests,
            **dict.fromkeys(BATCHER_COUNTERS, 0),
            **self.batcher.counters,
            **self.rejections.counts,
            "policy_version": self.policy_version,
            "device": describe_device(self.device),
            "live_actors": len(self.batcher.actors),
            "batches": len(self.batch_envs),
            "batch_envs_mean": float(sizes.mean()),
            "batch_envs_p50": float(np.percentile(sizes, 50)),
            "batch_envs_max": int(sizes.max()),
            "time_split": self.time_split.snapshot(),
        }


def main(args: list[str] | None = None) -> None:
    """Run the inference node until shutdown."""
    run_node(InferenceNode, args)


if __name__ == "__main__":
    main(sys.argv)
