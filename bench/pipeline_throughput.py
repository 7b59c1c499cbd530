"""Env steps/s through the ROS 2 training pipeline vs the in-process loop, as JSON lines.

For each K (envs per actor): the in-process loop (SyncVecEnv + ActorCritic.act per step, one
process, so one core) and the ROS graph (N actor processes with K envs each + the head: inference,
and the learner in its own child process; real DDS), same env, policy and machine. With N = 1 the
actor idles while inference answers; N = 2 (the number of cores here) lets one actor step while
the other waits, which is how the pipeline is meant to use a machine. For the pipeline it
also reports inference batch sizes, p50/p99 action latency seen by the actors (worst actor),
the policy lag of the rollouts the learner used, and each process's time split over the
measured window (`time_split`: fractions of wall time per part of its loop, from the nodes'
`~/status`; `cpu`: CPU seconds per wall second). `bench/ros_profile.py` puts it against the
env ceiling.

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


def wait_for_steps(node, executor, names: list[str], timeout: float = 180.0) -> None:
    """Wait until every actor has stepped (the learner's first weights reached inference)."""
    deadline = time.monotonic() + timeout
    while any(query(node, executor, name)["steps"] == 0 for name in names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"actors did not step within {timeout} s")
        time.sleep(0.5)


def time_splits(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """Fractions of the window per part, per process, from two rounds of `~/status`."""
    from crawler_rl.ros.training.time_split import fractions

    rest = {"inference": "idle", "learner": "idle"}
    splits = {name: {k: round(v, 3) for k, v in fractions(
        before[name]["time_split"], after[name]["time_split"], rest.get(name, "other")).items()}
        for name in after}
    actor_splits = [split for name, split in splits.items() if name.startswith("actor")]
    splits["actor_mean"] = {part: round(sum(s[part] for s in actor_splits) / len(actor_splits), 3)
                            for part in actor_splits[0]}
    return splits


def cpu_per_step(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """CPU ms per env step of the whole pipeline, per process (actors summed) and part."""
    from crawler_rl.ros.training.time_split import cpu_per_unit

    actors = [name for name in after if name.startswith("actor")]
    steps = sum(after[name]["steps"] - before[name]["steps"] for name in actors)
    costs = {name: cpu_per_unit(before[name]["time_split"], after[name]["time_split"], steps,
                                "other" if name in actors else "idle_or_intake")
             for name in after}
    summed = {"actors": {part: sum(costs[name][part] for name in actors)
                         for part in costs[actors[0]]},
              "inference": costs["inference"], "learner": costs["learner"]}
    result = {name: {part: round(1e3 * value, 4) for part, value in parts.items()}
              for name, parts in summed.items()}
    result["total"] = round(sum(parts["total"] for parts in result.values()), 4)
    return result


def ros_pipeline(env_id: str, num_envs: int, seconds: float, warmup: float,
                 actors: int = 1, num_steps: int = 32) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.ros.process_graph import ProcessGraph
    from crawler_rl.ros.training.graph import training_graph, write_run_config

    cfg = TrainConfig.from_dict({"env": {"env_id": env_id}, "ppo": {"num_steps": num_steps},
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
        wait_for_steps(node, executor, names)
        time.sleep(warmup)
        services = {"inference": "/inference/status", "learner": "/learner/status",
                    **{name.split("/")[1]: name for name in names}}

        def statuses() -> dict[str, dict]:
            return {key: query(node, executor, service) for key, service in services.items()}

        before, t0 = statuses(), time.perf_counter()
        time.sleep(seconds)
        after, t1 = statuses(), time.perf_counter()
        inference, learner = after["inference"], after["learner"]
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        processes.shutdown()
    actor_names = [name.split("/")[1] for name in names]
    return {
        "mode": "ros_pipeline", "env_id": env_id, "envs_per_actor": num_envs, "actors": actors,
        "num_steps": num_steps,
        "steps_per_s": sum(after[a]["steps"] - before[a]["steps"] for a in actor_names)
        / (t1 - t0),
        "action_latency_p50_ms": 1e3 * max(after[a]["latency_p50"] for a in actor_names),
        "action_latency_p99_ms": 1e3 * max(after[a]["latency_p99"] for a in actor_names),
        "inference_batch_envs_mean": inference["batch_envs_mean"],
        "inference_batch_envs_max": inference["batch_envs_max"],
        "learner_iterations": learner["iteration"],
        "policy_lag_versions": learner.get("policy_lag"),
        "resends": sum(after[a]["resends"] for a in actor_names),
        "time_split": time_splits(before, after),
        "cpu_ms_per_step": cpu_per_step(before, after),
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
