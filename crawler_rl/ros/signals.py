"""Signal handling for nodes that must publish a last message (zero command) on the way out."""

from __future__ import annotations

import signal
from typing import Any


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `finally:` blocks run as on Ctrl-C.

    Pair with `rclpy.init(signal_handler_options=SignalHandlerOptions.NO)`: rclpy's own handler
    would shut the context down first and the final zero command could not be published.
    """
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
