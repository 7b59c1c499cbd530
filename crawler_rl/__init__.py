"""crawler_rl: learned closed-loop velocity control for tethered magnetic hull crawlers."""

__version__ = "0.1.0"
