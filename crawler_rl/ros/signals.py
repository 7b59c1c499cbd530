"""Node process signals besides the stop itself: stack dumps on demand, an uncuttable exit.

How a stop signal is taken is `crawler_rl.stopping` (one mechanism for every process).
"""

from __future__ import annotations

import faulthandler
import math
import os
import signal
import threading
import time
from collections.abc import Callable


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


STOP_DEADLINE_S = 3.0
"""Longest a stateless node (actor, inference) may take to leave once its context is down.

Under 5 s: `ros2 launch` escalates to SIGTERM 5 s after its SIGINT, and rclpy, whose context
is already down by then, swallows that SIGTERM too, so a node hung in its cleanup (a blocked
DDS call, say) would only go at the SIGKILL 10 s later, leaving no trace of where it hung."""


def exit_if_stop_hangs(running: Callable[[], bool], deadline: float = STOP_DEADLINE_S,
                       poll: float = 0.05) -> threading.Thread:
    """Once `running()` turns false, give the process `deadline` s to exit, then end it.

    A daemon thread polls `running` (e.g. `context.ok`); when it turns false it arms
    `faulthandler.dump_traceback_later(deadline, exit=True)`: faulthandler's own C thread,
    which needs no GIL, writes every thread's Python stack to stderr (the node's log) and
    exits with status 1. A process that exits in time never hears of it. Only for nodes with
    nothing to save: a learner writing its final checkpoint must not be cut short.
    """

    def watch() -> None:
        while running():
            time.sleep(poll)
        faulthandler.dump_traceback_later(deadline, exit=True)

    thread = threading.Thread(target=watch, name="stop-deadline", daemon=True)
    thread.start()
    return thread
