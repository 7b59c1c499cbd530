"""Export a checkpoint's deterministic policy to ONNX, normalizer and action mapping included.

For the crawler the graph is obs (batch, OBS_DIM) -> wheel_speeds (batch, 2) [rad/s]: the exact
`crawler_rl.sim.action.wheel_speeds_from_action` mapping, computing its base from the
observation: IK of the commanded twist in obs[:, 0:2], or with `motor.residual_base: pi` IK + the
PI on the observation's error and error integral (`observation_pi_wheel_speeds`), or with
`incremental` IK + the observation's previous residual (`incremental_wheel_speeds`). With
`motor.direct_limit` the graph has a second output, carried_wheel_speeds (batch, 2): the
command without the set-anew corrections, whose residual the next observation carries
(`incremental_direct_wheel_speeds`); with `motor.yaw_gain_limit` the first two actions are
turned into increments from the observation's yaw-rate error first (`yaw_gated_action`). For
other envs it is obs -> action, scaled to the action space.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import crawler_rl
from crawler_rl.rl.checkpoint import Checkpoint, load_checkpoint
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.sim.action import differential_drive_wheel_speeds
from crawler_rl.sim.observation import (
    MODEL_CARRIED_OUTPUT_NAME,
    MODEL_INPUT_NAME,
    MODEL_OUTPUT_NAME,
    OBS_NAMES,
)

COMMAND, MEASURED, ERROR_INTEGRAL, PREV_RESIDUAL = (
    OBS_NAMES.index(name) for name in ("cmd_v", "meas_v", "err_int_v", "prev_residual_left"))
"""Observation columns of (v, omega) command, measurement, error integral and the previous
residual (left, right) (each a pair)."""

EXPORT_FORMAT_VERSION = 1
ONNX_OPSET = 18
INPUT_NAME = MODEL_INPUT_NAME
CRAWLER_OUTPUT = MODEL_OUTPUT_NAME
GENERIC_OUTPUT = "action"


class WheelSpeedPolicy(nn.Module):
    """Deterministic crawler controller: clip(base(obs) + limit * clip(a)) [rad/s].

    base = clip(IK(obs[:, 0:2])), or with `residual_base_gains` (kp_v, ki_v, kp_omega, ki_omega)
    IK(cmd + Kp e + Ki I) from the observation's error e and error integral I; the base and the
    sum are each limited to within residual_limit of the clipped IK (as
    `observation_pi_wheel_speeds` and `wheel_speeds_from_action`). With `increment_limit`:
    clip(IK) + the observation's previous residual + increment_limit * a, limited the same way
    (`incremental_wheel_speeds`); with `direct_limit` as well, (sent, carried):
    carried = that on a[:, :2], sent = carried + direct_limit * a[:, 2:], limited the same way
    (`incremental_direct_wheel_speeds`). With `yaw_gain_limit` a[:, :2] are the v step and the
    yaw integrator's gain, turned into increments first (`yaw_gated_action`).
    """

    def __init__(self, policy: ActorCritic, action_spec: dict[str, float],
                 residual_base_gains: list[float] | None = None,
                 increment_limit: float | None = None,
                 direct_limit: float | None = None,
                 yaw_gain_limit: float | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.track_width = float(action_spec["track_width"])
        self.wheel_radius = float(action_spec["wheel_radius"])
        self.max_wheel_speed = float(action_spec["max_wheel_speed"])
        self.residual_limit = float(action_spec["residual_limit"])
        self.base_gains = None if residual_base_gains is None else [
            float(gain) for gain in residual_base_gains]
        self.increment_limit = None if increment_limit is None else float(increment_limit)
        self.direct_limit = None if direct_limit is None else float(direct_limit)
        self.yaw_gain_limit = None if yaw_gain_limit is None else float(yaw_gain_limit)
        if self.increment_limit is None and (self.direct_limit is not None
                                             or self.yaw_gain_limit is not None):
            raise ValueError("direct_limit and yaw_gain_limit need the incremental base "
                             "(increment_limit)")

    def wheels(self, v: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
        """Unclipped differential-drive IK (the sim's). Shape: (batch, 1) x 2 -> (batch, 2)."""
        return torch.cat(differential_drive_wheel_speeds(
            v, omega, self.wheel_radius, self.track_width), dim=1)

    def yaw_gated(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """`yaw_gated_action` on clipped actions: (v step, yaw gain, ...) -> increments, ..."""
        gain = self.yaw_gain_limit * (action[:, 1:2] + 1.0) * 0.5
        error = obs[:, COMMAND + 1:COMMAND + 2] - obs[:, MEASURED + 1:MEASURED + 2]
        yaw = self.wheels(torch.zeros_like(error), gain * error) / self.increment_limit
        return torch.cat([torch.clamp(action[:, 0:1] + yaw, -1.0, 1.0), action[:, 2:]], dim=1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Shape: (batch, obs_dim) -> (batch, 2); with direct_limit (sent, carried), each so."""
        action = torch.clamp(self.policy.action_mean(obs), -1.0, 1.0)
        if self.yaw_gain_limit is not None:
            action = self.yaw_gated(obs, action)
        limit = self.max_wheel_speed
        cmd_v, cmd_omega = obs[:, COMMAND:COMMAND + 1], obs[:, COMMAND + 1:COMMAND + 2]
        ik = torch.clamp(self.wheels(cmd_v, cmd_omega), -limit, limit)
        if self.increment_limit is not None:
            low = torch.clamp(ik - self.residual_limit, min=-limit)
            high = torch.clamp(ik + self.residual_limit, max=limit)
            residual = obs[:, PREV_RESIDUAL:PREV_RESIDUAL + 2]
            carried = torch.minimum(torch.maximum(
                ik + residual + self.increment_limit * action[:, :2], low), high)
            if self.direct_limit is None:
                return carried
            sent = torch.minimum(torch.maximum(
                carried + self.direct_limit * action[:, 2:], low), high)
            return sent, carried
        if self.base_gains is None:
            return torch.clamp(ik + self.residual_limit * action, -limit, limit)
        kp_v, ki_v, kp_omega, ki_omega = self.base_gains
        meas_v, meas_omega = obs[:, MEASURED:MEASURED + 1], obs[:, MEASURED + 1:MEASURED + 2]
        int_v = obs[:, ERROR_INTEGRAL:ERROR_INTEGRAL + 1]
        int_omega = obs[:, ERROR_INTEGRAL + 1:ERROR_INTEGRAL + 2]
        correction_v = kp_v * (cmd_v - meas_v) + ki_v * int_v
        correction_omega = kp_omega * (cmd_omega - meas_omega) + ki_omega * int_omega
        low = torch.clamp(ik - self.residual_limit, min=-limit)
        high = torch.clamp(ik + self.residual_limit, max=limit)
        base = torch.minimum(torch.maximum(ik + self.wheels(correction_v, correction_omega),
                                           low), high)
        return torch.minimum(torch.maximum(base + self.residual_limit * action, low), high)


class ScaledActionPolicy(nn.Module):
    """Deterministic generic policy: clip(a, -1, 1) mapped affinely onto [low, high]."""

    def __init__(self, policy: ActorCritic, low: list[float], high: list[float]) -> None:
        super().__init__()
        self.policy = policy
        self.register_buffer("low", torch.tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Shape: (batch, obs_dim) -> (batch, action_dim)."""
        action = torch.clamp(self.policy.action_mean(obs), -1.0, 1.0)
        return self.low + (action + 1.0) * 0.5 * (self.high - self.low)


def policy_from_checkpoint(checkpoint: Checkpoint) -> ActorCritic:
    """Rebuild the ActorCritic stored in a checkpoint, in eval mode on the CPU (as exported)."""
    cfg = TrainConfig.from_dict(checkpoint.config)
    policy = ActorCritic.for_env(checkpoint.env_info, checkpoint.obs_dim, checkpoint.action_dim,
                                 cfg.model)
    policy.load_state_dict(checkpoint.model)
    return policy.eval()


def model_input_dim(checkpoint: Checkpoint) -> int:
    """Width of the exported model's input: the robot's observation (no critic-only state)."""
    info = checkpoint.env_info
    return int(info.get("model_obs_dim") or info.get("actor_obs_dim") or checkpoint.obs_dim)


def deployable_module(checkpoint: Checkpoint) -> tuple[nn.Module, list[str]]:
    """Return the graph to export and its output names (wheel speeds for the crawler)."""
    spec = checkpoint.env_info.get("action_spec")
    if spec is not None:
        check_observation_layout(checkpoint)
    policy = policy_from_checkpoint(checkpoint)
    if spec is not None:
        gains = checkpoint.env_info.get("residual_base_gains")
        increment = checkpoint.env_info.get("increment_limit")  # absent before layout 4
        direct = checkpoint.env_info.get("direct_limit")  # absent before set-anew corrections
        yaw_gain = checkpoint.env_info.get("yaw_gain_limit")  # absent before the yaw integrator
        outputs = [CRAWLER_OUTPUT] + ([MODEL_CARRIED_OUTPUT_NAME] if direct is not None else [])
        return WheelSpeedPolicy(policy, spec, gains, increment, direct,
                                yaw_gain).eval(), outputs
    info = checkpoint.env_info
    module = ScaledActionPolicy(policy, info["action_low"], info["action_high"])
    return module.eval(), [GENERIC_OUTPUT]


def check_observation_layout(checkpoint: Checkpoint) -> None:
    """Raise ValueError if a crawler checkpoint's model input is not this version's observation.

    An older layout (e.g. 15 inputs before layout 4's previous residual) would be exported into
    a graph stamped with the current layout, which the controller refuses only by its shape.
    """
    from crawler_rl.sim.observation import OBS_DIM, OBS_LAYOUT_VERSION

    width = model_input_dim(checkpoint)
    if width != OBS_DIM:
        raise ValueError(
            f"the checkpoint's model reads {width} observation entries; this version of "
            f"crawler_rl builds {OBS_DIM} (observation layout {OBS_LAYOUT_VERSION}, "
            "crawler_rl/sim/observation.py): it was trained on another layout and cannot be "
            "exported for this controller; retrain: crawler-rl train --run-dir RUN")


def action_mapping(env_info: dict[str, Any]) -> str:
    """Name the crawler model's action -> wheel speed mapping (metadata `action_mapping`)."""
    gated = "_yaw_integrator" if env_info.get("yaw_gain_limit") is not None else ""
    if env_info.get("direct_limit") is not None:
        return f"incremental{gated}_and_direct_residual_on_inverse_kinematics"
    if gated:
        return "incremental_yaw_integrator_residual_on_inverse_kinematics"
    if env_info.get("increment_limit") is not None:
        return "incremental_residual_on_inverse_kinematics"
    if env_info.get("residual_base_gains") is not None:
        return "residual_on_observation_pi"
    return "residual_on_inverse_kinematics"


def export_metadata(checkpoint: Checkpoint, output_names: list[str]) -> dict[str, str]:
    """Return the string key/values stored in the model's metadata_props."""
    info = checkpoint.env_info
    metadata = {
        "producer": "crawler_rl",
        "crawler_rl_version": crawler_rl.__version__,
        "export_format_version": str(EXPORT_FORMAT_VERSION),
        "env_id": str(info.get("env_id", "")),
        "input": INPUT_NAME,
        "output": output_names[0],
        "obs_dim": str(model_input_dim(checkpoint)),
        "trained_steps": str(checkpoint.global_step),
        "iteration": str(checkpoint.iteration),
    }
    spec = info.get("action_spec")
    if spec is not None:
        from crawler_rl.sim.observation import observation_metadata

        metadata.update(observation_metadata())
        metadata.update({
            "action_mapping": action_mapping(info),
            "residual_base_gains": json.dumps(info.get("residual_base_gains")),
            "increment_limit": json.dumps(info.get("increment_limit")),
            "direct_limit": json.dumps(info.get("direct_limit")),
            "yaw_gain_limit": json.dumps(info.get("yaw_gain_limit")),
            "output_names": "wheel_speed_left,wheel_speed_right",
            "output_units": "rad/s,rad/s",
            "action_spec": json.dumps(spec, sort_keys=True),
            **{key: repr(float(value)) for key, value in spec.items()},
        })
        if info.get("control_dt") is not None:
            metadata["control_dt"] = repr(float(info["control_dt"]))
    else:
        metadata.update({
            "action_mapping": "affine_to_action_space",
            "action_low": json.dumps(info["action_low"]),
            "action_high": json.dumps(info["action_high"]),
        })
    return metadata


def export_checkpoint(checkpoint: Path, output: Path) -> Path:
    """Export `checkpoint` (*.pt) to `output` (*.onnx) and return the output path."""
    import onnx

    state = load_checkpoint(Path(checkpoint))
    module, output_names = deployable_module(state)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, model_input_dim(state))
    # The dynamo exporter (default since torch 2.9) runs offline with onnxscript and gives a
    # smaller graph than the deprecated TorchScript path; silence its progress chatter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = logging.getLogger("torch.onnx").level
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(
                module, (example,), input_names=[INPUT_NAME], output_names=output_names,
                dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
                opset_version=ONNX_OPSET, dynamo=True, verbose=False,
            )
        finally:
            logging.getLogger("torch.onnx").setLevel(previous)
    model = program.model_proto
    for key, value in export_metadata(state, output_names).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "crawler_rl"
    model.producer_version = crawler_rl.__version__
    onnx.checker.check_model(model, full_check=True)
    temp = output.with_name(f".{output.name}.tmp")
    onnx.save_model(model, temp)
    temp.replace(output)
    return output


class OnnxController:
    """Run any exported model on a batch with onnxruntime, with input checks (single thread).

    For checking an export (tests, generic Gymnasium envs). The crawler's controller.onnx is run,
    on the robot and in evaluation alike, by `crawler_rl.control.onnx_runner.OnnxPolicy`.
    """

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.obs_dim = int(model_input.shape[1])
        self.output_name = self.session.get_outputs()[0].name
        self.metadata: dict[str, Any] = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Run the controller. Shape: (batch, obs_dim) or (obs_dim,) -> (batch, out) or (out,)."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None, :] if single else obs
        if batch.ndim != 2 or batch.shape[1] != self.obs_dim:
            raise ValueError(
                f"{self.path.name}: input {self.input_name!r} must have shape (batch, "
                f"{self.obs_dim}), got {obs.shape}"
            )
        if not np.all(np.isfinite(batch)):
            raise ValueError(f"{self.path.name}: non-finite observation {obs!r}")
        result = self.session.run([self.output_name], {self.input_name: batch})[0]
        return result[0] if single else result
