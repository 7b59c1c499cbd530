import dataclasses

import numpy as np
import pytest

from crawler_rl.control.drive import drive_baseline, run_baseline_episode
from crawler_rl.control.episode import on_ik_base
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario

VERTICAL_UP = Scenario(surface="vertical", slope_deg=90.0, tether_length=3.0, randomize=False,
                       start_heading_deg=0.0)


def _drive(sim, wheel_speeds, steps):
    for _ in range(steps):
        sim.apply_wheel_speeds(np.asarray(wheel_speeds, dtype=float))
        sim.step_control()


def _with_adhesion(config, newtons):
    return dataclasses.replace(
        config, magnet=dataclasses.replace(config.magnet, adhesion_per_wheel=newtons)
    )


def test_adhesion_holds_on_vertical_wall_and_drives_up(config):
    sim = CrawlerSim(config, VERTICAL_UP, np.random.default_rng(0))
    try:
        start = sim.base_pose()[0]
        _drive(sim, (0.0, 0.0), 40)  # 2 s holding still
        held = sim.base_pose()[0]
        assert not sim.detached
        assert abs(held[2] - start[2]) < 0.005  # still on the wall
        assert held[0] > start[0] - 0.15  # droop lets it creep, not fall
        _drive(sim, (6.0, 6.0), 60)  # 3 s at 0.15 m/s nominal, straight up (+x)
        climbed = sim.base_pose()[0][0] - held[0]
        assert not sim.detached
        assert 0.2 < climbed < 0.45
    finally:
        sim.close()


def test_without_adhesion_it_falls_off_the_wall(config):
    sim = CrawlerSim(_with_adhesion(config, 0.0), VERTICAL_UP, np.random.default_rng(0))
    try:
        start = sim.base_pose()[0]
        _drive(sim, (0.0, 0.0), 20)
        assert sim.base_pose()[0][0] < start[0] - 1.0 or sim.detached
    finally:
        sim.close()


def test_tether_tension_grows_with_length(config):
    tensions = []
    for length in (2.0, 10.0, 30.0):
        scenario = dataclasses.replace(VERTICAL_UP, tether_length=length)
        sim = CrawlerSim(config, scenario, np.random.default_rng(0))
        try:
            _drive(sim, (5.0, 5.0), 20)
            tensions.append(sim.tether.tension)
        finally:
            sim.close()
    assert tensions[0] < tensions[1] < tensions[2]
    assert tensions[2] > 3 * tensions[0]


def test_lumped_tether_direction_turns_as_robot_moves(config):
    scenario = Scenario(surface="deck", tether_length=5.0, randomize=False, start_heading_deg=90)
    sim = CrawlerSim(config, scenario, np.random.default_rng(0))
    try:
        _drive(sim, (0.0, 0.0), 5)
        before = np.array(sim.tether.force)
        _drive(sim, (8.0, 8.0), 80)  # 0.8 m across the anchor direction
        _drive(sim, (0.0, 0.0), 10)
        after = np.array(sim.tether.force)
        cosine = before @ after / (np.linalg.norm(before) * np.linalg.norm(after))
        assert cosine < 0.9
        polyline = sim.tether_polyline()
        assert polyline.shape[1] == 3 and np.allclose(polyline[0], sim.anchor)
    finally:
        sim.close()


def test_ik_baseline_drifts_on_vertical_long_tether(with_episode_seconds):
    env = CrawlerEnv(on_ik_base(with_episode_seconds(8.0)))  # run_episode drives wheel speeds
    try:
        errors = {}
        for name, scenario in {
            "deck_short": Scenario(surface="deck", tether_length=3.0),
            "vertical_long": Scenario(surface="vertical", slope_deg=90.0, tether_length=28.0),
        }.items():
            runs = [run_baseline_episode(env, scenario, seed) for seed in (0, 1)]
            e = np.concatenate([run["errors"] for run in runs])
            errors[name] = np.sqrt(np.mean(e**2, axis=0))
            assert not any(run["terminated"] for run in runs)
        assert errors["vertical_long"][0] > 2.0 * errors["deck_short"][0]
        assert errors["vertical_long"][1] > 2.0 * errors["deck_short"][1]
    finally:
        env.close()


def test_curved_hull_keeps_contact_while_driving(config):
    scenario = Scenario(surface="curved", slope_deg=60.0, hull_radius=2.0, tether_length=10.0,
                        randomize=False, start_heading_deg=90.0)
    sim = CrawlerSim(config, scenario, np.random.default_rng(0))
    try:
        _drive(sim, (8.0, 7.0), 60)
        assert not sim.detached and abs(sim.gap) < 0.005
        position = sim.base_pose()[0]
        normal, _ = sim.params.hull.normal_and_distance(position)
        assert abs(normal[1]) > 0.05  # it moved around the curve
    finally:
        sim.close()


def test_chain_tether_pulls_and_reports_tension(config):
    chain = dataclasses.replace(config, tether=dataclasses.replace(config.tether, model="chain"))
    scenario = dataclasses.replace(VERTICAL_UP, tether_length=6.0)
    sim = CrawlerSim(chain, scenario, np.random.default_rng(0))
    try:
        _drive(sim, (4.0, 4.0), 20)
        assert sim.tether.tension > 0.5
        assert sim.tether_polyline().shape == (config.tether.chain_links + 1, 3)
        assert not sim.detached
        sim.reset()  # restoreState path with the chain in the world
        _drive(sim, (0.0, 0.0), 2)
        assert np.isfinite(sim.tether.tension)
    finally:
        sim.close()


def test_drive_baseline_prints_table_and_returns_rmse(capsys):
    result = drive_baseline("vertical", 20.0, seconds=4.0, seed=3)
    assert {"rmse_v", "rmse_omega", "segments"} <= set(result)
    # It drives: the error stays well below the commanded speed (a crawler that does not move
    # has rmse_v = |v|), and the pooled RMSE is the time-weighted one of the segments.
    segments = result["segments"]
    seconds = np.array([segment["seconds"] for segment in segments])
    for key in ("rmse_v", "rmse_omega"):
        pooled = np.sqrt(np.sum(seconds * [s[key] ** 2 for s in segments]) / seconds.sum())
        assert result[key] == pytest.approx(pooled, rel=1e-9), key
    speed = np.sqrt(np.sum(seconds * [s["v"] ** 2 for s in segments]) / seconds.sum())
    assert 0.0 < result["rmse_v"] < 0.5 * speed, (result["rmse_v"], speed)
    assert not result["detached"] and result["mean_tension"] > 1.0  # 20 m hanging on a wall
    out = capsys.readouterr().out
    assert "RMSE v" in out and "vertical" in out
    with pytest.raises(ValueError, match="surface"):
        drive_baseline("ceiling", 5.0, seconds=1.0, seed=0)


def test_motor_torque_limit_is_enforced(config):
    weak = dataclasses.replace(config, motor=dataclasses.replace(config.motor, max_torque=0.3))
    sim = CrawlerSim(weak, VERTICAL_UP, np.random.default_rng(0))
    try:
        start = sim.base_pose()[0]
        _drive(sim, (6.0, 6.0), 20)  # climbing needs ~0.55 N m per wheel
        torques = sim.motor_torques()
        assert np.all(np.abs(torques) <= 0.3 * 1.1)
        assert np.all(torques > 0.25)  # saturated
        assert sim.base_pose()[0][0] < start[0]  # it cannot climb, it slides down
    finally:
        sim.close()


def _yaw_rate_step_changes(config, wheel_speeds, steps=60, settle=20):
    """Mean |omega_t - omega_t-1| [rad/s] under a constant wheel command, after settling."""
    scenario = Scenario(surface="vertical", slope_deg=90.0, tether_length=25.0,
                        randomize=False, start_heading_deg=135.0)
    sim = CrawlerSim(config, scenario, np.random.default_rng(0))
    try:
        rates = []
        for _ in range(steps):
            sim.apply_wheel_speeds(np.asarray(wheel_speeds, dtype=float))
            sim.step_control()
            rates.append(sim.true_twist()[1])
        return float(np.abs(np.diff(rates[settle:])).mean())
    finally:
        sim.close()


def test_constant_command_near_stall_settles_instead_of_ringing(config):
    # One wheel pushing against the load of a vertical wall and a long tether, the other at
    # rest: the load changes steeply with speed there. Droop from last period's raw torque
    # made the yaw rate flip by ~0.75 rad/s every control step under this constant command.
    raw_torque = dataclasses.replace(
        config, motor=dataclasses.replace(config.motor, droop_time_constant=0.0))
    assert _yaw_rate_step_changes(raw_torque, (-3.3, 0.0)) > 0.3
    assert _yaw_rate_step_changes(config, (-3.3, 0.0)) < 0.05


@pytest.mark.parametrize("imbalance", [-0.15, 0.15])
def test_a_motor_gain_imbalance_turns_a_straight_drive_towards_the_weaker_side(config,
                                                                                 imbalance):
    """motor.gain_imbalance b: left / right gains gain x (1 - b, 1 + b). Equal wheel commands
    on the deck then turn the robot towards the weaker side (b > 0: left weaker, turning left,
    positive yaw rate), and b = 0 drives straight."""
    deck = Scenario(surface="deck", tether_length=2.0, randomize=False, start_heading_deg=0.0)
    rates = {}
    for b in (0.0, imbalance):
        uneven = dataclasses.replace(config, motor=dataclasses.replace(config.motor,
                                                                       gain_imbalance=b))
        sim = CrawlerSim(uneven, deck, np.random.default_rng(0))
        try:
            _drive(sim, (4.0, 4.0), 40)
            rates[b] = sim.true_twist()[1]
            assert sim.params.motor_gain == pytest.approx([1.0 - b, 1.0 + b])
        finally:
            sim.close()
    # Pure kinematics: omega = r (w_right - w_left) / track, with w_right - w_left = 2b * 4.
    expected = config.robot.wheel_radius * 2 * imbalance * 4.0 / config.robot.track_width
    assert abs(rates[0.0]) < 0.1 * abs(expected)
    assert rates[imbalance] == pytest.approx(expected, rel=0.3)
