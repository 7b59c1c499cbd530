"""ROS 2 domain ids for tests: each test (and each process it starts) gets its own."""

from __future__ import annotations

import random

HIGHEST_SAFE_DOMAIN_ID = 101
"""The highest id whose DDS ports stay below Linux's ephemeral port range (ROS 2's "The
ROS_DOMAIN_ID" concept page): above it a port can be taken by an outgoing connection."""


def random_domain_id() -> int:
    """A random ROS_DOMAIN_ID in [1, HIGHEST_SAFE_DOMAIN_ID] (0 is every machine's default)."""
    return random.SystemRandom().randint(1, HIGHEST_SAFE_DOMAIN_ID)
