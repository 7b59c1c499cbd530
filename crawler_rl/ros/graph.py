"""The generic graph of crawler_rl nodes (NodeSpec, Graph) and its ROS 2 launch form.

The training graph (`ros/training/graph.py`) and the deployment graphs
(`ros/robot/deploy_graph.py`) are both Graphs. `to_launch_description` turns a Graph into a ROS 2
LaunchDescription (launch/launch_ros are imported lazily: they are not installable in every
environment); `crawler_rl.ros.process_graph` runs the same Graph as plain OS processes.

One stopping rule for both: a graph runs until one of its `required` nodes exits (the head, when
the learner is done or failed); then every other node is stopped, and the run's exit status is
that node's: 0 when it finished, non-zero when it failed. Ctrl-C stops everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PACKAGE = "crawler_rl"
COMPOSED_EXECUTABLES = frozenset({"head_node"})
"""Executables holding several nodes: their NodeSpec name labels the process and is not
applied as a `__node` remap (that would give every node in it the same name)."""
@dataclass
class NodeSpec:
    """One process of the graph: what to run, under which name, with which parameters."""

    executable: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: dict[str, str] = field(default_factory=dict)
    respawn: bool = False
    respawn_delay: float = 0.0
    namespace: str = ""
    extra_args: list[str] = field(default_factory=list)
    required: bool = False
    """When it exits the whole graph stops, with its exit code (launch's `required` node)."""
    stop_timeout: float | None = None
    """Seconds from SIGINT to SIGTERM when a launch stops it (None: launch's default, 5 s)."""


@dataclass
class Graph:
    """The processes of one deployment of crawler_rl nodes."""

    nodes: list[NodeSpec]

    def by_name(self, name: str) -> NodeSpec:
        """Return the NodeSpec called `name` (KeyError naming it otherwise)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r} in the graph")


def to_launch_description(graph: Graph) -> Any:
    """Build a `launch.LaunchDescription` with one `launch_ros.actions.Node` per NodeSpec."""
    from launch import LaunchDescription

    return LaunchDescription(launch_nodes(graph))


class RequiredNodeFailed(RuntimeError):
    """A required node exited non-zero: raised into the launch loop to fail the launch."""


def end_launch_on_exit(event: Any, context: Any) -> Any:
    """`on_exit` of a required node's launch action: end the whole launch.

    `ros2 launch` returns non-zero only when an exception reaches its event loop
    (launch.LaunchService.run_async; a Shutdown action alone exits 0), so a failed required
    node raises; the launch then shuts every process down and exits 1. An exit during a
    shutdown already under way (Ctrl-C) is the expected result of that shutdown.
    """
    from launch.actions import Shutdown

    if context.is_shutdown:
        return None
    if event.returncode != 0:
        raise RequiredNodeFailed(f"required node {event.process_name} exited with code "
                                 f"{event.returncode}: ending the launch")
    return Shutdown(reason=f"required node {event.process_name} finished")


def launch_node_arguments(spec: NodeSpec) -> dict[str, Any]:
    """Return the `launch_ros.actions.Node` keyword arguments that start `spec`."""
    node_kwargs: dict[str, Any] = {
        "package": PACKAGE,
        "executable": spec.executable,
        "name": None if spec.executable in COMPOSED_EXECUTABLES else spec.name,
        "namespace": spec.namespace or None,
        "parameters": [dict(spec.parameters)],
        "remappings": list(spec.remappings.items()),
        "arguments": list(spec.extra_args),
        "respawn": spec.respawn,
        "respawn_delay": spec.respawn_delay,
        "output": "screen",
    }
    if spec.required:
        node_kwargs["on_exit"] = end_launch_on_exit
    if spec.stop_timeout is not None:
        node_kwargs["sigterm_timeout"] = str(spec.stop_timeout)
    return node_kwargs


def launch_nodes(graph: Graph) -> list[Any]:
    """One `launch_ros.actions.Node` per NodeSpec (launch_ros imported lazily)."""
    from launch_ros.actions import Node
    from launch_ros.parameter_descriptions import ParameterValue

    nodes = []
    for spec in graph.nodes:
        arguments = launch_node_arguments(spec)
        # launch_ros reads a plain str value as YAML ('{}' would become a mapping): strings stay
        # strings, as the process launcher's quoting keeps them.
        arguments["parameters"] = [{
            key: ParameterValue(value, value_type=str) if isinstance(value, str) else value
            for key, value in spec.parameters.items()}]
        nodes.append(Node(**arguments))
    return nodes
