"""Three 'machines' on one kernel: network namespaces joined by veth links to a bridge.

The head namespace holds a bridge (the 'switch'); every worker namespace is wired to it by a
veth pair whose head-side end is a bridge port, so `set_worker_link(name, up=False)` is a
pulled cable. Addresses are 10.213.7.x inside these namespaces only: nothing leaves the machine.
Every namespace, link and process is created with a unique prefix and removed by `close()`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

SUBNET = "10.213.7"
HEAD_ADDRESS = f"{SUBNET}.1"


class NetnsUnavailable(RuntimeError):
    """The machine refuses to create network namespaces (no `ip`, no CAP_SYS_ADMIN, ...)."""


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def probe_netns() -> None:
    """Raise NetnsUnavailable (saying why) unless `ip netns add/del` works here."""
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the `ip` tool (iproute2) is not installed")
    name = f"crlprobe{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", name)
    except RuntimeError as error:
        raise NetnsUnavailable(f"this machine refuses `ip netns add`: {error}") from error
    _ip("netns", "del", name)


class NetnsLab:
    """A head namespace with a bridge and worker namespaces on veth ports of it."""

    def __init__(self, workers: Sequence[str] = ("w1", "w2")) -> None:
        self.prefix = f"crl{secrets.token_hex(3)}"
        self.head = f"{self.prefix}head"
        self.workers = {name: f"{self.prefix}{name}" for name in workers}
        self.addresses = {name: f"{SUBNET}.{11 + i}" for i, name in enumerate(workers)}
        self.processes: list[subprocess.Popen] = []
        self.created: list[str] = []

    def namespaces(self) -> list[str]:
        """Names of every namespace of the lab."""
        return [self.head, *self.workers.values()]

    def start(self) -> None:
        """Create the namespaces, the bridge and one veth link per worker, all up."""
        for namespace in self.namespaces():
            _ip("netns", "add", namespace)
            self.created.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", self.head, "link", "add", "br0", "type", "bridge")
        # No IGMP snooping: without a querier on this tiny LAN it could starve DDS multicast.
        _ip("-n", self.head, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.head, "addr", "add", f"{HEAD_ADDRESS}/24", "dev", "br0")
        _ip("-n", self.head, "link", "set", "br0", "up")
        _ip("-n", self.head, "route", "add", "224.0.0.0/4", "dev", "br0")
        for name, namespace in self.workers.items():
            # Created inside the head namespace, so no name ever exists in the root namespace.
            _ip("-n", self.head, "link", "add", name, "type", "veth", "peer", "name", "eth0",
                "netns", namespace)
            _ip("-n", self.head, "link", "set", name, "master", "br0")
            _ip("-n", self.head, "link", "set", name, "up")
            _ip("-n", namespace, "addr", "add", f"{self.addresses[name]}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "route", "add", "224.0.0.0/4", "dev", "eth0")

    def set_worker_link(self, name: str, up: bool) -> None:
        """Bring the head-side end of a worker's cable up or down."""
        _ip("-n", self.head, "link", "set", name, "up" if up else "down")

    def spawn(self, namespace: str, argv: Sequence[str], env: dict[str, str],
              log: Path) -> subprocess.Popen:
        """Start `argv` inside `namespace` in its own process group, output to `log`."""
        with log.open("ab") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *argv], env=env, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.processes.append(process)
        return process

    def pids(self, namespace: str) -> list[int]:
        """Process ids running inside `namespace`."""
        return [int(pid) for pid in _ip("netns", "pids", namespace).split()]

    def stop(self, process: subprocess.Popen, timeout: float = 15.0) -> int:
        """SIGINT a spawned process group (the launchers shut their nodes down), then SIGKILL."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        return process.wait(5.0)

    def close(self) -> None:
        """Stop every process, kill whatever still runs in the namespaces, delete them."""
        for process in self.processes:
            try:
                self.stop(process, timeout=10.0)
            except subprocess.TimeoutExpired:
                pass
        for namespace in self.created:
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                try:
                    leftovers = self.pids(namespace)
                except RuntimeError:
                    break
                if not leftovers:
                    break
                for pid in leftovers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            try:  # deleting a namespace also deletes the veth ends and the bridge inside it
                _ip("netns", "del", namespace)
            except RuntimeError:
                pass
        self.created.clear()
