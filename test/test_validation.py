"""Training config, simulator config and node parameters reject bad values in one format."""

from __future__ import annotations

import re

import pytest

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.ros.params import ParamSpec
from crawler_rl.sim.config import config_from_dict

ONE_FORMAT = re.compile(r"^(config key|parameter) '[\w.\[\]]+' must be .+, got .+$")


def message(build) -> str:
    with pytest.raises(ValueError) as error:
        build()
    return str(error.value)


@pytest.mark.parametrize("build", [
    lambda: TrainConfig.from_dict({"ppo": {"gamma": 1.5}}),
    lambda: TrainConfig.from_dict({"ppo": {"num_steps": "many"}}),
    lambda: TrainConfig.from_dict({"model": {"activation": "relu"}}),
    lambda: load_train_config(overrides={"ppo": 1}),
    lambda: config_from_dict({"robot": {"body_mass": -1.0}}),
    lambda: config_from_dict({"training": {"incline_slope_deg": [10.0, 95.0]}}),
    lambda: config_from_dict({"tether": {"model": "rope"}}),
    lambda: config_from_dict({"sensors": {"tension_sensor": "yes"}}),
])
def test_config_keys_are_rejected_in_the_one_format(build) -> None:
    text = message(build).split(": ", 1)[-1]  # load_train_config prefixes the file
    assert ONE_FORMAT.match(text), text


@pytest.mark.parametrize(("spec", "value", "expected"), [
    (ParamSpec("max_wait", 0.005, "", 0.0, 10.0), -0.5,
     "parameter 'max_wait' must be in [0.0, 10.0], got -0.5"),
    (ParamSpec("max_wait", 0.005, "", 0.0, 10.0), "soon",
     "parameter 'max_wait' must be a number in [0.0, 10.0], got 'soon'"),
    (ParamSpec("gain", 1.0, ""), float("nan"), "parameter 'gain' must be a number, got nan"),
    (ParamSpec("mode", "pi", "", choices=("pi", "ik")), "pid",
     "parameter 'mode' must be one of ['pi', 'ik'], got 'pid'"),
])
def test_node_parameters_are_rejected_in_the_one_format(spec: ParamSpec, value: object,
                                                        expected: str) -> None:
    assert spec.error(value) == expected
    assert ONE_FORMAT.match(expected)


def test_unknown_keys_name_the_key() -> None:
    assert message(lambda: TrainConfig.from_dict({"ppo": {"gama": 0.9}})) == (
        "unknown config key 'ppo.gama'")
    assert message(lambda: config_from_dict({"robot": {"mass": 1.0}})).startswith(
        "unknown config key 'robot.mass' (known: ")
