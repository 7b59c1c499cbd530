"""robot_sim_node: one simulated crawler (PyBullet CrawlerSim) behind the real robot's topics.

Subscribes: `<controller_name>/commands` (Float64MultiArray wheel speeds [rad/s]), `cmd_vel`
(only to draw the commanded velocity). Publishes: `odom`, `imu`, `joint_states`,
`tether_tension`, `markers` (hull, tether, commanded vs achieved velocity), latched
`robot_description`, `/tf` when tf2_msgs is importable, and `/clock` with `publish_clock`.
Service `~/status` (std_srvs/Trigger, JSON): steps, late commands, bad input per kind.

Steps one control period per timer tick: `sim_speed` 1.0 is real time, 2.0 twice as fast.
With `lockstep` (the sim deploy graph sets it; default off, free-running like the real motor
driver) each step also waits for the wheel command that answers the previous step's sensors, as
training does (obs -> action -> step), never running faster than `sim_speed`. After
`lockstep_timeout` it steps with the last command and counts a late command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from visualization_msgs.msg import MarkerArray

from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.qos import latched_qos
from crawler_rl.ros.rejections import Rejections
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.markers import scene_markers
from crawler_rl.ros.robot.robot_tf import joint_transform, parse_joints, tf_message_type
from crawler_rl.ros.runtime import run_stoppable_node, serve_status
from crawler_rl.sim.config import HULL_RADIUS_M, SURFACE_SLOPES_DEG, SURFACES
from crawler_rl.viz.replay import check_replay_path, write_replay
from crawler_rl.viz.trace import trace_for_sim

RANDOM_HEADING = -1000.0
"""`start_heading_deg` value that draws the heading from the seed."""

PARAMETERS = (
    ParamSpec("surface", "vertical", "hull surface", choices=SURFACES,
              read_only=True),
    ParamSpec("slope_deg", -1.0, "slope [deg]; < 0 = the surface's usual slope",
              low=-1.0, high=90.0, read_only=True),
    ParamSpec("hull_radius", HULL_RADIUS_M, "curved hull radius [m]", low=0.6, high=100.0,
              read_only=True),
    ParamSpec("tether_length", 25.0, "paid-out tether length [m]", low=0.0, high=200.0,
              read_only=True),
    ParamSpec("start_heading_deg", RANDOM_HEADING, "start heading from up-slope (towards the "
              f"tether anchor) [deg]; {RANDOM_HEADING:g}: drawn from the seed",
              low=RANDOM_HEADING, high=360.0, read_only=True),
    ParamSpec("randomize", False, "randomize physics like in training", read_only=True),
    ParamSpec("seed", 0, "random seed of the simulator", low=0, high=2**31 - 1, read_only=True),
    ParamSpec("crawler_config", "", "crawler YAML (empty: config/crawler.yaml)", read_only=True),
    ParamSpec("sim_speed", 1.0, "simulated seconds per wall-clock second", low=0.1, high=50.0,
              read_only=True),
    ParamSpec("lockstep", False, "wait for the wheel command answering each step's sensors",
              read_only=True),
    ParamSpec("lockstep_timeout", 0.25, "lockstep: longest wait for that command [wall s]",
              low=0.001, high=10.0, read_only=True),
    ParamSpec("publish_clock", False, "publish /clock (run other nodes with use_sim_time)",
              read_only=True),
    ParamSpec("controller_name", robot.DEFAULT_CONTROLLER_NAME,
              "wheel commands on <name>/commands", read_only=True),
    ParamSpec("odom_frame", "odom", "odometry frame (the simulator's world)", read_only=True),
    ParamSpec("record_path", "", "write the run's replay at exit: .png figure, .gif/.mp4 "
              "animation", read_only=True),
    ParamSpec("record_every", 1, "replay: sample every n-th control step", low=1, high=10000,
              read_only=True),
)


def stamp_from_seconds(seconds: float) -> Time:
    """builtin_interfaces/Time from seconds."""
    whole = int(seconds)
    return Time(sec=whole, nanosec=int(round((seconds - whole) * 1e9)) % 1_000_000_000)


class RobotSimNode(Node):
    """Wrap a CrawlerSim: wheel commands in, the robot's sensor topics out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("robot_sim_node", **kwargs)
        from crawler_rl.sim.config import load_crawler_config
        from crawler_rl.sim.crawler import CrawlerSim
        from crawler_rl.sim.scenario import Scenario
        from crawler_rl.sim.urdf import robot_urdf

        self.params = declare_validated(self, PARAMETERS)
        param = self.params.__getitem__
        slope = (param("slope_deg") if param("slope_deg") >= 0
                 else SURFACE_SLOPES_DEG[param("surface")])
        self.scenario = Scenario(
            surface=param("surface"), slope_deg=slope, hull_radius=param("hull_radius"),
            tether_length=param("tether_length"), randomize=param("randomize"),
            start_heading_deg=(None if param("start_heading_deg") == RANDOM_HEADING
                               else param("start_heading_deg")),
        )
        self.record_path = (check_replay_path(Path(param("record_path")))
                            if param("record_path") else None)
        config = load_crawler_config(Path(param("crawler_config")) if param("crawler_config")
                                     else None)
        self.sim = CrawlerSim(config, self.scenario, np.random.default_rng(param("seed")))
        self.trace = trace_for_sim(self.sim) if self.record_path else None
        self.urdf = robot_urdf(config.robot)
        self.joints = parse_joints(self.urdf)
        self.base_frame = self.joints[0].parent if self.joints else "base_link"
        self.odom_frame = param("odom_frame")
        self.sim_time = 0.0
        self.wheel_command = np.zeros(2)
        self.commanded_twist = np.zeros(2)
        self.reported_detached = False
        self.lockstep = param("lockstep")
        self.lockstep_timeout_ns = int(param("lockstep_timeout") * 1e9)
        self.step_period_ns = int(self.sim.control_dt / param("sim_speed") * 1e9)
        self.awaiting_command = False
        self.last_step_ns = 0
        self.steps = 0
        self.late_commands = 0
        self.applied_commands = 0
        self.rejections = Rejections(self.get_logger())

        sensor_qos = robot.sensor_publisher_qos()
        self.odom_publisher = self.create_publisher(Odometry, robot.ODOM_TOPIC, sensor_qos)
        self.imu_publisher = self.create_publisher(Imu, robot.IMU_TOPIC, sensor_qos)
        self.joint_publisher = self.create_publisher(
            JointState, robot.JOINT_STATES_TOPIC, sensor_qos
        )
        self.tension_publisher = self.create_publisher(
            Float64, robot.TETHER_TENSION_TOPIC, sensor_qos
        )
        self.marker_publisher = self.create_publisher(MarkerArray, robot.MARKERS_TOPIC, 1)
        description = self.create_publisher(
            String, robot.ROBOT_DESCRIPTION_TOPIC, latched_qos()
        )
        description.publish(String(data=self.urdf))
        self.clock_publisher = (
            self.create_publisher(Clock, "/clock", 10) if param("publish_clock") else None
        )
        tf_type = tf_message_type()
        self.tf_publisher = self.create_publisher(tf_type, "/tf", 10) if tf_type else None
        if tf_type is None:
            self.get_logger().info(
                "tf2_msgs is not importable: publishing odometry and joint states, no /tf"
            )
        self.create_subscription(
            Float64MultiArray,
            robot.wheel_command_topic(param("controller_name")),
            self.on_wheel_command,
            robot.command_qos(),
        )
        self.create_subscription(Twist, robot.CMD_VEL_TOPIC, self.on_cmd_vel, robot.command_qos())
        serve_status(self, self.status)
        self.timer = self.create_timer(self.sim.control_dt / param("sim_speed"), self.on_timer)
        self.get_logger().info(
            f"simulating {self.scenario.surface} at {slope:.0f} deg, tether "
            f"{self.scenario.tether_length:.1f} m, x{param('sim_speed'):.1f} real time"
            + (", lockstep with the controller" if self.lockstep else "")
        )

    def wall_ns(self) -> int:
        """Monotonic wall-clock time [ns] (pacing does not follow /clock or use_sim_time)."""
        return time.monotonic_ns()

    def on_wheel_command(self, msg: Float64MultiArray) -> None:
        """Hold the latest [left, right] wheel speed command (as a motor driver does)."""
        command = np.asarray(msg.data, dtype=np.float64)
        if command.shape != (2,) or not np.all(np.isfinite(command)):
            self.rejections.reject("bad_wheel_commands", f"ignoring wheel command "
                                   f"{list(msg.data)[:4]!r}: need 2 finite values")
            return
        self.wheel_command = command
        self.applied_commands += 1
        if self.awaiting_command:
            self.awaiting_command = False
            if self.wall_ns() - self.last_step_ns >= self.step_period_ns:
                self.step()  # the answer came after the step was due: step now, then pace
                self.timer.reset()

    def on_timer(self) -> None:
        """Step when due; in lockstep only once the last sensors are answered (or timed out)."""
        if self.awaiting_command:
            if self.wall_ns() - self.last_step_ns < self.lockstep_timeout_ns:
                return
            self.late_commands += 1
            self.get_logger().warning(
                f"no wheel command within {self.lockstep_timeout_ns / 1e9:.3f} s: stepping "
                f"with the last one ({self.late_commands} late of {self.steps} steps)",
                throttle_duration_sec=5.0,
            )
        self.step()

    def on_cmd_vel(self, msg: Twist) -> None:
        """Remember the commanded twist for the velocity markers."""
        twist = np.array([msg.linear.x, msg.angular.z])
        if not np.all(np.isfinite(twist)):
            self.rejections.reject("bad_cmd_vel", f"ignoring non-finite cmd_vel {twist!r}")
            return
        self.commanded_twist = twist

    def status(self) -> dict[str, object]:
        """Return steps, late and applied wheel commands and bad input counted per kind."""
        return {"steps": self.steps, "late_commands": self.late_commands,
                "applied_commands": self.applied_commands, "bad_wheel_commands": 0,
                **self.rejections.counts}

    def step(self) -> None:
        """Advance one control period and publish everything."""
        self.last_step_ns = self.wall_ns()
        self.steps += 1
        self.sim.apply_wheel_speeds(self.wheel_command)
        self.sim.step_control()
        self.sim_time += self.sim.control_dt
        reading = self.sim.read_sensors()
        if self.sim.detached and not self.reported_detached:
            self.get_logger().error("the crawler lost the hull (magnets detached or flipped)")
            self.reported_detached = True
        stamp = (
            stamp_from_seconds(self.sim_time) if self.clock_publisher
            else self.get_clock().now().to_msg()
        )
        if self.clock_publisher is not None:
            self.clock_publisher.publish(Clock(clock=stamp))
        self.publish_sensors(reading, stamp)
        position, orientation = self.sim.base_pose()
        self.publish_odometry(reading, position, orientation, stamp)
        self.awaiting_command = self.lockstep  # the controller answers the odometry
        self.marker_publisher.publish(scene_markers(
            self.scenario, self.sim.tether_polyline(), position, orientation,
            self.commanded_twist, np.asarray(self.sim.true_twist()), self.odom_frame, stamp,
        ))
        if self.tf_publisher is not None:
            self.publish_tf(position, orientation, stamp)
        if self.trace is not None and self.steps % self.params["record_every"] == 0:
            self.trace.add_from_sim(self.sim, self.sim_time, self.commanded_twist)

    def publish_sensors(self, reading: Any, stamp: Time) -> None:
        """IMU (gravity-referenced orientation, gyro, accelerometer), encoders, load cell."""
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, self.base_frame
        x, y, z, w = robot.orientation_from_gravity(reading.gravity_body)
        imu.orientation.x, imu.orientation.y, imu.orientation.z, imu.orientation.w = x, y, z, w
        imu.angular_velocity.z = float(reading.measured_twist[1])
        accel = reading.linear_acceleration
        imu.linear_acceleration.x, imu.linear_acceleration.y = float(accel[0]), float(accel[1])
        imu.linear_acceleration.z = float(accel[2])
        self.imu_publisher.publish(imu)
        joints = JointState(name=list(robot.DEFAULT_WHEEL_JOINTS))
        joints.header.stamp = stamp
        joints.position = [float(angle) for angle in self.sim.wheel_angles()]
        joints.velocity = [float(speed) for speed in reading.wheel_speeds]
        self.joint_publisher.publish(joints)
        if reading.tether_tension_valid:  # no load cell, or an outage: nothing is published
            self.tension_publisher.publish(Float64(data=float(reading.tether_tension)))

    def publish_odometry(self, reading: Any, position: np.ndarray, orientation: np.ndarray,
                         stamp: Time) -> None:
        """Odometry: true pose in the odom frame, measured body twist (published last)."""
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id = stamp, self.odom_frame
        odom.child_frame_id = self.base_frame
        pose = odom.pose.pose
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (
            float(v) for v in orientation
        )
        odom.twist.twist.linear.x = float(reading.measured_twist[0])
        odom.twist.twist.angular.z = float(reading.measured_twist[1])
        self.odom_publisher.publish(odom)

    def publish_tf(self, position: np.ndarray, orientation: np.ndarray, stamp: Time) -> None:
        """Odom -> base and every URDF joint (wheels turning, the rest at zero)."""
        wheel_angles = dict(zip(robot.DEFAULT_WHEEL_JOINTS, self.sim.wheel_angles(), strict=True))
        frames = [(self.odom_frame, self.base_frame, position, orientation)]
        for joint in self.joints:
            xyz, quat = joint_transform(joint, float(wheel_angles.get(joint.name, 0.0)))
            frames.append((joint.parent, joint.child, xyz, quat))
        transforms = []
        for parent, child, xyz, quat in frames:
            transform = TransformStamped()
            transform.header.stamp, transform.header.frame_id = stamp, parent
            transform.child_frame_id = child
            t, r = transform.transform.translation, transform.transform.rotation
            t.x, t.y, t.z = (float(v) for v in xyz)
            r.x, r.y, r.z, r.w = (float(v) for v in quat)
            transforms.append(transform)
        self.tf_publisher.publish(tf_message_type()(transforms=transforms))

    def close(self) -> None:
        """Save the recording (if any) and release the simulator."""
        if self.lockstep:
            self.get_logger().info(
                f"lockstep: {self.late_commands} late wheel commands in {self.steps} steps"
            )
        if self.trace is not None and len(self.trace):
            path = write_replay(self.trace, self.record_path)
            self.get_logger().info(f"wrote the replay of {self.sim_time:.1f} s to {path}")
        self.sim.close()


def main(args: list[str] | None = None) -> None:
    """Run the simulated robot until interrupted; save the recording on the way out."""
    run_stoppable_node(RobotSimNode, "robot_sim_node", args)


if __name__ == "__main__":
    main()
