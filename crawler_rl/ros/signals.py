"""Signal handling of the node processes: a last message on the way out, stack dumps on demand."""

from __future__ import annotations

import faulthandler
import math
import os
import signal
import threading
import time
from typing import Any

from crawler_rl.stopping import STOP_SIGNALS


class SignalStop(threading.Event):
    """Set by a stop signal; `signum` says which one (None while unset or set otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None


def stop_on_signals() -> SignalStop:
    """SIGINT, SIGTERM and SIGHUP set the returned event instead of raising KeyboardInterrupt.

    Pair with `rclpy.init(signal_handler_options=SignalHandlerOptions.NO)` (rclpy's own handler
    would shut the context down first, and a last message could not be published) and a spin
    loop that checks the event (`spin_until_stopped`). A KeyboardInterrupt would land wherever
    the main thread is, e.g. inside rclpy taking a message, where pybind11 turns it into a
    RuntimeError and the node exits 1 instead of stopping cleanly.
    """
    stop = SignalStop()

    def request_stop(signum: int, frame: Any) -> None:
        if stop.signum is None:
            stop.signum = signum
        stop.set()

    for signum in STOP_SIGNALS:
        # A closed terminal hangs up its whole process group; under nohup SIGHUP stays ignored.
        if signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
            continue
        signal.signal(signum, request_stop)
    return stop


def dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` writes every thread's Python stack to stderr (the node's log).

    The launcher sends it to a node that ignored SIGINT and SIGTERM, right before SIGKILL, so a
    hung shutdown leaves a trace of where it hung.
    """
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def request_stack_dumps(pids: list[int], wait: float) -> None:
    """SIGUSR1 each process (see `dump_stacks_on_sigusr1`) and give them `wait` s to write."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
    time.sleep(wait)


def ignore_stop_signals(deadline: float = 30.0) -> None:
    """Ignore SIGINT and SIGTERM from now on; SIGALRM ends the process after `deadline` s.

    For a process on its way out. A node whose launcher died gets PR_SET_PDEATHSIG once per
    exiting launcher thread, so several SIGTERMs within moments; once rclpy has shut down (and
    restored SIGTERM's default action) a later one would kill the node in the middle of its
    cleanup. The alarm keeps a hung cleanup from outliving a launcher that is no longer there
    to send SIGKILL.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(math.ceil(deadline))
