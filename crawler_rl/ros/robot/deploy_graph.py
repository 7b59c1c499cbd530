"""The deployment graphs, defined once: launch/deploy*.launch.py and `crawler-rl deploy` use them.

- `deploy_graph`: controller_node only, started disabled (the robot's drivers are already up).
- `sim_deploy_graph`: controller_node + robot_sim_node in lockstep (RViz is added by the launch
  file or by `run_deploy` when a display exists: it is not a crawler_rl executable).
- `web_view_spec`: the live view in a browser (`crawler-rl deploy --view`).
- `record` ending in .mcap adds recorder_node (every topic to MCAP); .png / .gif / .mp4 make
  robot_sim_node draw the run's replay.

The controller and the robot sim are required (graph.py's stopping rule): a controller that
refuses its model ends the launch with an error instead of leaving the rest running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler_rl.ros.graph import Graph, NodeSpec
from crawler_rl.ros.robot.recording import MCAP_SUFFIX

CONTROLLER = "controller_node"
ROBOT_SIM = "robot_sim_node"
SQUARE_PATH = "square_path"
RECORDER = "recorder_node"
WEB_VIEW = "web_view_node"
REPLAY_STOP_TIMEOUT = 30.0
"""Seconds robot_sim_node gets to stop when it draws a replay on the way out (a 400-frame GIF
takes ~5 s on a busy 2-core machine, as long as ros2 launch's default SIGTERM timeout)."""
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
        required=True,
    )


def recorder_spec(output: Path) -> NodeSpec:
    """recorder_node writing every topic of the graph to `output` (.mcap)."""
    return NodeSpec(executable=RECORDER, name=RECORDER,
                    parameters={"output": str(Path(output).resolve())})


def web_view_spec(port: int) -> NodeSpec:
    """web_view_node serving the live browser view on localhost:`port`."""
    return NodeSpec(executable=WEB_VIEW, name=WEB_VIEW, parameters={"port": int(port)})


def is_mcap(record: Path | None) -> bool:
    """Whether `record` names an MCAP recording (else a replay drawn by the simulator)."""
    return record is not None and Path(record).suffix.lower() == MCAP_SUFFIX


def deploy_graph(policy: Path | None, parameters: dict[str, Any] | None = None,
                 record: Path | None = None) -> Graph:
    """Return the controller alone, disabled until `~/enable` is called (real robot).

    With `record` (.mcap) recorder_node records the robot's topics as well.
    """
    controller = controller_spec(policy, start_enabled=False, parameters=parameters)
    return Graph(([recorder_spec(record)] if is_mcap(record) else []) + [controller])


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
    if record is not None and not is_mcap(record):
        sim_parameters["record_path"] = str(Path(record).resolve())
    # The recorder starts first so it has found the topics when the robot starts publishing.
    recorder = [recorder_spec(record)] if is_mcap(record) else []
    return Graph(recorder + [controller, NodeSpec(executable=ROBOT_SIM, name=ROBOT_SIM,
                                                  parameters=sim_parameters, required=True,
                                                  stop_timeout=REPLAY_STOP_TIMEOUT if
                                                  "record_path" in sim_parameters else None)])


def graph_from_launch_arguments(arguments: dict[str, str], sim: bool) -> Graph:
    """Build the graph from launch arguments (strings): policy, use_ik_fallback, record."""
    policy = Path(arguments["policy"]) if arguments.get("policy") else None
    record = Path(arguments["record"]) if arguments.get("record") else None
    if not sim:
        return deploy_graph(policy, record=record)
    use_ik = arguments.get("use_ik_fallback", "false").lower() in TRUE_WORDS
    return sim_deploy_graph(policy, use_ik_fallback=use_ik, record=record)
