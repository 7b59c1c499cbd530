"""RunTrace geometry and the replay figure / animation drawn from a real (short) episode."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from crawler_rl.cli import build_parser
from crawler_rl.control.episode import OpenLoopIK, run_episode
from crawler_rl.rl.eval_replay import record_episode, select_scenarios
from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario, held_out_scenarios
from crawler_rl.viz.replay import animate_replay, check_replay_path, plot_replay
from crawler_rl.viz.trace import HullShape, RunTrace

ROBOT_RGB = (0xF2, 0xC2, 0x00)
TETHER_RGB = (0xD6, 0x27, 0x28)  # matplotlib's tab:red


def yaw_quaternion(yaw: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])


def roll_quaternion(roll: float) -> np.ndarray:
    return np.array([math.sin(roll / 2), 0.0, 0.0, math.cos(roll / 2)])


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def test_plate_unrolls_to_itself_and_heading_is_yaw() -> None:
    hull = HullShape(curved=False, radius=3.0, anchor=(1.5, 0.0, 0.0))
    points = np.array([[0.3, -0.2, 0.0], [1.0, 2.0, 0.05]])
    np.testing.assert_allclose(hull.unroll(points), points[:, :2])
    headings = hull.heading(points, np.stack([yaw_quaternion(0.5), yaw_quaternion(-2.0)]))
    np.testing.assert_allclose(headings, [0.5, -2.0], atol=1e-12)


def test_cylinder_unrolls_to_arc_length_and_heading_follows_the_surface() -> None:
    radius, angle = 3.0, 0.4  # a point 0.4 rad around the hull from the top line
    hull = HullShape(curved=True, radius=radius, anchor=(0.0, 0.0, 0.0))
    point = np.array([[0.7, radius * math.sin(angle), radius * math.cos(angle) - radius]])
    np.testing.assert_allclose(hull.unroll(point), [[0.7, radius * angle]], atol=1e-12)
    # On the hull there, the body is rolled by -angle about x (its z axis is the outward
    # normal); yawed by +90 deg in that tangent plane it drives around the hull (+s).
    on_hull = roll_quaternion(-angle)
    np.testing.assert_allclose(hull.heading(point, on_hull[None]), [0.0], atol=1e-12)
    turned = quat_multiply(on_hull, yaw_quaternion(math.pi / 2))
    np.testing.assert_allclose(hull.heading(point, turned[None]), [math.pi / 2], atol=1e-12)


def test_trace_rejects_non_finite_samples_and_empty_runs() -> None:
    trace = RunTrace(hull=HullShape(curved=False, radius=3.0, anchor=(1.5, 0.0, 0.0)))
    with pytest.raises(ValueError, match="no samples"):
        trace.arrays()
    with pytest.raises(ValueError, match="non-finite"):
        trace.add(0.05, np.array([np.nan, 0, 0]), yaw_quaternion(0.0), np.zeros(2), np.zeros(2),
                  1.0, np.zeros((2, 3)))
    assert len(trace) == 0


def test_replay_paths_and_scenario_choice_are_checked_before_a_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png"):
        check_replay_path(tmp_path / "run.bmp")
    assert check_replay_path(tmp_path / "sub" / "run.gif").parent.is_dir()
    scenarios = held_out_scenarios()
    assert select_scenarios(scenarios, "all") == scenarios
    assert [s.label for s in select_scenarios(scenarios, "curved/long, deck/short")] == [
        "curved/long", "deck/short"]
    with pytest.raises(ValueError, match="unknown scenario 'moon'"):
        select_scenarios(scenarios, "moon")


def colour_fraction(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> float:
    """Share of the image's pixels within `tolerance` of `rgb` on every channel."""
    close = np.all(np.abs(image[:, :, :3].astype(int) - np.array(rgb)) <= tolerance, axis=2)
    return float(close.mean())


@pytest.fixture(scope="module")
def episodes() -> tuple[RunTrace, dict[str, list[float]]]:
    """4 s of the IK baseline on the curved hull, recorded, then as the evaluation runs it."""
    config = load_crawler_config()
    config = dataclasses.replace(config, task=dataclasses.replace(config.task,
                                                                  episode_seconds=4.0),
                                 motor=dataclasses.replace(config.motor, residual_base="ik"))
    env = CrawlerEnv(config)  # the IK residual base, as driving_env() gives the evaluation
    scenario = Scenario(surface="curved", slope_deg=40.0, hull_radius=2.5, tether_length=4.0,
                        randomize=True, name="curved/test")
    try:
        ik = OpenLoopIK(env.sim.action_spec)
        return (record_episode(env, lambda recording_env: run_episode(recording_env, ik, 3,
                                                                      scenario), "IK"),
                run_episode(env, ik, 3, scenario))
    finally:
        env.close()


@pytest.fixture(scope="module")
def curved_trace(episodes: tuple[RunTrace, dict[str, list[float]]]) -> RunTrace:
    return episodes[0]


def test_replayed_episode_is_the_evaluated_one(
        episodes: tuple[RunTrace, dict[str, list[float]]]) -> None:
    trace, evaluated = episodes
    data = trace.arrays()
    np.testing.assert_array_equal(data["t"], evaluated["t"])
    # The evaluation reads the command from the float32 observation.
    np.testing.assert_allclose(data["commanded"][:, 0], evaluated["cmd_v"], rtol=1e-6)
    np.testing.assert_allclose(data["commanded"][:, 1], evaluated["cmd_omega"], rtol=1e-6)
    np.testing.assert_array_equal(data["achieved"][:, 0], evaluated["v"])
    np.testing.assert_array_equal(data["achieved"][:, 1], evaluated["omega"])


def test_eval_command_takes_the_replay_options() -> None:
    args = build_parser().parse_args(["eval", "--baseline", "ik", "--replay", "curved/long",
                                      "--replay-format", "gif"])
    assert (args.replay, args.replay_format) == ("curved/long", "gif")


def test_recorded_episode_matches_the_simulated_run(curved_trace: RunTrace) -> None:
    data = curved_trace.arrays()
    assert len(curved_trace) == 80  # 4 s at 20 Hz
    np.testing.assert_allclose(np.diff(data["t"]), 0.05)
    assert curved_trace.hull.curved and curved_trace.hull.label == "curved/test IK"
    assert data["tether"].shape == (80, 16, 3)
    # The tether runs from the anchor to the robot: first point at the anchor, last near it.
    np.testing.assert_allclose(data["tether"][:, 0], np.repeat([curved_trace.hull.anchor], 80, 0),
                               atol=1e-9)
    assert np.all(np.linalg.norm(data["tether"][:, -1] - data["position"], axis=1) < 0.3)
    assert np.ptp(data["commanded"][:, 0]) + np.abs(data["commanded"][:, 0]).max() > 0


def test_figure_shows_path_tether_and_robot(curved_trace: RunTrace, tmp_path: Path) -> None:
    import matplotlib.image

    path = plot_replay(curved_trace, tmp_path / "run.png")
    image = (matplotlib.image.imread(path) * 255).astype(np.uint8)
    assert image.shape[:2] == (448, 880)
    left = image[:, : image.shape[1] // 2]
    assert colour_fraction(left, ROBOT_RGB) > 0.002, "robot not drawn on the surface panel"
    assert colour_fraction(left, TETHER_RGB) > 0.0005, "tether not drawn"
    assert path.stat().st_size < 200_000


def test_animation_follows_the_robot(curved_trace: RunTrace, tmp_path: Path) -> None:
    import imageio.v3 as iio

    path = animate_replay(curved_trace, tmp_path / "run.gif", max_frames=6)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6
    scene_width = frames.shape[2] * 36 // 80  # the scene is the left 3.6 of 8.0 inches
    for frame in frames:
        scene = frame[:, :scene_width]
        height, width = scene.shape[:2]
        middle = scene[height // 4: 3 * height // 4, width // 4: 3 * width // 4]
        assert colour_fraction(middle, ROBOT_RGB) > 0.01, "the camera lost the robot"
    assert not np.array_equal(frames[0], frames[-1])
