"""Shared by the training nodes: the `~/status` JSON service and the spin-until-shutdown main."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.callback_groups import CallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_srvs.srv import Trigger


def serve_status(node: Node, status: Callable[[], dict[str, Any]],
                 callback_group: CallbackGroup | None = None) -> None:
    """Offer `~/status` (std_srvs/Trigger) answering with `status()` as JSON."""

    def on_status(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = True
        response.message = json.dumps(status())
        return response

    node.create_service(Trigger, "~/status", on_status, callback_group=callback_group)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Init rclpy, spin the node until Ctrl-C or external shutdown, then clean up."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # rclpy can fail inside a message take while the context is torn down by a signal;
        # that is a clean stop. The same error while the context is alive is a real failure.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
