"""Env steps/s as actor processes grow (1, 2, 4, 8 on this machine), as JSON lines.

For each actor count N it starts the real training graph (head = inference + learner, plus N
actor processes of K envs each, real DDS on this host), waits for every actor, and measures
over `--seconds`: env steps/s summed over the actors' `~/status` counters, the steps/s the
learner consumed, action latency and inference batch sizes. Then the per-message overhead:
one actor with one cheap env (Pendulum-v1, ~10 us a step), so each step is one DDS round
trip plus the inference node's work; and the in-process simulator speed with no ROS at all.

    PYTHONPATH=. python bench/scaling.py --actors 1 2 4 8 --envs-per-actor 4 --seconds 4

Each point costs start-up (~5-15 s on 2 cores) + warm-up + `--seconds`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from pipeline_throughput import query  # bench/ is on sys.path when run as a script


def sim_only(env_id: str, num_envs: int, seconds: float) -> dict:
    """Steps/s of one SyncVecEnv with zero actions: the per-core ceiling of one actor."""
    import numpy as np

    from crawler_rl.rl.config import EnvConfig
    from crawler_rl.ros.training.actor_node import make_env_factory
    from crawler_rl.sim.vec_env import SyncVecEnv

    envs = SyncVecEnv([make_env_factory(EnvConfig(env_id=env_id))] * num_envs)
    envs.reset(seed=0)
    actions = np.zeros((num_envs, envs.action_dim), np.float32)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        envs.step(actions)
        steps += num_envs
    elapsed = time.perf_counter() - start
    envs.close()
    return {"mode": "sim_only", "env_id": env_id, "envs": num_envs,
            "steps_per_s": round(steps / elapsed, 1)}


def graph_point(env_id: str, actors: int, envs_per_actor: int, seconds: float,
                warmup: float, learner_updates: bool = True) -> dict:
    """Run head + `actors` actor processes; measure throughput over `seconds`.

    Without `learner_updates` the learner only queues rollouts (no PPO update competes for
    the head's CPU and GIL): what remains is the pure actor <-> inference message cost.
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.ros.process_graph import ProcessGraph
    from crawler_rl.ros.training.graph import training_graph, write_run_config

    cfg = TrainConfig.from_dict({"env": {"env_id": env_id}, "ppo": {"num_steps": 32},
                                 "run": {"total_steps": 10**9, "export_onnx": False,
                                         "checkpoint_every": 10**6}})
    run_dir = Path(tempfile.mkdtemp(prefix="scaling_bench_"))
    write_run_config(cfg, run_dir)
    graph = training_graph(cfg, actors, envs_per_actor, run_dir)
    if not learner_updates:
        graph.by_name("head").parameters["envs_per_update"] = 1_000_000
    processes = ProcessGraph(graph, run_dir / "logs")
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("scaling_bench", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    services = [f"/actor_{i}/status" for i in range(actors)]
    started = time.perf_counter()
    try:
        processes.start()
        for service in services:
            query(node, executor, service, timeout=120.0)
        startup = time.perf_counter() - started
        time.sleep(warmup)

        def snapshot() -> tuple[list[dict], dict, float]:
            return ([query(node, executor, s) for s in services],
                    query(node, executor, "/learner/status"), time.perf_counter())

        before, learner_before, t0 = snapshot()
        time.sleep(seconds)
        after, learner_after, t1 = snapshot()
        inference = query(node, executor, "/inference/status")
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        processes.shutdown()
    elapsed = t1 - t0
    per_actor = [(a["steps"] - b["steps"]) / elapsed for a, b in zip(after, before, strict=True)]
    env_steps = sum(per_actor) * elapsed
    return {
        "mode": "graph", "env_id": env_id, "actors": actors, "envs_per_actor": envs_per_actor,
        "learner_updates": learner_updates,
        "steps_per_s": round(env_steps / elapsed, 1),
        "steps_per_s_min_actor": round(min(per_actor), 1),
        "learner_steps_per_s": round(
            (learner_after["global_step"] - learner_before["global_step"]) / elapsed, 1),
        "messages_per_s": round(env_steps / envs_per_actor / elapsed, 1),
        "action_latency_p50_ms": round(1e3 * max(a["latency_p50"] for a in after), 3),
        "action_latency_p99_ms": round(1e3 * max(a["latency_p99"] for a in after), 3),
        "inference_batch_envs_mean": round(inference["batch_envs_mean"], 2),
        "learner_device": learner_after.get("device"), "inference_device": inference.get("device"),
        "resends": sum(a["resends"] for a in after),
        "startup_s": round(startup, 1), "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CrawlerVelocity-v0")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--envs-per-actor", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--overhead-env", default="Pendulum-v1",
                        help="cheap env for the per-message overhead point ('' to skip)")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    print(json.dumps({"mode": "machine", "cpus": os.cpu_count(), "platform": platform.platform(),
                      "date": time.strftime("%Y-%m-%d"),
                      "load_average_1min": round(os.getloadavg()[0], 2)}), flush=True)
    print(json.dumps(sim_only(args.env, args.envs_per_actor, args.seconds)), flush=True)
    baseline = None
    for actors in args.actors:
        point = graph_point(args.env, actors, args.envs_per_actor, args.seconds, args.warmup)
        baseline = baseline or point["steps_per_s"]
        point["speedup_vs_first"] = round(point["steps_per_s"] / max(baseline, 1e-9), 2)
        print(json.dumps(point), flush=True)
    if args.overhead_env:
        point = graph_point(args.overhead_env, 1, 1, args.seconds, args.warmup,
                            learner_updates=False)
        sim = sim_only(args.overhead_env, 1, 1.0)
        # One env of negligible cost: a step is one obs/action round trip through the head.
        point["mode"] = "message_overhead"
        point["us_per_message"] = round(1e6 / max(point["messages_per_s"], 1e-9), 1)
        point["us_per_sim_step"] = round(1e6 / sim["steps_per_s"], 1)
        print(json.dumps(point), flush=True)


if __name__ == "__main__":
    main()
