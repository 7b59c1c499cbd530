"""The robot's ONNX runner and velocity controller, without ROS: policy, observation, limits.

`OnnxPolicy` is the one runner of an exported controller.onnx: the robot's `controller_node` (a
thin rclpy wrapper around `VelocityController`) and the evaluation (`crawler_rl.rl.evaluate`, the
benches) both run it, so what is evaluated is what is deployed. Keeping the logic here makes it
unit-testable and benchable without DDS. onnxruntime only: no torch on the robot.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from crawler_rl.control.pi import PIController, PIGains, load_gains
from crawler_rl.sim.action import ActionSpec, inverse_kinematics
from crawler_rl.sim.observation import (
    MODEL_CARRIED_OUTPUT_NAME,
    MODEL_INPUT_NAME,
    MODEL_OUTPUT_NAME,
    OBS_DIM,
    OBS_LAYOUT_VERSION,
    ObservationBuilder,
    observation_metadata,
)

RETRAIN_COMMAND = ("crawler-rl train --run-dir RUN (it writes RUN/controller.onnx), or crawler-rl "
                   "export CHECKPOINT -o controller.onnx for a checkpoint of this layout")

INPUT_NAME, OUTPUT_NAME = MODEL_INPUT_NAME, MODEL_OUTPUT_NAME
ACTION_SPEC_KEYS = tuple(field.name for field in fields(ActionSpec))


class ModelContractError(ValueError):
    """The ONNX file does not match the controller's documented contract: refuse to start."""


def _check_shape(label: str, shape: list, width: int, path: Path) -> None:
    """Require shape (batch, width) where batch is symbolic or 1."""
    batch_ok = len(shape) == 2 and (not isinstance(shape[0], int) or shape[0] in (1, -1))
    if not batch_ok or shape[1] != width:
        raise ModelContractError(
            f"{path}: {label} has shape {shape}, expected (batch, {width}); "
            "export the policy with crawler-rl export"
        )


class OnnxPolicy:
    """A loaded, checked controller.onnx: `obs` (batch, OBS_DIM) float32 -> `wheel_speeds`.

    `wheel_speeds`: float32 (batch, 2) [rad/s]. A model with set-anew corrections
    (`motor.direct_limit`) also outputs `carried_wheel_speeds`: after each call `carried` holds
    it (None for other models), the command whose residual the next observation must carry.

    Raises ModelContractError naming the file and the mismatch. Also a stateless
    `crawler_rl.control.episode.WheelSpeedController` (`reset`, call), as evaluation drives it.
    """

    def __init__(self, path: Path | str) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelContractError(f"policy file {self.path} does not exist")
        options = ort.SessionOptions()
        # One core for inference: the robot's other processes get the rest, and latency is lower.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # noqa: BLE001 - onnxruntime raises several unrelated types
            message = f"{self.path}: not a loadable ONNX model ({error})"
            raise ModelContractError(message) from error
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_layout_version()  # first: an older layout also has another input width
        self.carries = self._check_io()
        """The model outputs carried_wheel_speeds (set-anew corrections, `carried`)."""
        self._check_layout()
        self.action_spec = self._action_spec()
        self.control_dt = self._optional_float("control_dt")
        self._input = np.zeros((1, OBS_DIM), dtype=np.float32)
        self._outputs = [OUTPUT_NAME] + ([MODEL_CARRIED_OUTPUT_NAME] if self.carries else [])
        self.carried: np.ndarray | None = None
        """The last call's carried_wheel_speeds (2,) [rad/s]; None without that output."""

    def _check_io(self) -> bool:
        """Check the graph's inputs and outputs; return whether it has the carried output."""
        inputs = {node.name: node for node in self.session.get_inputs()}
        outputs = {node.name: node for node in self.session.get_outputs()}
        if set(inputs) != {INPUT_NAME}:
            raise ModelContractError(
                f"{self.path}: inputs are {sorted(inputs)}, expected exactly [{INPUT_NAME!r}]"
            )
        if inputs[INPUT_NAME].type != "tensor(float)":
            raise ModelContractError(
                f"{self.path}: input {INPUT_NAME!r} is {inputs[INPUT_NAME].type}, expected float32"
            )
        if OUTPUT_NAME not in outputs:
            raise ModelContractError(
                f"{self.path}: outputs are {sorted(outputs)}, expected one named {OUTPUT_NAME!r}"
            )
        _check_shape(f"input {INPUT_NAME!r}", inputs[INPUT_NAME].shape, OBS_DIM, self.path)
        _check_shape(f"output {OUTPUT_NAME!r}", outputs[OUTPUT_NAME].shape, 2, self.path)
        unknown = sorted(set(outputs) - {OUTPUT_NAME, MODEL_CARRIED_OUTPUT_NAME})
        if unknown:
            raise ModelContractError(f"{self.path}: unknown outputs {unknown}; expected "
                                     f"{OUTPUT_NAME!r} and optionally "
                                     f"{MODEL_CARRIED_OUTPUT_NAME!r}")
        carries = MODEL_CARRIED_OUTPUT_NAME in outputs
        if carries:
            _check_shape(f"output {MODEL_CARRIED_OUTPUT_NAME!r}",
                         outputs[MODEL_CARRIED_OUTPUT_NAME].shape, 2, self.path)
        return carries

    def _check_layout_version(self) -> None:
        found_version = self.metadata.get("obs_layout_version", "")
        if found_version.isdigit() and int(found_version) < OBS_LAYOUT_VERSION:
            raise ModelContractError(
                f"{self.path}: the model was trained on observation layout {found_version}, this "
                f"controller builds layout {OBS_LAYOUT_VERSION} (see crawler_rl/sim/observation.py"
                f"); an older model cannot be re-exported into it, retrain: {RETRAIN_COMMAND}"
            )

    def _check_layout(self) -> None:
        for key, expected in observation_metadata().items():
            found = self.metadata.get(key)
            if found != expected:
                raise ModelContractError(
                    f"{self.path}: observation layout mismatch in metadata {key!r}: model has "
                    f"{found!r}, this controller builds {expected!r}; re-export the policy with "
                    "this version of crawler_rl"
                )

    def _action_spec(self) -> ActionSpec:
        missing = [key for key in ACTION_SPEC_KEYS if key not in self.metadata]
        if missing:
            raise ModelContractError(f"{self.path}: metadata lacks ActionSpec keys {missing}")
        values = {key: self._optional_float(key) for key in ACTION_SPEC_KEYS}
        try:
            return ActionSpec(**values)
        except ValueError as error:
            raise ModelContractError(f"{self.path}: bad ActionSpec metadata: {error}") from error

    def _optional_float(self, key: str) -> float | None:
        if key not in self.metadata:
            return None
        try:
            return float(self.metadata[key])
        except ValueError as error:
            raise ModelContractError(
                f"{self.path}: metadata {key!r}={self.metadata[key]!r} is not a number"
            ) from error

    def wheel_speeds(self, obs: np.ndarray) -> np.ndarray:
        """Run the network on one observation (OBS_DIM,) -> wheel speeds (2,) [rad/s]."""
        self._input[0] = obs
        out, *carried = self.session.run(self._outputs, {INPUT_NAME: self._input})
        if carried:
            self.carried = np.asarray(carried[0], dtype=np.float64).reshape(2)
        return np.asarray(out, dtype=np.float64).reshape(2)

    def reset(self) -> None:
        """Stateless (the observation carries the history): forget only the last output."""
        self.carried = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Return `wheel_speeds(obs)`: the evaluation's controller interface."""
        return self.wheel_speeds(obs)


@dataclass(frozen=True)
class RobotState:
    """The latest sensor readings the observation is built from (robot terms, SI units)."""

    measured_twist: np.ndarray
    """(v [m/s], omega [rad/s]): odometry forward velocity and gyro yaw rate. Shape: (2,)."""
    gravity_body: np.ndarray
    """Unit gravity direction in the body frame. Shape: (3,)."""
    wheel_speeds: np.ndarray
    """Encoder wheel speeds (left, right) [rad/s]. Shape: (2,)."""
    tether_tension: float = 0.0
    """Tether tension at the robot [N]: the last valid reading; 0 before the first."""
    tether_tension_valid: float = 0.0
    """1 while the load cell reading is fresh, 0 when stale or absent (as in training)."""


@dataclass(frozen=True)
class ControlOutput:
    """One control step's wheel speed command and where it came from."""

    wheel_speeds: np.ndarray
    source: str
    """"policy", "ik", "pi" or "fault" (zero command)."""
    fault: str = ""


class WheelCommandLimiter:
    """Clamp wheel speeds to the limit and bound their change per control step."""

    def __init__(self, max_wheel_speed: float, max_wheel_acceleration: float, control_dt: float):
        self.max_wheel_speed = max_wheel_speed
        self.max_wheel_acceleration = max_wheel_acceleration
        self.control_dt = control_dt
        self.last = np.zeros(2)

    def reset(self) -> None:
        """Start from rest (after a stop, a fault or enabling)."""
        self.last = np.zeros(2)

    def limit(self, target: np.ndarray) -> np.ndarray:
        """Return the command closest to `target` within speed and acceleration limits."""
        clamped = np.clip(target, -self.max_wheel_speed, self.max_wheel_speed)
        max_step = self.max_wheel_acceleration * self.control_dt
        self.last = self.last + np.clip(clamped - self.last, -max_step, max_step)
        return self.last.copy()


FALLBACKS = ("ik", "pi")
"""Classical controllers that can stand in for the policy: open-loop IK, IK + tuned PI."""


class VelocityController:
    """Commanded twist + robot state -> safe wheel speed command, as in training.

    The observation is built with the same `ObservationBuilder` the simulator uses. With no policy,
    or while `use_fallback` is on, the classical `fallback` drives: "ik" (inverse kinematics,
    open loop) or "pi" (IK + PI on the measured twist, `crawler_rl.control.pi`, on the same
    observation). `use_ik_fallback` (kept from before `fallback` existed) forces plain IK.
    """

    def __init__(
        self,
        policy: OnnxPolicy | None,
        action_spec: ActionSpec,
        control_dt: float,
        max_wheel_acceleration: float,
        use_fallback: bool = False,
        fallback: str = "pi",
        pi_gains: PIGains | None = None,
        use_ik_fallback: bool = False,
    ) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        if policy is None and not (use_fallback or use_ik_fallback):
            raise ModelContractError(
                "no policy loaded: give a policy path or use_fallback (or use_ik_fallback)"
            )
        self.policy = policy
        self.action_spec = action_spec
        self.use_fallback = use_fallback
        self.use_ik_fallback = use_ik_fallback
        self.fallback = fallback
        self.pi = PIController(pi_gains or load_gains(), action_spec, control_dt)
        self.observation = ObservationBuilder(control_dt, action_spec)
        # the residual as the model's graph adds it: against IK clipped at the model's limit
        self.observation.residual_spec = policy.action_spec if policy is not None else None
        self.limiter = WheelCommandLimiter(
            action_spec.max_wheel_speed, max_wheel_acceleration, control_dt
        )
        self.last_obs = np.zeros(OBS_DIM, dtype=np.float32)

    @property
    def source(self) -> str:
        """What drives the wheels now: "policy", "ik" or "pi"."""
        if self.use_ik_fallback:
            return "ik"
        if self.use_fallback or self.policy is None:
            return self.fallback
        return "policy"

    def reset(self) -> None:
        """Forget history (integral, PI state, previous command, rate limit); start from rest."""
        self.observation.reset()
        self.pi.reset()
        self.limiter.reset()

    def stop(self, fault: str) -> ControlOutput:
        """Command zero wheel speeds and restart from rest."""
        self.reset()
        return ControlOutput(np.zeros(2), "fault", fault)

    def step(self, commanded_twist: np.ndarray, state: RobotState) -> ControlOutput:
        """Advance one control period and return the wheel speed command [rad/s]."""
        commanded_twist = np.asarray(commanded_twist, dtype=np.float64).reshape(2)
        self.observation.action_spec = self.action_spec  # follows max_wheel_speed changes
        try:
            self.last_obs = self.observation.build(
                commanded_twist,
                state.measured_twist,
                state.gravity_body,
                state.wheel_speeds,
                state.tether_tension,
                state.tether_tension_valid,
            )
        except ValueError as error:
            return self.stop(str(error))
        source = self.source
        if source == "ik":
            target = inverse_kinematics(commanded_twist, self.action_spec)
        elif source == "pi":
            self.pi.spec = self.action_spec  # follows max_wheel_speed changes
            target = self.pi(self.last_obs)
        else:
            target = self.policy.wheel_speeds(self.last_obs)
            if not np.all(np.isfinite(target)):
                return self.stop(f"non-finite model output {target!r}")
        wheel_speeds = self.limiter.limit(target)
        # The residual the model carries to its next step: without its set-anew corrections.
        intended = self.policy.carried if source == "policy" and self.policy.carries else target
        self.observation.record_wheel_command(wheel_speeds, intended=intended)
        return ControlOutput(wheel_speeds, source)
