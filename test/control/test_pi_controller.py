"""The PI baseline's law: feed-forward, integral action, anti-windup, output limits, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from crawler_rl.control.pi import PIController, PIGains, load_gains
from crawler_rl.sim.action import ActionSpec, inverse_kinematics

SPEC = ActionSpec()
DT = 0.05


def body_twist(wheel_speeds: np.ndarray, spec: ActionSpec = SPEC) -> np.ndarray:
    """Forward kinematics of the nominal robot (the test's own, independent of the package)."""
    left, right = wheel_speeds * spec.wheel_radius
    return np.array([(left + right) / 2.0, (right - left) / spec.track_width])


def closed_loop(controller: PIController, command: np.ndarray, efficiency: float,
                disturbance: np.ndarray, steps: int) -> np.ndarray:
    """Twist of a plant that delivers `efficiency` x the commanded twist minus a disturbance."""
    twist = np.zeros(2)
    history = []
    for _ in range(steps):
        wheels = controller.wheel_speeds_for(command, twist)
        twist = efficiency * body_twist(wheels) - disturbance
        history.append(twist)
    return np.array(history)


def test_zero_gains_is_exactly_the_ik_feed_forward() -> None:
    controller = PIController(PIGains(0.0, 0.0, 0.0, 0.0), SPEC, DT)
    command = np.array([0.1, -0.4])
    for measured in ([0.0, 0.0], [0.3, 1.0]):
        np.testing.assert_array_equal(controller.wheel_speeds_for(command, measured),
                                      inverse_kinematics(command, SPEC))


def test_integral_action_removes_a_constant_disturbance_that_p_alone_leaves() -> None:
    command, disturbance = np.array([0.1, 0.5]), np.array([0.03, 0.2])
    pi = closed_loop(PIController(PIGains(0.5, 5.0, 0.5, 5.0), SPEC, DT), command, 0.8,
                     disturbance, 200)
    p_only = closed_loop(PIController(PIGains(0.5, 0.0, 0.5, 0.0), SPEC, DT), command, 0.8,
                         disturbance, 200)
    np.testing.assert_allclose(pi[-1], command, atol=1e-4)
    assert np.all(np.abs(p_only[-1] - command) > [0.01, 0.05])


def test_output_stays_within_the_wheel_and_residual_limits() -> None:
    controller = PIController(PIGains(4.0, 40.0, 4.0, 40.0), SPEC, DT)
    rng = np.random.default_rng(0)
    for _ in range(500):
        command = rng.uniform([-0.15, -0.8], [0.15, 0.8])
        wheels = controller.wheel_speeds_for(command, rng.uniform([-0.5, -3.0], [0.5, 3.0]))
        feed_forward = inverse_kinematics(command, SPEC)
        assert np.all(np.abs(wheels) <= SPEC.max_wheel_speed + 1e-12)
        assert np.all(np.abs(wheels - feed_forward) <= SPEC.residual_limit + 1e-12)


def test_integrator_holds_while_saturated_and_recovers_without_windup() -> None:
    gains = PIGains(0.5, 5.0, 0.5, 5.0)
    controller = PIController(gains, SPEC, DT)
    command = np.array([0.1, 0.0])
    stalled = np.array([0.0, 0.0])  # e.g. a wheel stuck: the error never closes
    for _ in range(40):
        controller.wheel_speeds_for(command, stalled)
    held = controller.integral.copy()
    for _ in range(400):
        wheels = controller.wheel_speeds_for(command, stalled)
    np.testing.assert_array_equal(controller.integral, held)  # no growth while saturated
    np.testing.assert_allclose(wheels - inverse_kinematics(command, SPEC),
                               [SPEC.residual_limit] * 2)
    # Once the robot moves again it tracks within a few periods: nothing to unwind (a plain
    # integrator would hold 400 periods' worth of error, a 10 m/s correction, by now).
    recovered = closed_loop(controller, command, 1.0, np.zeros(2), 60)
    assert np.count_nonzero(np.abs(recovered[:, 0] - command[0]) > 0.01) < 15
    assert np.abs(recovered[-1] - command).max() < 0.005


def test_reset_zeroes_the_integrators_and_obs_call_reads_command_and_measurement() -> None:
    controller = PIController(PIGains(0.3, 3.0, 0.3, 3.0), SPEC, DT)
    obs = np.zeros(14, dtype=np.float32)
    obs[0:4] = [0.1, 0.2, 0.05, 0.0]
    first = controller(obs)
    assert np.any(controller.integral != 0.0)
    controller.reset()
    np.testing.assert_array_equal(controller.integral, np.zeros(2))
    np.testing.assert_allclose(controller(obs), first)


def test_bad_gains_and_non_finite_input_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="ki_omega"):
        PIGains(1.0, 1.0, 1.0, float("nan"))
    with pytest.raises(ValueError, match="kp_v"):
        PIGains(-1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="unknown \\['kd_v'\\]"):
        PIGains.from_mapping({"kp_v": 1, "ki_v": 1, "kp_omega": 1, "ki_omega": 1, "kd_v": 1})
    controller = PIController(PIGains(1.0, 1.0, 1.0, 1.0), SPEC, DT)
    with pytest.raises(ValueError, match="non-finite"):
        controller.wheel_speeds_for(np.array([0.1, 0.0]), np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="control_dt"):
        PIController(PIGains(1.0, 1.0, 1.0, 1.0), SPEC, 0.0)


def test_shipped_gains_load_and_are_not_trivial() -> None:
    gains = load_gains()
    assert gains.ki_v > 0.0 and gains.ki_omega > 0.0
