import xml.etree.ElementTree as ET

import pybullet as p
import pytest
from pybullet_utils.bullet_client import BulletClient

from crawler_rl.paths import urdf_path
from crawler_rl.sim.config import RobotConfig
from crawler_rl.sim.urdf import JOINTS, LINKS, robot_urdf


def test_shipped_urdf_is_generated_from_default_config():
    assert urdf_path("crawler.urdf").read_text() == robot_urdf(RobotConfig())


def test_urdf_loads_with_named_links_joints_and_mass():
    client = BulletClient(p.DIRECT)
    try:
        robot = client.loadURDF(str(urdf_path("crawler.urdf")), flags=p.URDF_USE_INERTIA_FROM_FILE)
        infos = [client.getJointInfo(robot, j) for j in range(client.getNumJoints(robot))]
        joints = {info[1].decode(): info[2] for info in infos}
        links = {client.getBodyInfo(robot)[0].decode()} | {info[12].decode() for info in infos}
        assert set(JOINTS) == set(joints)
        assert set(LINKS) == links
        assert joints["caster_swivel_joint"] == p.JOINT_REVOLUTE
        assert joints["tether_joint"] == p.JOINT_FIXED
        masses = [client.getDynamicsInfo(robot, j)[0] for j in range(-1, len(infos))]
        assert sum(masses) == pytest.approx(RobotConfig().total_mass)
    finally:
        client.disconnect()


def test_urdf_geometry_follows_config():
    robot = RobotConfig(track_width=0.2, wheel_radius=0.03)
    root = ET.fromstring(robot_urdf(robot))
    left = root.find("joint[@name='left_wheel_joint']/origin").get("xyz").split()
    assert float(left[1]) == pytest.approx(0.1)
    sphere = root.find("link[@name='left_wheel']/collision/geometry/sphere")
    assert float(sphere.get("radius")) == pytest.approx(0.03)
