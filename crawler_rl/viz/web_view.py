"""Live web view of the robot on the hull: a small HTTP server and one page drawing on a canvas.

No ROS and no web framework (standard library only): `SceneState` keeps the latest robot state
in unrolled hull coordinates (see `HullShape.unroll`) and the path so far; `WebViewServer`
serves the page at `/` and the state as JSON at `/scene`, which the page polls ten times a
second. The camera follows the robot over a 10 cm grid; the tether is a red line from its
anchor, commanded velocity a blue arrow, achieved a green one, the robot a yellow box.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from crawler_rl.viz.trace import HullShape
from crawler_rl.viz.web_page import PAGE

DEFAULT_PORT = 8765
PATH_POINTS = 2000
"""Most path points kept (older ones are thinned out)."""
PATH_SPACING = 0.005
"""A new path point once the robot moved this far [m]."""
HISTORY_SECONDS = 20.0
"""Commanded vs achieved twist kept for the page's plots [s]."""


class SceneState:
    """The latest scene, updated from any thread, read as JSON by the page."""

    def __init__(self, hull: HullShape, footprint: tuple[float, float] = (0.2, 0.2)) -> None:
        self._lock = threading.Lock()
        self.hull = hull
        self.footprint = footprint
        self.time = 0.0
        self.robot: tuple[float, float, float] | None = None
        self.path: list[tuple[float, float]] = []
        self.tether: list[tuple[float, float]] = []
        self.commanded = (0.0, 0.0)
        self.achieved = (0.0, 0.0)
        self.tether_tension = 0.0
        self.updates = 0
        self.history: deque[tuple[float, float, float, float, float]] = deque()

    def set_hull(self, hull: HullShape) -> None:
        """Change the hull (e.g. once the simulator's hull marker arrives); restarts the path."""
        with self._lock:
            if hull != self.hull:
                self.hull = hull
                self.path = []

    def set_pose(self, time: float, position: np.ndarray, orientation: np.ndarray,
                 achieved: tuple[float, float]) -> None:
        """Robot pose in the world (odom) frame, quaternion (x, y, z, w), achieved (v, omega)."""
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(orientation))
                and np.all(np.isfinite(achieved))):
            return  # a broken reading must not break the page's JSON
        with self._lock:
            xy = self.hull.unroll(np.asarray(position, dtype=np.float64))
            heading = float(self.hull.heading(np.asarray(position, dtype=np.float64)[None],
                                              np.asarray(orientation, dtype=np.float64)[None])[0])
            self.robot = (float(xy[0]), float(xy[1]), heading)
            if not self.path or np.hypot(xy[0] - self.path[-1][0],
                                         xy[1] - self.path[-1][1]) >= PATH_SPACING:
                self.path.append((float(xy[0]), float(xy[1])))
                if len(self.path) > PATH_POINTS:
                    self.path = self.path[::2]
            if self.history and time < self.history[-1][0]:
                self.history.clear()  # the clock went back: a new run
            self.time = float(time)
            self.achieved = (float(achieved[0]), float(achieved[1]))
            self.history.append((self.time, *self.commanded, *self.achieved))
            while self.history[0][0] < self.time - HISTORY_SECONDS:
                self.history.popleft()
            self.updates += 1

    def set_command(self, commanded: tuple[float, float]) -> None:
        """Commanded (v [m/s], omega [rad/s])."""
        if np.all(np.isfinite(commanded)):
            with self._lock:
                self.commanded = (float(commanded[0]), float(commanded[1]))

    def set_tether(self, polyline: np.ndarray, tension: float | None = None) -> None:
        """Tether from the anchor to the robot, world frame. Shape: (N, 3)."""
        polyline = np.asarray(polyline, dtype=np.float64).reshape(-1, 3)
        if not np.all(np.isfinite(polyline)):
            return
        with self._lock:
            self.tether = [(float(x), float(y)) for x, y in self.hull.unroll(polyline)]
            if tension is not None and np.isfinite(tension):
                self.tether_tension = float(tension)

    def set_tension(self, tension: float) -> None:
        """Tether tension [N]."""
        if np.isfinite(tension):
            with self._lock:
                self.tether_tension = float(tension)

    def snapshot(self) -> dict[str, Any]:
        """Everything the page draws, JSON-ready (lengths in m, angles in rad)."""
        with self._lock:
            hull = self.hull
            return {
                "time": self.time, "updates": self.updates,
                "hull": {"curved": hull.curved, "radius": hull.radius, "label": hull.label,
                         "anchor": [float(v) for v in hull.unroll(np.asarray(hull.anchor))],
                         "axes": list(hull.axis_labels)},
                "robot": list(self.robot) if self.robot is not None else None,
                "footprint": list(self.footprint),
                "path": list(self.path), "tether": list(self.tether),
                "commanded": list(self.commanded), "achieved": list(self.achieved),
                "tether_tension": self.tether_tension,
                "history": [list(sample) for sample in self.history],
            }


class WebViewServer:
    """Serve the page and the scene JSON on `host:port` from a background thread."""

    def __init__(self, state: SceneState, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT) -> None:
        page = PAGE.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                route = self.path.split("?", 1)[0]
                if route == "/":
                    self._send(page, "text/html; charset=utf-8")
                elif route == "/scene":
                    self._send(json.dumps(state.snapshot()).encode(), "application/json")
                else:
                    self.send_error(404, "the view serves / and /scene")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # ten requests a second per viewer: no access log

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web_view",
                                       daemon=True)

    @property
    def url(self) -> str:
        """Where to point the browser."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> WebViewServer:
        """Serve in the background; returns self."""
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
