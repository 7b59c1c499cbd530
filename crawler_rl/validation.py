"""One way to reject a setting: name it, say what it must be, show what it was.

Every check of a training config key (`rl/config.py`), a simulator config key (`sim/config.py`)
and a node parameter (`ros/params.py`) raises or returns this one message shape::

    config key 'ppo.gamma' must be in (0, 1], got 1.5
    parameter 'max_wait' must be in [0.0, 10.0], got -0.5

Also the plain form both config modules write and compare: `plain` (YAML's lists for tuples).
No ROS and no torch here.
"""

from __future__ import annotations

from typing import Any

CONFIG_KEY = "config key"
"""What a YAML key (dotted: `ppo.gamma`) is called in error messages."""
PARAMETER = "parameter"
"""What a ROS node parameter is called in error messages."""


def invalid_message(kind: str, name: str, expectation: str, value: Any) -> str:
    """Return the one error text: "<kind> '<name>' must be <expectation>, got <value!r>"."""
    return f"{kind} {name!r} must be {expectation}, got {value!r}"


def invalid(kind: str, name: str, expectation: str, value: Any) -> ValueError:
    """Return a ValueError with `invalid_message` (for the caller to raise)."""
    return ValueError(invalid_message(kind, name, expectation, value))


def require(ok: bool, kind: str, name: str, value: Any, expectation: str) -> None:
    """Raise `invalid(...)` unless `ok`."""
    if not ok:
        raise invalid(kind, name, expectation, value)


def unknown_message(kind: str, names: list[str], known: list[str] | None = None) -> str:
    """Text for names that are not settings at all (typos): "unknown config key(s) 'a', 'b'"."""
    listed = ", ".join(repr(name) for name in names)
    suffix = f" (known: {', '.join(known)})" if known is not None else ""
    return f"unknown {kind}{'s' if len(names) > 1 else ''} {listed}{suffix}"


def plain(value: Any) -> Any:
    """Return nested dicts / lists / tuples as dicts and lists (a config as YAML holds it)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
