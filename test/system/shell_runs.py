"""Start a command as a shell would and find every process of it, orphans included.

Each run carries a marker in its environment (inherited by everything it starts, forked or
exec'd): scanning /proc for it finds the run's processes whatever their parent, process group
or session, also after they were re-parented to init.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from proc_signals import catches

MARK = "CRAWLER_RL_STOP_TEST"
FOREGROUND, BACKGROUND = "foreground", "background-job"
BACKGROUND_JOB = '"$@" >"$RUN_LOG" 2>&1 & echo $!; wait $!'
"""A non-interactive bash starts `&` jobs with SIGINT ignored; `wait` reports 128 + signal."""


@dataclass
class ShellRun:
    """A started command: `pid` is the command's own process (not the shell's)."""

    shell: subprocess.Popen
    pid: int
    mark: str
    log: Path
    how: str

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process of the run."""
        return processes_marked(self.mark)

    def send(self, signum: int, group: bool = False) -> None:
        """Send `signum` to the command (`group`: to its process group, like Ctrl-C)."""
        if group:
            os.killpg(os.getpgid(self.pid), signum)
        else:
            os.kill(self.pid, signum)

    def wait(self, timeout: float, while_waiting: Callable[[], object] | None = None) -> int:
        """Exit status as a shell reports it: the code, or 128 + the signal that killed it.

        `while_waiting` is called repeatedly meanwhile (it should take a short while).
        """
        deadline = time.monotonic() + timeout
        while while_waiting is not None and self.shell.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.shell.args, timeout)
            while_waiting()
        code = self.shell.wait(max(deadline - time.monotonic(), 0.01))
        return 128 - code if code < 0 else code

    def output(self) -> str:
        """What the command wrote (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait until `ready()`, failing with the run's output if it ends or times out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.shell.poll() is not None or time.monotonic() > deadline:
                state = "ended early" if self.shell.poll() is not None else "timed out"
                if state == "timed out":  # where each process waits (crawler-rl's SIGUSR1)
                    for pid, cmdline in self.processes().items():
                        if "crawler" in cmdline:  # not the shell: SIGUSR1 would end it
                            with contextlib.suppress(OSError):
                                os.kill(pid, signal.SIGUSR1)
                    time.sleep(1.0)
                raise AssertionError(f"{state}:\n{self.output()[-12000:]}")
            time.sleep(0.1)

    def catches(self, signum: int) -> bool:
        """Whether the command has a handler for `signum` now (/proc SigCgt)."""
        return catches(self.pid, signum)

    def leftovers(self, grace: float) -> dict[int, str]:
        """The run's processes still alive after `grace` seconds (empty: all gone)."""
        deadline = time.monotonic() + grace
        while (alive := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return alive

    def kill_all(self) -> None:
        """Clean up after a failed test: SIGKILL whatever is left of the run."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.shell.poll() is None:
            self.shell.kill()
        self.shell.wait()


def start(command: list[str], log: Path, how: str, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> ShellRun:
    """Start `command` in the foreground (own process group, like a job-control shell) or as a
    background job of a bash script."""
    mark = uuid.uuid4().hex
    env = {**(os.environ if env is None else env), MARK: mark, "RUN_LOG": str(log)}
    if how == FOREGROUND:
        with log.open("wb") as output:
            shell = subprocess.Popen(command, env=env, cwd=cwd, stdout=output,
                                     stderr=subprocess.STDOUT, process_group=0,
                                     preexec_fn=_terminal_dispositions)
        return ShellRun(shell, shell.pid, mark, log, how)
    shell = subprocess.Popen(["bash", "-c", BACKGROUND_JOB, "bash", *command], env=env,
                             cwd=cwd, stdout=subprocess.PIPE, process_group=0,
                             preexec_fn=_terminal_dispositions)
    pid = int(shell.stdout.readline())
    shell.stdout.close()
    return ShellRun(shell, pid, mark, log, how)


def _terminal_dispositions() -> None:
    """SIGINT and SIGHUP as a terminal's shell leaves them, whatever pytest was started with."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def processes_marked(mark: str) -> dict[int, str]:
    """pid -> command line of every live (not zombie) process whose environment has `mark`."""
    needle = f"{MARK}={mark}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found[int(entry.name)] = cmdline
    return found
