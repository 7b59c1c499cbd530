"""How the package's processes stop: stop signals, their exit codes, and dying with the parent.

SIGINT, SIGTERM and SIGHUP ask a command to stop: it finishes or abandons the step it is in,
saves what it can (the trainer: a final checkpoint) and exits with 128 + the signal number
(130, 143, 129), the shell convention. SIGKILL cannot be caught; every process the package
starts dies with its parent anyway (PR_SET_PDEATHSIG), so nothing is left running.
No ROS and no torch here: the trainer, the launcher and the nodes share it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1
# Resolved here, in the parent: a child between fork and exec must not dlopen (a lock held by
# another thread of the parent at fork time would never be released in the child).
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def exit_code(signum: int) -> int:
    """Exit code of a process that stopped on signal `signum`: 128 + signum (SIGTERM: 143)."""
    return 128 + signum


class Stopped(BaseException):
    """A stop signal ended the work; `exit_code` is the process's exit code.

    A BaseException, like KeyboardInterrupt, so that `except Exception` does not swallow it.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}{detail}")
        self.signum = signum
        self.exit_code = exit_code(signum)


class StopRequest:
    """While entered: SIGINT, SIGTERM and SIGHUP record a stop request instead of killing.

    The work checks `check()` between steps that must not be cut (an update, a checkpoint)
    and runs steps that may be abandoned inside `interruptible()`, where a stop signal raises
    `Stopped` at once. An ignored SIGHUP stays ignored (`nohup`); an ignored SIGINT is taken
    (a background job of a script inherits it ignored, and `kill -INT` must still stop it).
    Outside the main thread (where Python cannot set handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN:
                    continue
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        if self._interruptible:
            self._interruptible = False
            raise Stopped(self.signum)

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return self.signum is not None

    def is_set(self) -> bool:
        """Whether a stop signal arrived (the `threading.Event` spelling, for spin loops)."""
        return self.signum is not None

    def check(self) -> None:
        """Raise `Stopped` if a stop signal arrived."""
        if self.signum is not None:
            raise Stopped(self.signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Run a step that a stop signal may abandon midway (it raises `Stopped`).

        Any error the step raises after a stop signal (a worker that the same signal ended,
        say) is reported as the stop.
        """
        self.check()
        self._interruptible = True
        try:
            yield
        except Exception as error:
            if self.signum is not None:
                raise Stopped(self.signum) from error
            raise
        finally:
            self._interruptible = False


def stop_on_signals() -> StopRequest:
    """Take SIGINT, SIGTERM and SIGHUP for the rest of the process: they only record a stop.

    For a process that polls for the stop in its own loop (the ROS nodes: `ros/runtime.py`)
    rather than raising KeyboardInterrupt, which would land wherever the main thread is, e.g.
    inside rclpy taking a message, where pybind11 turns it into a RuntimeError and the node
    exits 1 instead of stopping cleanly. Pair it with `rclpy.init(signal_handler_options=
    SignalHandlerOptions.NO)`: rclpy's own handler would shut the context down first, and a
    last message could not be published. Returns the entered (never exited) StopRequest.
    """
    return StopRequest().__enter__()


def take_sigint() -> None:
    """SIGINT back to its default action (before exec: the default; in Python: KeyboardInterrupt).

    A process started as a background job of a non-interactive shell (`crawler-rl train &` in
    a script, some CI runners) inherits SIGINT *ignored*, and exec keeps an ignored signal
    ignored: it would then sit through a graceful SIGINT stop until SIGKILL.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def die_with_parent(signum: int, parent_pid: int) -> None:
    """In a child: get `signum` when the parent `parent_pid` exits (Linux PR_SET_PDEATHSIG).

    A parent that died between fork and this call sends nothing: the child then ends itself.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def child_setup(pdeathsig: int) -> Callable[[], None]:
    """Return a `preexec_fn` for a child of this process: it dies with us and takes SIGINT."""
    parent_pid = os.getpid()

    def setup() -> None:
        die_with_parent(pdeathsig, parent_pid)
        take_sigint()

    return setup
