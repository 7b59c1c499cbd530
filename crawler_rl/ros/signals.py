"""Signal handling of the node processes: a last message on the way out, stack dumps on demand."""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from typing import Any


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `finally:` blocks run as on Ctrl-C.

    Pair with `rclpy.init(signal_handler_options=SignalHandlerOptions.NO)`: rclpy's own handler
    would shut the context down first and the final zero command could not be published.
    """
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


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
