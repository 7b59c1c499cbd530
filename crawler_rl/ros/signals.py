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


STOP_DEADLINE_S = 4.0
"""Longest a stateless node (actor, inference) may take to clean up once its spin ends.

Under 5 s: `ros2 launch` escalates to SIGTERM 5 s after its SIGINT, and rclpy, whose context
is already down by then, swallows that SIGTERM too, so a node hung in its cleanup (a blocked
DDS call, say) would only go at the SIGKILL 10 s later, leaving no trace of where it hung. Not
much under it either: with every node of a training graph stopping at once on a busy 2-core
machine, rclpy's `destroy_node` alone has taken over 3 s (an actor, in
test/system/test_fault_actors.py)."""


class StopDeadline:
    """Give a stateless node (actor, inference) `deadline` s to clean up once it stops.

    `arm()` (the main thread, before its cleanup) and a daemon thread that polls `running`
    (e.g. `context.ok`, for a callback that outlives the context) arm
    `faulthandler.dump_traceback_later(deadline, exit=True)`: faulthandler's own C thread,
    which needs no GIL (a DDS call may block holding it), writes every thread's Python stack
    to stderr (the node's log) and exits with status 1. `disarm()` after the cleanup: the
    interpreter's own exit (seconds for torch on a loaded machine) is not timed. Only for
    nodes with nothing to save: a learner writing its final checkpoint must not be cut short.
    """

    def __init__(self, running: Callable[[], bool], deadline: float = STOP_DEADLINE_S,
                 poll: float = 0.05) -> None:
        self.deadline = deadline
        self._lock = threading.Lock()
        self._done = False
        self._running = running
        self._poll = poll
        threading.Thread(target=self._watch, name="stop-deadline", daemon=True).start()

    def _watch(self) -> None:
        while self._running() and not self._done:
            time.sleep(self._poll)
        self.arm()

    def arm(self) -> None:
        """Start the countdown (again from now), unless the cleanup is already over."""
        with self._lock:
            if not self._done:
                faulthandler.dump_traceback_later(self.deadline, exit=True)

    def disarm(self) -> None:
        """Stop the countdown for good: the cleanup is over."""
        with self._lock:
            self._done = True
            faulthandler.cancel_dump_traceback_later()
