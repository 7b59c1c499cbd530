"""Shared fixtures: an isolated ROS 2 domain per test (in-process and for spawned processes)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros_domains import random_domain_id

# Tests stop the processes they start with SIGINT. Run as a background job of a script, pytest
# inherits SIGINT ignored and so would every child it execs: give them the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`colcon build` of this source tree, once per test session: the install base.

    Both packages built as on a ROS 2 install (crawler_rl: ament_python, crawler_rl_interfaces:
    ament_cmake, from the venv's ROS wheels); `source <install base>/setup.bash` puts them on
    the paths for `ros2 launch` / `ros2 run`.
    """
    base = tmp_path_factory.mktemp("colcon")
    venv_bin = str(Path(sys.executable).parent)
    colcon = shutil.which("colcon", path=venv_bin) or shutil.which("colcon")
    assert colcon, "colcon is installed by the 'test' extra (colcon-common-extensions)"
    # ament finds the wheels' generators and type supports through both prefix paths
    ament = os.pathsep.join(filter(None, [sys.prefix, os.environ.get("AMENT_PREFIX_PATH")]))
    env = {**os.environ, "CMAKE_PREFIX_PATH": sys.prefix, "AMENT_PREFIX_PATH": ament}
    build = subprocess.run(
        [colcon, "build", "--base-paths", str(REPO), str(REPO / "interfaces"),
         "--build-base", str(base / "build"), "--install-base", str(base / "install"),
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=base, capture_output=True, text=True, timeout=600, env=env,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return base / "install"


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """A random ROS_DOMAIN_ID (`ros_domains.random_domain_id`) and localhost-only discovery.

    Set in os.environ, so rclpy contexts created afterwards and every child process started
    by the test use it; parallel test runs never see each other.
    """
    domain = random_domain_id()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.delenv("ROS_LOCALHOST_ONLY", raising=False)
    return domain


@pytest.fixture
def ros_context(ros_domain: int) -> Iterator[object]:
    """An initialized private rclpy Context in the test's domain, shut down afterwards."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    rclpy.init(context=context, domain_id=ros_domain,
               signal_handler_options=SignalHandlerOptions.NO)
    try:
        yield context
    finally:
        context.try_shutdown()
