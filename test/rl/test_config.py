from __future__ import annotations

from pathlib import Path

import pytest

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.envs import make_env_factory

REPO = Path(__file__).resolve().parents[2]


def test_packaged_configs_load_and_default_trains_the_crawler() -> None:
    cfg = load_train_config()
    assert cfg.env.env_id == "CrawlerVelocity-v0"
    assert cfg == load_train_config(REPO / "config" / "train.yaml")
    smoke = load_train_config(REPO / "config" / "train_smoke.yaml")
    assert smoke.run.total_steps < cfg.run.total_steps


def test_dotted_overrides_are_typed_and_parsed_from_strings() -> None:
    cfg = load_train_config(overrides={
        "run.total_steps": "1234", "ppo.learning_rate": "3e-4", "ppo.target_kl": "null",
        "model.actor_hidden": [8, 4], "env.env_id": "Pendulum-v1",
    })
    assert cfg.run.total_steps == 1234
    assert cfg.ppo.learning_rate == pytest.approx(3e-4)
    assert cfg.ppo.target_kl is None
    assert cfg.model.actor_hidden == (8, 4)
    assert cfg.env.env_id == "Pendulum-v1"


def test_round_trip_through_dict() -> None:
    cfg = load_train_config(overrides={"model.shared_trunk": True})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"run.total_stepz": 5}, "run.total_stepz"),
        ({"bogus.key": 1}, "bogus.key"),
        ({"ppo": 3}, "ppo"),
        ({"ppo.gamma": 1.5}, "ppo.gamma"),
        ({"ppo.num_steps": 0}, "ppo.num_steps"),
        ({"ppo.num_steps": 2.5}, "ppo.num_steps"),
        ({"model.activation": "relu"}, "model.activation"),
        ({"model.actor_hidden": []}, "model.actor_hidden"),
        ({"ppo.clip_value_loss": "maybe"}, "ppo.clip_value_loss"),
        ({"ppo.learning_rate": "nan"}, "ppo.learning_rate"),
        ({"env.num_envs": -1}, "env.num_envs"),
    ],
)
def test_bad_overrides_name_the_key(overrides: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        load_train_config(overrides=overrides)


def test_unknown_yaml_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("ppo:\n  gama: 0.9\nrun:\n  seed: 1\n")
    with pytest.raises(ValueError, match=r"ppo\.gama"):
        load_train_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.yaml"):
        load_train_config(tmp_path / "nothere.yaml")


def test_crawler_overrides_mapping_is_typed() -> None:
    cfg = load_train_config(overrides={
        "env.crawler_overrides": "{reward.tracking_v_sigma: 0.0004, sensors.tension_sensor: false}"
    })
    assert cfg.env.crawler_overrides == {"reward.tracking_v_sigma": 0.0004,
                                         "sensors.tension_sensor": False}
    with pytest.raises(ValueError, match=r"env\.crawler_overrides"):
        load_train_config(overrides={"env.crawler_overrides": "[1, 2]"})
    with pytest.raises(ValueError, match=r"env\.crawler_overrides\.reward\.x"):
        load_train_config(overrides={"env.crawler_overrides": {"reward.x": {"a": 1}}})
    with pytest.raises(ValueError, match=r"env\.crawler_overrides\.reward\.x"):
        load_train_config(overrides={"env.crawler_overrides": {"reward.x": ["a"]}})
    with pytest.raises(ValueError, match=r"'env\.crawler_overrides\.reward\.x' must be true/false "
                       r"or an integer or a finite number or a string or a list, got nan"):
        load_train_config(overrides={"env.crawler_overrides": {"reward.x": float("nan")}})


def test_a_randomization_range_can_be_overridden_for_training() -> None:
    cfg = load_train_config(overrides={
        "env.crawler_overrides": "{randomization.extra_sensor_delay_steps: [0, 1]}"})
    env = make_env_factory(cfg.env)()
    try:
        assert env.unwrapped.config.randomization.extra_sensor_delay_steps == (0.0, 1.0)
    finally:
        env.close()
    with pytest.raises(ValueError, match=r"extra_sensor_delay_steps"):
        make_env_factory(load_train_config(overrides={
            "env.crawler_overrides": {"randomization.extra_sensor_delay_steps": [0, 0.5]}}).env)()
