import numpy as np
import pytest

from crawler_rl.sim.action import (
    ActionSpec,
    InverseKinematicsController,
    inverse_kinematics,
    wheel_speeds_from_action,
)

SPEC = ActionSpec(wheel_radius=0.025, track_width=0.14, max_wheel_speed=12.0, residual_limit=6.0)


def test_ik_straight_and_turn_by_hand():
    # v = 0.1 m/s straight: both wheels 0.1 / 0.025 = 4 rad/s.
    np.testing.assert_allclose(inverse_kinematics(np.array([0.1, 0.0]), SPEC), [4.0, 4.0])
    # pure turn omega = 1 rad/s: wheels -+ 0.07 / 0.025 = 2.8 rad/s.
    np.testing.assert_allclose(inverse_kinematics(np.array([0.0, 1.0]), SPEC), [-2.8, 2.8])


def test_ik_clips_to_wheel_limit_and_batches():
    wheels = InverseKinematicsController(SPEC).wheel_speeds(np.array([[1.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(wheels, [[12.0, 12.0], [0.0, 0.0]])


def test_zero_action_is_the_ik_baseline_and_residual_is_scaled():
    cmd = np.array([0.1, 0.5])
    ik = inverse_kinematics(cmd, SPEC)
    np.testing.assert_allclose(wheel_speeds_from_action(cmd, np.zeros(2), SPEC), ik)
    out = wheel_speeds_from_action(cmd, np.array([0.5, -0.5]), SPEC)
    np.testing.assert_allclose(out, ik + [3.0, -3.0])
    # actions beyond [-1, 1] saturate at the residual limit, then at the wheel limit
    out = wheel_speeds_from_action(np.array([0.2, 0.0]), np.array([5.0, -5.0]), SPEC)
    np.testing.assert_allclose(out, [12.0, 8.0 - 6.0])


def test_non_finite_action_is_refused():
    with pytest.raises(ValueError, match="non-finite action"):
        wheel_speeds_from_action(np.zeros(2), np.array([np.nan, 0.0]), SPEC)


@pytest.mark.parametrize("field", ["wheel_radius", "track_width", "max_wheel_speed"])
def test_action_spec_rejects_bad_values(field):
    with pytest.raises(ValueError, match=field):
        ActionSpec(**{field: -1.0})
