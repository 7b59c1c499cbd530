"""The live view's scene state and HTTP server (plain: no ROS, no browser)."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from crawler_rl.viz.trace import HullShape
from crawler_rl.viz.web_view import PATH_SPACING, SceneState, WebViewServer


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


@pytest.fixture()
def served() -> Iterator[tuple[SceneState, WebViewServer]]:
    state = SceneState(HullShape(curved=True, radius=2.0, anchor=(0.0, 0.0, 0.0), label="c"))
    server = WebViewServer(state, port=0).start()  # port 0: any free port
    try:
        yield state, server
    finally:
        server.close()


def test_page_and_scene_are_served(served: tuple[SceneState, WebViewServer]) -> None:
    state, server = served
    status, kind, body = get(server.url)
    assert status == 200 and kind.startswith("text/html")
    assert b"<canvas" in body and b'fetch("scene"' in body
    _, kind, body = get(server.url + "scene")
    assert kind == "application/json"
    assert json.loads(body)["robot"] is None  # nothing received yet
    angle = 0.3  # on the cylinder, 0.3 rad around from the top line, heading along the axis
    position = np.array([0.5, 2.0 * math.sin(angle), 2.0 * math.cos(angle) - 2.0])
    roll = np.array([math.sin(-angle / 2), 0.0, 0.0, math.cos(-angle / 2)])
    state.set_pose(1.5, position, roll, (0.08, -0.1))
    state.set_command((0.1, 0.0))
    state.set_tether(np.array([[0.0, 0.0, 0.0], position]), tension=12.0)
    scene = json.loads(get(server.url + "scene")[2])
    np.testing.assert_allclose(scene["robot"], [0.5, 0.6, 0.0], atol=1e-9)
    assert scene["commanded"] == [0.1, 0.0] and scene["achieved"] == [0.08, -0.1]
    np.testing.assert_allclose(scene["tether"], [[0.0, 0.0], [0.5, 0.6]], atol=1e-9)
    assert scene["tether_tension"] == 12.0 and scene["time"] == 1.5
    assert scene["hull"]["curved"] and scene["hull"]["label"] == "c"
    with pytest.raises(urllib.error.HTTPError, match="404"):
        get(server.url + "secrets")


def test_path_grows_with_motion_and_bad_readings_are_dropped() -> None:
    state = SceneState(HullShape(curved=False, radius=0.0, anchor=(1.5, 0.0, 0.0)))
    upright = np.array([0.0, 0.0, 0.0, 1.0])
    for step in range(10):
        state.set_pose(step * 0.05, np.array([step * PATH_SPACING * 2, 0.0, 0.0]), upright,
                       (0.1, 0.0))
        state.set_pose(step * 0.05, np.array([step * PATH_SPACING * 2, 0.0, 0.0]), upright,
                       (0.1, 0.0))  # standing still adds no point
    assert len(state.snapshot()["path"]) == 10
    state.set_pose(1.0, np.array([np.nan, 0.0, 0.0]), upright, (0.1, 0.0))
    state.set_command((float("inf"), 0.0))
    scene = state.snapshot()
    assert scene["updates"] == 20 and scene["commanded"] == [0.0, 0.0]
    json.dumps(scene, allow_nan=False)  # still valid JSON for the page
    state.set_hull(HullShape(curved=True, radius=3.0, anchor=(0.0, 0.0, 0.0)))
    assert state.snapshot()["path"] == []  # other coordinates: the old path would mislead


def test_a_taken_port_is_a_clear_error(served: tuple[SceneState, WebViewServer]) -> None:
    state, server = served
    with pytest.raises(OSError):
        WebViewServer(state, port=server.httpd.server_address[1])
