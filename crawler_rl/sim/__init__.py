"""PyBullet crawler simulator (no ROS, no torch); importing it registers CrawlerVelocity-v0."""

from __future__ import annotations

import gymnasium as gym

ENV_ID = "CrawlerVelocity-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="crawler_rl.sim.env:CrawlerEnv")
