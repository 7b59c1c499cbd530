"""The controller's observation layout, shared by the simulator, export and controller node.

One definition keeps training and deployment from disagreeing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ObsField:
    """One entry of the observation vector."""

    name: str
    unit: str
    description: str


OBS_FIELDS: tuple[ObsField, ...] = (
    ObsField("cmd_v", "m/s", "commanded forward velocity"),
    ObsField("cmd_omega", "rad/s", "commanded yaw rate"),
    ObsField("meas_v", "m/s", "measured forward velocity (odometry, body frame)"),
    ObsField("meas_omega", "rad/s", "measured yaw rate (IMU gyro z)"),
    ObsField("gravity_x", "1", "gravity direction in body frame (IMU), x"),
    ObsField("gravity_y", "1", "gravity direction in body frame (IMU), y"),
    ObsField("gravity_z", "1", "gravity direction in body frame (IMU), z"),
    ObsField("wheel_speed_left", "rad/s", "measured left wheel speed (encoder)"),
    ObsField("wheel_speed_right", "rad/s", "measured right wheel speed (encoder)"),
    ObsField("prev_wheel_cmd_left", "rad/s", "previous left wheel speed command"),
    ObsField("prev_wheel_cmd_right", "rad/s", "previous right wheel speed command"),
    ObsField("err_int_v", "m", "integral of (cmd_v - meas_v), anti-windup (held while the "
             "wheels are saturated in its direction)"),
    ObsField("err_int_omega", "rad", "integral of (cmd_omega - meas_omega), anti-windup"),
    ObsField("tether_tension", "N", "tether tension at the robot: the last valid load cell "
             "reading (0 before the first one or without a load cell)"),
    ObsField("tether_tension_valid", "1", "1 while the load cell reading is fresh, else 0 "
             "(no load cell, an outage or a stale reading: tether_tension holds its last value)"),
    ObsField("prev_residual_left", "rad/s", "previous left wheel speed command (without a "
             "one-step correction, motor.direct_limit) minus the inverse kinematics of the "
             "command it was sent for (the incremental base's state)"),
    ObsField("prev_residual_right", "rad/s", "previous right wheel speed command minus the "
             "inverse kinematics of the command it was sent for"),
)
OBS_NAMES: tuple[str, ...] = tuple(field.name for field in OBS_FIELDS)
MODEL_INPUT_NAME = "obs"
"""Name of the exported controller's input, float32 (batch, OBS_DIM) in this layout."""
MODEL_OUTPUT_NAME = "wheel_speeds"
"""Name of the exported controller's output, float32 (batch, 2): left, right [rad/s]."""
MODEL_CARRIED_OUTPUT_NAME = "carried_wheel_speeds"
"""Second output of a model with set-anew corrections (`motor.direct_limit`), float32 (batch,
2) [rad/s]: the command without them, whose residual the next observation carries
(`ObservationBuilder.record_wheel_command`'s `intended`)."""
OBS_DIM = len(OBS_FIELDS)
OBS_LAYOUT_VERSION = 4
"""Bump whenever OBS_FIELDS or their meaning changes; exported models carry it and the controller
checks it. 2: the error integrals stopped leaking (time constant 2 s in 1) and hold while the
wheel command is saturated in their direction (conditional integration, as the PI baseline).
3: `tether_tension_valid`, the load cell's mask, after `tether_tension`. 4: `prev_residual_*`,
the previous command's residual on IK (the `incremental` action base), at the end."""
_TENSION = OBS_NAMES.index("tether_tension")
_TENSION_VALID = OBS_NAMES.index("tether_tension_valid")
_RESIDUAL = OBS_NAMES.index("prev_residual_left")
ACTOR_OBS_DIM = _RESIDUAL
"""Leading entries the policy network's actor reads. The previous residual (the last ones) is
the `incremental` action base's state: the exported graph's mapping and the critic read it, the
actor does not (an actor that reads it learns to leak it away, undoing the integration).
The actor can still rebuild it from `prev_wheel_cmd` and the encoders, and trained models do:
they keep about half of it per step (bench/residual_retention.py, docs/baseline.md)."""
_SENSED = np.r_[0:9, _TENSION]  # entries copied from the inputs (finite-checked)

# The left/right mirror image of a state (body y -> -y): yaw quantities and the lateral gravity
# component change sign, left and right wheels swap, the rest stays.
_MIRROR_NEGATED = ("cmd_omega", "meas_omega", "gravity_y", "err_int_omega")
_MIRROR_SWAPPED = (("wheel_speed_left", "wheel_speed_right"),
                   ("prev_wheel_cmd_left", "prev_wheel_cmd_right"),
                   ("prev_residual_left", "prev_residual_right"))


RESIDUAL_CARRIERS = ("prev_wheel_cmd", "wheel_speed", "prev_residual")
"""Entries (`<name>_left`, `<name>_right`) that move with the previous residual: the command
it was part of, the encoder reading that followed it, and the residual itself."""
YAW_LEAK_SHIFT = 0.5
"""[rad/s] by which `yaw_residual_probe` moves each wheel's residual (apart)."""


def yaw_residual_probe(direct_ratio: float = 0.0) -> dict[str, list[float]]:
    """Return the yaw mode of the previous residual, as `ppo.yaw_leak_penalty` probes it.

    obs_shift: the observation of a robot whose previous residual was YAW_LEAK_SHIFT lower on
    the left wheel and higher on the right (its previous command and encoder reading with
    it), minus the observation itself; action_weights: the action's yaw mode per unit of that
    shift, so action change . action_weights is the share of the residual's yaw mode the
    actor takes back each step (bench/residual_retention.py, docs/baseline.md).
    `direct_ratio`: direct_limit / increment_limit of a policy with one-step corrections
    (`motor.direct_limit`; 0: none), whose two extra actions move the wheels that much more per
    unit, so taking the residual back through them counts alike.
    """
    shift = [0.0] * OBS_DIM
    for side, sign in (("left", -1.0), ("right", 1.0)):
        for name in RESIDUAL_CARRIERS:
            shift[OBS_NAMES.index(f"{name}_{side}")] = sign * YAW_LEAK_SHIFT
    half = 0.5 / YAW_LEAK_SHIFT
    weights = [-half, half]
    if direct_ratio > 0.0:
        weights += [-half * direct_ratio, half * direct_ratio]
    return {"obs_shift": shift, "action_weights": weights}


def mirror_spec(action_dim: int = 2, yaw_gated: bool = False) -> dict[str, list[float]]:
    """Return the crawler's left/right mirror: observation and action (wheel) maps.

    mirrored[i] = sign[i] * x[perm[i]] (the form rl/symmetry.py's MirrorSpec reads).
    `action_dim` 2: (left, right) increments; 4: the same, then the one-step corrections
    (`motor.direct_limit`), each pair swapped. `yaw_gated` (`motor.yaw_gain_limit`): a[:2] are
    the v step and the yaw gain, which the mirror keeps.
    """
    if action_dim not in (2, 4):
        raise ValueError(f"the crawler has 2 or 4 actions, got {action_dim}")
    obs_perm = list(range(OBS_DIM))
    for left, right in _MIRROR_SWAPPED:
        i, j = OBS_NAMES.index(left), OBS_NAMES.index(right)
        obs_perm[i], obs_perm[j] = j, i
    obs_sign = [-1.0 if name in _MIRROR_NEGATED else 1.0 for name in OBS_NAMES]
    return {"obs_perm": obs_perm, "obs_sign": obs_sign,
            "action_perm": ([0, 1] if yaw_gated else [1, 0]) + [3, 2][:action_dim - 2],
            "action_sign": [1.0] * action_dim}


class ObservationBuilder:
    """Assemble observations from sensor readings; keeps the integrator and previous command.

    Used identically by `CrawlerEnv` and by the controller node on the robot. The previous
    residual is the last wheel command minus the clipped IK of the command of the observation it
    answered (nominal geometry when `action_spec` is None); the command without its one-step
    correction where the controller made one (`record_wheel_command`'s `intended`). The error
    integral is a true integral with the PI baseline's anti-windup (`crawler_rl.control.pi`): a
    channel holds while the last wheel command sat at an output limit (within `residual_limit`
    of IK, or the wheel speed limit, `ActionSpec`) and its error would push that wheel further
    out.
    `action_spec` None: no output limits known, the integral only clamps at `integral_limit`.
    """

    def __init__(self, control_dt: float, action_spec: Any = None, integral_leak: float = 0.0,
                 integral_limit: float = 1.0):
        if control_dt <= 0:
            raise ValueError(f"control_dt must be > 0, got {control_dt!r}")
        self.control_dt = control_dt
        self.action_spec = action_spec
        self.residual_spec: Any = None
        """ActionSpec whose clipped IK the previous residual is measured against (None:
        `action_spec`); the controller node sets the model's, which its graph adds the residual
        to, whatever the node's own wheel speed limit."""
        self.integral_decay = float(np.exp(-integral_leak * control_dt))
        self.integral_limit = integral_limit
        from crawler_rl.sim.action import (  # action.py imports this module
            ActionSpec,
            inverse_kinematics,
            limits_around,
        )

        self._limits_around = limits_around
        self._inverse_kinematics = inverse_kinematics
        self._nominal_spec = ActionSpec()
        self.reset()

    def reset(self) -> None:
        """Forget the integral and the previous command (start of an episode or re-enable)."""
        self.error_integral = np.zeros(2)
        self.prev_wheel_cmd = np.zeros(2)
        self.prev_residual = np.zeros(2)
        self.saturation = np.zeros(2)
        """Per wheel: +1 / -1 if the last command sat at its upper / lower limit, else 0."""
        self._command = np.zeros(2)

    def record_wheel_command(self, wheel_speeds: np.ndarray,
                             intended: np.ndarray | None = None) -> None:
        """Remember the wheel speed command just sent (enters the next observation).

        `intended`: the controller's command before a rate limiter the simulator does not have
        (the controller node's), and without its one-step correction (`motor.direct_limit`:
        the exported graph's carried_wheel_speeds); the previous residual is taken from it, so
        a limiter that binds does not leave its shortfall in the residual, which the policy
        never saw in training. None: the command sent. The residual is measured against the IK of
        `residual_spec` (the model's limits; default `action_spec`).
        """
        self.prev_wheel_cmd = np.asarray(wheel_speeds, dtype=np.float64).copy()
        spec = self.action_spec
        source = self.prev_wheel_cmd if intended is None else np.asarray(intended, np.float64)
        residual_spec = self.residual_spec or spec or self._nominal_spec
        feed_forward = self._inverse_kinematics(self._command, residual_spec)
        self.prev_residual = source - feed_forward
        if spec is not None:
            if residual_spec is not spec:
                feed_forward = self._inverse_kinematics(self._command, spec)
            low, high = self._limits_around(feed_forward, spec)
            tolerance = 1e-6 * spec.max_wheel_speed
            self.saturation = (np.where(self.prev_wheel_cmd >= high - tolerance, 1.0, 0.0)
                               - np.where(self.prev_wheel_cmd <= low + tolerance, 1.0, 0.0))

    def build(
        self,
        commanded_twist: np.ndarray,
        measured_twist: np.ndarray,
        gravity_body: np.ndarray,
        wheel_speeds: np.ndarray,
        tether_tension: float,
        tether_tension_valid: float,
    ) -> np.ndarray:
        """Return the float32 observation (OBS_DIM,) and advance the error integral.

        `tether_tension_valid`: 1 (or True) while the load cell reading is fresh, 0 (False) when
        `tether_tension` is a held value or there is no load cell.
        Raises ValueError on non-finite sensor input instead of passing NaN to the policy, and on
        a mask that is neither 0 nor 1.
        """
        if tether_tension_valid not in (0, 1):  # True / False compare equal to 1 / 0
            raise ValueError(f"tether_tension_valid must be 0 or 1, got {tether_tension_valid!r}")
        obs = np.empty(OBS_DIM)
        obs[0:2] = commanded_twist  # assignment checks the shapes
        obs[2:4] = measured_twist
        obs[4:7] = gravity_body
        obs[7:9] = wheel_speeds
        obs[_TENSION] = tether_tension
        obs[_TENSION_VALID] = float(tether_tension_valid)
        if not np.isfinite(obs[_SENSED]).all():
            for label, part in (("command", obs[0:2]), ("twist", obs[2:4]),
                                ("gravity", obs[4:7]), ("wheel speeds", obs[7:9])):
                if not np.isfinite(part).all():
                    raise ValueError(f"non-finite {label} reading {part!r}")
            raise ValueError(f"non-finite tether tension {tether_tension!r}")
        error = obs[0:2] - obs[2:4]
        integral = self.error_integral * self.integral_decay + error * self.control_dt
        if self.saturation.any():
            # d wheel / d channel of the linear IK: v moves both wheels alike, omega them apart.
            push = (self.saturation.sum() * error[0],
                    (self.saturation[1] - self.saturation[0]) * error[1])
            for channel in (0, 1):
                if push[channel] > 0.0:
                    integral[channel] = self.error_integral[channel] * self.integral_decay
        np.clip(integral, -self.integral_limit, self.integral_limit, out=integral)
        self._command = obs[0:2].copy()
        self.error_integral = integral
        obs[9:11] = self.prev_wheel_cmd
        obs[11:13] = integral
        obs[_RESIDUAL:_RESIDUAL + 2] = self.prev_residual
        return obs.astype(np.float32)


def observation_metadata() -> dict[str, str]:
    """Describe the layout as string key/values (stored in the ONNX model's metadata_props)."""
    return {
        "obs_layout_version": str(OBS_LAYOUT_VERSION),
        "obs_names": ",".join(OBS_NAMES),
        "obs_units": ",".join(field.unit for field in OBS_FIELDS),
    }
