"""What a process does with signals, read from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` now (/proc SigCgt); False once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) >> (signum - 1) & 1)
