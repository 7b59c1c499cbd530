"""The ROS-free controller core: model contract, observation, limits and faults."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from controller_models import make_controller_onnx

from crawler_rl.control.onnx_runner import (
    ModelContractError,
    OnnxPolicy,
    RobotState,
    VelocityController,
    WheelCommandLimiter,
)
from crawler_rl.control.pi import PIController, PIGains
from crawler_rl.sim.action import ActionSpec, inverse_kinematics
from crawler_rl.sim.observation import (
    OBS_DIM,
    OBS_LAYOUT_VERSION,
    ObservationBuilder,
    observation_metadata,
)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_controller_onnx(tmp_path_factory.mktemp("model") / "controller.onnx")


def flat_state(v: float = 0.0, omega: float = 0.0, tension: float = 0.0) -> RobotState:
    return RobotState(np.array([v, omega]), np.array([0.0, 0.0, -1.0]), np.array([1.0, 1.5]),
                      tension, 1.0)


def test_policy_matches_onnxruntime_and_reads_metadata(model_path: Path) -> None:
    policy = OnnxPolicy(model_path)
    obs = np.linspace(-1, 1, OBS_DIM).astype(np.float32)
    reference = ort.InferenceSession(str(model_path)).run(None, {"obs": obs[None]})[0][0]
    np.testing.assert_allclose(policy.wheel_speeds(obs), reference, rtol=1e-6)
    assert policy.action_spec == ActionSpec()
    assert policy.control_dt == pytest.approx(0.05)


def test_observation_is_built_exactly_as_in_training(model_path: Path) -> None:
    controller = VelocityController(OnnxPolicy(model_path), ActionSpec(), 0.05, 1e6)
    builder = ObservationBuilder(0.05)
    rng = np.random.default_rng(0)
    for _ in range(5):
        cmd = rng.uniform(-0.2, 0.2, 2)
        mask = float(rng.integers(2))
        state = RobotState(rng.normal(size=2), rng.normal(size=3), rng.normal(size=2), 3.0, mask)
        output = controller.step(cmd, state)
        expected = builder.build(cmd, state.measured_twist, state.gravity_body,
                                 state.wheel_speeds, 3.0, mask)
        np.testing.assert_array_equal(controller.last_obs, expected)
        builder.record_wheel_command(output.wheel_speeds)
        assert output.source == "policy"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obs_dim": 10}, "shape"),
        ({"metadata": {**observation_metadata(), "obs_layout_version": "0"}},
         "observation layout 0"),
        ({"metadata": {**observation_metadata(), "obs_layout_version": "99"}},
         "obs_layout_version"),
        ({"metadata": {**observation_metadata(), "obs_names": "a,b"}}, "obs_names"),
        ({"metadata": observation_metadata()}, "wheel_radius"),
    ],
)
def test_contract_violations_are_refused_with_the_key(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    path = make_controller_onnx(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelContractError, match=message):
        OnnxPolicy(path)


def test_a_model_of_an_older_layout_is_refused_with_the_retraining_command(
    tmp_path: Path
) -> None:
    # A layout-3 model: 15 inputs (no prev_residual_*) and layout 3 in its metadata.
    names = [name for name in observation_metadata()["obs_names"].split(",")
             if not name.startswith("prev_residual")]
    metadata = {**observation_metadata(), "obs_layout_version": str(OBS_LAYOUT_VERSION - 1),
                "obs_names": ",".join(names)}
    for obs_dim in (OBS_DIM - 2, OBS_DIM):  # refused on the layout, whatever its input width
        path = make_controller_onnx(tmp_path / f"layout3_{obs_dim}.onnx", obs_dim=obs_dim,
                                    metadata=metadata)
        with pytest.raises(ModelContractError,
                           match=r"layout 3, this controller builds layout 4.*crawler-rl train"):
            OnnxPolicy(path)


def test_missing_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelContractError, match="does not exist"):
        OnnxPolicy(tmp_path / "absent.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(ModelContractError, match="not a loadable ONNX model"):
        OnnxPolicy(corrupt)


def test_non_finite_model_output_gives_zero_and_resets(model_path: Path) -> None:
    controller = VelocityController(OnnxPolicy(model_path), ActionSpec(), 0.05, 1e6)
    assert np.any(controller.step(np.array([0.1, 0.0]), flat_state()).wheel_speeds != 0)
    output = controller.step(np.array([2.0, 0.0]), flat_state())  # model returns NaN here
    assert output.source == "fault" and "non-finite model output" in output.fault
    np.testing.assert_array_equal(output.wheel_speeds, np.zeros(2))
    np.testing.assert_array_equal(controller.observation.prev_wheel_cmd, np.zeros(2))


def test_non_finite_reading_gives_zero(model_path: Path) -> None:
    controller = VelocityController(OnnxPolicy(model_path), ActionSpec(), 0.05, 1e6)
    output = controller.step(np.array([0.1, 0.0]), flat_state(v=float("nan")))
    assert output.source == "fault" and "non-finite" in output.fault
    np.testing.assert_array_equal(output.wheel_speeds, np.zeros(2))


def test_ik_fallback_uses_inverse_kinematics(model_path: Path) -> None:
    spec = ActionSpec()
    controller = VelocityController(OnnxPolicy(model_path), spec, 0.05, 1e6, use_ik_fallback=True)
    cmd = np.array([0.1, 0.3])
    output = controller.step(cmd, flat_state())
    assert output.source == "ik"
    np.testing.assert_allclose(output.wheel_speeds, inverse_kinematics(cmd, spec))


def test_pi_fallback_runs_the_pi_law_on_the_observation(model_path: Path) -> None:
    spec, gains = ActionSpec(), PIGains(0.4, 3.0, 0.6, 8.0)
    controller = VelocityController(OnnxPolicy(model_path), spec, 0.05, 1e6, use_fallback=True,
                                    fallback="pi", pi_gains=gains)
    reference = PIController(gains, spec, 0.05)
    cmd = np.array([0.1, 0.3])
    for measured in ([0.0, 0.0], [0.05, 0.1], [0.08, 0.25]):
        output = controller.step(cmd, flat_state(*measured))
        assert output.source == "pi"
        np.testing.assert_allclose(output.wheel_speeds,
                                   reference.wheel_speeds_for(cmd, np.array(measured)),
                                   rtol=1e-6)
    assert np.all(output.wheel_speeds > inverse_kinematics(cmd, spec))  # integral at work
    controller.use_ik_fallback = True  # the older switch still means plain IK
    np.testing.assert_allclose(controller.step(cmd, flat_state()).wheel_speeds,
                               inverse_kinematics(cmd, spec))
    controller.reset()
    np.testing.assert_array_equal(controller.pi.integral, np.zeros(2))
    with pytest.raises(ValueError, match="fallback must be one of"):
        VelocityController(None, spec, 0.05, 1e6, use_fallback=True, fallback="pid")


def test_no_policy_without_fallback_is_refused() -> None:
    with pytest.raises(ModelContractError, match="use_ik_fallback"):
        VelocityController(None, ActionSpec(), 0.05, 100.0)


def test_limiter_clamps_speed_and_rate() -> None:
    limiter = WheelCommandLimiter(max_wheel_speed=5.0, max_wheel_acceleration=20.0,
                                  control_dt=0.05)
    steps = [limiter.limit(np.array([100.0, -3.0])) for _ in range(8)]
    np.testing.assert_allclose(steps[0], [1.0, -1.0])
    np.testing.assert_allclose(steps[-1], [5.0, -3.0])
    assert np.all(np.abs(np.diff(np.array(steps), axis=0)) <= 1.0 + 1e-12)



TRAINED_MODEL = Path(__file__).resolve().parents[1] / "data" / "controller.onnx"


def _intended_residual(controller: VelocityController, command: np.ndarray) -> np.ndarray:
    """The model's carried command for the last observation, minus the model's clipped IK.

    The carried command leaves out the set-anew corrections (`motor.direct_limit`): the graph's
    second output, which the checked-in model has.
    """
    policy = controller.policy
    policy.wheel_speeds(controller.last_obs)
    assert policy.carries and policy.carried is not None
    return policy.carried - inverse_kinematics(command, policy.action_spec)


def test_a_binding_rate_limiter_does_not_wind_into_the_incremental_residual() -> None:
    # The trained model's graph adds the previous residual to IK (motor.residual_base:
    # incremental). The node's rate limiter, which training never had, holds a command reversal
    # back; the residual must be the one the model intended, not the limited command's.
    policy = OnnxPolicy(TRAINED_MODEL)
    assert (policy.metadata["action_mapping"]
            == "incremental_and_direct_residual_on_inverse_kinematics")
    controller = VelocityController(policy, policy.action_spec, 0.05, max_wheel_acceleration=40.0)
    forward, reverse = np.array([0.15, 0.8]), np.array([-0.15, -0.8])
    for _ in range(30):
        controller.step(forward, flat_state(v=0.15))
    output = controller.step(reverse, flat_state(v=0.15))
    intended = _intended_residual(controller, reverse)
    sent = output.wheel_speeds - inverse_kinematics(reverse, policy.action_spec)
    assert np.abs(sent - intended).max() > 5.0  # the limiter (2 rad/s per step) binds
    np.testing.assert_allclose(controller.observation.prev_residual, intended, atol=1e-5)


def test_the_residual_is_measured_against_the_models_ik_whatever_the_node_limit() -> None:
    policy = OnnxPolicy(TRAINED_MODEL)
    node_spec = replace(policy.action_spec, max_wheel_speed=6.0)  # a lower safety clamp
    controller = VelocityController(policy, node_spec, 0.05, 1e6)
    command = np.array([0.15, 0.8])  # right wheel IK 8.2 rad/s: above the node's clamp
    for _ in range(20):
        output = controller.step(command, flat_state(v=0.1))
        assert np.abs(output.wheel_speeds).max() <= 6.0 + 1e-9
        # the graph adds the residual to IK clipped at the model's 12 rad/s, not at 6
        np.testing.assert_allclose(controller.observation.prev_residual,
                                   _intended_residual(controller, command), atol=1e-5)
