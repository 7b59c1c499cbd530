"""PyBullet crawler simulator (no ROS, no torch); the env id is registered by `crawler_rl`."""

from __future__ import annotations

from crawler_rl import ENV_ID

__all__ = ["ENV_ID"]
