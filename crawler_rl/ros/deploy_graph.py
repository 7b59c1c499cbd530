"""The deployment graphs, defined once: launch/deploy*.launch.py and `crawler-rl deploy` use them.

- `deploy_graph`: controller_node only, started disabled (the robot's drivers are already up).
- `sim_deploy_graph`: controller_node + robot_sim_node in lockstep (RViz is added by the launch
  file or by `run_deploy` when a display exists: it is not a crawler_rl executable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler_rl.ros.graph import Graph, NodeSpec

CONTROLLER = "controller_node"
ROBOT_SIM = "robot_sim_node"
SQUARE_PATH = "square_path"
RVIZ_CONFIG = "crawler.rviz"
TRUE_WORDS = ("1", "true", "yes", "on")


def controller_spec(policy: Path | None, start_enabled: bool,
                    parameters: dict[str, Any] | None = None) -> NodeSpec:
    """controller_node running `policy`, or the IK fallback when there is none."""
    return NodeSpec(
        executable=CONTROLLER,
        name=CONTROLLER,
        parameters={
            "policy_path": str(Path(policy).resolve()) if policy else "",
            "use_ik_fallback": policy is None,
            "start_enabled": start_enabled,
            **(parameters or {}),
        },
    )


def deploy_graph(policy: Path | None, parameters: dict[str, Any] | None = None) -> Graph:
    """Return the controller alone, disabled until `~/enable` is called (real robot)."""
    return Graph([controller_spec(policy, start_enabled=False, parameters=parameters)])


def sim_deploy_graph(policy: Path | None, use_ik_fallback: bool = False,
                     record: Path | None = None,
                     scenario: dict[str, Any] | None = None,
                     fallback: str | None = None) -> Graph:
    """Return the controller (enabled, stepping on each odometry message) and the sim.

    `fallback` ("ik" or "pi") drives with that classical controller instead of the policy.

    Stepping on odometry, with the sim in lockstep (it waits for the command answering each
    step's sensors before the next step), reproduces training's obs -> action -> step order
    exactly, also when CPU load delays the controller's reply.
    """
    controller = controller_spec(policy, start_enabled=True, parameters={"control_trigger":
                                                                        "odometry"})
    if use_ik_fallback:
        controller.parameters["use_ik_fallback"] = True
    if fallback is not None:
        controller.parameters.update({"use_fallback": True, "fallback": fallback})
    sim_parameters: dict[str, Any] = {"lockstep": True, **(scenario or {})}
    if record is not None:
        sim_parameters["record_path"] = str(Path(record).resolve())
    return Graph([controller, NodeSpec(executable=ROBOT_SIM, name=ROBOT_SIM,
                                       parameters=sim_parameters)])


def graph_from_launch_arguments(arguments: dict[str, str], sim: bool) -> Graph:
    """Build the graph from launch arguments (strings): policy, use_ik_fallback, record."""
    policy = Path(arguments["policy"]) if arguments.get("policy") else None
    if not sim:
        return deploy_graph(policy)
    record = Path(arguments["record"]) if arguments.get("record") else None
    use_ik = arguments.get("use_ik_fallback", "false").lower() in TRUE_WORDS
    return sim_deploy_graph(policy, use_ik_fallback=use_ik, record=record)
