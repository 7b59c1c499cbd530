"""Fuzz the inference node's and the learner's inputs: no crash, no hang, exact counters.

The hypothesis tests drive the nodes' subscription callbacks directly (the DDS hop is covered
by `test_injected_faults_over_dds_are_counted_and_the_good_actor_keeps_stepping`).
"""

from __future__ import annotations

import copy
import json
from array import array
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from ros_helpers import pendulum_inference_params, spin_until
from std_srvs.srv import Trigger

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import ActionBatchMsg, ObservationBatchMsg, PolicyWeightsMsg
from crawler_rl.ros.training.codec import ObsBatch, decode_action_batch, encode_obs_batch
from crawler_rl.ros.training.inference_node import InferenceNode
from crawler_rl.ros.training.learner_node import LearnerNode
from crawler_rl.ros.training.rollout import encode_rollout
from crawler_rl.ros.training.weights import encode_weights

OBS_DIM, ACTION_DIM, K = 3, 1, 2
MODEL = TrainConfig().to_dict()["model"]
META = {"obs_dim": OBS_DIM, "action_dim": ACTION_DIM, "model": MODEL}
COUNTED = ("malformed", "non_finite", "wrong_size", "too_many_envs", "duplicate", "stale_seq",
           "unknown_actor", "accepted_steps", "rejected_weights")
MAX_ENVS = K + 1


@pytest.fixture
def rclpy_default(ros_domain: int) -> Iterator[None]:
    rclpy.init(domain_id=ros_domain, signal_handler_options=SignalHandlerOptions.NO)
    yield
    rclpy.try_shutdown()


def obs_message(actor: int, session: int, seq: int, num_envs: int = K, obs_dim: int = OBS_DIM,
                value: float = 0.1) -> ObservationBatchMsg:
    """A well-formed ObservationBatch; `value` fills obs (NaN/inf make it non-finite)."""
    return encode_obs_batch(ObsBatch(
        actor, session, seq, np.full((num_envs, obs_dim), value, np.float32),
        np.full(num_envs, -0.5, np.float32), np.zeros(num_envs, bool), np.zeros(num_envs, bool),
        np.zeros((num_envs, 2), np.float32), np.zeros((0, obs_dim), np.float32)))


def weights_message(version: int, policy: ActorCritic | None = None,
                    meta: dict | None = None) -> PolicyWeightsMsg:
    policy = policy or ActorCritic(OBS_DIM, ACTION_DIM, TrainConfig().model)
    return encode_weights(policy.state_dict(), meta or META, version)


def bad_weights(kind: str, data: st.DataObject) -> PolicyWeightsMsg:
    """Weights the node must reject, each for a different reason."""
    if kind == "garbage":  # architecture JSON that is not JSON
        message = weights_message(50)
        message.model_json = "{" + data.draw(st.text(max_size=64))
        return message
    if kind == "nan":
        policy = ActorCritic(OBS_DIM, ACTION_DIM, TrainConfig().model)
        state = policy.state_dict()
        name = data.draw(st.sampled_from([n for n, t in state.items() if t.is_floating_point()]))
        state[name].view(-1)[0] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return encode_weights(state, META, 50)
    if kind == "wrong_shape":
        wide = TrainConfig.from_dict({"model": {"actor_hidden": [32]}}).model
        return weights_message(50, ActorCritic(OBS_DIM, ACTION_DIM, wide))
    if kind == "wrong_dims":
        return weights_message(50, ActorCritic(OBS_DIM + 1, ACTION_DIM, TrainConfig().model),
                               {**META, "obs_dim": OBS_DIM + 1})
    state = ActorCritic(OBS_DIM, ACTION_DIM, TrainConfig().model).state_dict()
    state.pop(data.draw(st.sampled_from(sorted(state))))
    return encode_weights(state, META, 50)


class GoodActor:
    """Actor 0 of the fuzz run: the one well-behaved sender, whose steps must keep flowing."""

    def __init__(self) -> None:
        self.session, self.seq = 7, -1

    def next_step(self) -> ObservationBatchMsg:
        self.seq += 1
        return obs_message(0, self.session, self.seq)


ARRAYS = ("obs", "rewards", "tracking_error", "final_obs")


def fault(kind: str, actor: GoodActor, data: st.DataObject) -> tuple[str, ObservationBatchMsg]:
    """One injected message and the `~/status` counter it must raise."""
    valid = obs_message(0, actor.session, actor.seq + 1)
    if kind == "garbage":  # every array of a random length that the sizes do not announce
        for name in ARRAYS:
            setattr(valid, name, array("f", data.draw(st.lists(st.floats(width=32),
                                                               max_size=20))))
        if len(valid.obs) == K * OBS_DIM:
            valid.obs.append(0.0)
        return "malformed", valid
    if kind in ("truncated", "padded"):  # one array shorter or longer than its sizes say
        name = data.draw(st.sampled_from(ARRAYS))
        values = list(getattr(valid, name))
        if kind == "truncated" and values:
            values = values[:data.draw(st.integers(0, len(values) - 1))]
        else:
            values += data.draw(st.lists(st.floats(width=32), min_size=1, max_size=16))
        setattr(valid, name, array("f", values))
        return "malformed", valid
    if kind == "bad_sizes":  # num_envs or obs_dim changed, or a truncated env without final obs
        field = data.draw(st.sampled_from(["num_envs", "obs_dim", "truncated"]))
        if field == "truncated":
            valid.truncated = array("B", [1] + [0] * (K - 1))
        else:
            old = getattr(valid, field)
            setattr(valid, field, data.draw(st.integers(0, 2**32 - 1).filter(lambda v: v != old)))
        return "malformed", valid
    if kind == "bad_flags":  # a 0/1 flag field holding something else
        flags = [0] * K
        flags[data.draw(st.integers(0, K - 1))] = data.draw(st.integers(2, 255))
        setattr(valid, data.draw(st.sampled_from(["terminated", "truncated"])), array("B", flags))
        return "malformed", valid
    if kind == "non_finite":
        value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return "non_finite", obs_message(0, actor.session, actor.seq + 1, value=value)
    if kind == "wrong_obs_dim":
        dim = data.draw(st.integers(1, 8).filter(lambda d: d != OBS_DIM))
        return "wrong_size", obs_message(0, actor.session, actor.seq + 1, obs_dim=dim)
    if kind == "wrong_num_envs":  # the node serves at most MAX_ENVS envs per actor
        envs = data.draw(st.integers(1, 5).filter(lambda k: k != K))
        counter = "too_many_envs" if envs > MAX_ENVS else "wrong_size"
        return counter, obs_message(0, actor.session, actor.seq + 1, num_envs=envs)
    if kind == "duplicate":
        return "duplicate", obs_message(0, actor.session, actor.seq)
    if kind == "stale":
        seq = max(actor.seq - data.draw(st.integers(1, 5)), 0)
        return "stale_seq", obs_message(0, actor.session, seq)
    if kind == "unknown_actor":
        actor_id = data.draw(st.integers(1, 2**32 - 1))
        return "unknown_actor", obs_message(actor_id, data.draw(st.integers(1, 2**32 - 1)),
                                            data.draw(st.integers(0, 2**64 - 1)))
    return "accepted_steps", actor.next_step()


OBS_FAULTS = ("garbage", "truncated", "padded", "bad_sizes", "bad_flags", "non_finite",
              "wrong_obs_dim", "wrong_num_envs", "duplicate", "stale", "unknown_actor", "good")
WEIGHT_FAULTS = ("garbage", "nan", "wrong_shape", "wrong_dims", "missing")


def counted(node: InferenceNode) -> Counter:
    status = node.status()
    json.dumps(status)  # `~/status` must always serialize
    return Counter({key: status.get(key, 0) for key in COUNTED})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(OBS_FAULTS + tuple(f"w_{w}" for w in WEIGHT_FAULTS)),
                min_size=1, max_size=25), st.data())
def test_fuzzed_observations_and_weights_are_counted_never_served(
    rclpy_default: None, tmp_path_factory: pytest.TempPathFactory, kinds: list[str],
    data: st.DataObject,
) -> None:
    node = InferenceNode(parameter_overrides=pendulum_inference_params(
        tmp_path_factory.getbasetemp(), num_steps=4, max_actors=1, max_envs_per_actor=MAX_ENVS))
    try:
        node.on_weights(weights_message(1))
        actor = GoodActor()
        for _ in range(2):  # seq 0 and 1 answered: duplicates and stale steps have a reference
            node.on_obs(actor.next_step())
        reference = {k: v.clone() for k, v in node.policy.state_dict().items()}
        before = counted(node)
        expected: Counter = Counter()
        for kind in kinds:
            if kind.startswith("w_"):
                counter, payload = "rejected_weights", bad_weights(kind[2:], data)
                node.on_weights(payload)
            else:
                counter, payload = fault(kind, actor, data)
                node.on_obs(payload)
            expected[counter] += 1
        after = counted(node)
        assert {k: after[k] - before[k] for k in COUNTED} == {k: expected[k] for k in COUNTED}
        # the good actor's newest step was answered, no stranger got in, weights never changed
        assert node.batcher.actors[0].last_reply[0] == actor.seq
        assert set(node.batcher.actors) == {0} and node.policy_version == 1
        for name, tensor in node.policy.state_dict().items():
            assert torch.equal(tensor, reference[name]), name
    finally:
        node.destroy_node()


def cut_short(message: object, data: st.DataObject, names: tuple[str, ...]) -> object:
    """`message` with one of its float arrays `names` cut shorter than its sizes say."""
    name = data.draw(st.sampled_from(names))
    values = getattr(message, name)
    setattr(message, name, array("f", values[:data.draw(st.integers(0, len(values) - 1))]))
    return message


def make_rollout(steps: int, obs_dim: int, version: int, reward: float = -1.0) -> Rollout:
    rng = np.random.default_rng(version)
    shape = (steps, K)
    return Rollout(
        actor_id=0, policy_version=version, newest_version=version,
        obs=rng.normal(size=(*shape, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(*shape, ACTION_DIM)).astype(np.float32),
        log_probs=np.full(shape, -1.0, np.float32), values=np.zeros(shape, np.float32),
        rewards=np.full(shape, reward, np.float32), terminated=np.zeros(shape, bool),
        truncated=np.zeros(shape, bool), final_values=np.zeros(shape, np.float32),
        tracking_error=np.zeros((*shape, 2), np.float32),
        last_obs=np.zeros((K, obs_dim), np.float32), last_values=np.zeros(K, np.float32),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_learner_rejects_bad_rollouts_and_rolls_back_a_non_finite_update(
    rclpy_default: None, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    run_dir = tmp_path_factory.mktemp("learner")
    cfg = TrainConfig.from_dict({"env": {"env_id": "Pendulum-v1"},
                                 "ppo": {"num_steps": 4, "num_minibatches": 2},
                                 "run": {"total_steps": 10_000, "export_onnx": False}})
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    node = LearnerNode(parameter_overrides=[
        Parameter("config_file", value=str(run_dir / "config.yaml")),
        Parameter("run_dir", value=str(run_dir)), Parameter("envs_per_update", value=K)])
    try:
        initial = {k: v.clone() for k, v in node.policy.state_dict().items()}
        good = encode_rollout(make_rollout(4, 3, 0))
        sizes = encode_rollout(make_rollout(4, 3, 0))
        field = data.draw(st.sampled_from(["num_steps", "num_envs", "obs_dim", "action_dim"]))
        setattr(sizes, field, data.draw(st.sampled_from([0, 6, 7, 2**32 - 1])))  # none as sent
        bad = [
            sizes,  # a size field that its arrays do not match
            cut_short(encode_rollout(make_rollout(4, 3, 0)), data,
                      ("obs", "actions", "rewards", "last_obs", "tracking_error")),
            encode_rollout(make_rollout(3, 3, 0)),  # wrong num_steps
            encode_rollout(make_rollout(4, 5, 0)),  # wrong obs_dim
        ]
        poisoned = make_rollout(4, 3, 0)
        field = data.draw(st.sampled_from(["obs", "rewards", "values", "log_probs",
                                           "final_values", "last_values"]))
        getattr(poisoned, field).reshape(-1)[data.draw(st.integers(0, 1))] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
        bad.append(encode_rollout(poisoned))
        for payload in data.draw(st.permutations(bad)):
            node.on_rollout(payload)
        assert node.counters["rejected_rollouts"] == len(bad) and node.iteration == 0
        for name, tensor in node.policy.state_dict().items():
            assert torch.equal(tensor, initial[name]), name
        node.on_rollout(good)  # one update: the optimizer has state
        assert node.iteration == 1 and node.counters["rollouts"] == 1
        model = {k: v.clone() for k, v in node.policy.state_dict().items()}
        moments = copy.deepcopy(node.ppo.optimizer.state_dict())
        learning_rate = node.ppo.learning_rate
        # finite but absurd rewards overflow the returns: the update is rolled back whole
        # (the linear schedule has lowered the learning rate for it by then)
        node.on_rollout(encode_rollout(make_rollout(4, 3, 1, 3e38)))
        assert node.counters["rejected_updates"] == 1 and node.iteration == 1
        for name, tensor in node.policy.state_dict().items():
            assert torch.equal(tensor, model[name]), name
        assert node.ppo.learning_rate == learning_rate
        after = node.ppo.optimizer.state_dict()
        assert after["param_groups"] == moments["param_groups"]
        for index, state in moments["state"].items():
            for key, value in state.items():
                assert torch.equal(after["state"][index][key], value), (index, key)
        node.on_rollout(encode_rollout(make_rollout(4, 3, 5)))
        assert node.counters["future_rollouts"] == 1
        # inference serves weights that are not ours: ours go out again (once a second)
        assert node.counters["weights_republished"] == 1
        node.on_rollout(encode_rollout(make_rollout(4, 3, 5)))
        assert node.counters["weights_republished"] == 1
        node.on_rollout(encode_rollout(make_rollout(4, 3, 1)))
        assert node.iteration == 2 and node.counters["rollouts"] == 3
        assert all(torch.isfinite(t).all() for t in node.policy.state_dict().values())
    finally:
        node.destroy_node()


def test_injected_faults_over_dds_are_counted_and_the_good_actor_keeps_stepping(
    rclpy_default: None, tmp_path: Path,
) -> None:
    node = InferenceNode(parameter_overrides=pendulum_inference_params(
        tmp_path, num_steps=2, max_actors=2))
    peer = rclpy.create_node("fuzzer")
    replies: list = []
    peer.create_subscription(ActionBatchMsg, qos.ACTION_TOPIC,
                             lambda m: replies.append(decode_action_batch(m)),
                             qos.action_qos())
    obs_pub = peer.create_publisher(ObservationBatchMsg, qos.OBS_TOPIC, qos.obs_qos())
    weights_pub = peer.create_publisher(PolicyWeightsMsg, qos.WEIGHTS_TOPIC, qos.weights_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: obs_pub.get_subscription_count() == 1)
        # a step sent before any weights exist is held and answered once they arrive
        obs_pub.publish(obs_message(0, 7, 0))
        assert spin_until(executor, lambda: len(node.early_steps) == 1)
        weights_pub.publish(weights_message(5))
        assert spin_until(executor, lambda: any(r.seq == 0 for r in replies))
        flags = obs_message(0, 7, 1)
        flags.terminated = array("B", [0, 3])
        shortened = obs_message(0, 7, 1)
        shortened.obs = shortened.obs[:-1]
        injected = [
            ObservationBatchMsg(), ObservationBatchMsg(num_envs=K, obs_dim=OBS_DIM), flags,
            shortened,
            obs_message(0, 7, 1, value=np.nan), obs_message(0, 7, 1, obs_dim=OBS_DIM + 2),
            obs_message(0, 7, 0), obs_message(1, 3, 0), obs_message(2, 4, 9),
            obs_message(3, 5, 0, value=np.inf),
        ]
        for payload in injected:
            obs_pub.publish(payload)
        not_json = weights_message(6)
        not_json.model_json = "CRWL-not-weights"
        weights_pub.publish(not_json)
        expected = {"malformed": 4, "non_finite": 2, "wrong_size": 1, "duplicate": 1,
                    "unknown_actor": 1, "rejected_weights": 1}
        assert spin_until(executor, lambda: all(
            node.status().get(k, 0) == v for k, v in expected.items()))
        for seq in (1, 2, 3):  # the good actor still steps, one reply per step
            obs_pub.publish(obs_message(0, 7, seq))
            assert spin_until(executor, lambda seq=seq: any(r.seq == seq for r in replies))
        # the learner resumed from an older checkpoint: partial trajectories are cut
        weights_pub.publish(weights_message(2))
        assert spin_until(executor, lambda: node.policy_version == 2)
        client = peer.create_client(Trigger, "/inference/status")
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done)
        status = json.loads(future.result().message)
        assert {k: status[k] for k in expected} == expected
        assert status["trajectory_restarts"] == 1 and status["live_actors"] == 2
        assert status["discarded_env_steps"] == 1 * K  # actor 0 had 1 of its 2 steps stored
        assert sum(r.seq == 0 for r in replies if r.actor_id == 0) == 2  # duplicate re-answered
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()


def test_inference_parameters_are_validated_at_start_and_on_change(rclpy_default: None,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'max_actors' must be in \[1, 1000000\], got 0"):
        InferenceNode(parameter_overrides=pendulum_inference_params(tmp_path, max_actors=0))
    node = InferenceNode(parameter_overrides=pendulum_inference_params(tmp_path))
    try:
        result = node.set_parameters([Parameter("max_wait", value=-0.5)])[0]
        assert not result.successful and node.params["max_wait"] == 0.005
        assert "'max_wait' must be in [0.0, 10.0], got -0.5" in result.reason
        assert node.set_parameters([Parameter("actor_timeout", value=2.0)])[0].successful
        assert node.params["actor_timeout"] == 2.0
    finally:
        node.destroy_node()
