from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from ros_helpers import pendulum_inference_params, spin_until
from std_srvs.srv import Trigger

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.device import describe_device, resolve_device
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import (
    Act,
    ActionBatchMsg,
    ObservationBatchMsg,
    PolicyWeightsMsg,
    RolloutMsg,
)
from crawler_rl.ros.training.codec import (
    ObsBatch,
    decode_action_batch,
    encode_obs_batch,
    float_field,
)
from crawler_rl.ros.training.inference_node import InferenceNode
from crawler_rl.ros.training.learner_node import LearnerNode
from crawler_rl.ros.training.rollout import decode_rollout, encode_rollout
from crawler_rl.ros.training.weights import decode_weights, encode_weights

OBS_DIM, ACTION_DIM, K = 3, 1, 2


@pytest.fixture
def rclpy_default(ros_domain: int) -> Iterator[None]:
    rclpy.init(domain_id=ros_domain, signal_handler_options=SignalHandlerOptions.NO)
    yield
    rclpy.try_shutdown()


def obs_step(seq: int, value: float = 0.1, session: int = 9) -> ObservationBatchMsg:
    return encode_obs_batch(ObsBatch(
        0, session, seq, np.full((K, OBS_DIM), value, np.float32), np.ones(K, np.float32),
        np.zeros(K, bool), np.zeros(K, bool), np.zeros((K, 2), np.float32),
        np.zeros((0, OBS_DIM), np.float32)))


def test_inference_replies_ships_rollouts_and_counts_bad_data(rclpy_default: None,
                                                             tmp_path: Path) -> None:
    node = InferenceNode(parameter_overrides=pendulum_inference_params(tmp_path, num_steps=2))
    from crawler_rl.ros.training.batching import BATCHER_COUNTERS

    fresh = node.status()  # every counter is there from the start, at 0
    assert {key: fresh[key] for key in BATCHER_COUNTERS} == dict.fromkeys(BATCHER_COUNTERS, 0)
    peer = rclpy.create_node("fake_peer")
    replies, rollouts = [], []
    peer.create_subscription(ActionBatchMsg, qos.ACTION_TOPIC,
                             lambda m: replies.append(decode_action_batch(m)),
                             qos.action_qos())
    peer.create_subscription(RolloutMsg, qos.ROLLOUT_TOPIC,
                             lambda m: rollouts.append(decode_rollout(m)),
                             qos.rollout_qos())
    obs_pub = peer.create_publisher(ObservationBatchMsg, qos.OBS_TOPIC, qos.obs_qos())
    weights_pub = peer.create_publisher(PolicyWeightsMsg, qos.WEIGHTS_TOPIC, qos.weights_qos())
    model = TrainConfig().model
    policy = ActorCritic(OBS_DIM, ACTION_DIM, model)
    meta = {"obs_dim": OBS_DIM, "action_dim": ACTION_DIM,
            "model": TrainConfig().to_dict()["model"]}
    weights_pub.publish(encode_weights(policy.state_dict(), meta, 3))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: node.policy_version == 3)
        for seq in range(3):
            obs_pub.publish(obs_step(seq))
            assert spin_until(executor, lambda seq=seq: any(r.seq == seq for r in replies))
        assert [r.policy_version for r in replies] == [3, 3, 3]
        assert all(r.actions.shape == (K, ACTION_DIM) for r in replies)
        assert spin_until(executor, lambda: len(rollouts) == 1)
        rollout = rollouts[0]
        rollout.check(OBS_DIM, ACTION_DIM)
        assert rollout.num_steps == 2 and rollout.policy_version == 3
        # duplicate: the same reply again; bad data: counted, never answered
        obs_pub.publish(obs_step(2))
        obs_pub.publish(obs_step(3, value=np.nan))
        obs_pub.publish(ObservationBatchMsg(num_envs=K, obs_dim=OBS_DIM))  # no arrays
        assert spin_until(executor, lambda: node.status()["malformed"] == 1
                          and node.status()["non_finite"] == 1)
        assert spin_until(executor, lambda: sum(r.seq == 2 for r in replies) == 2)
        client = peer.create_client(Trigger, "/inference/status")
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done)
        status = json.loads(future.result().message)
        assert status["non_finite"] == 1 and status["malformed"] == 1
        assert status["duplicate"] == 1 and status["rollouts"] == 1 and status["live_actors"] == 1
        assert status["device"] == describe_device(resolve_device("auto"))
        assert not any(r.seq == 3 for r in replies)
        split = status["time_split"]
        # the CPU clock is read a microsecond after the wall clock: equal up to that slack
        assert all(split[part] + 1e-4 >= split[f"cpu_{part}"] > 0
                   for part in ("receive", "policy", "reply", "rollout"))
        assert sum(split[part] for part in ("receive", "policy", "reply", "rollout")) < split[
            "wall"]
        act = peer.create_client(Act, "/inference/act")
        assert act.wait_for_service(timeout_sec=5.0)
        obs = np.random.default_rng(0).normal(size=(4, OBS_DIM)).astype(np.float32)
        for deterministic in (True, False):
            future = act.call_async(Act.Request(num_envs=4, obs_dim=OBS_DIM, obs=float_field(obs),
                                                deterministic=deterministic))
            assert spin_until(executor, future.done)
            answer = future.result()
            assert answer.success and answer.policy_version == 3
            assert (answer.num_envs, answer.action_dim) == (4, ACTION_DIM)
            actions = np.frombuffer(answer.actions, np.float32).reshape(4, ACTION_DIM)
            mean = policy.act_deterministic(torch.from_numpy(obs)).numpy()
            assert np.allclose(actions, mean, atol=1e-6) == deterministic
        future = act.call_async(Act.Request(num_envs=1, obs_dim=OBS_DIM + 1,
                                            obs=float_field(np.zeros(OBS_DIM + 1))))
        assert spin_until(executor, future.done)
        assert not future.result().success and "obs_dim=3" in future.result().message
        assert node.status()["rejected_act"] == 1 and node.status()["act_requests"] == 2
        assert node.status()["accepted_steps"] == status["accepted_steps"]  # nothing recorded
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_inference_device_parameter_is_checked_at_start(rclpy_default: None,
                                                        tmp_path: Path) -> None:
    if torch.cuda.is_available():
        node = InferenceNode(parameter_overrides=pendulum_inference_params(tmp_path,
                                                                           device="cuda"))
        try:
            assert node.device.type == "cuda" and node.status()["device"].startswith("cuda:")
        finally:
            node.destroy_node()
    else:
        with pytest.raises(ValueError, match=r"parameter 'device': device 'cuda' requested but "
                                             "torch sees no CUDA device"):
            InferenceNode(parameter_overrides=[Parameter("device", value="cuda")])
    with pytest.raises(ValueError, match=r"parameter 'device': device 'gpu' is not one of"):
        InferenceNode(parameter_overrides=[Parameter("device", value="gpu")])


def make_rollout(steps: int, obs_dim: int, version: int, seed: int = 0) -> Rollout:
    rng = np.random.default_rng(seed)
    shape = (steps, K)
    return Rollout(
        actor_id=0, policy_version=version, newest_version=version,
        obs=rng.normal(size=(*shape, obs_dim)).astype(np.float32),
        actions=rng.normal(size=(*shape, ACTION_DIM)).astype(np.float32),
        log_probs=rng.normal(size=shape).astype(np.float32) - 1.0,
        values=rng.normal(size=shape).astype(np.float32),
        rewards=rng.normal(size=shape).astype(np.float32),
        terminated=np.zeros(shape, bool), truncated=np.zeros(shape, bool),
        final_values=np.zeros(shape, np.float32),
        tracking_error=np.zeros((*shape, 2), np.float32),
        last_obs=rng.normal(size=(K, obs_dim)).astype(np.float32),
        last_values=np.zeros(K, np.float32),
    )


def pendulum_learner(run_dir: Path) -> LearnerNode:
    """A learner on Pendulum-v1 (4-step rollouts, K envs per update) writing into run_dir."""
    cfg = TrainConfig.from_dict({"env": {"env_id": "Pendulum-v1"},
                                 "ppo": {"num_steps": 4, "num_minibatches": 2},
                                 "run": {"total_steps": 10_000, "export_onnx": False}})
    config_file = run_dir / "config.yaml"
    config_file.write_text(yaml.safe_dump(cfg.to_dict()))
    return LearnerNode(parameter_overrides=[
        Parameter("config_file", value=str(config_file)),
        Parameter("run_dir", value=str(run_dir)),
        Parameter("envs_per_update", value=K),
    ])


def test_learner_updates_publishes_versions_rejects_bad_rollouts_and_saves(
    rclpy_default: None, tmp_path: Path
) -> None:
    node = pendulum_learner(tmp_path)
    peer = rclpy.create_node("fake_inference")
    versions = []
    peer.create_subscription(PolicyWeightsMsg, qos.WEIGHTS_TOPIC,
                             lambda m: versions.append(decode_weights(m)[2]),
                             qos.weights_qos())
    rollout_pub = peer.create_publisher(RolloutMsg, qos.ROLLOUT_TOPIC, qos.rollout_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: versions == [0])  # latched initial weights
        while rollout_pub.get_subscription_count() == 0:
            executor.spin_once(timeout_sec=0.05)
        rollout_pub.publish(encode_rollout(make_rollout(4, 4, 0)))
        rollout_pub.publish(encode_rollout(make_rollout(3, 3, 0)))
        bad = make_rollout(4, 3, 0)
        bad.values[0, 0] = np.inf
        rollout_pub.publish(encode_rollout(bad))
        assert spin_until(executor, lambda: node.counters["rejected_rollouts"] == 3)
        rollout_pub.publish(encode_rollout(make_rollout(4, 3, 0)))
        assert spin_until(executor, lambda: versions == [0, 1])
        assert node.global_step == 4 * K and node.iteration == 1
        assert node.status()["device"] == describe_device(resolve_device("auto"))
        split = node.status()["time_split"]
        assert split["update"] + 1e-4 >= split["cpu_update"] > 0 and split["receive"] > 0
        assert split["update"] + split["receive"] < split["wall"]
        lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
        metrics = [json.loads(line) for line in lines]
        assert metrics[-1]["policy_version"] == 1 and np.isfinite(metrics[-1]["mean_reward"])
        client = peer.create_client(Trigger, "/learner/save")
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done) and future.result().success
        assert Path(future.result().message).is_file()
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_learner_values_the_states_with_its_current_critic(
    rclpy_default: None, tmp_path: Path
) -> None:
    """Rollouts carry the acting (older) version's value estimates; the learner recomputes
    them with its current critic, so even wildly stale ones never reach the advantages."""
    node = pendulum_learner(tmp_path)
    try:
        stale = make_rollout(4, 3, 0)
        stale.values[:] = 1e4
        stale.last_values[:] = 1e4
        stats = node.train_on([stale])
        # Rewards ~N(0, 1), 4-step rollouts: returns of a few units. From the stale values
        # they would be ~1e4 and the value loss ~1e7.
        assert stats["v_loss"] < 100.0, stats
    finally:
        node.destroy_node()
