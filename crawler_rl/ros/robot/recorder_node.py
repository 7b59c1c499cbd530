"""recorder_node: record every topic of the graph to an MCAP file (like `ros2 bag record -a`).

Discovers topics every `discovery_period` s and subscribes to each new one with its serialized
(raw CDR) messages, so nothing is decoded: reliable unless a publisher is best-effort, transient
local when every publisher is (the latched `robot_description`). Each message is written with
the receive time as its log time and the publisher's send time (DDS source timestamp) as its
publish time, as rosbag2 does. `/rosout` and
`/parameter_events` are left out. The file is closed (summary written) on the way out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo

from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.robot.recording import MCAP_SUFFIX, McapWriter, message_class
from crawler_rl.ros.runtime import run_stoppable_node

SKIPPED_TOPICS = ("/rosout", "/parameter_events")
PARAMETERS = (
    ParamSpec("output", "", "the .mcap file to write", read_only=True),
    ParamSpec("discovery_period", 0.2, "look for new topics every ... [s]", low=0.01, high=10.0,
              read_only=True),
)


def subscription_qos(publishers: list[Any]) -> QoSProfile:
    """QoS that matches every publisher of a topic and keeps what they keep."""
    best_effort = any(info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                      for info in publishers)
    latched = bool(publishers) and all(
        info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for info in publishers)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=100,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


_UNSET_DURATION = "\n    sec: 0\n    nsec: 0"


def _qos_yaml(qos: QoSProfile) -> str:
    """Write the QoS in rosbag2's `offered_qos_profiles` form (rmw enum values)."""
    return (f"- history: 1\n  depth: {qos.depth}\n  reliability: {int(qos.reliability)}\n"
            f"  durability: {int(qos.durability)}\n  deadline:{_UNSET_DURATION}\n"
            f"  lifespan:{_UNSET_DURATION}\n  liveliness: 1\n"
            f"  liveliness_lease_duration:{_UNSET_DURATION}\n"
            "  avoid_ros_namespace_conventions: false\n")


class RecorderNode(Node):
    """Subscribe to every topic in the graph and write the serialized messages to MCAP."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder_node", **kwargs)
        self.params = declare_validated(self, PARAMETERS)
        output = Path(self.params["output"])
        if output.suffix.lower() != MCAP_SUFFIX:
            raise ValueError(f"output must be a {MCAP_SUFFIX} file, got {str(output)!r}")
        output.parent.mkdir(parents=True, exist_ok=True)
        self.writer = McapWriter(output)
        self.subscriptions_by_topic: dict[str, Any] = {}
        self.discover()
        self.create_timer(self.params["discovery_period"], self.discover)
        self.get_logger().info(f"recording every topic to {output}")

    def discover(self) -> None:
        """Subscribe to topics not yet recorded (one type per topic: the first one seen)."""
        for topic, types in self.get_topic_names_and_types():
            if topic in self.subscriptions_by_topic or topic in SKIPPED_TOPICS or not types:
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: nothing to record, and no QoS to match
            type_name = types[0]
            try:
                msg_type = message_class(type_name)
                qos = subscription_qos(publishers)
                self.writer.add_topic(topic, type_name, _qos_yaml(qos))
            except (ImportError, AttributeError, OSError, ValueError) as error:
                self.get_logger().warning(f"not recording {topic} ({type_name}): {error}")
                self.subscriptions_by_topic[topic] = None
                continue
            self.subscriptions_by_topic[topic] = self.create_subscription(
                msg_type, topic, self._recorder(topic), qos, raw=True)

    def _recorder(self, topic: str) -> Any:
        def on_message(data: bytes, info: MessageInfo) -> None:
            # Receive time as the log time; the publisher's send time as the publish time.
            self.writer.write(topic, data, self.get_clock().now().nanoseconds,
                              info.get("source_timestamp") or None)
        return on_message

    def close(self) -> None:
        """Finish the MCAP file and log what it holds."""
        self.writer.close()
        counts = ", ".join(f"{topic} {count}"
                           for topic, count in sorted(self.writer.counts.items()))
        self.get_logger().info(f"wrote {self.writer.path}: {counts or 'no messages'}")


def main(args: list[str] | None = None) -> None:
    """Record until interrupted, then close the file."""
    run_stoppable_node(RecorderNode, "recorder_node", args)


if __name__ == "__main__":
    main()
