"""web_view_node over real DDS (in-process): the robot's topics become the served scene."""

from __future__ import annotations

import json
import math
import time
import urllib.request

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.markers import scene_markers
from crawler_rl.ros.robot.web_view_node import WebViewNode, hull_from_markers
from crawler_rl.sim.scenario import Scenario

CURVED = Scenario(surface="curved", slope_deg=30.0, hull_radius=2.5, tether_length=5.0)
UPRIGHT = np.array([0.0, 0.0, 0.0, 1.0])


def markers_at(scenario: Scenario, position: np.ndarray) -> object:
    tether = np.array([[0.0, 1.5, -0.45], position])
    return scene_markers(scenario, tether, position, UPRIGHT, np.array([0.1, 0.0]),
                         np.array([0.09, 0.0]), "odom", Odometry().header.stamp)


def test_hull_shape_comes_from_the_simulators_markers() -> None:
    hull = hull_from_markers(markers_at(CURVED, np.zeros(3)))
    assert hull is not None and hull.curved and hull.radius == 2.5
    assert hull.anchor == (0.0, 1.5, -0.45)
    plate = hull_from_markers(markers_at(Scenario(surface="deck"), np.zeros(3)))
    assert plate is not None and not plate.curved
    assert hull_from_markers(type(markers_at(CURVED, np.zeros(3)))()) is None  # no markers


def test_topics_reach_the_served_scene(ros_context: Context) -> None:
    view = WebViewNode(context=ros_context, parameter_overrides=[Parameter("port", value=0)])
    source = Node("robot", context=ros_context)
    odom_publisher = source.create_publisher(Odometry, robot.ODOM_TOPIC,
                                             robot.sensor_publisher_qos())
    cmd_publisher = source.create_publisher(Twist, robot.CMD_VEL_TOPIC, robot.command_qos())
    tension_publisher = source.create_publisher(Float64, robot.TETHER_TENSION_TOPIC,
                                                robot.sensor_publisher_qos())
    marker_publisher = source.create_publisher(type(markers_at(CURVED, np.zeros(3))),
                                               robot.MARKERS_TOPIC, 1)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(view)
    executor.add_node(source)
    angle = 0.2  # 0.5 m around the 2.5 m hull
    position = np.array([0.3, 2.5 * math.sin(angle), 2.5 * math.cos(angle) - 2.5])
    try:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and view.state.updates < 5:
            odom = Odometry()
            odom.pose.pose.position.x, odom.pose.pose.position.y = position[0], position[1]
            odom.pose.pose.position.z = position[2]
            odom.pose.pose.orientation.w = 1.0
            odom.twist.twist.linear.x = 0.07
            marker_publisher.publish(markers_at(CURVED, position))
            odom_publisher.publish(odom)
            cmd_publisher.publish(Twist())
            tension_publisher.publish(Float64(data=9.5))
            for _ in range(5):
                executor.spin_once(timeout_sec=0.02)
        url = view.server.url + "scene"
        with urllib.request.urlopen(url, timeout=5) as response:
            scene = json.loads(response.read())
    finally:
        executor.shutdown()
        view.close()
        view.destroy_node()
        source.destroy_node()
    assert scene["hull"]["curved"] and scene["hull"]["radius"] == 2.5
    np.testing.assert_allclose(scene["robot"][:2], [0.3, 0.5], atol=1e-9)
    np.testing.assert_allclose(scene["tether"][-1], [0.3, 0.5], atol=1e-9)
    assert scene["achieved"][0] == 0.07 and scene["tether_tension"] == 9.5
