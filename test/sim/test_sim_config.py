import textwrap

import pytest

from crawler_rl.sim.config import CrawlerConfig, config_from_dict, load_crawler_config
from crawler_rl.sim.scenario import Scenario


def test_shipped_yaml_matches_documented_defaults():
    config = load_crawler_config()
    assert config.physics.substeps == 12
    assert config.robot.total_mass == pytest.approx(4.3)
    assert config.motor.max_wheel_speed == 12.0
    assert config.task.v_range == (-0.15, 0.15)
    assert config == CrawlerConfig()  # the yaml documents the dataclass defaults


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"robot": {"body_mass": -1.0}}, "robot.body_mass"),
        ({"contact": {"wheel_friction": -0.1}}, "contact.wheel_friction"),
        ({"training": {"incline_slope_deg": [10.0, 95.0]}}, "training.incline_slope_deg[1]"),
        ({"robot": {"wheel_radius": "big"}}, "robot.wheel_radius"),
        ({"robot": {"wheel_radius_typo": 0.03}}, "robot.wheel_radius_typo"),
        ({"unknown_section": {}}, "unknown_section"),
        ({"tether": {"model": "rope"}}, "tether.model"),
        ({"randomization": {"motor_gain": [1.1, 0.9]}}, "randomization.motor_gain"),
        ({"training": {"surface_weights": {"ceiling": 1.0}}}, "surface_weights.ceiling"),
        ({"sensors": {"tension_sensor": "yes"}}, "sensors.tension_sensor"),
        ({"motor": {"max_torque": float("nan")}}, "motor.max_torque"),
        ({"motor": {"gain_imbalance": 0.6}}, "motor.gain_imbalance"),
    ],
)
def test_bad_values_raise_naming_the_key(data, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict(data)


def test_yaml_file_errors_name_key_and_value(tmp_path):
    path = tmp_path / "crawler.yaml"
    path.write_text(textwrap.dedent("""
        magnet:
          max_tilt_deg: 120
    """))
    with pytest.raises(ValueError, match=r"magnet.max_tilt_deg.*120"):
        load_crawler_config(path)


def test_overrides_apply_dotted_keys():
    config = load_crawler_config(overrides={"tether.model": "chain", "motor.droop": 1.0})
    assert config.tether.model == "chain"
    assert config.motor.droop == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"slope_deg": 91.0}, {"surface": "roof"}, {"tether_length": -1.0}, {"hull_radius": 0.1}],
)
def test_scenario_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        Scenario(**kwargs)
