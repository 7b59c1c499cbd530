"""Peak RSS of the head while a peer floods each training topic, as JSON lines.

Runs the default training graph (packaged config: CrawlerVelocity, 2 actors x 4 envs) as real
processes, then for each of `rollouts`, `policy_weights`, `actor_obs`, `actor_actions` a peer
publishes for `--seconds`, alternating the largest message the nodes accept (decoded in full)
with rejected ones: one just over the configured limit, and every `--big-every`th a
`--big-mib` MiB message (DDS takes it in whole before any check can refuse it). RSS of the
head process (inference), of its learner child and of each actor is sampled every 0.1 s; each
line gives the peaks of one phase (the largest actor's for the actors) next to the unflooded
baseline, and the nodes' rejection counters.

    PYTHONPATH=. python bench/hostile_flood.py --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def rss_mib(pid: int) -> float:
    """Resident set size of a process [MiB] (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids(pid: int) -> list[int]:
    """Direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def garbage(topic: str, mib: float) -> Any:
    """A message of the topic's type with `mib` MiB of floats that its size fields disown."""
    from array import array

    from crawler_rl.ros import qos
    from crawler_rl.ros.interfaces import (
        ActionBatchMsg,
        ObservationBatchMsg,
        PolicyWeightsMsg,
        RolloutMsg,
        TensorMsg,
    )

    floats = array("f", bytes(int(mib * 2**20) // 4 * 4))
    if topic == qos.WEIGHTS_TOPIC:
        return PolicyWeightsMsg(model_json="{}", tensors=[TensorMsg(
            name="x", shape=[2**32 - 1, 2**32 - 1], dtype=1, float32_data=floats)])
    message = {qos.ROLLOUT_TOPIC: RolloutMsg, qos.OBS_TOPIC: ObservationBatchMsg,
               qos.ACTION_TOPIC: ActionBatchMsg}[topic]()
    for name in ("num_steps", "num_envs", "obs_dim", "action_dim"):
        if hasattr(message, name):
            setattr(message, name, 2**32 - 1)
    setattr(message, "actions" if topic == qos.ACTION_TOPIC else "obs", floats)
    return message


def flood_messages(cfg: Any, obs_dim: int, action_dim: int, actors: int,
                   envs: int) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per topic: (largest accepted messages, rejected messages just over the limit)."""
    from crawler_rl.rl.config import TrainConfig
    from crawler_rl.rl.policy import ActorCritic
    from crawler_rl.rl.rollout import Rollout
    from crawler_rl.ros import qos
    from crawler_rl.ros.training.codec import (
        ActionBatch,
        ObsBatch,
        encode_action_batch,
        encode_obs_batch,
    )
    from crawler_rl.ros.training.rollout import encode_rollout
    from crawler_rl.ros.training.weights import encode_weights

    def rollout(num_envs: int) -> Any:
        shape = (cfg.ppo.num_steps, num_envs)
        zeros = np.zeros(shape, np.float32)
        return encode_rollout(Rollout(
            9, 0, 0, np.zeros((*shape, obs_dim), np.float32),
            np.zeros((*shape, action_dim), np.float32), zeros, zeros, zeros,
            np.zeros(shape, bool), np.zeros(shape, bool), zeros,
            np.zeros((*shape, 2), np.float32), np.zeros((num_envs, obs_dim), np.float32),
            np.zeros(num_envs, np.float32)))

    def obs(actor_id: int, num_envs: int) -> Any:
        return encode_obs_batch(ObsBatch(
            actor_id, 1, 0, np.zeros((num_envs, obs_dim), np.float32),
            np.zeros(num_envs, np.float32), np.zeros(num_envs, bool), np.zeros(num_envs, bool),
            np.zeros((num_envs, 2), np.float32), np.zeros((0, obs_dim), np.float32)))

    meta = {"obs_dim": obs_dim, "action_dim": action_dim, "model": cfg.to_dict()["model"]}
    wide = TrainConfig.from_dict({"model": {"actor_hidden": [256, 256]}})
    return {
        # all envs of the graph in one rollout: the learner's element limit exactly
        qos.ROLLOUT_TOPIC: ([rollout(actors * envs)], [rollout(actors * envs + 1)]),
        # the configured architecture (served: a peer can replace the policy, see the docs)
        qos.WEIGHTS_TOPIC: (
            [encode_weights(ActorCritic(obs_dim, action_dim, cfg.model).state_dict(), meta, 1)],
            [encode_weights(ActorCritic(obs_dim, action_dim, wide.model).state_dict(),
                            {**meta, "model": wide.to_dict()["model"]}, 1)]),
        # new actor ids: the first ones take the graph's spare slots, the rest are refused
        qos.OBS_TOPIC: ([obs(1000 + i, envs) for i in range(64)],
                        [obs(2000 + i, envs + 1) for i in range(64)]),
        # well-formed replies for no live session: decoded by every actor, then ignored
        qos.ACTION_TOPIC: ([encode_action_batch(ActionBatch(0, 1, 0, 0,
                                                            np.zeros((envs, action_dim))))],
                           [garbage(qos.ACTION_TOPIC, 0.001)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="flood per topic")
    parser.add_argument("--baseline", type=float, default=15.0, help="seconds without flood")
    parser.add_argument("--rate", type=float, default=500.0, help="messages/s cap")
    parser.add_argument("--big-mib", type=float, default=4.0)
    parser.add_argument("--big-every", type=int, default=100)
    args = parser.parse_args()
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 200))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    import rclpy
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.serialization import serialize_message
    from std_srvs.srv import Trigger

    from crawler_rl.rl.config import load_train_config
    from crawler_rl.rl.envs import check_box_spaces, make_env_factory
    from crawler_rl.ros import qos
    from crawler_rl.ros.process_graph import ProcessGraph
    from crawler_rl.ros.training.graph import training_graph, write_run_config

    cfg = load_train_config(None, overrides={"run.total_steps": 10**9, "run.export_onnx": False,
                                             "run.checkpoint_every": 10**6})
    actors, envs = cfg.distributed.actors, cfg.distributed.envs_per_actor
    probe = make_env_factory(cfg.env)()
    obs_dim, action_dim = check_box_spaces(probe, cfg.env.env_id)
    probe.close()
    messages = flood_messages(cfg, obs_dim, action_dim, actors, envs)
    big = {topic: garbage(topic, args.big_mib) for topic in messages}
    run_dir = Path(tempfile.mkdtemp(prefix="hostile_flood_"))
    write_run_config(cfg, run_dir)
    processes = ProcessGraph(training_graph(cfg, actors, envs, run_dir), run_dir / "logs")
    rclpy.init()
    node = rclpy.create_node("flooder")
    publishers = {topic: node.create_publisher(type(accepted[0]), topic,
                                               qos.TOPIC_QOS[topic]())
                  for topic, (accepted, _) in messages.items()}
    clients = {name: node.create_client(Trigger, f"/{name}/status")
               for name in ("inference", "learner", "actor_0")}

    def status(name: str) -> dict:
        future = clients[name].call_async(Trigger.Request())
        rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
        return json.loads(future.result().message) if future.done() else {}

    def sample(seconds: float, flood: str | None) -> dict:
        head = processes.running["head"].process.pid
        actor_pids = [processes.running[f"actor_{i}"].process.pid for i in range(actors)]
        peaks = {"head_mib": 0.0, "learner_mib": 0.0, "actor_mib": 0.0}
        sent = {"accepted_size": 0, "rejected": 0, "big": 0, "publish_failed": 0}
        end = time.monotonic() + seconds
        next_sample = 0.0
        count = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                learner = child_pids(head)
                peaks["head_mib"] = max(peaks["head_mib"], rss_mib(head))
                peaks["learner_mib"] = max(peaks["learner_mib"],
                                           sum(rss_mib(pid) for pid in learner))
                peaks["actor_mib"] = max(peaks["actor_mib"],
                                         *(rss_mib(pid) for pid in actor_pids))
                next_sample = now + 0.1
            if flood is None:
                rclpy.spin_once(node, timeout_sec=0.05)
                continue
            accepted, rejected = messages[flood]
            count += 1
            if count % args.big_every == 0:
                payload, kind = big[flood], "big"
            elif count % 2:
                payload, kind = accepted[count % len(accepted)], "accepted_size"
            else:
                payload, kind = rejected[count % len(rejected)], "rejected"
            try:
                publishers[flood].publish(payload)
                sent[kind] += 1
            except RCLError:  # the flooder's own writer gave up (blocked on a slow reader)
                sent["publish_failed"] += 1
            rclpy.spin_once(node, timeout_sec=0.0)
            time.sleep(max(0.0, count / args.rate - (time.monotonic() - (end - seconds))))
        return {"peak_head_rss_mib": round(peaks["head_mib"], 1),
                "peak_learner_rss_mib": round(peaks["learner_mib"], 1),
                "peak_actor_rss_mib": round(peaks["actor_mib"], 1), "sent": sent}

    try:
        processes.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and status("learner").get("iteration", 0) < 1:
            processes.poll()
        sizes = {topic: [len(serialize_message(accepted[0])),
                         len(serialize_message(rejected[0]))]
                 for topic, (accepted, rejected) in messages.items()}
        baseline = sample(args.baseline, None)
        print(json.dumps({"metric": "flood_rss", "phase": "baseline", "seconds": args.baseline,
                          **baseline, "message_bytes": sizes}), flush=True)
        for topic in messages:
            result = sample(args.seconds, topic)
            counters = {name: {k: v for k, v in status(name).items()
                               if isinstance(v, int) and not isinstance(v, bool)}
                        for name in clients}
            print(json.dumps({"metric": "flood_rss", "phase": topic, "seconds": args.seconds,
                              **result, "big_mib": args.big_mib, "status": counters}),
                  flush=True)
            assert not processes.poll(), "a node died under the flood"
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        codes = processes.shutdown()
        print(json.dumps({"metric": "flood_exit_codes", "codes": codes}), flush=True)


if __name__ == "__main__":
    main()
