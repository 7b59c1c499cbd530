"""bench/residual_retention.py: how much of the previous residual a controller keeps per step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from bench_loader import BENCH_DIR, load_bench

from crawler_rl.sim.action import ActionSpec, inverse_kinematics
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES

RESIDUAL = OBS_NAMES.index("prev_residual_left")
WHEELS = OBS_NAMES.index("wheel_speed_left")
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "data" / "controller.onnx"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("residual_retention")


def states(count: int = 64, seed: int = 0) -> np.ndarray:
    """Observations with moderate commands, residuals and encoder readings."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((count, OBS_DIM), dtype=np.float32)
    obs[:, 0] = rng.uniform(-0.1, 0.1, count)
    obs[:, 1] = rng.uniform(-0.5, 0.5, count)
    obs[:, RESIDUAL:RESIDUAL + 2] = rng.uniform(-1.0, 1.0, (count, 2))
    obs[:, WHEELS:WHEELS + 2] = rng.uniform(-3.0, 3.0, (count, 2))
    return obs


def leaky(keep: float, spec: ActionSpec):
    """Wheel speeds = IK + keep * r_prev: keeps `keep` of the residual, whatever reads it."""
    def wheels_of(obs: np.ndarray) -> np.ndarray:
        return (inverse_kinematics(obs[:, 0:2].astype(np.float64), spec)
                + keep * obs[:, RESIDUAL:RESIDUAL + 2])
    return wheels_of


def encoder_leak(gain: float, spec: ActionSpec):
    """An integrator whose increment reads the encoders: keeps 1 - gain of the residual."""
    def wheels_of(obs: np.ndarray) -> np.ndarray:
        feed_forward = inverse_kinematics(obs[:, 0:2].astype(np.float64), spec)
        from_encoders = obs[:, WHEELS:WHEELS + 2] - feed_forward
        return feed_forward + obs[:, RESIDUAL:RESIDUAL + 2] - gain * from_encoders
    return wheels_of


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.0])
def test_a_controller_that_keeps_a_share_of_the_residual_measures_that_share(bench, keep) -> None:
    spec = ActionSpec()
    result = bench.measure(leaky(keep, spec), states(), spec, 0.1)
    assert result["common"]["median"] == pytest.approx(keep, abs=1e-6)
    assert result["left_on_left"]["median"] == pytest.approx(keep, abs=1e-6)
    assert result["left_on_right"]["median"] == pytest.approx(0.0, abs=1e-6)
    assert result["differential"]["median"] == pytest.approx(keep, abs=1e-6)


def test_the_yaw_mode_and_the_v_mode_are_told_apart(bench) -> None:
    spec = ActionSpec()

    def v_leaks(obs: np.ndarray) -> np.ndarray:  # keeps the yaw mode, leaks half the v mode
        residual = obs[:, RESIDUAL:RESIDUAL + 2].astype(np.float64)
        common = residual.mean(axis=1, keepdims=True)
        return (inverse_kinematics(obs[:, 0:2].astype(np.float64), spec)
                + residual - 0.5 * common)

    result = bench.measure(v_leaks, states(), spec, 0.1)
    assert result["common"]["median"] == pytest.approx(0.5, abs=1e-6)
    assert result["differential"]["median"] == pytest.approx(1.0, abs=1e-6)


def test_a_residual_rebuilt_from_the_encoders_is_a_leak_too(bench) -> None:
    spec = ActionSpec()
    result = bench.measure(encoder_leak(0.3, spec), states(), spec, 0.1)
    assert result["common"]["median"] == pytest.approx(0.7, abs=1e-6)


def test_states_at_an_output_limit_are_left_out(bench) -> None:
    spec = ActionSpec()
    obs = states()
    obs[:8, RESIDUAL:RESIDUAL + 2] = spec.residual_limit  # at the band's top
    clipped = lambda batch: np.clip(leaky(1.0, spec)(batch),  # noqa: E731
                                    *bench_limits(batch, spec))
    result = bench.measure(clipped, obs, spec, 0.1)
    assert result["common"]["states_used"] == len(obs) - 8
    assert result["common"]["median"] == pytest.approx(1.0, abs=1e-6)


def bench_limits(obs: np.ndarray, spec: ActionSpec) -> tuple[np.ndarray, np.ndarray]:
    feed_forward = inverse_kinematics(obs[:, 0:2].astype(np.float64), spec)
    return feed_forward - spec.residual_limit, feed_forward + spec.residual_limit


def test_the_shipped_model_is_measured_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "residual_retention.py"), "--policy",
         str(SHIPPED_MODEL), "--episodes", "1"],
        capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["states"] == 400
    # Whatever it learned, a retention outside [0, 1.2] would be a measuring error.
    assert 0.0 <= result["common"]["median"] <= 1.2
    assert result["common"]["states_used"] > 200
