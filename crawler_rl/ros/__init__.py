"""crawler_rl.ros package."""
