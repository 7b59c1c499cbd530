"""Evaluate launch/*.launch.py with the real launch / launch_ros: which nodes they would start.

A launch file is loaded as `ros2 launch` loads it, its arguments are declared and given values
in a real LaunchContext, its OpaqueFunction runs, and every `launch_ros.actions.Node` it returns
has its substitutions performed (the first step of Node.execute, before any process starts):
node name, parameters (read back from the parameter file launch_ros writes), remappings.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LAUNCH_DIR = REPO / "launch"


def require_launch_ros() -> None:
    """Skip where the real launch tooling is absent (no ROS 2 install, no launch kit)."""
    pytest.importorskip("launch_ros", reason="launch_ros is not importable: install a ROS 2 "
                        "distribution or bash ../shared/ros2-launch-kit/install.sh")


@dataclass
class StartedNode:
    """What a launch_ros Node action would start, after its substitutions."""

    package: str
    executable: str
    name: str | None
    """None: the executable's own node names (not remapped)."""
    parameters: dict[str, Any]
    remappings: list[tuple[str, str]]
    sigterm_timeout: str
    action: Any


def load(launch_file: str) -> Any:
    """The LaunchDescription of launch/<launch_file>."""
    spec = importlib.util.spec_from_file_location("launch_file_under_test",
                                                  LAUNCH_DIR / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def declared(description: Any) -> dict[str, str]:
    """Declared argument name -> default value."""
    from launch.actions import DeclareLaunchArgument
    from launch.utilities import perform_substitutions

    from launch import LaunchContext

    context = LaunchContext()
    return {entity.name: perform_substitutions(context, entity.default_value)
            for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}


def evaluate(description: Any, arguments: dict[str, str]) -> tuple[Any, list[Any]]:
    """Run the description's actions in a context holding `arguments`: (context, actions made).

    Declared arguments fill in their defaults; actions other than declarations and
    OpaqueFunctions are returned as they are (the launch would execute them too).
    """
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchContext

    context = LaunchContext()
    context.launch_configurations.update(arguments)
    made: list[Any] = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(context)
        elif isinstance(entity, OpaqueFunction):
            made += entity.execute(context) or []
        else:
            made.append(entity)
    return context, made


def started(context: Any, action: Any) -> StartedNode:
    """Perform a Node action's substitutions and read back what it would start."""
    from launch.utilities import perform_substitutions

    action._perform_substitutions(context)
    command = [perform_substitutions(context, part) for part in action.cmd[1:]
               if not _is_local(part)]
    files = [command[i + 1] for i, arg in enumerate(command) if arg == "--params-file"]
    parameters: dict[str, Any] = {}
    for path in files:
        for rules in yaml.safe_load(Path(path).read_text()).values():
            parameters.update(rules["ros__parameters"])
    name = action.node_name.rsplit("/", 1)[-1]
    return StartedNode(
        package=action.node_package, executable=action.node_executable,
        name=None if name == action.UNSPECIFIED_NODE_NAME else name, parameters=parameters,
        remappings=list(action.expanded_remapping_rules or []),
        sigterm_timeout=perform_substitutions(context, action.sigterm_timeout), action=action)


def _is_local(part: list[Any]) -> bool:
    """Placeholders filled in only at execution (the node-name remap `__node:=`)."""
    from launch.substitutions import LocalSubstitution

    return any(isinstance(sub, LocalSubstitution) for sub in part)
