from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from ros_helpers import spin_until

from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import ActionBatchMsg, ObservationBatchMsg
from crawler_rl.ros.training.actor_node import ActorNode
from crawler_rl.ros.training.codec import ActionBatch, decode_obs_batch, encode_action_batch


@pytest.fixture
def rclpy_default(ros_domain: int) -> Iterator[None]:
    rclpy.init(domain_id=ros_domain, signal_handler_options=SignalHandlerOptions.NO)
    yield
    rclpy.try_shutdown()


def pendulum_actor(**extra) -> ActorNode:
    overrides = {"env_id": "Pendulum-v1", "num_envs": 3, "actor_id": 5, "action_timeout": 0.1,
                 "max_backoff": 0.2, **extra}
    return ActorNode(parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def test_actor_steps_on_replies_and_resends_when_unanswered(rclpy_default: None) -> None:
    actor = pendulum_actor()
    peer = rclpy.create_node("fake_inference")
    received = []
    peer.create_subscription(ObservationBatchMsg, qos.OBS_TOPIC,
                             lambda m: received.append(decode_obs_batch(m)), qos.obs_qos())
    replies = peer.create_publisher(ActionBatchMsg, qos.ACTION_TOPIC, qos.action_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(actor)
    executor.add_node(peer)
    try:
        # the first observation is resent until the fake inference node is discovered
        assert spin_until(executor, lambda: len(received) >= 1)
        first = received[-1]
        assert (first.actor_id, first.seq, first.obs.shape) == (5, 0, (3, 3))
        assert np.all(first.rewards == 0)

        def reply(batch, actions) -> None:
            replies.publish(encode_action_batch(
                ActionBatch(batch.actor_id, batch.session, batch.seq, 4, actions)))

        reply(first, np.zeros((2, 1), np.float32))  # wrong shape: rejected, still waiting
        reply(first, np.full((3, 1), np.nan, np.float32))  # non-finite: rejected too
        replies.publish(ActionBatchMsg(actor_id=5, num_envs=3, action_dim=1))  # no actions
        assert spin_until(executor, lambda: actor.status()["bad_actions"] == 2
                          and actor.status()["malformed_actions"] == 1)
        reply(first, np.full((3, 1), 0.5, np.float32))
        assert spin_until(executor, lambda: any(b.seq == 1 for b in received))
        second = next(b for b in received if b.seq == 1)
        assert second.session == first.session and np.all(second.rewards < 0)
        assert actor.policy_version == 4
        resends = actor.counters["resends"]
        count = len(received)
        # no reply to seq 1: it is resent (same seq), never stepped on its own
        assert spin_until(executor, lambda: actor.counters["resends"] >= resends + 2)
        spin_until(executor, lambda: len(received) > count + 1, timeout=2.0)
        assert all(b.seq == 1 for b in received[count:])
        status = actor.status()
        assert status["steps"] == 3 and status["latency_p99"] >= status["latency_p50"] > 0
        # one step taken: its wait lies inside its action latency; sim and send cost CPU
        split = status["time_split"]
        assert 0 < split["wait"] <= sum(actor.latencies)
        # CPU within wall, up to the microsecond between the two clocks' reads
        assert split["sim"] + 1e-4 >= split["cpu_sim"] > 0
        assert split["send"] + 1e-4 >= split["cpu_send"] > 0
        assert split["sim"] + split["send"] + split["wait"] <= split["wall"]
    finally:
        executor.shutdown()
        actor.destroy_node()
        peer.destroy_node()


def test_bad_parameters_are_refused_with_name_value_and_range(rclpy_default: None) -> None:
    with pytest.raises(ValueError, match=r"'num_envs' must be in \[1, 4096\], got 0"):
        pendulum_actor(num_envs=0)
    actor = pendulum_actor()
    try:
        result = actor.set_parameters([Parameter("action_timeout", value=-1.0)])[0]
        assert not result.successful and "'action_timeout' must be in [" in result.reason
        assert actor.set_parameters([Parameter("action_timeout", value=0.5)])[0].successful
        assert actor.params["action_timeout"] == 0.5
        assert not actor.set_parameters([Parameter("num_envs", value=2)])[0].successful
    finally:
        actor.destroy_node()


def test_actor_module_never_imports_torch() -> None:
    code = ("import sys, crawler_rl.ros.training.actor_node, json; "
            "print(json.dumps('torch' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) is False


def test_actors_step_the_runs_env_overrides_and_critic_state(rclpy_default: None) -> None:
    from crawler_rl.rl.config import load_train_config
    from crawler_rl.ros.training.graph import actor_specs
    from crawler_rl.sim.critic_state import CRITIC_DIM
    from crawler_rl.sim.observation import OBS_DIM

    cfg = load_train_config(None, {"env.privileged_critic": True, "env.crawler_overrides": {
        "reward.energy_scale": 0.0, "motor.residual_base": "pi",
        "randomization.extra_sensor_delay_steps": [0, 1]}})
    (spec,) = actor_specs(cfg, count=1, envs_per_actor=2)
    actor = ActorNode(parameter_overrides=[Parameter(k, value=v)
                                           for k, v in spec.parameters.items()])
    try:
        assert actor.envs.obs_dim == OBS_DIM + CRITIC_DIM
        sim_config = actor.envs.envs[0].unwrapped.config
        assert (sim_config.reward.energy_scale, sim_config.motor.residual_base) == (0.0, "pi")
        assert sim_config.randomization.extra_sensor_delay_steps == (0, 1)
    finally:
        actor.destroy_node()


@pytest.mark.parametrize("text", ["[1]", "{", '{"reward.energy_scale": ["a"]}',
                                  '{"reward.energy_scale": {"a": 1}}', "null"])
def test_bad_crawler_overrides_are_refused_by_name(rclpy_default: None, text: str) -> None:
    with pytest.raises(ValueError, match="crawler_overrides"):
        pendulum_actor(crawler_overrides=text)
