from __future__ import annotations

import pytest
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

from crawler_rl.ros import qos


@pytest.mark.parametrize("topic", [qos.OBS_TOPIC, qos.ACTION_TOPIC, qos.ROLLOUT_TOPIC])
def test_training_data_is_reliable_and_volatile(topic: str) -> None:
    profile = qos.TOPIC_QOS[topic]()
    assert profile.reliability == ReliabilityPolicy.RELIABLE
    assert profile.durability == DurabilityPolicy.VOLATILE
    assert profile.depth >= 16


@pytest.mark.parametrize("topic", [qos.WEIGHTS_TOPIC, qos.METRICS_TOPIC])
def test_latched_topics_keep_only_the_latest(topic: str) -> None:
    profile = qos.TOPIC_QOS[topic]()
    assert profile.reliability == ReliabilityPolicy.RELIABLE
    assert profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert profile.depth == 1


def test_every_topic_is_documented() -> None:
    for topic in qos.TOPIC_QOS:
        assert f"`{topic}`" in qos.__doc__
