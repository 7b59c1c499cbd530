import numpy as np
import pytest

from crawler_rl.sim.observation import (
    OBS_DIM,
    OBS_NAMES,
    ObservationBuilder,
    observation_metadata,
)


def build(builder, cmd=(0.1, 0.0), meas=(0.05, 0.0), tension=3.0, valid=1.0):
    return builder.build(np.array(cmd), np.array(meas), np.array([0, 0, -1.0]),
                         np.array([2.0, 2.1]), tension, valid)


def test_layout_positions_match_names():
    builder = ObservationBuilder(control_dt=0.05, integral_leak=0.0)
    builder.record_wheel_command(np.array([4.0, 4.5]))
    obs = build(builder)
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    named = dict(zip(OBS_NAMES, obs, strict=True))
    assert named["cmd_v"] == pytest.approx(0.1)
    assert named["meas_v"] == pytest.approx(0.05)
    assert named["gravity_z"] == pytest.approx(-1.0)
    assert named["wheel_speed_right"] == pytest.approx(2.1)
    assert named["prev_wheel_cmd_right"] == pytest.approx(4.5)
    assert named["tether_tension"] == pytest.approx(3.0)
    assert named["tether_tension_valid"] == 1.0
    assert OBS_NAMES.index("tether_tension_valid") == OBS_NAMES.index("tether_tension") + 1
    masked = build(ObservationBuilder(0.05), valid=False)
    assert masked[OBS_NAMES.index("tether_tension_valid")] == 0.0
    # no leak: integral after one step = error * dt
    assert named["err_int_v"] == pytest.approx(0.05 * 0.05)


def test_integral_accumulates_saturates_and_resets():
    builder = ObservationBuilder(control_dt=0.05, integral_leak=0.0, integral_limit=0.01)
    for _ in range(100):
        obs = build(builder)
    assert obs[OBS_NAMES.index("err_int_v")] == pytest.approx(0.01)
    builder.reset()
    obs = build(builder, cmd=(0.0, 0.0), meas=(0.0, 0.0))
    assert obs[OBS_NAMES.index("err_int_v")] == 0.0
    assert obs[OBS_NAMES.index("prev_wheel_cmd_left")] == 0.0


@pytest.mark.parametrize("bad", [dict(meas=(np.nan, 0.0)), dict(tension=np.inf)])
def test_non_finite_sensor_values_raise(bad):
    with pytest.raises(ValueError, match="non-finite"):
        build(ObservationBuilder(control_dt=0.05), **bad)


@pytest.mark.parametrize("mask", [0.5, -1.0, np.nan, 2])
def test_a_mask_other_than_0_or_1_raises(mask):
    with pytest.raises(ValueError, match="tether_tension_valid"):
        build(ObservationBuilder(control_dt=0.05), valid=mask)


def test_the_mirror_keeps_the_mask():
    from crawler_rl.sim.observation import mirror_spec

    spec, index = mirror_spec(), OBS_NAMES.index("tether_tension_valid")
    assert spec["obs_perm"][index] == index and spec["obs_sign"][index] == 1.0


def test_metadata_lists_every_field():
    meta = observation_metadata()
    assert meta["obs_names"].split(",") == list(OBS_NAMES)
    assert len(meta["obs_units"].split(",")) == OBS_DIM


def test_bad_control_dt():
    with pytest.raises(ValueError, match="control_dt"):
        ObservationBuilder(control_dt=0.0)


def test_integral_does_not_leak_by_default():
    builder = ObservationBuilder(control_dt=0.05)
    for _ in range(200):  # 10 s: a 2 s leak (layout 1) would have settled at 0.05 * 2 = 0.1
        obs = build(builder, cmd=(0.1, 0.2), meas=(0.05, 0.1))
    assert obs[OBS_NAMES.index("err_int_v")] == pytest.approx(0.05 * 10.0, rel=1e-4)
    assert obs[OBS_NAMES.index("err_int_omega")] == pytest.approx(0.1 * 10.0, rel=1e-4)


def test_integral_holds_while_the_wheels_are_saturated_in_its_direction():
    from crawler_rl.sim.action import ActionSpec, output_limits

    spec = ActionSpec()
    builder = ObservationBuilder(control_dt=0.05, action_spec=spec)
    cmd = np.array([0.1, 0.0])
    low, high = output_limits(cmd, spec)
    build(builder, cmd=cmd, meas=(0.05, 0.0))
    after_one = builder.error_integral.copy()
    builder.record_wheel_command(high)  # both wheels at their upper limit
    build(builder, cmd=cmd, meas=(0.05, 0.0))  # too slow: more v would push them further out
    np.testing.assert_array_equal(builder.error_integral, after_one)
    build(builder, cmd=cmd, meas=(0.15, 0.0))  # too fast: the error turns, integration resumes
    assert builder.error_integral[0] == pytest.approx(after_one[0] - 0.05 * 0.05)
    builder.record_wheel_command(np.array([low[0], high[1]]))  # saturated apart: a turn
    build(builder, cmd=cmd, meas=(0.05, -0.2))  # omega error +0.2 pushes the right wheel up
    assert builder.error_integral[1] == pytest.approx(0.0)
    assert builder.error_integral[0] == pytest.approx(after_one[0])  # v error: one up, one down
