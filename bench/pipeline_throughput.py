"""Env steps/s through the ROS 2 training pipeline vs the in-process loop, as JSON lines.

For each K (envs per actor): the in-process loop (SyncVecEnv + ActorCritic.act per step, one
process, so one core) and the ROS graph (N actor processes with K envs each + the head: inference,
and the learner in its own child process; real DDS), same env, policy and machine. With N = 1 the
actor idles while inference answers; N = 2 (the number of cores here) lets one actor step while
the other waits, which is how the pipeline is meant to use a machine. For the pipeline it
also reports inference batch sizes, p50/p99 action latency seen by the actors (worst actor)
and the policy lag of the rollouts the learner used.

    PYTHONPATH=. python bench/pipeline_throughput.py --seconds 10 --envs 1 16 64 --actors 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path


def in_process(env_id: str, num_envs: int, seconds: float) -> dict:
    import torch

    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.rl.envs import ActionScaler, describe_env, make_env_factory
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.sim.vec_env import SyncVecEnv

    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict({"env": {"env_id": env_id}})
    envs = SyncVecEnv([make_env_factory(cfg.env)] * num_envs)
    info = describe_env(envs.envs[0], env_id)
    scale = ActionScaler(info["action_low"], info["action_high"])
    policy = ActorCritic(envs.obs_dim, envs.action_dim, cfg.model)
    obs = envs.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        actions, _, _ = policy.act(torch.from_numpy(obs))
        obs, *_ = envs.step(scale(actions.numpy()))
        steps += num_envs
    elapsed = time.perf_counter() - start
    envs.close()
    return {"mode": "in_process", "env_id": env_id, "envs_per_actor": num_envs,
            "steps_per_s": steps / elapsed}


def query(node, executor, service: str, timeout: float = 10.0) -> dict:
    from std_srvs.srv import Trigger

    client = node.create_client(Trigger, service)
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"{service} not available")
        future = client.call_async(Trigger.Request())
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        if not future.done():
            raise TimeoutError(f"{service} did not answer")
        return json.loads(future.result().message)
    finally:
        node.destroy_client(client)


def ros_pipeline(env_id: str, num_envs: int, seconds: float, warmup: float,
                 actors: int = 1) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.ros.process_graph import ProcessGraph
    from crawler_rl.ros.training.graph import training_graph, write_run_config

    cfg = TrainConfig.from_dict({"env": {"env_id": env_id}, "ppo": {"num_steps": 32},
                                 "run": {"total_steps": 10**9, "export_onnx": False,
                                         "checkpoint_every": 10**6}})
    run_dir = Path(tempfile.mkdtemp(prefix="pipeline_bench_"))
    write_run_config(cfg, run_dir)
    processes = ProcessGraph(training_graph(cfg, actors, num_envs, run_dir), run_dir / "logs")
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("pipeline_bench")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        processes.start()
        names = [f"/actor_{i}/status" for i in range(actors)]
        for name in names:
            query(node, executor, name, timeout=60.0)
        time.sleep(warmup)
        before, t0 = [query(node, executor, n) for n in names], time.perf_counter()
        time.sleep(seconds)
        after, t1 = [query(node, executor, n) for n in names], time.perf_counter()
        inference = query(node, executor, "/inference/status")
        learner = query(node, executor, "/learner/status")
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        processes.shutdown()
    return {
        "mode": "ros_pipeline", "env_id": env_id, "envs_per_actor": num_envs, "actors": actors,
        "steps_per_s": sum(a["steps"] - b["steps"]
                           for a, b in zip(after, before, strict=True)) / (t1 - t0),
        "action_latency_p50_ms": 1e3 * max(a["latency_p50"] for a in after),
        "action_latency_p99_ms": 1e3 * max(a["latency_p99"] for a in after),
        "inference_batch_envs_mean": inference["batch_envs_mean"],
        "inference_batch_envs_max": inference["batch_envs_max"],
        "learner_iterations": learner["iteration"],
        "policy_lag_versions": learner.get("policy_lag"),
        "resends": sum(a["resends"] for a in after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CrawlerVelocity-v0")
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2],
                        help="actor processes of the pipeline (each with K envs)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    for num_envs in args.envs:
        local = in_process(args.env, num_envs, args.seconds)
        print(json.dumps(local), flush=True)
        for actors in args.actors:
            ros = ros_pipeline(args.env, num_envs, args.seconds, args.warmup, actors)
            ros["ratio_to_in_process"] = ros["steps_per_s"] / max(local["steps_per_s"], 1e-9)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in ros.items()}), flush=True)


if __name__ == "__main__":
    main()
