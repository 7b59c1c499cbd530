"""Learner node: the ROS front end of `rl/learner.Learner`, fed with rollouts, publishing weights.

The Learner (the local trainer's too) owns the policy, the PPO update, checkpoints, the export
and the TensorBoard scalars; this node checks and batches the shipped rollouts, versions and
publishes the weights, and reports progress (`metrics.jsonl`, `~/status`).

The run's TrainConfig is read from `config_file` (the launcher writes the resolved config to
<run_dir>/config.yaml), so the PPO hyper-parameters have one source of truth.

Nothing non-finite reaches the optimizer: rollouts are checked on arrival, and an update that
still produces a non-finite loss or weights is rolled back (counted as `rejected_updates`).
Rollouts tagged with a version newer than the learner's come from a policy lost in a crash
(the learner resumed from an older checkpoint) and are dropped as `future_rollouts`.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from std_srvs.srv import Trigger

from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.device import describe_device, resolve_setting
from crawler_rl.rl.envs import probe_env
from crawler_rl.rl.learner import Learner, seed_everything
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.ppo import PPO
from crawler_rl.rl.rollout import Rollout, concat_envs, fill_storage
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import PolicyWeightsMsg, RolloutMsg, TrainingMetricsMsg
from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.rejections import Rejections
from crawler_rl.ros.runtime import run_node_until_signal, serve_status
from crawler_rl.ros.training.codec import CodecError
from crawler_rl.ros.training.rollout import decode_rollout
from crawler_rl.ros.training.time_split import TimeSplit, start
from crawler_rl.ros.training.training_metrics import encode_metrics
from crawler_rl.ros.training.weights import encode_weights

PARAMS = (
    ParamSpec("config_file", "", "TrainConfig YAML ('': packaged config/train.yaml)",
              read_only=True),
    ParamSpec("run_dir", "runs/latest", "checkpoints, TensorBoard logs, ONNX", read_only=True),
    ParamSpec("resume", False, "continue from the newest good checkpoint", read_only=True),
    ParamSpec("envs_per_update", 16, "env columns gathered into one PPO update", 1, 1_000_000),
    ParamSpec("max_policy_lag", 4, "drop rollouts more than this many versions old", 0, 1000),
)
FINAL_METRICS_WAIT_S = 2.0
"""Longest wait, when done, for subscribers to acknowledge the final metrics message."""


WEIGHTS_REPUBLISH_S = 1.0
"""Least interval between republished weights when rollouts of a foreign version arrive."""


class LearnerNode(Node):
    """Owns the policy being trained and its optimizer."""

    def __init__(self, name: str = "learner", **node_options: Any) -> None:
        super().__init__(name, **node_options)
        self.params = declare_validated(self, PARAMS)
        config_file = self.params["config_file"]
        self.cfg = load_train_config(Path(config_file) if config_file else None)
        self.device = resolve_setting(self.cfg.run.device, "config key 'run.device'")
        self.run_dir = Path(self.params["run_dir"])
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.cfg.run.torch_threads)
        seed_everything(self.cfg.run.seed)
        env_info, self.obs_dim, self.action_dim = probe_env(self.cfg.env)
        self.learner = Learner(self.cfg, self.obs_dim, self.action_dim, env_info, self.run_dir,
                               self.device)
        if self.params["resume"]:
            self.restore()
        self.version = self.iteration
        self.pending: list[Rollout] = []
        self.counters = {"rollouts": 0, "rejected_rollouts": 0, "stale_rollouts": 0,
                         "future_rollouts": 0, "rejected_updates": 0, "weights_republished": 0}
        self.weights_republished_at = -math.inf
        self.rejections = Rejections(self.get_logger())  # logs each kind once
        self.metrics: dict[str, float] = {}
        # Which actors fed the last update (multi-host runs check every worker contributes).
        self.update_actor_ids: list[int] = []
        self.rollouts_by_actor: dict[int, int] = {}
        # A run resumed from its final checkpoint is complete: report done, train no more.
        self.done = self.learner.done
        self.last_update_time = time.monotonic()
        # receive: decoding and checking rollouts; update: PPO, weights out, checkpoints.
        self.time_split = TimeSplit(("receive", "update"))
        # Tags every metrics line of this process: a resumed run's segments stay apart.
        self.session = uuid.uuid4().hex[:12]
        group = MutuallyExclusiveCallbackGroup()
        self.weights_pub = self.create_publisher(
            PolicyWeightsMsg, qos.WEIGHTS_TOPIC, qos.weights_qos()
        )
        self.metrics_pub = self.create_publisher(TrainingMetricsMsg, qos.METRICS_TOPIC,
                                                 qos.metrics_qos())
        self.create_subscription(RolloutMsg, qos.ROLLOUT_TOPIC, self.on_rollout,
                                 qos.rollout_qos(), callback_group=group)
        self.create_service(Trigger, "~/save", self.on_save, callback_group=group)
        serve_status(self, self.status, group)
        self.publish_weights()
        self.publish_metrics()
        self.get_logger().info(
            f"learner: {self.cfg.env.env_id} obs {self.obs_dim} act {self.action_dim}, "
            f"{self.params['envs_per_update']} envs x {self.cfg.ppo.num_steps} steps per update "
            f"on {describe_device(self.device)}"
        )
        if self.done:
            self.finish()

    @property
    def policy(self) -> ActorCritic:
        """The policy being trained (the Learner's)."""
        return self.learner.policy

    @property
    def ppo(self) -> PPO:
        """The PPO update (optimizer, schedule) of the Learner."""
        return self.learner.ppo

    @property
    def iteration(self) -> int:
        """PPO updates completed."""
        return self.learner.iteration

    @property
    def global_step(self) -> int:
        """Environment steps trained on."""
        return self.learner.global_step

    def restore(self) -> None:
        """Resume from the newest good checkpoint of run_dir: all training state, RNGs included."""
        found = self.learner.restore_latest(warn=self.get_logger().warning)
        if found is None:
            self.get_logger().warning(f"no usable checkpoint in {self.run_dir}; starting fresh")
            return
        self.get_logger().info(f"resumed from {found}")

    def publish_weights(self) -> None:
        """Publish the current policy (latched) tagged with its version."""
        meta = {"obs_dim": self.obs_dim, "action_dim": self.action_dim,
                "model": self.cfg.to_dict()["model"], "iteration": self.iteration}
        self.weights_pub.publish(encode_weights(self.policy.state_dict(), meta, self.version))

    def publish_metrics(self) -> None:
        """Publish latched progress (the launcher's progress bar reads it) and log it as JSON."""
        finite = {k: v if math.isfinite(v) else None for k, v in self.metrics.items()}
        message = {**finite, "global_step": self.global_step,
                   "total_steps": self.cfg.run.total_steps, "iteration": self.iteration,
                   "policy_version": self.version, "done": self.done,
                   "actor_ids": self.update_actor_ids, "session": self.session,
                   "wall_time": time.time()}
        text = json.dumps(message)
        self.metrics_pub.publish(encode_metrics(message))
        with (self.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as stream:
            stream.write(text + "\n")

    def on_rollout(self, msg: RolloutMsg) -> None:
        """Validate a rollout, queue it, and update once enough env columns arrived."""
        if self.done:
            return
        max_envs = self.params["envs_per_update"]  # one actor's envs never exceed all of them
        begin = start()
        try:
            rollout = decode_rollout(msg, Rollout.message_elements(
                self.cfg.ppo.num_steps, max_envs, self.obs_dim, self.action_dim))
            rollout.check(self.obs_dim, self.action_dim)
            if rollout.num_steps != self.cfg.ppo.num_steps or rollout.num_envs > max_envs:
                raise ValueError(f"rollout of {rollout.num_steps} steps x {rollout.num_envs} "
                                 f"envs, expected ppo.num_steps={self.cfg.ppo.num_steps} x at "
                                 f"most envs_per_update={max_envs}")
        except (CodecError, ValueError) as error:
            self.counters["rejected_rollouts"] += 1
            self.rejections.log_once("rejected_rollouts", f"rejecting rollout: {error}")
            return
        finally:
            self.time_split.add("receive", begin)
        if rollout.newest_version > self.version:
            self.counters["future_rollouts"] += 1
            self.rejections.log_once(
                "future_rollouts", f"dropping a rollout of policy version "
                f"{rollout.newest_version} > {self.version}: it comes from before the resume "
                "(or from weights another peer published)")
            self.republish_weights()
            return
        if self.version - rollout.policy_version > self.params["max_policy_lag"]:
            self.counters["stale_rollouts"] += 1
            self.republish_weights()
            return
        self.counters["rollouts"] += 1
        self.rollouts_by_actor[rollout.actor_id] = (
            self.rollouts_by_actor.get(rollout.actor_id, 0) + 1)
        self.pending.append(rollout)
        if sum(r.num_envs for r in self.pending) >= self.params["envs_per_update"]:
            self.update()

    def republish_weights(self) -> None:
        """Publish the current weights again, at most once a second.

        Rollouts of a version this learner would not train on mean inference serves other
        weights (a stale resume, or a peer's message replaced ours on the latched topic):
        without a fresh message from us it would keep serving them and training would stall.
        """
        now = time.monotonic()
        if now - self.weights_republished_at >= WEIGHTS_REPUBLISH_S:
            self.weights_republished_at = now
            self.counters["weights_republished"] += 1
            self.publish_weights()

    def update(self) -> None:
        """One PPO iteration on the queued rollouts, rolled back if it goes non-finite."""
        begin = start()
        rollouts, self.pending = self.pending, []
        try:
            stats = self.train_on(rollouts)
        except (ValueError, FloatingPointError) as error:
            self.counters["rejected_updates"] += 1
            self.rejections.log_once("rejected_updates",
                                     f"update rolled back, its rollouts dropped: {error}")
            self.time_split.add("update", begin)
            return
        self.finish_update(rollouts, stats)
        self.time_split.add("update", begin)

    def train_on(self, rollouts: list[Rollout]) -> dict[str, float]:
        """Run the Learner's update on the rollouts (valued by the current critic)."""
        self.update_actor_ids = sorted({r.actor_id for r in rollouts})
        rollout = concat_envs(rollouts)
        steps, envs = rollout.num_steps, rollout.num_envs
        # The acting version's critic is a version or two behind: value the states with the
        # current one, as the synchronous trainer does (truncation bootstraps keep theirs).
        with torch.no_grad():
            values = self.policy.value(torch.from_numpy(rollout.obs).to(self.device).reshape(
                steps * envs, self.obs_dim)).reshape(steps, envs)
            last_values = self.policy.value(torch.from_numpy(rollout.last_obs).to(self.device))
        storage = RolloutStorage(steps, envs, self.obs_dim, self.action_dim, self.device)
        fill_storage(storage, rollout, self.cfg.ppo.gamma, values)
        return self.learner.update(storage, last_values)

    def finish_update(self, rollouts: list[Rollout], stats: dict[str, float]) -> None:
        """Count the iteration, log metrics, publish the new version, checkpoint."""
        steps, envs = rollouts[0].num_steps, sum(r.num_envs for r in rollouts)
        self.version += 1
        now = time.monotonic()
        tracking = np.concatenate([r.tracking_error for r in rollouts], axis=1)
        self.metrics = {
            **stats,
            "mean_reward": float(np.concatenate([r.rewards for r in rollouts], axis=1).mean()),
            "tracking_error_v": float(np.sqrt(np.mean(np.square(tracking[..., 0])))),
            "tracking_error_omega": float(np.sqrt(np.mean(np.square(tracking[..., 1])))),
            "policy_lag": float(np.mean([self.version - 1 - r.policy_version for r in rollouts])),
            "sps": steps * envs / max(now - self.last_update_time, 1e-9),
        }
        self.last_update_time = now
        self.learner.log_metrics(self.metrics)
        self.publish_weights()
        self.done = self.learner.done
        if self.learner.checkpoint_due():
            checkpoint = self.save()
            if self.done:
                self.learner.export(checkpoint)
        self.publish_metrics()
        if self.done:
            self.finish()

    def finish(self) -> None:
        """Training is complete (final checkpoint and export written): log the totals and end.

        Shutting the node's context down ends its spin as an external shutdown does, so the
        process exits 0; the head then exits 0 too and ends the run (graph.py).
        """
        self.get_logger().info(f"training done: {json.dumps(self.status())}")
        # Monitors (the crawler-rl progress bar) get the final `done` metrics before we go.
        self.metrics_pub.wait_for_all_acked(Duration(seconds=FINAL_METRICS_WAIT_S))
        self.context.try_shutdown()

    def save(self) -> Path:
        """Write an atomic checkpoint of the last completed update (the Learner's)."""
        return self.learner.save()

    def save_final(self) -> None:
        """On a stop signal: checkpoint the last completed update unless it is on disk."""
        if self.learner.iteration != self.learner.saved_iteration:
            self.get_logger().info(f"stopping: final checkpoint {self.save()}")

    def on_save(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """`~/save`: write a checkpoint now."""
        try:
            response.message = str(self.save())
            response.success = True
        except OSError as error:
            response.message = f"checkpoint failed: {error}"
            response.success = False
        return response

    def status(self) -> dict[str, object]:
        """Counters, the latest metrics and the time split."""
        finite = {k: v if math.isfinite(v) else None for k, v in self.metrics.items()}
        return {**self.counters, **finite, "global_step": self.global_step,
                "iteration": self.iteration, "policy_version": self.version, "done": self.done,
                "device": describe_device(self.device),
                "pending_envs": sum(r.num_envs for r in self.pending),
                "rollouts_by_actor": {str(k): v for k, v in self.rollouts_by_actor.items()},
                "time_split": self.time_split.snapshot()}

    def destroy_node(self) -> None:
        """Flush TensorBoard before leaving."""
        self.learner.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the learner until training is done (exit 0) or stopped (final checkpoint, 130/143)."""
    run_node_until_signal(LearnerNode, LearnerNode.save_final, args)


if __name__ == "__main__":
    main(sys.argv)
