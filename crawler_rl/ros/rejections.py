"""Rejected input, counted per kind for a node's `~/status`; each kind is logged once.

A message that fails to decode or validate is that message's fault: the node counts it,
logs the first of its kind and goes on. Only a node's own bugs may end it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Rejections:
    """Counts of rejected messages by kind; the first of each kind goes to the log."""

    def __init__(self, logger: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.logger = logger
        self.logged: set[str] = set()

    def reject(self, kind: str, reason: str) -> None:
        """Count one rejected message of `kind`; log `reason` if it is the first of its kind."""
        self.counts[kind] += 1
        self.log_once(kind, reason)

    def log_once(self, kind: str, reason: str) -> None:
        """Log `reason` for the first rejection of `kind` (counted elsewhere)."""
        if kind not in self.logged:
            self.logged.add(kind)
            self.logger.warning(f"{reason} (further '{kind}' rejections are only counted in "
                                "~/status)")
