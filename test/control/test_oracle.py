"""The lookahead oracle: its tries leave the episode untouched; it tracks better than the PI."""

from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np
import pytest

from crawler_rl.control.episode import driving_env, run_episode
from crawler_rl.control.metrics import tracking_rmse
from crawler_rl.control.oracle import LookaheadOracle, error_scale_argument, parse_error_scale
from crawler_rl.control.pi import PIController, load_gains
from crawler_rl.sim.scenario import Scenario

SCENARIO = Scenario(surface="incline", slope_deg=45.0, tether_length=12.0)
STEPS = 120


class Recording:
    """Wrap a controller and keep every wheel speed command it returns."""

    def __init__(self, controller):
        self.controller, self.commands = controller, []

    def reset(self) -> None:
        self.controller.reset()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        wheels = np.asarray(self.controller(obs), dtype=np.float64)
        self.commands.append(wheels.copy())
        return wheels


class Replay:
    """Send recorded wheel speed commands in order, blind to the observation."""

    def __init__(self, commands):
        self.commands = iter(commands)

    def reset(self) -> None:
        pass

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return next(self.commands)


@pytest.fixture(scope="module")
def env():
    env = driving_env(max_episode_steps=STEPS)
    yield env
    env.close()


def make_pi(env) -> PIController:
    sim = env.unwrapped.sim
    return PIController(load_gains(), sim.action_spec, sim.control_dt)


def test_lookahead_leaves_the_episode_as_if_only_the_chosen_commands_were_sent(env) -> None:
    oracle = Recording(LookaheadOracle(env.unwrapped, make_pi(env)))
    with_lookahead = run_episode(env, oracle, seed=3, scenario=SCENARIO)
    replayed = run_episode(env, Replay(oracle.commands), seed=3, scenario=SCENARIO)
    assert len(oracle.commands) == STEPS
    for key in ("v", "omega"):
        np.testing.assert_array_equal(with_lookahead[key], replayed[key])


def test_oracle_tracks_better_than_the_pi_it_starts_from(env) -> None:
    dt = env.unwrapped.sim.control_dt
    oracle = tracking_rmse(run_episode(env, LookaheadOracle(env.unwrapped, make_pi(env)),
                                       seed=4, scenario=SCENARIO), dt)
    pi = tracking_rmse(run_episode(env, make_pi(env), seed=4, scenario=SCENARIO), dt)
    assert oracle["rmse_v"] < 0.9 * pi["rmse_v"]
    assert oracle["rmse_omega"] < pi["rmse_omega"]


@pytest.mark.parametrize("text", ["0.01", "0.01,0.05,1", "a,b", "0,0.05", "-0.01,0.05",
                                  "nan,0.05", "0.01,inf", ""])
def test_a_bad_error_scale_is_refused_with_its_form(text: str) -> None:
    with pytest.raises(ValueError, match="V,OMEGA"):
        parse_error_scale(text)


def test_the_error_scale_decides_which_channel_the_oracle_serves(env) -> None:
    """Weighing only v (a huge omega scale) tracks v closer and omega worse than weighing only
    omega, on an episode where the wall's load makes the two channels compete."""
    dt = env.unwrapped.sim.control_dt
    wall = Scenario(surface="vertical", tether_length=3.0)
    rmse = {}
    for name, text in (("v only", "0.01,1000"), ("omega only", "1000,0.05")):
        oracle = LookaheadOracle(env.unwrapped, make_pi(env), parse_error_scale(text))
        rmse[name] = tracking_rmse(run_episode(env, oracle, seed=1, scenario=wall), dt)
    assert rmse["v only"]["rmse_v"] < rmse["omega only"]["rmse_v"], rmse
    assert rmse["omega only"]["rmse_omega"] < 0.5 * rmse["v only"]["rmse_omega"], rmse


def test_the_error_scale_argument_gives_argparse_the_parser_s_message() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--scale", type=error_scale_argument)
    assert parser.parse_args(["--scale", "0.01,0.2"]).scale == (0.01, 0.2)
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()) as stderr:
        parser.parse_args(["--scale", "0.01"])
    assert "argument --scale: oracle error scale must be two positive numbers V,OMEGA" in (
        stderr.getvalue())
