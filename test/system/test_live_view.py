"""`crawler-rl deploy --sim --view`: the live view in headless Chromium draws the robot.

Real processes (controller, simulated robot, square driver, web_view_node over DDS), the real
page and JavaScript in Debian's Chromium, and a screenshot checked pixel by pixel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from ros_domains import random_domain_id

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Debian's chromium is not installed (apt-get install chromium)"),
]
WIDTH, HEIGHT = 640, 480
ROBOT_RGB = np.array([0xF2, 0xC2, 0x00]) / 255
TETHER_RGB = np.array([0xD6, 0x27, 0x28]) / 255
HULL_RGB = np.array([0xDF, 0xE3, 0xE8]) / 255


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_robot(url: str, process: subprocess.Popen, timeout: float) -> dict:
    """Poll /scene until the robot has moved for a while (the view has live data)."""
    deadline = time.monotonic() + timeout
    scene: dict = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(url + "scene", timeout=2) as response:
                scene = json.loads(response.read())
        except OSError:
            scene = {}
        if scene.get("robot") and scene["updates"] >= 40 and len(scene["tether"]) >= 2:
            return scene
        time.sleep(0.3)
    raise AssertionError(f"no robot data on {url} within {timeout} s: {scene}")


def share(image: np.ndarray, rgb: np.ndarray, tolerance: float = 0.08) -> float:
    return float(np.all(np.abs(image[:, :, :3] - rgb) < tolerance, axis=2).mean())


def test_live_view_draws_the_robot_in_chromium(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ROS_DOMAIN_ID": str(random_domain_id()),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.pop("ROS_LOCALHOST_ONLY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler_rl.cli", "deploy", "--sim", "--view", str(port),
         "--duration", "600"],  # the test stops it (SIGINT) once the browser has looked
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_robot(url, process, timeout=60.0)
        screenshot = tmp_path / "view.png"
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=3000",
             f"--screenshot={screenshot}", url],
            check=True, capture_output=True, timeout=120)
        image = matplotlib.image.imread(screenshot)
        assert image.shape[:2] == (HEIGHT, WIDTH)
        # The camera follows the robot: it is drawn in the middle of the page.
        middle = image[HEIGHT // 2 - 60: HEIGHT // 2 + 60, WIDTH // 2 - 60: WIDTH // 2 + 60]
        assert share(middle, ROBOT_RGB) > 0.05, "no robot in the middle of the view"
        assert share(image, ROBOT_RGB) < 0.2, "yellow everywhere is not a robot"
        assert share(image, TETHER_RGB) > 0.0005, "no tether drawn"
        assert share(image, HULL_RGB) > 0.3, "no hull surface drawn"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, process.stdout.read()  # stopped by Ctrl-C, cleanly
