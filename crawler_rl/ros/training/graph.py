"""The training graph, defined once: `launch/*.launch.py` and `crawler-rl train` both use it.

A `crawler_rl.ros.graph.Graph` of the head (inference + learner) and the actor processes; it
stops when the head, its required node, exits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.ros.graph import Graph, NodeSpec, launch_nodes

RUN_CONFIG_NAME = "config.yaml"
LEARNER_EXIT_GRACE = 10.0
"""Seconds the head gives its learner to leave after SIGINT (it may be writing a checkpoint; a
torch process alone takes seconds to exit on a loaded machine)."""
HEAD_STOP_TIMEOUT = 2 * LEARNER_EXIT_GRACE
"""Seconds the head gets to stop: its learner's grace plus both torch processes' own exit."""


def write_run_config(cfg: TrainConfig, run_dir: Path) -> Path:
    """Write the resolved TrainConfig that the learner reads to <run_dir>/config.yaml."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_CONFIG_NAME
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    return path


def actor_specs(cfg: TrainConfig, count: int, envs_per_actor: int,
                first_id: int = 0) -> list[NodeSpec]:
    """`count` respawning actor processes stepping `envs_per_actor` envs each."""
    if count < 0 or envs_per_actor < 1:
        raise ValueError(f"need actors >= 0 and envs_per_actor >= 1, got {count}, "
                         f"{envs_per_actor}")
    return [
        NodeSpec(
            executable="actor_node",
            name=f"actor_{actor_id}",
            parameters={
                "actor_id": actor_id,
                "num_envs": envs_per_actor,
                "env_id": cfg.env.env_id,
                "crawler_config": cfg.env.crawler_config or "",
                "crawler_overrides": json.dumps(cfg.env.crawler_overrides, sort_keys=True),
                "privileged_critic": cfg.env.privileged_critic,
                "max_episode_steps": cfg.env.max_episode_steps or 0,
                "seed": cfg.run.seed,
            },
            respawn=True,
            respawn_delay=1.0,
        )
        for actor_id in range(first_id, first_id + count)
    ]


RESPAWN_MARGIN = 2
"""Actor ids the inference node tracks beyond the graph's actors: a worker restarted under
other ids is served before its old ids time out."""


def training_graph(cfg: TrainConfig, actors: int, envs_per_actor: int, run_dir: Path,
                   resume: bool = False, local_actors: bool = True) -> Graph:
    """Head (inference + learner) plus, with `local_actors`, the actor processes.

    The learner gathers `actors * envs_per_actor` env columns per PPO update.
    """
    if actors < 1:
        raise ValueError(f"actors must be >= 1 (the learner waits for rollouts), got {actors}")
    head = NodeSpec(
        executable="head_node",
        name="head",
        parameters={
            "config_file": str(Path(run_dir) / RUN_CONFIG_NAME),
            "run_dir": str(run_dir),
            "resume": bool(resume),
            "envs_per_update": actors * envs_per_actor,
            # Inference bounds its buffers by the graph: no message makes it track more.
            "max_actors": actors + RESPAWN_MARGIN,
            "max_envs_per_actor": envs_per_actor,
            "num_steps": cfg.ppo.num_steps,
            "seed": cfg.run.seed,
            "torch_threads": cfg.run.torch_threads,
            # Inference reads it here, the learner from config_file: both serve one device.
            "device": cfg.run.device,
        },
        required=True,
        stop_timeout=HEAD_STOP_TIMEOUT,
    )
    nodes = [head]
    if local_actors:
        nodes += actor_specs(cfg, actors, envs_per_actor)
    return Graph(nodes)


LAUNCH_ARGUMENTS = {
    "config": ("", "TrainConfig YAML ('': packaged config/train.yaml)"),
    "run_dir": ("runs/latest", "checkpoints, logs, ONNX"),
    "actors": ("", "actor processes ('': distributed.actors of the config)"),
    "envs_per_actor": ("", "simulators per actor ('': distributed.envs_per_actor)"),
    "resume": ("false", "continue from the newest good checkpoint"),
    "first_id": ("0", "actor id of the first actor: unique per worker machine (actors only)"),
}
"""Arguments of launch/{train,head,actors}.launch.py: name -> (default, description)."""


def graph_from_launch_arguments(values: dict[str, str], part: str) -> Graph:
    """Build the graph a launch file starts; part is "train" (all), "head" or "actors".

    "train" and "head" write <run_dir>/config.yaml for the learner, like the launcher does.
    """
    values = {name: values.get(name, default) for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    cfg = load_train_config(Path(values["config"]) if values["config"] else None)
    actors = int(values["actors"]) if values["actors"] else cfg.distributed.actors
    envs = int(values["envs_per_actor"]) if values["envs_per_actor"] else (
        cfg.distributed.envs_per_actor)
    if part == "actors":
        return Graph(actor_specs(cfg, actors, envs, int(values["first_id"])))
    if part not in ("train", "head"):
        raise ValueError(f"part must be 'train', 'head' or 'actors', got {part!r}")
    run_dir = Path(values["run_dir"])
    write_run_config(cfg, run_dir)
    resume = values["resume"].lower() in ("true", "1", "yes")
    return training_graph(cfg, actors, envs, run_dir, resume, local_actors=part == "train")


def generate_launch_description_for(part: str) -> Any:
    """Build launch/<part>.launch.py: declared arguments + the graph's nodes."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    def nodes(context: Any) -> list[Any]:
        graph = graph_from_launch_arguments(dict(context.launch_configurations), part)
        return launch_nodes(graph)

    arguments = [DeclareLaunchArgument(name, default_value=default, description=text)
                 for name, (default, text) in LAUNCH_ARGUMENTS.items()]
    return LaunchDescription([*arguments, OpaqueFunction(function=nodes)])
