"""Actor node: steps K simulators, one observation batch out, one action batch back, per step.

Never imports torch: the policy lives in the inference node. Resets and randomization stay local
(SyncVecEnv auto-resets). If no reply comes within `action_timeout` the actor resends its last
observation with exponential backoff (up to `max_backoff`), so a restarted inference node picks
it up; it never gives up on its own. When a new inference node is discovered (more matched
peers on the observation or action topic) the pending observation is resent at once and the
backoff starts over, so a restart costs seconds of discovery, not a full backoff interval.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from typing import Any

import numpy as np
from rclpy.node import Node

from crawler_rl.rl.config import CrawlerOverride, EnvConfig, coerce_crawler_overrides
from crawler_rl.rl.envs import TRACKING_KEYS, ActionScaler, check_box_spaces, make_env_factory
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import ActionBatchMsg, ObservationBatchMsg
from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.rejections import Rejections
from crawler_rl.ros.runtime import run_node, serve_status
from crawler_rl.ros.training.codec import (
    CodecError,
    ObsBatch,
    decode_action_batch,
    encode_obs_batch,
)
from crawler_rl.ros.training.time_split import TimeSplit, start
from crawler_rl.sim.vec_env import SyncVecEnv

PARAMS = (
    ParamSpec("actor_id", 0, "unique id of this actor in the graph", 0, 2**31 - 1,
              read_only=True),
    ParamSpec("num_envs", 8, "simulators stepped by this actor (K)", 1, 4096, read_only=True),
    ParamSpec("env_id", "CrawlerVelocity-v0", "Gymnasium id or module:Class", read_only=True),
    ParamSpec("crawler_config", "", "crawler sim config YAML ('': packaged default)",
              read_only=True),
    ParamSpec("crawler_overrides", "{}", "the run's env.crawler_overrides as a JSON object of "
              "dotted keys (e.g. reward terms, [low, high] ranges)", read_only=True),
    ParamSpec("privileged_critic", False, "append the critic-only simulator state to each "
              "observation (env.privileged_critic)", read_only=True),
    ParamSpec("seed", 0, "base seed; env i of actor a gets seed + 1000 * a + i", 0, 2**31 - 1,
              read_only=True),
    ParamSpec("max_episode_steps", 0, "time limit override in steps (0: the env's own)", 0,
              10**7, read_only=True),
    ParamSpec("action_timeout", 1.0, "seconds to wait for actions before resending", 0.01, 60.0),
    ParamSpec("max_backoff", 8.0, "longest resend interval in seconds", 0.01, 600.0),
)


def parse_overrides(text: str) -> dict[str, CrawlerOverride]:
    """Parse the `crawler_overrides` parameter (JSON) with the training config's rule."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"parameter 'crawler_overrides' must be a JSON object, got {text!r:.200}"
                         f" ({error})") from error
    try:
        return coerce_crawler_overrides(value, "crawler_overrides")
    except ValueError as error:
        raise ValueError(f"parameter 'crawler_overrides' (the training config's "
                         f"env.crawler_overrides as JSON): {error}") from error


def new_session() -> int:
    """Random non-zero u32 telling this actor process (or restart) apart from earlier ones."""
    return int.from_bytes(os.urandom(4), "little") or 1


class ActorNode(Node):
    """Owns a SyncVecEnv of K envs and exchanges one message pair per step."""

    def __init__(self, name: str = "actor", **node_options: Any) -> None:
        super().__init__(name, **node_options)
        self.params = declare_validated(self, PARAMS)
        self.actor_id = int(self.params["actor_id"])
        env_cfg = EnvConfig(
            env_id=self.params["env_id"],
            crawler_config=self.params["crawler_config"] or None,
            crawler_overrides=parse_overrides(self.params["crawler_overrides"]),
            max_episode_steps=self.params["max_episode_steps"] or None,
            privileged_critic=self.params["privileged_critic"],
        )
        env_cfg.validate()
        factory = make_env_factory(env_cfg)
        self.envs = SyncVecEnv([factory] * self.params["num_envs"])
        check_box_spaces(self.envs.envs[0], env_cfg.env_id)
        space = self.envs.single_action_space
        self.scale_actions = ActionScaler(space.low, space.high)
        self.obs_pub = self.create_publisher(ObservationBatchMsg, qos.OBS_TOPIC, qos.obs_qos())
        self.action_sub = self.create_subscription(
            ActionBatchMsg, qos.ACTION_TOPIC, self.on_actions, qos.action_qos()
        )
        self.peers = (0, 0)
        serve_status(self, self.status)
        self.latencies: deque[float] = deque(maxlen=2000)
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.counters = {"steps": 0, "resends": 0, "restarts": 0, "episodes": 0}
        self.rejections = Rejections(self.get_logger())
        self.policy_version = 0
        self.outgoing: ObservationBatchMsg | None = None
        # sim: envs.step; send: encode + publish; wait: from the publish to the callback of
        # the reply that is stepped on (its delivery included). `~/status` reports them.
        self.time_split = TimeSplit(("sim", "send"), waits=("wait",))
        self.published_at = time.perf_counter()
        self.start_session(self.params["seed"] + 1000 * self.actor_id)
        self.create_timer(0.02, self.on_watchdog)
        self.get_logger().info(
            f"actor {self.actor_id}: {self.envs.num_envs} x {self.params['env_id']}"
        )

    def start_session(self, seed: int | None) -> None:
        """Reset every env and start a new session at seq 0."""
        self.session = new_session()
        self.seq = 0
        self.running_returns = np.zeros(self.envs.num_envs)
        obs = self.envs.reset(seed=seed)
        zeros = np.zeros(self.envs.num_envs, np.float32)
        self.send(ObsBatch(self.actor_id, self.session, 0, obs, zeros, zeros.astype(bool),
                           zeros.astype(bool), np.zeros((self.envs.num_envs, 2), np.float32),
                           np.zeros((0, self.envs.obs_dim), np.float32)))

    def send(self, batch: ObsBatch) -> None:
        """Publish a step and arm the resend watchdog."""
        begin = start()
        self.outgoing = encode_obs_batch(batch)
        self.sent_at = self.first_sent_at = time.monotonic()
        self.timeout = self.params["action_timeout"]
        self.obs_pub.publish(self.outgoing)
        self.published_at = self.time_split.add("send", begin)[0]

    def on_watchdog(self) -> None:
        """Resend the pending observation with exponential backoff if no reply came."""
        now = time.monotonic()
        peers = (self.obs_pub.get_subscription_count(), self.action_sub.get_publisher_count())
        appeared = peers[0] > self.peers[0] or peers[1] > self.peers[1]
        self.peers = peers
        if appeared and self.outgoing is not None:
            self.counters["resends"] += 1
            self.sent_at = now
            self.timeout = self.params["action_timeout"]
            self.obs_pub.publish(self.outgoing)
            return
        if now - self.sent_at < self.timeout:
            return
        self.counters["resends"] += 1
        self.sent_at = now
        self.timeout = min(2.0 * self.timeout, self.params["max_backoff"])
        self.obs_pub.publish(self.outgoing)

    def on_actions(self, msg: ActionBatchMsg) -> None:
        """Step the envs with our actions and publish the next observation batch."""
        arrived = time.perf_counter()
        try:
            reply = decode_action_batch(msg)
        except CodecError as error:
            self.rejections.reject("malformed_actions",
                                   f"dropping malformed action message: {error}")
            return
        if (reply.actor_id, reply.session, reply.seq) != (self.actor_id, self.session, self.seq):
            return  # another actor's reply, or a late duplicate
        expected = (self.envs.num_envs, self.envs.action_dim)
        if reply.actions.shape != expected or not np.all(np.isfinite(reply.actions)):
            self.rejections.reject(
                "bad_actions", f"rejecting actions of shape {reply.actions.shape} (expected "
                f"{expected}) or with non-finite values; waiting for a resend")
            return
        self.latencies.append(time.monotonic() - self.first_sent_at)
        self.time_split.add_wait("wait", arrived - self.published_at)
        self.policy_version = reply.policy_version
        actions = self.scale_actions(reply.actions)
        stepping = start()
        obs, rewards, terminated, truncated, infos = self.envs.step(actions)
        self.time_split.add("sim", stepping)
        if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(rewards))):
            self.counters["restarts"] += 1
            self.get_logger().error("simulator produced non-finite data; resetting all envs")
            self.start_session(None)
            return
        self.counters["steps"] += self.envs.num_envs
        self.running_returns += rewards
        for index in np.flatnonzero(terminated | truncated):
            self.episode_returns.append(float(self.running_returns[index]))
            self.running_returns[index] = 0.0
            self.counters["episodes"] += 1
        tracking = np.stack(
            [infos.get(key, np.zeros(self.envs.num_envs)) for key in TRACKING_KEYS], axis=1
        )
        self.seq += 1
        self.send(ObsBatch(self.actor_id, self.session, self.seq, obs, rewards, terminated,
                           truncated, np.nan_to_num(tracking).astype(np.float32),
                           infos["final_obs"][truncated]))

    def status(self) -> dict[str, float | None]:
        """Counters, action latency percentiles (seconds), mean episode return, time split."""
        latencies = np.array(self.latencies) if self.latencies else np.zeros(1)
        return {
            **self.counters,
            "malformed_actions": 0,
            "bad_actions": 0,
            **self.rejections.counts,
            "actor_id": self.actor_id,
            "num_envs": self.envs.num_envs,
            "policy_version": self.policy_version,
            "latency_p50": float(np.percentile(latencies, 50)),
            "latency_p99": float(np.percentile(latencies, 99)),
            "mean_episode_return": float(np.mean(self.episode_returns))
            if self.episode_returns else None,
            "time_split": self.time_split.snapshot(),
        }

    def destroy_node(self) -> None:
        """Close the simulators before leaving the graph."""
        self.envs.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run one actor until shutdown."""
    run_node(ActorNode, args)


if __name__ == "__main__":
    main(sys.argv)
