"""Sensor rates: a sensor with period k reads every k-th control step and holds in between;
period 1 (the default) is the behaviour from before, bit for bit."""

import dataclasses
import hashlib
import math

import numpy as np
import pytest

from crawler_rl.sim.config import SensorConfig, load_crawler_config
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.observation import OBS_NAMES
from crawler_rl.sim.sensors import SensorSuite

DT, RADIUS = 0.05, 0.025
LAYOUT_2 = ("cmd_v", "cmd_omega", "meas_v", "meas_omega", "gravity_x", "gravity_y", "gravity_z",
            "wheel_speed_left", "wheel_speed_right", "prev_wheel_cmd_left",
            "prev_wheel_cmd_right", "err_int_v", "err_int_omega", "tether_tension")
DEFAULT_DIGEST = "92718af540d5f394da852d1a91139095127b67e62aa650088e62e03cc8783315"
"""sha256 of the layout-2 columns and rewards below, taken before sensor rates existed (and
before the offset penalty, turned off here, and the incremental action base and its narrower
v kernel: the IK base and the kernel of then here)."""
BEFORE = {"reward.offset_scale": 0.0, "motor.residual_base": "ik",
          "reward.tracking_v_sigma": 0.0025}


def _episodes_digest(config=None) -> tuple[str, np.ndarray]:
    columns = [OBS_NAMES.index(name) for name in LAYOUT_2]
    digest, masks = hashlib.sha256(), []
    env = CrawlerEnv(config if config is not None else load_crawler_config(overrides=BEFORE))
    try:
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            obs, _ = env.reset(seed=seed)
            digest.update(obs[columns].tobytes())
            masks.append(obs[OBS_NAMES.index("tether_tension_valid")])
            for _ in range(150):
                obs, reward, terminated, truncated, _ = env.step(
                    rng.uniform(-1, 1, 2).astype(np.float32))
                digest.update(obs[columns].tobytes())
                digest.update(np.float64(reward).tobytes())
                masks.append(obs[OBS_NAMES.index("tether_tension_valid")])
                if terminated or truncated:
                    break
    finally:
        env.close()
    return digest.hexdigest(), np.array(masks)


def test_default_observations_are_bit_identical_to_before_sensor_rates():
    digest, masks = _episodes_digest()
    assert digest == DEFAULT_DIGEST
    assert (masks == 1.0).all()  # the default load cell is always valid
    explicit = load_crawler_config(overrides={**BEFORE, **{
        f"sensors.{name}_period_steps": 1 for name in ("odometry", "imu", "encoder", "tension")}})
    assert _episodes_digest(explicit)[0] == DEFAULT_DIGEST


def _suite(**options) -> SensorSuite:
    suite = SensorSuite(dataclasses.replace(SensorConfig(), odometry_delay_steps=0, **options),
                        DT, RADIUS)
    suite.reset(0.0, np.random.default_rng(0))  # noise scale 0: exact readings
    return suite


def _read(suite: SensorSuite, step: int, wheel_speeds=None) -> tuple:
    """One step whose true values all equal `step` (wheel speeds as given)."""
    value = float(step)
    speeds = wheel_speeds if wheel_speeds is not None else (value, value)
    suite.read(np.random.default_rng(step), forward_speed=value, yaw_rate=value,
               gravity_body=(0.0, 0.0, -1.0), specific_force_body=(0.0, 0.0, 9.81),
               wheel_speeds=speeds, tether_tension=value,
               orientation=(0.0, 0.0, 0.0, 1.0), position=(0.0, 0.0, 0.0))
    (v, omega), _, encoders, tension, _ = suite.latest
    return v, omega, encoders[0], tension


@pytest.mark.parametrize("sensor, column", [("odometry", 0), ("imu", 1), ("encoder", 2),
                                            ("tension", 3)])
def test_a_period_3_sensor_holds_its_reading_for_3_steps(sensor, column):
    suite = _suite(**{f"{sensor}_period_steps": 3})
    readings = np.array([_read(suite, step) for step in range(12)])
    held = readings[:, column]
    np.testing.assert_array_equal(held, [0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9, 9])
    others = np.delete(readings, column, axis=1)  # the other sensors still read every step
    np.testing.assert_array_equal(others, np.repeat(np.arange(12.0)[:, None], 3, axis=1))


def test_the_delay_applies_after_the_hold():
    suite = _suite(tension_period_steps=3, tension_delay_steps=1)
    tension = [_read(suite, step)[3] for step in range(8)]
    assert tension == [0, 0, 0, 0, 3, 3, 3, 6]


def test_counted_encoders_at_a_slower_rate_lose_no_distance():
    counts = 1000
    suite = _suite(encoder_period_steps=4, encoder_counts_per_rev=counts)
    rng = np.random.default_rng(1)
    true_speeds = rng.uniform(2.0, 6.0, 40)
    readings = [_read(suite, step, (speed, speed))[2] for step, speed in enumerate(true_speeds)]
    # Each reading (every 4th step) is the count difference over the 4 steps before it.
    per_period = np.array(readings)[4::4] * 4 * DT
    count_angle = 2 * math.pi / counts
    travelled = np.cumsum(true_speeds * DT)[4::4]  # the angle the wheel turned up to each read
    np.testing.assert_allclose(np.cumsum(per_period) + readings[0] * DT,
                               np.floor(travelled / count_angle) * count_angle, atol=1e-9)


def test_a_slow_odometry_holds_in_the_env_observation():
    config = load_crawler_config(overrides={"sensors.odometry_period_steps": 3,
                                            "sensors.odometry_noise": 0.0})
    env = CrawlerEnv(config)
    try:
        env.reset(seed=0)
        push = np.array([0.5, 0.5, 0.0, 0.0], np.float32)
        meas_v = [env.step(push)[0][OBS_NAMES.index("meas_v")] for _ in range(30)]
    finally:
        env.close()
    # The reset reads sensor step 0 and settles one step, so env step k is sensor step k + 2;
    # reads at sensor steps 3, 6, ... arrive one step late (odometry_delay_steps 1).
    groups = np.array(meas_v[2:29]).reshape(9, 3)
    assert (groups == groups[:, :1]).all() and len(np.unique(groups[:, 0])) == 9


@pytest.mark.parametrize("value", [0, 1.5, -1])
def test_a_bad_period_is_a_clear_error(value):
    with pytest.raises(ValueError, match="sensors.imu_period_steps"):
        load_crawler_config(overrides={"sensors.imu_period_steps": value})
