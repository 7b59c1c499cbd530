"""Shared fixtures: an isolated ROS 2 domain per test (in-process and for spawned processes)."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests stop the processes they start with SIGINT. Run as a background job of a script, pytest
# inherits SIGINT ignored and so would every child it execs: give them the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`colcon build` of this source tree, once per test session: the install base.

    Built as on a ROS 2 install (ament_python); `source <install base>/setup.bash` puts the
    package on AMENT_PREFIX_PATH for `ros2 launch` / `ros2 run`.
    """
    base = tmp_path_factory.mktemp("colcon")
    venv_bin = str(Path(sys.executable).parent)
    colcon = shutil.which("colcon", path=venv_bin) or shutil.which("colcon")
    assert colcon, "colcon is installed by the 'test' extra (colcon-common-extensions)"
    subprocess.run(
        [colcon, "build", "--base-paths", str(REPO), "--build-base", str(base / "build"),
         "--install-base", str(base / "install")],
        cwd=base, check=True, capture_output=True, timeout=300,
    )
    return base / "install"


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """Random ROS_DOMAIN_ID in [1, 200] and localhost-only discovery for this test.

    Set in os.environ, so rclpy contexts created afterwards and every child process started
    by the test use it; parallel test runs never see each other.
    """
    domain = random.SystemRandom().randint(1, 200)
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
