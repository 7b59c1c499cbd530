"""Every YAML in config/ states its dataclass's defaults, or names the keys that differ on purpose.

A default written twice (the dataclass and the YAML) drifts unless a test holds them together:
a run from the packaged file and one from `TrainConfig()` / `CrawlerConfig()` must be the same.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler_rl.control.pi import PIGains, load_gains
from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.sim.config import CrawlerConfig, load_crawler_config

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

SMOKE_DIFFERS = {
    "env.num_envs": 2,
    "env.num_workers": 1,
    "ppo.num_steps": 16,
    "ppo.num_epochs": 2,
    "ppo.num_minibatches": 2,
    "model.actor_hidden": [16, 16],
    "model.critic_hidden": [16, 16],
    "run.total_steps": 64,
    "run.checkpoint_every": 1,
    "run.keep_checkpoints": 2,
    "distributed.actors": 1,
    "distributed.envs_per_actor": 1,
}
"""train_smoke.yaml is a run of seconds for tests and quick checks: these differ on purpose."""

CHECKED = ("crawler.yaml", "train.yaml", "train_smoke.yaml", "baseline_pi.yaml")
"""The YAML files this module checks (a new one must be added here)."""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; tuples become lists, an empty mapping stays a value."""
    if isinstance(data, dict) and data:
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    if isinstance(data, (list, tuple)):
        return {prefix[:-1]: [flatten(item).get("", item) for item in data]}
    return {prefix[:-1]: data}


def read_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIG_DIR / name).read_text(encoding="utf-8"))


def differences(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple]:
    """{key: (actual, expected)} for every key whose value differs or that one side lacks."""
    missing = object()
    return {key: (actual.get(key, missing), expected.get(key, missing))
            for key in sorted(set(actual) | set(expected))
            if actual.get(key, missing) != expected.get(key, missing)}


def test_every_yaml_in_config_is_checked_here() -> None:
    assert sorted(path.name for path in CONFIG_DIR.glob("*.y*ml")) == sorted(CHECKED)


@pytest.mark.parametrize(("name", "defaults"), [
    ("train.yaml", lambda: TrainConfig().to_dict()),
    ("crawler.yaml", lambda: dataclasses.asdict(CrawlerConfig())),
])
def test_the_packaged_file_states_every_default_and_nothing_else(name: str, defaults) -> None:
    assert differences(flatten(read_yaml(name)), flatten(defaults())) == {}


def test_the_loaded_packaged_configs_equal_the_dataclass_defaults() -> None:
    assert load_train_config() == TrainConfig()
    assert load_crawler_config() == CrawlerConfig()


def test_the_smoke_config_differs_from_the_defaults_only_where_it_says() -> None:
    smoke = flatten(load_train_config(CONFIG_DIR / "train_smoke.yaml").to_dict())
    changed = differences(smoke, flatten(TrainConfig().to_dict()))
    assert {key: actual for key, (actual, _) in changed.items()} == SMOKE_DIFFERS


def test_the_baseline_gains_file_holds_exactly_the_pi_gains() -> None:
    """A tuning result, not defaults (PIGains has none): it must name each gain once."""
    gains = read_yaml("baseline_pi.yaml")["gains"]
    assert sorted(gains) == sorted(field.name for field in dataclasses.fields(PIGains))
    assert dataclasses.asdict(load_gains(CONFIG_DIR / "baseline_pi.yaml")) == gains


def test_both_backends_update_on_the_same_env_columns_by_default() -> None:
    # The ROS learner updates on actors x envs_per_actor columns, the local one on env.num_envs:
    # a different default would make the two backends different learners (batch size).
    cfg = load_train_config()
    assert cfg.distributed.actors * cfg.distributed.envs_per_actor == cfg.env.num_envs
