"""crawler_rl_interfaces as a ROS 2 user sees it: introspection, a generic echo, an MCAP.

The launch kit has no `ros2 interface`: the types are introspected through the generated
classes (what `ros2 interface show` reads too) against the .msg/.srv files parsed by
rosidl_adapter. The live-graph test reads `actor_obs` the way `ros2 topic echo` does (type
looked up by name on the graph, fields by name, no crawler_rl codec) and records the training
topics with recorder_node, read back with nothing but the schemas stored in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from ros_helpers import pendulum_inference_params, spin_until
from rosidl_adapter.parser import parse_message_string, parse_service_string

from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import PolicyWeightsMsg
from crawler_rl.ros.robot.recorder_node import RecorderNode
from crawler_rl.ros.robot.recording import (
    message_class,
    message_definition,
    read_recording,
    recording_topics,
)
from crawler_rl.ros.training.actor_node import ActorNode
from crawler_rl.ros.training.inference_node import InferenceNode
from crawler_rl.ros.training.weights import encode_weights

SOURCE = Path(__file__).resolve().parents[2] / "interfaces" / "crawler_rl_interfaces"
PACKAGE = "crawler_rl_interfaces"
IDL_NAMES = {"float32": "float", "float64": "double", "bool": "boolean"}
TRAINING_TOPICS = {qos.OBS_TOPIC: "ObservationBatch", qos.ACTION_TOPIC: "ActionBatch",
                   qos.ROLLOUT_TOPIC: "Rollout", qos.WEIGHTS_TOPIC: "PolicyWeights"}


def idl_type(msg_type: str) -> str:
    """The generated class's name of a .msg field type ("float32[]" -> "sequence<float>")."""
    sequence = msg_type.endswith("[]")
    base = msg_type.removesuffix("[]")
    base = IDL_NAMES.get(base, base)
    return f"sequence<{base}>" if sequence else base


def undocumented_fields(text: str) -> list[str]:
    """Names of the field lines of a definition that carry no comment."""
    undocumented = []
    for line in text.splitlines():
        code = line.split("#", 1)[0].strip()
        if code and "=" not in code and code != "---" and "#" not in line:
            undocumented.append(code)
    return undocumented


@pytest.mark.parametrize("path", sorted((SOURCE / "msg").glob("*.msg")), ids=lambda p: p.stem)
def test_each_message_introspects_as_its_documented_definition(path: Path) -> None:
    text = path.read_text()
    spec = parse_message_string(PACKAGE, path.stem, text)
    generated = message_class(f"{PACKAGE}/msg/{path.stem}")
    assert generated.get_fields_and_field_types() == {
        field.name: idl_type(str(field.type)) for field in spec.fields}
    for constant in spec.constants:
        assert getattr(generated, constant.name) == constant.value
    assert undocumented_fields(text) == [], "every field needs a comment with its meaning/units"
    assert message_definition(f"{PACKAGE}/msg/{path.stem}").startswith(text.strip())


def test_the_act_service_introspects_as_its_documented_definition() -> None:
    text = (SOURCE / "srv" / "Act.srv").read_text()
    spec = parse_service_string(PACKAGE, "Act", text)
    service = message_class(f"{PACKAGE}/srv/Act")
    for generated, part in ((service.Request, spec.request), (service.Response, spec.response)):
        assert generated.get_fields_and_field_types() == {
            field.name: idl_type(str(field.type)) for field in part.fields}
    assert undocumented_fields(text) == []


def test_nested_types_travel_with_their_dependencies() -> None:
    definition = message_definition(f"{PACKAGE}/msg/PolicyWeights")
    assert f"MSG: {PACKAGE}/Tensor\n" in definition
    assert "float64[] float64_data" in definition


@pytest.fixture
def rclpy_default(ros_domain: int) -> Iterator[None]:
    rclpy.init(domain_id=ros_domain, signal_handler_options=SignalHandlerOptions.NO)
    yield
    rclpy.try_shutdown()


def echo(message: Any) -> dict[str, Any]:
    """`ros2 topic echo`'s view of a message: every field by name, arrays as lists."""
    return {name: (list(value) if hasattr(value, "__len__") and not isinstance(value, str)
                   else value)
            for name in message.get_fields_and_field_types()
            for value in [getattr(message, name)]}


def test_live_training_topics_echo_by_name_and_record_with_their_schemas(
    rclpy_default: None, tmp_path: Path
) -> None:
    output = tmp_path / "training.mcap"
    recorder = RecorderNode(parameter_overrides=[Parameter("output", value=str(output)),
                                                 Parameter("discovery_period", value=0.05)])
    actor = ActorNode(parameter_overrides=[Parameter("env_id", value="Pendulum-v1"),
                                           Parameter("num_envs", value=2)])
    inference = InferenceNode(parameter_overrides=pendulum_inference_params(tmp_path,
                                                                            num_steps=2))
    peer = rclpy.create_node("echo")
    weights_pub = peer.create_publisher(PolicyWeightsMsg, qos.WEIGHTS_TOPIC, qos.weights_qos())
    cfg = TrainConfig()
    executor = SingleThreadedExecutor()
    for node in (recorder, actor, inference, peer):
        executor.add_node(node)
    echoed: list[dict[str, Any]] = []
    try:
        # the type comes from the graph, by name, as `ros2 topic echo /actor_obs` finds it
        assert spin_until(executor, lambda: any(
            name == f"/{qos.OBS_TOPIC}" for name, _ in peer.get_topic_names_and_types()))
        types = dict(peer.get_topic_names_and_types())[f"/{qos.OBS_TOPIC}"]
        assert types == [f"{PACKAGE}/msg/ObservationBatch"]
        peer.create_subscription(message_class(types[0]), qos.OBS_TOPIC,
                                 lambda m: echoed.append(echo(m)), qos.obs_qos())
        assert spin_until(executor, lambda: recorder.subscriptions_by_topic.get(
            f"/{qos.OBS_TOPIC}") is not None)
        weights_pub.publish(encode_weights(ActorCritic(3, 1, cfg.model).state_dict(), {
            "obs_dim": 3, "action_dim": 1, "model": cfg.to_dict()["model"]}, 4))
        assert spin_until(executor, lambda: inference.batcher.counters["rollouts"] >= 2
                          and len(echoed) >= 3, timeout=30.0)
        assert spin_until(executor, lambda: recorder.writer.counts.get(
            f"/{qos.ROLLOUT_TOPIC}", 0) >= 1)
    finally:
        recorder.close()
        executor.shutdown()
        for node in (recorder, actor, inference, peer):
            node.destroy_node()
    step = echoed[-1]
    assert (step["num_envs"], step["obs_dim"]) == (2, 3) and len(step["obs"]) == 6
    assert np.all(np.isfinite(step["obs"])) and step["seq"] >= 1
    topics = recording_topics(output)
    for topic, name in TRAINING_TOPICS.items():
        assert topics[f"/{topic}"][0] == f"{PACKAGE}/msg/{name}", topics
        assert topics[f"/{topic}"][1] >= 1, topics
    # decoded from the file's schemas alone (mcap-ros2-support, no rclpy, no crawler_rl)
    decoded = {record.topic: record.message for record in read_recording(output)}
    obs = decoded[f"/{qos.OBS_TOPIC}"]
    assert len(obs.obs) == obs.num_envs * obs.obs_dim == 6
    actions = decoded[f"/{qos.ACTION_TOPIC}"]
    assert actions.policy_version == 4 and len(actions.actions) == 2
    rollout = decoded[f"/{qos.ROLLOUT_TOPIC}"]
    assert (rollout.num_steps, rollout.num_envs, len(rollout.obs)) == (2, 2, 2 * 2 * 3)
    weights = decoded[f"/{qos.WEIGHTS_TOPIC}"]
    assert weights.version == 4 and weights.tensors[0].name == "log_std"
    assert re.fullmatch(r"\{.*\}", weights.model_json)
