"""Recordings of a run: MCAP files in rosbag2's layout (write and read), and the record path check.

`McapWriter` stores serialized (CDR) ROS 2 messages with their full message definitions
(schema encoding "ros2msg", profile "ros2"), as `ros2 bag record -s mcap` does, so a file opens
in `ros2 bag play`, Foxglove and Lichtblick. `read_recording` decodes a file with
mcap-ros2-support and needs no rclpy: tools such as a calibration read runs through it.
`crawler-rl deploy --record run.mcap` fills one via recorder_node; `.png` / `.gif` / `.mp4`
are replays drawn from the simulator (crawler_rl.viz.replay).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crawler_rl.viz.replay import check_replay_path

MCAP_SUFFIX = ".mcap"
DEFINITION_SEPARATOR = "=" * 80
"""Between a message's definition and each of its dependencies' (rosbag2's layout)."""
_PRIMITIVE = re.compile(r"^[a-z0-9_]+$")


def check_record_path(path: Path) -> Path:
    """Validate a `--record` path before a run: .mcap, or a replay suffix (.png / .gif / .mp4)."""
    path = Path(path)
    if path.suffix.lower() == MCAP_SUFFIX:
        try:
            import mcap  # noqa: F401
        except ImportError as error:
            raise ValueError(f"record path {str(path)!r} needs the mcap package "
                             "(pip install mcap mcap-ros2-support)") from error
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    try:
        return check_replay_path(path)
    except ValueError as error:
        raise ValueError(f"record path: {error} or {MCAP_SUFFIX}") from error


def message_class(type_name: str) -> type:
    """Python class of a ROS 2 message type such as "nav_msgs/msg/Odometry"."""
    package, kind, name = _split_type(type_name)
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _split_type(type_name: str) -> tuple[str, str, str]:
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a ROS 2 message type: {type_name!r}")
    return parts[0], parts[1], parts[2]


def _definition_file(type_name: str) -> Path:
    """Find the .msg file under <prefix>/share/<package>/.

    Ament prefixes first, then this environment's: the PyPI wheels install the definitions
    beside the venv without setting AMENT_PREFIX_PATH.
    """
    package, kind, name = _split_type(type_name)
    prefixes = [entry for entry in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
                if entry] + [sys.prefix]
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / package / kind / f"{name}.msg"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no definition of {type_name} under {prefixes}")


def _dependencies(type_name: str) -> list[str]:
    """Message types used by the fields of `type_name` ("pkg/msg/Name"), in field order."""
    found = []
    for field_type in message_class(type_name).get_fields_and_field_types().values():
        inner = re.sub(r"^sequence<([^,>]+)(, \d+)?>$", r"\1", field_type)
        inner = re.sub(r"\[\d*\]$", "", inner)
        if "/" in inner and not _PRIMITIVE.match(inner):
            package, name = inner.split("/")
            found.append(f"{package}/msg/{name}")
    return found


def message_definition(type_name: str) -> str:
    """Full definition text of a message type and all its dependencies (for the MCAP schema)."""
    order, pending = [], _dependencies(type_name)
    while pending:
        dependency = pending.pop(0)
        if dependency not in order:
            order.append(dependency)
            pending.extend(_dependencies(dependency))
    parts = [_definition_file(type_name).read_text().strip()]
    for dependency in order:
        package, _, name = _split_type(dependency)
        text = _definition_file(dependency).read_text().strip()
        parts.append(f"{DEFINITION_SEPARATOR}\nMSG: {package}/{name}\n{text}")
    return "\n".join(parts) + "\n"


class McapWriter:
    """Write serialized ROS 2 messages to an MCAP file, one channel per topic."""

    def __init__(self, path: Path) -> None:
        from mcap.well_known import MessageEncoding, SchemaEncoding
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self._stream: IO[bytes] = self.path.open("wb")
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD
                              if _has_zstd() else CompressionType.NONE)
        self._writer.start(profile="ros2", library="crawler_rl")
        self._schema_encoding = SchemaEncoding.ROS2
        self._message_encoding = MessageEncoding.CDR
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence: Counter[str] = Counter()
        self.closed = False

    def add_topic(self, topic: str, type_name: str, qos_yaml: str = "") -> None:
        """Register `topic` carrying `type_name` ("pkg/msg/Name"); once per topic."""
        if topic in self._channels:
            return
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(
                name=type_name, encoding=self._schema_encoding,
                data=message_definition(type_name).encode())
        metadata = {"offered_qos_profiles": qos_yaml} if qos_yaml else {}
        self._channels[topic] = self._writer.register_channel(
            topic=topic, message_encoding=self._message_encoding,
            schema_id=self._schemas[type_name], metadata=metadata)

    def write(self, topic: str, data: bytes, log_time_ns: int,
              publish_time_ns: int | None = None) -> None:
        """Append one CDR-serialized message received at `log_time_ns` [ns since the epoch].

        `publish_time_ns`: when the publisher sent it (the DDS source timestamp, as rosbag2
        records it); the receive time when not given.
        """
        if self.closed:
            return
        publish_time = log_time_ns if publish_time_ns is None else publish_time_ns
        self._writer.add_message(self._channels[topic], log_time=log_time_ns, data=data,
                                 publish_time=publish_time, sequence=self._sequence[topic])
        self._sequence[topic] += 1

    @property
    def counts(self) -> dict[str, int]:
        """Messages written per topic."""
        return dict(self._sequence)

    def close(self) -> None:
        """Write the summary section and close the file (idempotent)."""
        if not self.closed:
            self.closed = True
            self._writer.finish()
            self._stream.close()


def _has_zstd() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class RecordedMessage:
    """One message read back: topic, type ("pkg/msg/Name"), receive time [ns], decoded message.

    `publish_time_ns` is when the publisher sent it (receive times jitter with the recorder's
    load; send times keep the order in which the graph published).
    """

    topic: str
    type_name: str
    log_time_ns: int
    message: Any
    publish_time_ns: int = 0


def read_recording(path: Path, topics: list[str] | None = None) -> Iterator[RecordedMessage]:
    """Decode the messages of an MCAP recording in log-time order (no rclpy needed).

    Decoded messages have the ROS field names (`msg.pose.pose.position.x`, `msg.data`).
    """
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    with path.open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, message, decoded in reader.iter_decoded_messages(
                topics=topics, log_time_order=True):
            yield RecordedMessage(topic=channel.topic, type_name=schema.name,
                                  log_time_ns=message.log_time, message=decoded,
                                  publish_time_ns=message.publish_time)


def recording_topics(path: Path) -> dict[str, tuple[str, int]]:
    """Topic -> (type, message count) from the file's summary (fast: no message is decoded)."""
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    with Path(path).open("rb") as stream:
        try:
            summary = make_reader(stream).get_summary()
        except McapError:
            summary = None
    if summary is None or summary.statistics is None:
        raise ValueError(f"{path}: no MCAP summary (the recording was not closed cleanly)")
    counts = summary.statistics.channel_message_counts
    return {
        channel.topic: (summary.schemas[channel.schema_id].name, counts.get(channel_id, 0))
        for channel_id, channel in summary.channels.items()
    }
