"""Sensor options as on the robot: odometry velocity, gyro bias and drift, encoder counts,
load cell delay; and the defaults that keep training's readings as they were."""

import dataclasses
import math

import numpy as np
import pytest

from crawler_rl.sim.config import SensorConfig, load_crawler_config
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.scenario import Scenario
from crawler_rl.sim.sensors import SensorSuite

DT, RADIUS = 0.05, 0.025


def _suite(rng=None, **options):
    suite = SensorSuite(dataclasses.replace(SensorConfig(), **options), DT, RADIUS)
    suite.reset(0.0, rng or np.random.default_rng(0))  # noise scale 0: exact readings
    return suite


def _read(suite, rng, forward_speed=0.1, yaw_rate=0.0, wheel_speeds=(4.0, 4.0), tension=5.0):
    suite.read(rng, forward_speed=forward_speed, yaw_rate=yaw_rate,
               gravity_body=(0.0, 0.0, -1.0), specific_force_body=(0.0, 0.0, 9.81),
               wheel_speeds=wheel_speeds, tether_tension=tension,
               orientation=(0.0, 0.0, 0.0, 1.0), position=(0.0, 0.0, 0.0))
    return suite.latest


def test_odometry_velocity_comes_from_the_wheels_and_cannot_see_slip():
    rng = np.random.default_rng(0)
    odometry = _suite(velocity_source="odometry", odometry_delay_steps=0)
    estimate = _suite(velocity_source="estimate", odometry_delay_steps=0)
    # Wheels turning at 4 rad/s while the body stands still (full slip).
    (v_odometry, _), *_ = _read(odometry, rng, forward_speed=0.0, wheel_speeds=(4.0, 3.0))
    (v_estimate, _), *_ = _read(estimate, rng, forward_speed=0.0, wheel_speeds=(4.0, 3.0))
    assert v_odometry == pytest.approx(3.5 * RADIUS)
    assert v_estimate == pytest.approx(0.0)


def test_odometry_in_the_sim_is_off_by_the_real_wheel_radius():
    config = load_crawler_config(overrides={
        "sensors.velocity_source": "odometry", "sensors.encoder_noise": 0.0,
        "randomization.wheel_radius_error": [0.1, 0.1],  # real wheels 10 % larger
    })
    scenario = Scenario(surface="deck", tether_length=2.0, start_heading_deg=0.0)
    sim = CrawlerSim(config, scenario, np.random.default_rng(0))
    try:
        for _ in range(40):
            sim.apply_wheel_speeds(np.array([5.0, 5.0]))
            sim.step_control()
        measured_v = sim.observation_inputs()[0][0]
        true_v, _ = sim.true_twist()
        assert measured_v == pytest.approx(true_v / 1.1, rel=0.05)
    finally:
        sim.close()


def test_gyro_bias_is_constant_in_an_episode_and_differs_between_episodes():
    rng = np.random.default_rng(3)
    suite = _suite(rng, gyro_bias=0.01)
    offsets = []
    for _ in range(200):
        suite.reset(0.0, rng)
        first = _read(suite, rng)[0][1]
        assert _read(suite, rng)[0][1] == first  # no drift configured
        offsets.append(first)
    assert np.std(offsets) == pytest.approx(0.01, rel=0.2)


def test_gyro_drift_is_a_random_walk():
    rng = np.random.default_rng(4)
    finals = []
    for _ in range(200):
        suite = _suite(rng, gyro_drift=0.002)
        for _ in range(101):
            yaw = _read(suite, rng)[0][1]
        finals.append(yaw)
    seconds = 100 * DT
    assert np.std(finals) == pytest.approx(0.002 * math.sqrt(seconds), rel=0.2)


def test_encoder_counts_quantise_wheel_speed_without_losing_distance():
    rng = np.random.default_rng(0)
    suite = _suite(encoder_counts_per_rev=100)
    speed_step = 2.0 * math.pi / 100 / DT
    speeds = [_read(suite, rng, wheel_speeds=(1.0, 1.0))[2][0] for _ in range(200)]
    assert all(abs(s / speed_step - round(s / speed_step)) < 1e-9 for s in speeds)
    assert set(np.round(np.array(speeds) / speed_step)) == {0.0, 1.0}
    assert np.mean(speeds) == pytest.approx(1.0, rel=0.02)  # counts never lost


def test_load_cell_delay():
    rng = np.random.default_rng(0)
    suite = _suite(tension_delay_steps=2)
    readings = [_read(suite, rng, tension=float(t))[3] for t in (1, 2, 3, 4)]
    assert readings == [1.0, 1.0, 1.0, 2.0]


def test_unknown_velocity_source_is_a_clear_error():
    with pytest.raises(ValueError, match="sensors.velocity_source"):
        load_crawler_config(overrides={"sensors.velocity_source": "gps"})


def test_extra_delays_lengthen_each_delay_line():
    rng = np.random.default_rng(0)
    suite = _suite(tension_delay_steps=0)
    suite.reset(0.0, rng, extra_delays=(0, 0, 0, 2))
    readings = [_read(suite, rng, tension=float(t))[3] for t in (1, 2, 3, 4)]
    assert readings == [1.0, 1.0, 1.0, 2.0]
    suite.reset(0.0, rng)  # back to the configured delays
    assert [_read(suite, rng, tension=float(t))[3] for t in (5, 6)] == [5.0, 6.0]


def test_delay_randomization_draws_whole_steps_per_sensor_and_episode():
    from crawler_rl.sim.randomization import sample_episode_params

    config = load_crawler_config(overrides={"randomization.extra_sensor_delay_steps": [0, 1]})
    scenario = Scenario(surface="deck")
    rng = np.random.default_rng(0)
    draws = {sample_episode_params(config, scenario, rng).extra_delays for _ in range(50)}
    assert all(set(d) <= {0, 1} for d in draws) and len(draws) > 5
    # [0, 0] (the default) draws nothing, so the default episodes' random streams stay as
    # they were: the generator ends where a [0, 1] draw would have started drawing delays.
    off, on = np.random.default_rng(1), np.random.default_rng(1)
    assert sample_episode_params(load_crawler_config(), scenario, off).extra_delays == (
        0, 0, 0, 0)
    sample_episode_params(config, scenario, on)
    off.integers(0, 2, size=4)
    assert off.bit_generator.state == on.bit_generator.state
    with pytest.raises(ValueError, match="whole control steps"):
        load_crawler_config(overrides={"randomization.extra_sensor_delay_steps": [0, 1.5]})
