"""The head's handling of its learner child process (real child processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler_rl.ros.training import head_node

STUBBORN = (
    "import faulthandler, signal, time\n"
    "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "def stuck_in_cleanup():\n"
    "    time.sleep(60)\n"
    "stuck_in_cleanup()\n"
)


def test_a_learner_ignoring_sigint_leaves_its_stack_and_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(head_node, "LEARNER_EXIT_GRACE", 0.5)
    log = tmp_path / "learner.log"
    with log.open("wb") as output:
        child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=output,
                                 stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while b"ready" not in log.read_bytes():
        assert time.monotonic() < deadline and child.poll() is None, log.read_text()
        time.sleep(0.05)
    assert head_node.stop_learner(child) == -9
    text = log.read_text()
    assert "most recent call first" in text and "stuck_in_cleanup" in text, text


def test_a_learner_that_stops_on_sigint_reports_its_own_code() -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\ntry:\n    print('ready', flush=True)\n"
                              "    time.sleep(60)\n"
                              "except KeyboardInterrupt:\n    raise SystemExit(3)\n"],
                             stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"
    assert head_node.stop_learner(child) == 3
    child.stdout.close()
