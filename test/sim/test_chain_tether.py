"""The chain (multibody) tether: stable on every surface and length, and consistent with the
lumped model where both describe the same physics."""

import dataclasses

import numpy as np
import pytest

from crawler_rl.sim.action import inverse_kinematics
from crawler_rl.sim.crawler import CrawlerSim
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario, held_out_scenarios

SPEED_LIMIT = 0.5
"""|v| [m/s] no episode may reach: the crawler's wheels give at most 0.3 m/s."""


def _with_tether(config, model):
    return dataclasses.replace(config, tether=dataclasses.replace(config.tether, model=model))


def _drive_randomly(env, scenario, seed, steps):
    """Random residual actions (any controller's worst case); return max |v|, max |omega|."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed, options={"scenario": scenario})
    top_v = top_omega = 0.0
    for step in range(steps):
        observation, _, terminated, truncated, info = env.step(
            rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32))
        v, omega = env.sim.true_twist()
        assert np.isfinite(observation).all() and np.isfinite(info["tether_tension"])
        assert not terminated, f"{scenario.label}: detached at step {step}"
        top_v, top_omega = max(top_v, abs(v)), max(top_omega, abs(omega))
        if truncated:
            break
    return top_v, top_omega, step + 1


def test_chain_runs_every_held_out_scenario_for_its_whole_episode(config):
    env = CrawlerEnv(_with_tether(config, "chain"))
    try:
        for index, scenario in enumerate(held_out_scenarios()):
            top_v, top_omega, steps = _drive_randomly(env, scenario, seed=index, steps=10_000)
            assert steps == env.max_steps  # the full 20 s
            assert top_v < SPEED_LIMIT, f"{scenario.label}: |v| reached {top_v:.2f} m/s"
            assert top_omega < 5.0, f"{scenario.label}: |omega| reached {top_omega:.2f} rad/s"
    finally:
        env.close()


@pytest.mark.parametrize("length", [0.5, 45.0])
def test_chain_holds_at_the_shortest_and_longest_tether_on_every_surface(config, length):
    env = CrawlerEnv(_with_tether(config, "chain"))
    try:
        for surface, slope, radius in (("deck", 0.0, 3.0), ("incline", 60.0, 3.0),
                                       ("vertical", 90.0, 3.0), ("curved", 45.0, 1.5)):
            scenario = Scenario(surface=surface, slope_deg=slope, hull_radius=radius,
                                tether_length=length)
            top_v, _, _ = _drive_randomly(env, scenario, seed=7, steps=100)
            assert top_v < SPEED_LIMIT, f"{surface}/{length} m: |v| reached {top_v:.2f} m/s"
    finally:
        env.close()


def _tangential_tension(sim):
    normal, _ = sim.params.hull.normal_and_distance(sim.base_pose()[0])
    force = np.asarray(sim.tether.force)
    return float(np.linalg.norm(force - (force @ normal) * normal))


@pytest.mark.parametrize("length", [10.0, 30.0])
def test_chain_hanging_down_a_wall_carries_the_lumped_models_weight(config, length):
    # The tether hangs as a V from the anchor above: the robot carries one leg, the share
    # the lumped model calls hanging_fraction, plus the winch pretension along the tether.
    scenario = Scenario(surface="vertical", slope_deg=90.0, tether_length=length,
                        randomize=False, start_heading_deg=0.0)
    sim = CrawlerSim(_with_tether(config, "chain"), scenario, np.random.default_rng(0))
    try:
        tensions = []
        for _ in range(80):
            sim.apply_wheel_speeds(np.zeros(2))
            sim.step_control()
            tensions.append(_tangential_tension(sim))
        tether = config.tether
        carried = (tether.hanging_fraction * tether.weight_per_metre * length
                   * config.physics.gravity)
        measured = float(np.mean(tensions[20:])) - tether.pretension
        assert measured == pytest.approx(carried, rel=0.15)
    finally:
        sim.close()


def _rest_and_moving_tension(config, model, length):
    """Mean tangential tether force standing still, then driving away from the anchor."""
    scenario = Scenario(surface="deck", tether_length=length, randomize=False,
                        start_heading_deg=180.0)
    sim = CrawlerSim(_with_tether(config, model), scenario, np.random.default_rng(0))
    try:
        tensions = []
        for step in range(160):
            command = np.array([0.1, 0.0]) if step >= 40 else np.zeros(2)
            sim.apply_wheel_speeds(inverse_kinematics(command, sim.action_spec))
            sim.step_control()
            tensions.append(_tangential_tension(sim))
        return float(np.mean(tensions[20:40])), float(np.mean(tensions[80:]))
    finally:
        sim.close()


def test_chain_on_the_deck_drags_only_when_moving_like_the_lumped_model(config):
    length = 20.0
    chain_rest, chain_moving = _rest_and_moving_tension(config, "chain", length)
    lumped_rest, lumped_moving = _rest_and_moving_tension(config, "lumped", length)
    pretension = config.tether.pretension
    assert chain_rest < pretension + 0.5  # no drag at rest, only the winch (at most)
    assert lumped_rest == pytest.approx(pretension, abs=0.5)
    # Drag while moving: the lumped model's Coulomb drag of the whole length; the chain drags
    # whatever part of its V slides, by friction chosen to give the same drag per metre.
    lumped_drag = lumped_moving - lumped_rest
    assert lumped_drag == pytest.approx(config.tether.drag_per_metre * length, rel=0.1)
    assert chain_moving - chain_rest == pytest.approx(lumped_drag, rel=0.3)
