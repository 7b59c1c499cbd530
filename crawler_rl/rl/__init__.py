"""crawler_rl.rl package."""
