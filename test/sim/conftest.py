import dataclasses
from collections.abc import Callable

import pytest

from crawler_rl.sim.config import CrawlerConfig, load_crawler_config


@pytest.fixture(scope="session")
def config() -> CrawlerConfig:
    return load_crawler_config()


@pytest.fixture(scope="session")
def with_episode_seconds(config) -> Callable[[float], CrawlerConfig]:
    """Return the config with a shorter (or longer) episode."""

    def make(seconds: float) -> CrawlerConfig:
        return dataclasses.replace(
            config, task=dataclasses.replace(config.task, episode_seconds=seconds)
        )

    return make
