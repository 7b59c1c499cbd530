"""Run on a worker 'machine': receive the learner's latched policy weights, report as JSON.

    python weights_listener.py OUT.json TIMEOUT_S

Writes {"version", "bytes", "tensors"} of the first weights message that decodes, then exits 0;
exits 1 if none arrived within the timeout. Used by test_multihost_netns.py to show that a
message far above one UDP datagram (64 KB) crosses the veth link intact with reliable QoS.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import rclpy

from crawler_rl.ros import qos
from crawler_rl.ros.interfaces import PolicyWeightsMsg
from crawler_rl.ros.training.weights import decode_weights


def main(out: Path, timeout: float) -> int:
    """Spin until one weights message arrived or `timeout` passed."""
    rclpy.init()
    node = rclpy.create_node("weights_listener")
    received: dict[str, int] = {}

    def on_weights(msg: PolicyWeightsMsg) -> None:
        state, _, version = decode_weights(msg)
        size = sum(4 * len(tensor.float32_data) + 8 * len(tensor.float64_data)
                   for tensor in msg.tensors)
        received.update(version=version, bytes=size, tensors=len(state))

    node.create_subscription(PolicyWeightsMsg, qos.WEIGHTS_TOPIC, on_weights, qos.weights_qos())
    deadline = time.monotonic() + timeout
    try:
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.2)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if not received:
        return 1
    out.write_text(json.dumps(received))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), float(sys.argv[2])))
