"""Replay of a `RunTrace`: a PNG figure and an animation whose camera follows the robot.

The figure shows the path on the hull, the velocities and the tracking error; the animation
is a GIF (or MP4 with imageio-ffmpeg).

Colours: commanded is blue, achieved green, the tether red, the robot yellow (as in RViz).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crawler_rl.viz.trace import RunTrace

FIGURE_FORMATS = (".png",)
ANIMATION_FORMATS = (".gif", ".mp4")
COMMANDED_COLOR = "tab:blue"
ACHIEVED_COLOR = "tab:green"
TETHER_COLOR = "tab:red"
ROBOT_COLOR = "#f2c200"
CAMERA_HALF_WIDTH = 0.6
"""Half the width of the animation's view around the robot [m]."""
ARROW_SCALE = 3.0
"""Drawn arrow length per m/s of forward velocity [m/(m/s)] (as the RViz markers)."""


def check_replay_path(path: Path) -> Path:
    """Validate a replay path before a run: known suffix, its writer installed, folder made."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS + ANIMATION_FORMATS:
        raise ValueError(f"replay path {str(path)!r} must end in one of "
                         f"{FIGURE_FORMATS + ANIMATION_FORMATS}")
    if suffix in ANIMATION_FORMATS:
        try:
            import imageio  # noqa: F401
            if suffix == ".mp4":
                import imageio_ffmpeg  # noqa: F401
        except ImportError as error:
            raise ValueError(f"replay path {str(path)!r} needs {error.name} (pip install "
                             "imageio imageio-ffmpeg); .png needs nothing") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_replay(trace: RunTrace, path: Path) -> Path:
    """Write the figure (.png) or the animation (.gif / .mp4) of `trace` to `path`."""
    path = check_replay_path(path)
    if path.suffix.lower() in FIGURE_FORMATS:
        return plot_replay(trace, path)
    return animate_replay(trace, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _robot_outline(center: np.ndarray, heading: float, footprint: tuple[float, float]
                   ) -> np.ndarray:
    """Outline the chassis, nose forward, as a closed polygon. Shape: (6, 2)."""
    half_length, half_width = 0.5 * footprint[0], 0.5 * footprint[1]
    corners = np.array([[-half_length, -half_width], [0.2 * half_length, -half_width],
                        [1.8 * half_length, 0.0], [0.2 * half_length, half_width],
                        [-half_length, half_width], [-half_length, -half_width]])
    cos, sin = np.cos(heading), np.sin(heading)
    return corners @ np.array([[cos, sin], [-sin, cos]]) + center


def _arrow(center: np.ndarray, heading: float, speed: float) -> tuple[float, ...]:
    """(x, y, dx, dy) of a velocity arrow along the heading."""
    length = ARROW_SCALE * speed
    return (float(center[0]), float(center[1]), float(length * np.cos(heading)),
            float(length * np.sin(heading)))


def _surface_data(trace: RunTrace) -> dict[str, np.ndarray]:
    data = trace.arrays()
    hull = trace.hull
    data["path"] = hull.unroll(data["position"])
    data["heading"] = hull.heading(data["position"], data["orientation"])
    data["tether2d"] = hull.unroll(data["tether"])
    data["anchor2d"] = hull.unroll(np.asarray(hull.anchor))
    data["error"] = np.abs(data["achieved"] - data["commanded"])
    return data


def plot_replay(trace: RunTrace, path: Path, dpi: int = 80) -> Path:
    """Figure: path on the unrolled hull with the tether; v, omega and |error| over time."""
    plt = _pyplot()
    data = _surface_data(trace)
    rmse_v, rmse_omega = trace.tracking_rmse()
    figure = plt.figure(figsize=(11, 5.6))
    grid = figure.add_gridspec(3, 2, width_ratios=(1.0, 1.25))
    surface = figure.add_subplot(grid[:, 0])
    _draw_surface(surface, trace, data)
    t = data["t"]
    axes = [figure.add_subplot(grid[row, 1]) for row in range(3)]
    for axis, column, name, unit in ((axes[0], 0, "v", "m/s"), (axes[1], 1, "omega", "rad/s")):
        axis.plot(t, data["commanded"][:, column], color=COMMANDED_COLOR, lw=1.5,
                  label="commanded")
        axis.plot(t, data["achieved"][:, column], color=ACHIEVED_COLOR, lw=1.0, label="achieved")
        axis.set_ylabel(f"{name} [{unit}]")
        axis.grid(alpha=0.3)
        axis.tick_params(labelbottom=False)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title(f"{trace.hull.label}: commanded vs achieved (true) twist", fontsize=10)
    axes[2].plot(t, data["error"][:, 0], color="black", lw=1.0,
                 label=f"|v error| [m/s], RMSE {rmse_v:.4f}")
    axes[2].plot(t, data["error"][:, 1], color="tab:purple", lw=1.0,
                 label=f"|omega error| [rad/s], RMSE {rmse_omega:.4f}")
    axes[2].set_ylabel("tracking error")
    axes[2].set_xlabel("time [s]")
    axes[2].legend(fontsize=8, loc="upper right")
    axes[2].grid(alpha=0.3)
    for axis in axes[1:]:
        axis.sharex(axes[0])
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return Path(path)


def _draw_surface(axis: Any, trace: RunTrace, data: dict[str, np.ndarray]) -> None:
    """Path coloured by time, tether every few seconds (faint) and at the end, robot poses."""
    path2d, anchor = data["path"], data["anchor2d"]
    points = np.vstack([path2d, anchor[None, :]])
    low, high = points.min(axis=0), points.max(axis=0)
    center, half = 0.5 * (low + high), 0.5 * float(np.max(high - low)) + 0.3
    axis.set_xlim(center[0] - half, center[0] + half)
    axis.set_ylim(center[1] - half, center[1] + half)
    axis.set_aspect("equal")
    axis.set_facecolor("#dfe3e8")
    axis.grid(color="white", lw=0.8)
    count = len(path2d)
    for index in np.linspace(0, count - 1, 6).astype(int)[:-1]:
        axis.plot(*data["tether2d"][index].T, color=TETHER_COLOR, lw=0.8, alpha=0.25)
    axis.plot(*data["tether2d"][-1].T, color=TETHER_COLOR, lw=1.6, label="tether (end)")
    axis.plot(*anchor, marker="s", color=TETHER_COLOR, ms=8, ls="none", label="tether anchor")
    scatter = axis.scatter(path2d[:, 0], path2d[:, 1], c=data["t"], s=3, cmap="viridis",
                           zorder=3)
    for index, style in ((0, "--"), (count - 1, "-")):
        outline = _robot_outline(path2d[index], data["heading"][index], trace.footprint)
        axis.fill(*outline.T, facecolor=ROBOT_COLOR, edgecolor="black", ls=style, alpha=0.8,
                  zorder=4)
    axis.figure.colorbar(scatter, ax=axis, label="time [s]", fraction=0.046, pad=0.02)
    axis.set_xlabel(trace.hull.axis_labels[0])
    axis.set_ylabel(trace.hull.axis_labels[1])
    surface = "curved hull, unrolled" if trace.hull.curved else "plate"
    axis.set_title(f"path on the {surface} (start dashed, end solid)", fontsize=10)
    axis.legend(fontsize=8, loc="lower left")


def _canvas_rgb(figure: Any) -> np.ndarray:
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[:, :, :3].copy()


def _timeline(plt: Any, data: dict[str, np.ndarray], size: tuple[float, float], dpi: int
              ) -> tuple[np.ndarray, list[tuple[int, int]], Any]:
    """Draw commanded vs achieved v and omega once.

    Returns the image, each plot's pixel rows (top, bottom) and a function time -> pixel
    column (for the cursor drawn per frame).
    """
    t = data["t"]
    figure, axes = plt.subplots(2, 1, figsize=size, dpi=dpi, sharex=True)
    for axis, (column, name, unit) in zip(axes, ((0, "v", "m/s"), (1, "omega", "rad/s")),
                                          strict=True):
        axis.plot(t, data["commanded"][:, column], color=COMMANDED_COLOR, lw=1.2,
                  label="commanded")
        axis.plot(t, data["achieved"][:, column], color=ACHIEVED_COLOR, lw=1.0, label="achieved")
        axis.set_ylabel(f"{name} [{unit}]", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    axes[1].set_xlabel("time [s]", fontsize=8)
    figure.tight_layout()
    image = _canvas_rgb(figure)
    height = image.shape[0]
    rows = [(int(height - axis.bbox.y1), int(height - axis.bbox.y0)) for axis in axes]
    transform = axes[0].transData

    def column(time: float) -> int:
        return int(round(transform.transform((time, 0.0))[0]))

    plt.close(figure)
    return image, rows, column


def animate_replay(trace: RunTrace, path: Path, fps: int = 10, max_frames: int = 100,
                   dpi: int = 72) -> Path:
    """Write the animation (GIF / MP4) of `trace` to `path`.

    Camera on the robot, hull grid, tether, path, velocity arrows; beside them the velocity
    plots with a time cursor.
    """
    import imageio.v2 as imageio
    from matplotlib.collections import LineCollection
    plt = _pyplot()
    data = _surface_data(trace)
    t, count = data["t"], len(data["t"])
    frames = np.unique(np.linspace(0, count - 1, min(count, max_frames)).astype(int))
    timeline, plot_rows, time_column = _timeline(plt, data, (4.4, 4.4), dpi)
    figure = plt.figure(figsize=(3.6, 4.4), dpi=dpi)
    scene = figure.add_subplot()
    scene.set_aspect("equal")
    scene.set_facecolor("#dfe3e8")
    scene.set_xlabel(trace.hull.axis_labels[0], fontsize=8)
    scene.set_ylabel(trace.hull.axis_labels[1], fontsize=8)
    # Ticks would move every frame and cost most of the drawing: a scale bar says the size.
    scene.set_xticks([])
    scene.set_yticks([])
    # A 10 cm grid, as painted on a test hull: one artist, not hundreds of ticks.
    low = np.floor((data["path"].min(axis=0) - 2.0) * 10) / 10
    high = data["path"].max(axis=0) + 2.0
    lines = [[(x, low[1]), (x, high[1])] for x in np.arange(low[0], high[0], 0.1)]
    lines += [[(low[0], y), (high[0], y)] for y in np.arange(low[1], high[1], 0.1)]
    scene.add_collection(LineCollection(lines, colors="white", linewidths=0.6, zorder=0))
    path_line, = scene.plot([], [], color="black", lw=1.0, alpha=0.6)
    tether_line, = scene.plot([], [], color=TETHER_COLOR, lw=2.0)
    scene.plot(*data["anchor2d"], marker="s", color=TETHER_COLOR, ms=8, ls="none")
    robot = scene.fill([0], [0], facecolor=ROBOT_COLOR, edgecolor="black", zorder=4)[0]
    arrows: list[Any] = []
    # The camera's window (its size never changes) before the layout is fitted around it.
    scene.set_xlim(-CAMERA_HALF_WIDTH, CAMERA_HALF_WIDTH)
    scene.set_ylim(-1.4 * CAMERA_HALF_WIDTH, 1.4 * CAMERA_HALF_WIDTH)
    status = scene.text(0.02, 0.98, "", transform=scene.transAxes, va="top", fontsize=7,
                        family="monospace", zorder=6,
                        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    scene.plot([0.62, 0.62 + 0.2 / (2 * CAMERA_HALF_WIDTH) * 1.0], [0.04, 0.04],
               transform=scene.transAxes, color="black", lw=3, zorder=6)
    scene.text(0.62, 0.06, "20 cm", transform=scene.transAxes, fontsize=7, zorder=6)
    figure.tight_layout()
    writer_options = ({"duration": 1000.0 / fps, "loop": 0} if path.suffix.lower() == ".gif"
                      else {"fps": fps})
    with imageio.get_writer(path, mode="I", **writer_options) as writer:
        for index in frames:
            center, heading = data["path"][index], float(data["heading"][index])
            scene.set_xlim(center[0] - CAMERA_HALF_WIDTH, center[0] + CAMERA_HALF_WIDTH)
            scene.set_ylim(center[1] - 1.4 * CAMERA_HALF_WIDTH,
                           center[1] + 1.4 * CAMERA_HALF_WIDTH)
            path_line.set_data(*data["path"][: index + 1].T)
            tether_line.set_data(*data["tether2d"][index].T)
            robot.set_xy(_robot_outline(center, heading, trace.footprint))
            for arrow in arrows:
                arrow.remove()
            arrows = [
                scene.arrow(*_arrow(center, heading, float(data[key][index, 0])), color=color,
                            width=0.012, length_includes_head=True, zorder=5)
                for key, color in (("commanded", COMMANDED_COLOR), ("achieved", ACHIEVED_COLOR))
            ]
            command, achieved = data["commanded"][index], data["achieved"][index]
            tension = data["tether_tension"][index]
            status.set_text(f"{trace.hull.label} t={t[index]:5.1f} s T={tension:4.0f} N\n"
                            f"cmd v={command[0]:+.3f} w={command[1]:+.2f}\n"
                            f"got v={achieved[0]:+.3f} w={achieved[1]:+.2f}")
            panel = timeline.copy()
            column = time_column(float(t[index]))
            for top, bottom in plot_rows:
                panel[top:bottom, max(column - 1, 0):column + 1] = 0
            scene_image = _canvas_rgb(figure)
            height = min(scene_image.shape[0], panel.shape[0])
            writer.append_data(np.hstack([scene_image[:height], panel[:height]]))
    plt.close(figure)
    return Path(path)
