"""crawler_rl: learned closed-loop velocity control for tethered magnetic hull crawlers.

Importing the package registers the crawler's Gymnasium env, so `gym.make("CrawlerVelocity-v0")`
works after `import crawler_rl` (the entry point is a string: PyBullet loads only on make).
"""

from __future__ import annotations

import gymnasium as gym

__version__ = "0.1.0"

ENV_ID = "CrawlerVelocity-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="crawler_rl.sim.env:CrawlerEnv")
