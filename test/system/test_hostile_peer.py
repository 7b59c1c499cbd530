"""Acceptance: a hostile peer on the training domain neither crashes nor poisons a ROS run.

While `crawler-rl train --backend ros` runs, a peer publishes messages that must all be
rejected on `rollouts`, `policy_weights`, `actor_obs` and `actor_actions`: size fields that
disagree with their arrays, overflowing shapes, versions out of order, architecture JSON that
is not JSON, wrong architectures, NaN, too many envs. Every `~/status` counts exactly what was
sent, training goes on after the attack (every update in order, none lost), stops cleanly on
Ctrl-C (exit 130, every node leaves with 0), and the trained policy still beats the initial
one on fixed seeded episodes.

The run is long enough never to end by itself (it ends on SIGINT once it has trained enough):
how long discovery and the attack take depends on the machine's load, so a run of a fixed
length could end in the middle of the attack.
"""

from __future__ import annotations

import json
import signal
from array import array
from pathlib import Path

import numpy as np
import pytest
import rclpy
from fault_rig import GraphMonitor, read_metrics, start_cli_training, toy_config
from policy_check import trained_and_initial_returns
from rclpy.context import Context
from std_srvs.srv import Trigger

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import (
    ActionBatchMsg,
    ObservationBatchMsg,
    PolicyWeightsMsg,
    RolloutMsg,
)
from crawler_rl.ros.training.codec import (
    ActionBatch,
    ObsBatch,
    encode_action_batch,
    encode_obs_batch,
)
from crawler_rl.ros.training.rollout import encode_rollout
from crawler_rl.ros.training.weights import encode_weights

ACTORS, ENVS, STEPS = 2, 4, 16
TRAINED_ITERATIONS = 50  # ~15 s: enough to at least halve the toy's tracking error
NEVER_REACHED = 100_000  # the run's length in iterations: it is stopped by SIGINT
OBS_DIM, ACTION_DIM = 3, 1  # rl_toy_env.VelocityTrackingToy


def rollout(envs: int = ENVS, steps: int = STEPS, reward: float = -0.1) -> Rollout:
    shape = (steps, envs)
    return Rollout(
        actor_id=9, policy_version=0, newest_version=0,
        obs=np.zeros((*shape, OBS_DIM), np.float32),
        actions=np.zeros((*shape, ACTION_DIM), np.float32),
        log_probs=np.zeros(shape, np.float32), values=np.zeros(shape, np.float32),
        rewards=np.full(shape, reward, np.float32), terminated=np.zeros(shape, bool),
        truncated=np.zeros(shape, bool), final_values=np.zeros(shape, np.float32),
        tracking_error=np.zeros((*shape, 2), np.float32),
        last_obs=np.zeros((envs, OBS_DIM), np.float32), last_values=np.zeros(envs, np.float32),
    )


def rollout_with(**fields: object) -> RolloutMsg:
    """A rollout message with some fields overwritten."""
    message = encode_rollout(rollout())
    for name, value in fields.items():
        setattr(message, name, value)
    return message


def hostile_rollouts() -> list[RolloutMsg]:
    """Each one a different reason for `rejected_rollouts`; none may reach the optimizer."""
    return [
        rollout_with(num_envs=2**32 - 1),
        rollout_with(num_steps=2**32 - 1, obs_dim=2**32 - 1),
        rollout_with(obs=array("f")),
        rollout_with(policy_version=5, newest_version=4),
        rollout_with(terminated=array("B", [7] * STEPS * ENVS)),
        encode_rollout(rollout(envs=ACTORS * ENVS + 1)),  # more envs than the whole graph
        encode_rollout(rollout(steps=STEPS + 1)),
        encode_rollout(rollout(reward=float("nan"))),
    ]


def hostile_weights(cfg: TrainConfig) -> list[PolicyWeightsMsg]:
    """Weights inference must refuse: JSON that is not, another architecture, NaN, huge shape."""
    meta = {"obs_dim": OBS_DIM, "action_dim": ACTION_DIM, "model": cfg.to_dict()["model"]}
    wide = TrainConfig.from_dict({"model": {"actor_hidden": [128]}})
    nan_state = ActorCritic(OBS_DIM, ACTION_DIM, cfg.model).state_dict()
    nan_state["log_std"].fill_(float("nan"))
    not_json = encode_weights(nan_state, meta, 1)
    not_json.model_json = '{"actor_hidden": NaN}'
    huge = encode_weights(ActorCritic(OBS_DIM, ACTION_DIM, cfg.model).state_dict(), meta, 1)
    huge.tensors[0].shape = [2**32 - 1, 2**32 - 1]
    return [
        not_json,
        encode_weights(ActorCritic(OBS_DIM, ACTION_DIM, wide.model).state_dict(),
                       {**meta, "model": wide.to_dict()["model"]}, 1),
        huge,
        encode_weights(nan_state, meta, 1),
    ]


def obs(actor_id: int, envs: int = ENVS, obs_dim: int = OBS_DIM,
        value: float = 0.1) -> ObservationBatchMsg:
    return encode_obs_batch(ObsBatch(
        actor_id, 1, 0, np.full((envs, obs_dim), value, np.float32),
        np.zeros(envs, np.float32), np.zeros(envs, bool), np.zeros(envs, bool),
        np.zeros((envs, 2), np.float32), np.zeros((0, obs_dim), np.float32)))


def hostile_observations() -> tuple[list[ObservationBatchMsg], dict[str, int]]:
    """Steps inference must refuse, and the counter each one raises."""
    huge = obs(77)
    huge.num_envs = huge.obs_dim = 2**32 - 1
    return [
        ObservationBatchMsg(),
        huge,
        obs(77, envs=ENVS + 1),  # more envs than any actor of this graph steps
        obs(78, value=float("nan")),
        obs(79, obs_dim=OBS_DIM + 5),
    ], {"malformed": 2, "too_many_envs": 1, "non_finite": 1, "wrong_size": 1}


def hostile_actions() -> list[ActionBatchMsg]:
    """Replies every actor must drop as malformed."""
    huge = encode_action_batch(ActionBatch(0, 1, 0, 0, np.zeros((ENVS, ACTION_DIM))))
    huge.num_envs = huge.action_dim = 2**31
    short = encode_action_batch(ActionBatch(0, 1, 0, 0, np.zeros((ENVS, ACTION_DIM))))
    short.actions = short.actions[:-1]
    return [ActionBatchMsg(), huge, short]


@pytest.mark.slow
def test_training_survives_a_hostile_peer_and_counts_every_message(
    ros_context: Context, tmp_path: Path,
) -> None:
    cfg = toy_config(ACTORS, ENVS, STEPS, NEVER_REACHED, checkpoint_every=5)
    launcher, run_dir = start_cli_training(cfg, ACTORS, ENVS, tmp_path)
    monitor = GraphMonitor(ros_context, None)
    peer = rclpy.create_node("hostile_peer", context=ros_context)
    types = {qos.ROLLOUT_TOPIC: RolloutMsg, qos.WEIGHTS_TOPIC: PolicyWeightsMsg,
             qos.OBS_TOPIC: ObservationBatchMsg, qos.ACTION_TOPIC: ActionBatchMsg}
    publishers = {topic: peer.create_publisher(message_type, topic, qos.TOPIC_QOS[topic]())
                  for topic, message_type in types.items()}
    readers = {qos.ROLLOUT_TOPIC: 1, qos.WEIGHTS_TOPIC: 1, qos.OBS_TOPIC: 1,
               qos.ACTION_TOPIC: ACTORS}
    monitor.executor.add_node(peer)
    observations, obs_counts = hostile_observations()
    services = ["/inference/status", "/learner/status",
                *(f"/actor_{i}/status" for i in range(ACTORS))]
    clients = [monitor.node.create_client(Trigger, service) for service in services]
    monitor.clients.update(zip(services, clients, strict=True))
    try:
        # everything discovered first: the hostile phase then takes a few seconds
        assert monitor.wait_for(lambda: all(
            publishers[topic].get_subscription_count() >= count
            for topic, count in readers.items()) and all(
            client.service_is_ready() for client in clients), 60), launcher.poll()

        def send(topic: str, payloads: list) -> None:
            for payload in payloads:
                publishers[topic].publish(payload)

        def counted(service: str, expected: dict[str, int]) -> dict:
            status: dict = {}

            def matches() -> bool:
                nonlocal status
                status = monitor.status(service) or {}
                return all(status.get(k, 0) == v for k, v in expected.items())

            assert monitor.wait_for(matches, 30), (service, expected, status)
            return status

        send(qos.ROLLOUT_TOPIC, hostile_rollouts())
        send(qos.OBS_TOPIC, observations)
        send(qos.ACTION_TOPIC, hostile_actions())
        # policy_weights keeps the last message only, and the learner publishes on it after
        # every update: a hostile message can be replaced before inference takes it. So one at
        # a time, sent again until counted; each must be counted, and only what was sent.
        def rejected_weights() -> int:
            return (monitor.status("/inference/status") or {}).get("rejected_weights", 0)

        weights, sends = hostile_weights(cfg), 0
        for payload in weights:
            before = rejected_weights()
            for _ in range(6):
                send(qos.WEIGHTS_TOPIC, [payload])
                sends += 1
                if monitor.wait_for(lambda before=before: rejected_weights() > before, 5):
                    break
            else:
                raise AssertionError(f"hostile weights never counted: {payload.model_json!r:.80}")
        inference = counted("/inference/status", obs_counts)
        assert len(weights) <= inference["rejected_weights"] <= sends, inference
        # Weights of the right architecture cannot be told from the learner's without SROS2:
        # inference serves them, their rollouts are too old for the learner, which sends its
        # own weights again, so training goes on instead of stalling.
        send(qos.WEIGHTS_TOPIC, [encode_weights(
            ActorCritic(OBS_DIM, ACTION_DIM, cfg.model).state_dict(),
            {"obs_dim": OBS_DIM, "action_dim": ACTION_DIM, "model": cfg.to_dict()["model"]},
            0)])
        assert monitor.wait_for(lambda: (monitor.status("/learner/status") or {}).get(
            "weights_republished", 0) >= 1, 60)
        learner = counted("/learner/status", {"rejected_rollouts": len(hostile_rollouts())})
        actors = [counted(f"/actor_{i}/status", {"malformed_actions": 3})
                  for i in range(ACTORS)]
        assert inference["live_actors"] <= ACTORS and inference.get("unknown_actor", 0) == 0
        assert learner["future_rollouts"] == learner["rejected_updates"] == 0, learner
        assert all(actor["bad_actions"] == 0 for actor in actors), actors
        # training goes on after the attack: some more updates, then Ctrl-C
        trained_enough = max(TRAINED_ITERATIONS, learner["iteration"] + 5)
        assert monitor.wait_for(lambda: any(
            m["iteration"] >= trained_enough for m in read_metrics(run_dir)), 300)
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=120)
    finally:
        monitor.close()
        peer.destroy_node()
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            launcher.wait(15)
    assert launcher.returncode == 130, output.decode()[-3000:]
    metrics = [m for m in read_metrics(run_dir) if m["iteration"] > 0]
    assert len(metrics) >= TRAINED_ITERATIONS
    assert [m["policy_version"] for m in metrics] == list(range(1, len(metrics) + 1))
    assert all(np.isfinite(m["mean_reward"]) for m in metrics)
    trained, initial = trained_and_initial_returns(run_dir)
    assert trained > 0.5 * initial, (trained, initial)  # returns are <= 0: error at least halved
    codes = json.loads((run_dir / "logs" / "exit_codes.json").read_text())
    assert set(codes.values()) == {0}, codes
