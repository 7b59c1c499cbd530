"""Evaluation suites: what each holds, and that the ood cases lie outside the training ranges."""

import numpy as np
import pytest

from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.scenario import held_out_scenarios
from crawler_rl.sim.suites import OOD_INCLINE_DEG, SUITE_NAMES, suite_cases


def test_held_out_chain_and_odometry_suites_share_the_held_out_scenarios():
    held_out = suite_cases("held-out")
    chain = suite_cases("chain")
    odometry = suite_cases("odometry")
    for suite in (held_out, chain, odometry):
        assert [case.scenario for case in suite] == held_out_scenarios()
    assert all(case.config().tether.model == "lumped" for case in held_out + odometry)
    assert all(case.config().tether.model == "chain" for case in chain)
    assert all(case.config().sensors.velocity_source == "estimate" for case in held_out)
    assert all(case.config().sensors.velocity_source == "odometry" for case in odometry)


def test_load_cell_suites_are_the_held_out_set_with_outages_or_no_load_cell():
    outages, absent = suite_cases("load-cell-outages"), suite_cases("no-load-cell")
    for suite in (outages, absent):
        assert [case.scenario for case in suite] == held_out_scenarios()
    assert all(case.config().sensors.tension_sensor == "intermittent" for case in outages)
    assert all(case.config().sensors.tension_sensor is False for case in absent)
    assert all(case.config().sensors.tension_sensor is True
               for case in suite_cases("held-out"))


def test_unknown_suite_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown suite 'nope'; available: held-out"):
        suite_cases("nope")
    assert SUITE_NAMES == ("held-out", "ood", "chain", "odometry", "load-cell-outages",
                           "no-load-cell")


def _episode_params(case):
    config = case.config()
    sim = CrawlerSim(config, case.scenario, np.random.default_rng(0))
    try:
        return config, sim.params
    finally:
        sim.close()


def test_every_ood_case_meets_a_condition_outside_the_training_ranges():
    trained = load_crawler_config()
    ranges, training = trained.randomization, trained.training
    cases = suite_cases("ood")
    assert len({case.label for case in cases}) == len(cases)
    singles = [case for case in cases if "+" not in case.label]
    assert len(singles) == 9 and len(cases) - len(singles) == 3
    for case in cases:
        config, params = _episode_params(case)
        change = case.label.split("/")[1]
        outside = []
        if "tether40" in change:
            outside.append(params.tether.length > training.tether_length[1]
                           * ranges.tether_length_scale[1])
        if "friction0.3" in change:
            outside.append(params.wheel_friction < ranges.wheel_friction[0])
        if "adhesion-40%" in change:
            outside.append(params.adhesion_per_wheel
                           < trained.magnet.adhesion_per_wheel * ranges.adhesion_scale[0])
        if "r1.0" in change:
            outside.append(params.hull.radius < training.hull_radius[0]
                           * ranges.hull_radius_scale[0])
        if "lag-x2" in change:
            outside.append(params.motor_lag > ranges.motor_lag[1])
        if "extra-delay" in change:
            sensors, default = config.sensors, trained.sensors
            outside.append(sensors.odometry_delay_steps == default.odometry_delay_steps + 1
                           and sensors.imu_delay_steps == default.imu_delay_steps + 1
                           and sensors.encoder_delay_steps == default.encoder_delay_steps + 1)
        if "odometry" in change:
            outside.append(config.sensors.velocity_source == "odometry")
        if change == "incline":  # the one named condition inside the trained slopes
            assert case.scenario.slope_deg == OOD_INCLINE_DEG
            low, high = training.incline_slope_deg
            assert low <= OOD_INCLINE_DEG <= high
            continue
        assert outside and all(outside), case.label
