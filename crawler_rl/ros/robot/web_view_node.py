"""web_view_node: the robot, hull, tether, path and velocities in a browser (no ROS desktop).

Subscribes `odom` (pose, achieved twist), `cmd_vel` (commanded twist), `tether_tension` and the
simulator's `markers` (the hull's shape and the tether line; on a real robot without them the
`surface` / `hull_radius` parameters give the hull) and serves crawler_rl.viz.web_view's page
at http://<host>:<port>/.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Float64
from visualization_msgs.msg import Marker, MarkerArray

from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.robot import markers as scene_markers
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.runtime import run_stoppable_node
from crawler_rl.viz.trace import HullShape
from crawler_rl.viz.web_view import DEFAULT_PORT, SceneState, WebViewServer

PARAMETERS = (
    ParamSpec("host", "127.0.0.1", "address to serve on (0.0.0.0: every interface)",
              read_only=True),
    ParamSpec("port", DEFAULT_PORT, "HTTP port of the view (0: any free port)", low=0,
              high=65535, read_only=True),
    ParamSpec("surface", "plate", "hull until the simulator's markers say otherwise",
              choices=("plate", "curved"), read_only=True),
    ParamSpec("hull_radius", 3.0, "curved hull radius [m]", low=0.6, high=100.0,
              read_only=True),
)


def hull_from_markers(markers: MarkerArray, label: str = "") -> HullShape | None:
    """Read the hull shape from robot_sim_node's markers (None if they do not show it)."""
    by_id = {marker.id: marker for marker in markers.markers
             if marker.ns == scene_markers.NAMESPACE}
    hull, tether = by_id.get(scene_markers.HULL), by_id.get(scene_markers.TETHER)
    if hull is None or tether is None or not tether.points:
        return None
    anchor = (tether.points[0].x, tether.points[0].y, tether.points[0].z)
    if hull.type == Marker.CYLINDER:
        radius = 0.5 * hull.scale.x
        return HullShape(curved=True, radius=radius, anchor=anchor,
                         label=label or f"curved hull, radius {radius:.1f} m")
    return HullShape(curved=False, radius=0.0, anchor=anchor, label=label or "plate")


class WebViewNode(Node):
    """Feed a `SceneState` from the robot's topics and serve it over HTTP."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("web_view_node", **kwargs)
        self.params = declare_validated(self, PARAMETERS)
        curved = self.params["surface"] == "curved"
        self.state = SceneState(HullShape(curved=curved, radius=self.params["hull_radius"],
                                          anchor=(0.0, 0.0, 0.0),
                                          label="curved hull" if curved else "plate"))
        try:
            self.server = WebViewServer(self.state, self.params["host"], self.params["port"])
        except OSError as error:
            raise ValueError(f"cannot serve on {self.params['host']}:{self.params['port']}: "
                             f"{error}") from error
        self.first_stamp: float | None = None
        sensors = robot.sensor_subscription_qos()
        self.create_subscription(Odometry, robot.ODOM_TOPIC, self.on_odometry, sensors)
        self.create_subscription(Twist, robot.CMD_VEL_TOPIC, self.on_cmd_vel, robot.command_qos())
        self.create_subscription(Float64, robot.TETHER_TENSION_TOPIC, self.on_tension, sensors)
        self.create_subscription(MarkerArray, robot.MARKERS_TOPIC, self.on_markers, 1)
        self.server.start()
        self.get_logger().info(f"live view: open {self.server.url} in a browser")

    def on_odometry(self, msg: Odometry) -> None:
        """Robot pose and the achieved twist (as odometry measures it)."""
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        if self.first_stamp is None:
            self.first_stamp = stamp
        pose = msg.pose.pose
        self.state.set_pose(
            stamp - self.first_stamp,
            np.array([pose.position.x, pose.position.y, pose.position.z]),
            np.array([pose.orientation.x, pose.orientation.y, pose.orientation.z,
                      pose.orientation.w]),
            (msg.twist.twist.linear.x, msg.twist.twist.angular.z))

    def on_cmd_vel(self, msg: Twist) -> None:
        """Hold the commanded twist."""
        self.state.set_command((msg.linear.x, msg.angular.z))

    def on_tension(self, msg: Float64) -> None:
        """Hold the load cell's tether tension."""
        self.state.set_tension(msg.data)

    def on_markers(self, msg: MarkerArray) -> None:
        """Hull shape and tether line from the simulator's scene markers."""
        hull = hull_from_markers(msg)
        if hull is None:
            return
        self.state.set_hull(hull)
        tether = next(m for m in msg.markers if m.id == scene_markers.TETHER)
        self.state.set_tether(np.array([[p.x, p.y, p.z] for p in tether.points]))

    def close(self) -> None:
        """Stop serving."""
        self.server.close()


def main(args: list[str] | None = None) -> None:
    """Serve the live view until interrupted."""
    run_stoppable_node(WebViewNode, "web_view_node", args)


if __name__ == "__main__":
    main()
