"""Small ONNX controllers for tests, following the export contract of crawler_rl.rl.export.

`obs` (batch, OBS_DIM) float32 -> `wheel_speeds` (batch, 2) = clip(IK(cmd) + residual), with the
observation layout and ActionSpec values in metadata_props.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import onnx
import torch

from crawler_rl.sim.action import ActionSpec
from crawler_rl.sim.observation import OBS_DIM, observation_metadata


class ResidualWheelSpeeds(torch.nn.Module):
    """IK on the commanded twist plus a bounded residual from a small network or a PI law."""

    def __init__(self, spec: ActionSpec, gains: tuple[float, float] | None, nan_above_v: float):
        super().__init__()
        self.spec = spec
        self.gains = gains
        self.nan_above_v = nan_above_v
        self.net = torch.nn.Sequential(
            torch.nn.Linear(OBS_DIM, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
        )

    def ik(self, twist: torch.Tensor) -> torch.Tensor:
        half_track = 0.5 * self.spec.track_width
        left = (twist[:, 0] - twist[:, 1] * half_track) / self.spec.wheel_radius
        right = (twist[:, 0] + twist[:, 1] * half_track) / self.spec.wheel_radius
        return torch.stack([left, right], dim=-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        limit = self.spec.max_wheel_speed
        ik = torch.clamp(self.ik(obs[:, 0:2]), -limit, limit)
        if self.gains is None:
            residual = self.spec.residual_limit * torch.tanh(self.net(obs))
        else:
            # A hand-written PI feedback on the velocity error, expressed as a residual.
            kp, ki = self.gains
            correction = kp * (obs[:, 0:2] - obs[:, 2:4]) + ki * obs[:, 11:13]
            residual = torch.clamp(
                self.ik(correction), -self.spec.residual_limit, self.spec.residual_limit
            )
        wheels = torch.clamp(ik + residual, -limit, limit)
        # Lets tests provoke a non-finite model output through the command alone.
        return torch.where(obs[:, 0:1] > self.nan_above_v, torch.full_like(wheels, float("nan")),
                           wheels)


def make_controller_onnx(
    path: Path,
    spec: ActionSpec | None = None,
    gains: tuple[float, float] | None = None,
    nan_above_v: float = 1.0,
    obs_dim: int = OBS_DIM,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a controller.onnx at `path`; `obs_dim`/`metadata` let tests break the contract."""
    spec = spec or ActionSpec()
    torch.manual_seed(0)
    model = ResidualWheelSpeeds(spec, gains, nan_above_v).eval()
    if obs_dim != OBS_DIM:
        inner = model
        model = torch.nn.Sequential(torch.nn.Linear(obs_dim, OBS_DIM), inner).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices
        torch.onnx.export(
            model,
            torch.zeros(1, obs_dim),
            str(path),
            input_names=["obs"],
            output_names=["wheel_speeds"],
            dynamic_axes={"obs": {0: "batch"}, "wheel_speeds": {0: "batch"}},
            dynamo=False,
        )
    proto = onnx.load(str(path))
    props = metadata if metadata is not None else {
        **observation_metadata(),
        **{key: repr(value) for key, value in asdict(spec).items()},
        "control_dt": "0.05",
    }
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))
    return path
