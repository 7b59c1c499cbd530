"""Head node: the inference node and the learner in one process, for speed.

A MultiThreadedExecutor runs each node's (mutually exclusive) callback group on its own
thread, so actors keep getting actions while a PPO update runs.
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

from crawler_rl.ros.inference_node import InferenceNode
from crawler_rl.ros.learner_node import LearnerNode


def main(args: list[str] | None = None) -> None:
    """Run inference + learner until shutdown."""
    rclpy.init(args=args)
    nodes = []
    try:
        nodes.append(LearnerNode())
        nodes.append(InferenceNode())
        executor = MultiThreadedExecutor(num_threads=3)
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv)
