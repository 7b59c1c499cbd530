"""Stop signals: requests, exit codes, nohup, and dying with the parent (real signals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from crawler_rl.stopping import Stopped, StopRequest


@pytest.fixture
def sighup_ignored() -> Iterator[None]:
    """This process ignores SIGHUP, as under `nohup`."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_signal_outside_an_interruptible_step_waits_for_the_next_check() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM
        with pytest.raises(Stopped) as stopped:
            stop.check()
    assert stopped.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == previous


def test_an_interruptible_step_is_abandoned_at_once() -> None:
    start = time.monotonic()
    with StopRequest() as stop, pytest.raises(Stopped) as stopped, stop.interruptible():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)  # never finishes
    assert stopped.value.exit_code == 130
    assert time.monotonic() - start < 30


def test_an_error_once_a_stop_signal_arrived_is_reported_as_the_stop() -> None:
    stop = StopRequest()
    with pytest.raises(Stopped) as stopped, stop.interruptible():
        stop.signum = signal.SIGTERM  # recorded by the handler, e.g. as a worker died of it
        raise RuntimeError("env worker 0 exited unexpectedly")
    assert isinstance(stopped.value.__cause__, RuntimeError)


def test_nohup_keeps_sighup_ignored(sighup_ignored: None) -> None:
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.05)
        assert stop.signum is None
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_a_child_whose_parent_died_before_it_asked_for_pdeathsig_ends_itself() -> None:
    code = ("import signal, time\n"
            "from crawler_rl.stopping import die_with_parent\n"
            "die_with_parent(signal.SIGTERM, parent_pid=-1)\n"  # not its parent: it is gone
            "time.sleep(30)\n")
    result = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert result.returncode == -signal.SIGKILL


def test_a_process_on_its_way_out_ignores_stop_signals_but_not_forever() -> None:
    code = ("import os, signal, time\n"
            "from crawler_rl.ros.signals import ignore_stop_signals\n"
            "ignore_stop_signals(deadline=1.0)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "os.kill(os.getpid(), signal.SIGINT)\n"
            "print('survived', flush=True)\n"
            "time.sleep(30)\n")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.stdout == b"survived\n"
    assert result.returncode == -signal.SIGALRM
    assert time.monotonic() - start < 30
