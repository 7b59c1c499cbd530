"""`colcon build` of both packages, as on a real ROS 2 install.

The build itself is the session fixture `colcon_install` (test/conftest.py).
"""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NODE_EXECUTABLES = ["actor_node", "inference_node", "learner_node", "head_node",
                    "controller_node", "robot_sim_node", "square_path", "recorder_node",
                    "web_view_node", "excitation_driver"]


@pytest.mark.slow
def test_colcon_build_installs_nodes_and_share_files(colcon_install: Path) -> None:
    prefix = colcon_install / "crawler_rl"
    for exe in [*NODE_EXECUTABLES, "crawler-rl"]:
        assert (prefix / "lib" / "crawler_rl" / exe).is_file(), exe  # `ros2 run crawler_rl <exe>`
    share = prefix / "share" / "crawler_rl"
    assert (share / "package.xml").is_file()
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    assert (index / "crawler_rl").is_file()
    for folder in ("launch", "config", "urdf"):
        source = sorted(p.name for p in (REPO / folder).iterdir() if p.is_file())
        assert source, f"{folder}/ is empty"
        assert sorted(p.name for p in (share / folder).iterdir()) == source


@pytest.mark.slow
def test_colcon_build_installs_the_interfaces(colcon_install: Path) -> None:
    prefix = colcon_install / "crawler_rl_interfaces"
    share = prefix / "share" / "crawler_rl_interfaces"
    source = REPO / "interfaces" / "crawler_rl_interfaces"
    for kind in ("msg", "srv"):
        assert sorted(p.name for p in (source / kind).iterdir())
        for definition in (source / kind).iterdir():  # .msg files: MCAP schemas, interface show
            assert (share / kind / definition.name).read_text() == definition.read_text()
    generated = list(prefix.glob("lib/python3*/site-packages/crawler_rl_interfaces/msg"))
    assert generated and (generated[0] / "_observation_batch.py").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "rosidl_interfaces"
            / "crawler_rl_interfaces").is_file()
