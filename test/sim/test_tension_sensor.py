"""The load cell and its observation mask: always there, absent, or intermittent with outages."""

import dataclasses

import numpy as np
import pytest

from crawler_rl.sim.config import SensorConfig, load_crawler_config
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.observation import OBS_NAMES
from crawler_rl.sim.sensors import SensorSuite

DT = 0.05
TENSION, VALID = OBS_NAMES.index("tether_tension"), OBS_NAMES.index("tether_tension_valid")


def _readings(steps, rng, noise_scale=0.0, **options):
    """(tension, mask) per step of one episode with the true tension = step number + 1 [N]."""
    suite = SensorSuite(dataclasses.replace(SensorConfig(), **options), DT, 0.025)
    suite.reset(noise_scale, rng)
    out = []
    for step in range(steps):
        suite.read(rng, forward_speed=0.0, yaw_rate=0.0, gravity_body=(0.0, 0.0, -1.0),
                   specific_force_body=(0.0, 0.0, 9.81), wheel_speeds=(0.0, 0.0),
                   tether_tension=step + 1.0, orientation=(0.0, 0.0, 0.0, 1.0),
                   position=(0.0, 0.0, 0.0))
        out.append(suite.latest[3:5])
    return np.array(out)


def test_a_load_cell_is_always_valid_and_none_is_never_valid():
    rng = np.random.default_rng(0)
    always = _readings(50, rng, tension_sensor=True)
    np.testing.assert_array_equal(always[:, 1], 1.0)
    np.testing.assert_array_equal(always[:, 0], np.arange(1.0, 51.0))
    absent = _readings(50, rng, tension_sensor=False)
    np.testing.assert_array_equal(absent, 0.0)


def test_intermittent_outages_hold_the_last_valid_reading_and_have_the_configured_statistics():
    probability, outage_seconds, steps = 0.02, 0.5, 40_000
    readings = _readings(steps, np.random.default_rng(7), tension_sensor="intermittent",
                         tension_dropout_probability=probability,
                         tension_outage_seconds=outage_seconds)
    tension, valid = readings[:, 0], readings[:, 1]
    truth = np.arange(1.0, steps + 1.0)
    np.testing.assert_array_equal(tension[valid == 1.0], truth[valid == 1.0])
    # While invalid, the tension is the last valid reading (the true value of that step).
    last_valid = np.maximum.accumulate(np.where(valid == 1.0, np.arange(steps), -1))
    invalid = valid == 0.0
    np.testing.assert_array_equal(tension[invalid], np.where(last_valid[invalid] >= 0,
                                                             truth[last_valid[invalid]], 0.0))
    # Outages: runs of invalid steps. Starts ~ probability per valid step, mean length
    # outage_seconds / DT = 10 steps (geometric).
    edges = np.diff(np.r_[0, invalid.astype(int), 0])
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    starts_per_valid_step = len(lengths) / valid.sum()
    assert starts_per_valid_step == pytest.approx(probability, rel=0.1)
    assert lengths.mean() == pytest.approx(outage_seconds / DT, rel=0.1)
    assert lengths.std() == pytest.approx(np.sqrt(0.9) * 10, rel=0.15)  # geometric: sqrt(1-q)/q


def test_before_the_first_valid_reading_the_tension_is_0():
    readings = _readings(20, np.random.default_rng(0), tension_sensor="intermittent",
                         tension_dropout_probability=1.0, tension_outage_seconds=100.0)
    np.testing.assert_array_equal(readings, 0.0)  # an outage from the first step


@pytest.mark.parametrize("mode", [True, False, "intermittent"])
def test_the_env_observation_carries_the_mask(mode):
    config = load_crawler_config(overrides={"sensors.tension_sensor": mode,
                                            "sensors.tension_dropout_probability": 0.05,
                                            "sensors.tension_outage_seconds": 0.5})
    env = CrawlerEnv(config)
    try:
        obs, _ = env.reset(seed=3)
        rows = [obs]
        for _ in range(200):
            obs, *_ = env.step(np.zeros(4, np.float32))
            rows.append(obs)
    finally:
        env.close()
    rows = np.array(rows)
    mask = rows[:, VALID]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    if mode is True:
        assert mask.all() and (rows[:, TENSION] > 0).all()  # the winch always pulls
    elif mode is False:
        assert not mask.any() and not rows[:, TENSION].any()
    else:
        assert 0 < mask.mean() < 1 and (rows[:, TENSION] > 0).all()


@pytest.mark.parametrize("value", ["sometimes", 1, None])
def test_a_bad_tension_sensor_mode_is_a_clear_error(value):
    with pytest.raises(ValueError, match="sensors.tension_sensor"):
        load_crawler_config(overrides={"sensors.tension_sensor": value})
