"""controller_node: the exported ONNX velocity controller driving the crawler's wheels.

Subscribes: `cmd_vel` (Twist, or TwistStamped with `cmd_vel_stamped`), `odom`, `imu`,
`joint_states`, optional `tether_tension` (its observation mask is 1 while the reading is
younger than `state_timeout`, else 0 with the last reading held).
Publishes: `<controller_name>/commands` (Float64MultiArray [left, right] rad/s).
Services: `~/enable` (std_srvs/SetBool), `~/status` (std_srvs/Trigger, JSON: enabled, last
fault, counts of bad input per kind).

Fallback: `use_fallback` drives with a classical controller instead of the policy, `fallback`
picks it: "pi" (default; IK + PI on the measured twist with the gains `pi_kp_v`, `pi_ki_v`,
`pi_kp_omega`, `pi_ki_omega`, defaults from config/baseline_pi.yaml) or "ik" (open-loop inverse
kinematics). `use_ik_fallback` is the older switch, kept: true drives with plain IK whatever
`fallback` says (migrate with `use_fallback:=true fallback:=ik`).

Safety: wheel speeds are clamped and rate limited; the command is zero while the velocity command
or any state input is older than its timeout, when a reading or the model output is non-finite,
and on shutdown. Disabling publishes one zero command, then nothing (another source may drive).
A non-finite or unusable reading is counted per kind and logged once; while it is the latest
of its input the command stays zero.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any

import numpy as np
import rclpy
import rclpy.duration
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool

from crawler_rl.control.onnx_runner import (
    FALLBACKS,
    ModelContractError,
    OnnxPolicy,
    RobotState,
    VelocityController,
)
from crawler_rl.control.pi import PIGains, load_gains
from crawler_rl.ros.params import ParamSpec, declare_validated
from crawler_rl.ros.rejections import Rejections
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.runtime import run_stoppable_node, serve_status
from crawler_rl.sim.action import ActionSpec

PARAMETERS = (
    ParamSpec("policy_path", "", "controller.onnx exported by crawler-rl export", read_only=True),
    ParamSpec("use_fallback", False, "drive with the classical `fallback` instead of the policy"),
    ParamSpec("fallback", "pi", "classical controller for use_fallback: IK + PI, or open-loop IK",
              choices=FALLBACKS),
    *(ParamSpec(f"pi_{name}", value, f"PI fallback gain {name}", low=0.0, high=1e3)
      for name, value in load_gains().as_dict().items()),
    ParamSpec("use_ik_fallback", False,
              "drive with inverse kinematics instead of the policy (older switch; overrides "
              "use_fallback/fallback)"),
    ParamSpec("start_enabled", False, "publish wheel commands from start (else call ~/enable)",
              read_only=True),
    ParamSpec("control_rate_hz", 20.0, "control rate [Hz]; must match the model's control_dt",
              low=1.0, high=1000.0, read_only=True),
    ParamSpec("control_trigger", "timer", "step on the timer or on each odometry message",
              choices=("timer", "odometry"), read_only=True),
    ParamSpec("command_timeout", 0.5, "zero the wheels when cmd_vel is older [s]",
              low=0.01, high=10.0),
    ParamSpec("state_timeout", 0.5, "zero the wheels when odom/imu/joint_states are older [s]",
              low=0.01, high=10.0),
    ParamSpec("max_wheel_speed", ActionSpec.max_wheel_speed, "wheel speed command limit [rad/s]",
              low=0.01, high=1e3),
    ParamSpec("max_wheel_acceleration", 240.0, "wheel speed command rate limit [rad/s^2]",
              low=0.01, high=1e5),
    ParamSpec("wheel_radius", ActionSpec.wheel_radius, "drive wheel radius [m]",
              low=1e-3, high=1.0, read_only=True),
    ParamSpec("track_width", ActionSpec.track_width, "wheel contact distance [m]",
              low=1e-3, high=10.0, read_only=True),
    ParamSpec("cmd_vel_stamped", False, "cmd_vel is geometry_msgs/TwistStamped", read_only=True),
    ParamSpec("controller_name", robot.DEFAULT_CONTROLLER_NAME, "publish on <name>/commands",
              read_only=True),
    ParamSpec("wheel_joints", list(robot.DEFAULT_WHEEL_JOINTS), "left, right wheel joint names",
              read_only=True),
    ParamSpec("gravity_source", "orientation", "IMU field giving the gravity direction",
              choices=("orientation", "accelerometer"), read_only=True),
)
"""Read-only parameters shape the wiring or the observation: changing them needs a restart."""
STATE_INPUTS = ("odom", "imu", "joint_states")


class ControllerNode(Node):
    """ROS wrapper of `VelocityController`: inputs, staleness, enable service and publishing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("controller_node", **kwargs)
        self.params = declare_validated(self, PARAMETERS)
        param = self.param
        if not param("controller_name"):
            raise ValueError("parameter 'controller_name' must not be empty")
        if len(param("wheel_joints")) != 2:
            raise ValueError(f"parameter 'wheel_joints' = {param('wheel_joints')!r} must name "
                             "exactly 2 joints (left, right)")
        self.control_dt = 1.0 / param("control_rate_hz")
        self.controller = VelocityController(
            self.load_policy(),
            ActionSpec(wheel_radius=param("wheel_radius"), track_width=param("track_width"),
                       max_wheel_speed=param("max_wheel_speed")),
            self.control_dt,
            param("max_wheel_acceleration"),
            use_fallback=param("use_fallback"),
            fallback=param("fallback"),
            pi_gains=self.pi_gains(),
            use_ik_fallback=param("use_ik_fallback"),
        )
        self.add_on_set_parameters_callback(self.check_fallback_switch)
        self.add_post_set_parameters_callback(self.apply_parameters)
        self.wheel_joints = tuple(param("wheel_joints"))
        self.commanded_twist = np.zeros(2)
        self.measured_twist = np.zeros(2)
        self.gravity_body = np.zeros(3)
        self.wheel_speeds = np.zeros(2)
        self.tether_tension = 0.0
        inputs = ("cmd_vel", *STATE_INPUTS, "tether")
        self.arrival_ns: dict[str, int | None] = dict.fromkeys(inputs)
        self.last_fault = ""
        self.enabled = False
        self.rejections = Rejections(self.get_logger())

        self.command_publisher = self.create_publisher(
            Float64MultiArray,
            robot.wheel_command_topic(param("controller_name")),
            robot.command_qos(),
        )
        stamped = param("cmd_vel_stamped")
        self.create_subscription(
            TwistStamped if stamped else Twist,
            robot.CMD_VEL_TOPIC,
            self.on_cmd_vel_stamped if stamped else self.on_cmd_vel,
            robot.command_qos(),
        )
        sensor_qos = robot.sensor_subscription_qos()
        self.create_subscription(Imu, robot.IMU_TOPIC, self.on_imu, sensor_qos)
        self.create_subscription(
            JointState, robot.JOINT_STATES_TOPIC, self.on_joint_states, sensor_qos
        )
        self.create_subscription(
            Float64, robot.TETHER_TENSION_TOPIC, self.on_tether_tension, sensor_qos
        )
        # Created last on purpose: when one step's messages are ready together, the executor
        # serves subscriptions in creation order, so odometry (which may trigger the control
        # step) sees the IMU and wheel speeds of the same step, as in training.
        self.create_subscription(Odometry, robot.ODOM_TOPIC, self.on_odometry, sensor_qos)
        self.create_service(SetBool, "~/enable", self.on_enable)
        serve_status(self, self.status)
        self.step_on_odometry = param("control_trigger") == "odometry"
        self.timer = self.create_timer(self.control_dt, self.on_timer)
        if param("start_enabled"):
            self.set_enabled(True)
        source = {"ik": "inverse kinematics", "pi": "IK + PI fallback"}.get(
            self.controller.source, param("policy_path"))
        self.get_logger().info(
            f"controller ready ({source}) at {1.0 / self.control_dt:.1f} Hz, "
            f"{'enabled' if self.enabled else 'disabled: call ~/enable'}"
        )

    def param(self, name: str) -> Any:
        """Return the current value of a parameter (kept up to date on accepted changes)."""
        return self.params[name]

    def pi_gains(self) -> PIGains:
        """Return the PI fallback's gains from the pi_* parameters."""
        return PIGains(**{item.name: self.param(f"pi_{item.name}") for item in fields(PIGains)})

    def load_policy(self) -> OnnxPolicy | None:
        """Load and check controller.onnx against the node's settings; refuse on mismatch."""
        path = self.param("policy_path")
        if not path:
            if not (self.param("use_fallback") or self.param("use_ik_fallback")):
                raise ModelContractError(
                    "parameter policy_path is empty and use_fallback (and use_ik_fallback) is off"
                )
            return None
        policy = OnnxPolicy(path)
        if policy.control_dt is not None and abs(policy.control_dt - self.control_dt) > 1e-6:
            raise ModelContractError(
                f"{path}: trained at control_dt={policy.control_dt} s but control_rate_hz="
                f"{self.param('control_rate_hz')} gives {self.control_dt} s"
            )
        for name in ("wheel_radius", "track_width"):
            trained = getattr(policy.action_spec, name)
            if not math.isclose(trained, self.param(name), rel_tol=1e-6):
                raise ModelContractError(
                    f"{path}: trained for {name}={trained} but parameter {name}="
                    f"{self.param(name)}; set the parameter to the robot's value and retrain or "
                    "fix it"
                )
        return policy

    def check_fallback_switch(self, parameters: list[Parameter]) -> SetParametersResult:
        """Refuse to leave the fallback when no policy is loaded."""
        if self.controller.policy is not None:
            return SetParametersResult(successful=True)
        switches = {"use_fallback": self.param("use_fallback"),
                    "use_ik_fallback": self.param("use_ik_fallback")}
        switches.update({p.name: p.value for p in parameters if p.name in switches})
        if not any(switches.values()):
            return SetParametersResult(
                successful=False, reason="the fallback stays on: no policy loaded"
            )
        return SetParametersResult(successful=True)

    def apply_parameters(self, parameters: list[Parameter]) -> None:
        """Apply accepted changes of the limits and the IK fallback switch."""
        for parameter in parameters:
            if parameter.name in ("use_fallback", "use_ik_fallback", "fallback"):
                setattr(self.controller, parameter.name, parameter.value)
                self.controller.reset()
            elif parameter.name.startswith("pi_"):
                self.controller.pi.gains = self.pi_gains()
            elif parameter.name == "max_wheel_speed":
                self.controller.limiter.max_wheel_speed = parameter.value
                self.controller.action_spec = replace(
                    self.controller.action_spec, max_wheel_speed=parameter.value
                )
            elif parameter.name == "max_wheel_acceleration":
                self.controller.limiter.max_wheel_acceleration = parameter.value

    def now_ns(self) -> int:
        """Node clock time (sim time under use_sim_time)."""
        return self.get_clock().now().nanoseconds

    def count_non_finite(self, kind: str, values: tuple[float, ...]) -> None:
        """Count a reading with non-finite values (kept: it zeroes the command while latest)."""
        if not all(math.isfinite(value) for value in values):
            self.rejections.reject(f"non_finite_{kind}", f"non-finite {kind} reading "
                                   f"{values!r}: zero wheel command while it is the latest")

    def on_cmd_vel(self, msg: Twist) -> None:
        """Store the commanded (v, omega)."""
        self.commanded_twist = np.array([msg.linear.x, msg.angular.z])
        self.count_non_finite("cmd_vel", (msg.linear.x, msg.angular.z))
        self.arrival_ns["cmd_vel"] = self.now_ns()

    def on_cmd_vel_stamped(self, msg: TwistStamped) -> None:
        """Store the commanded (v, omega) from a TwistStamped."""
        self.on_cmd_vel(msg.twist)

    def on_odometry(self, msg: Odometry) -> None:
        """Store the measured forward velocity (body frame); step here if triggered by odometry."""
        self.measured_twist[0] = msg.twist.twist.linear.x
        self.count_non_finite("odom", (msg.twist.twist.linear.x,))
        self.arrival_ns["odom"] = self.now_ns()
        if self.step_on_odometry:
            self.control_step()

    def on_imu(self, msg: Imu) -> None:
        """Store the gyro yaw rate and the gravity direction."""
        self.measured_twist[1] = msg.angular_velocity.z
        if self.param("gravity_source") == "orientation":
            q = msg.orientation
            quaternion = np.array([q.x, q.y, q.z, q.w])
            usable = np.all(np.isfinite(quaternion)) and np.linalg.norm(quaternion) > 1e-6
            self.gravity_body = (robot.gravity_from_orientation(quaternion) if usable
                                 else np.full(3, np.nan))
        else:
            a = msg.linear_acceleration
            self.gravity_body = robot.gravity_from_accelerometer(np.array([a.x, a.y, a.z]))
        self.count_non_finite("imu", (msg.angular_velocity.z, *self.gravity_body))
        self.arrival_ns["imu"] = self.now_ns()

    def on_joint_states(self, msg: JointState) -> None:
        """Store the wheel speeds (messages without both wheel joints are counted, not used)."""
        indices = robot.joint_indices(list(msg.name), self.wheel_joints)
        if indices is None or len(msg.velocity) <= max(indices):
            self.rejections.reject("joint_states_without_wheels", "ignoring joint_states "
                                   f"without velocities of both wheel joints {self.wheel_joints}")
            return
        self.wheel_speeds = np.array([msg.velocity[indices[0]], msg.velocity[indices[1]]])
        self.count_non_finite("joint_states", tuple(self.wheel_speeds))
        self.arrival_ns["joint_states"] = self.now_ns()

    def on_tether_tension(self, msg: Float64) -> None:
        """Store the tether tension [N]."""
        self.tether_tension = msg.data
        self.count_non_finite("tether_tension", (msg.data,))
        self.arrival_ns["tether"] = self.now_ns()

    def stale_inputs(self, now_ns: int) -> str:
        """Describe inputs that are missing or older than their timeout ('' when all fresh)."""
        stale = []
        for name, timeout in (("cmd_vel", self.param("command_timeout")),
                              *((state, self.param("state_timeout")) for state in STATE_INPUTS)):
            arrival = self.arrival_ns[name]
            if arrival is None or now_ns - arrival > timeout * 1e9:
                stale.append(name)
        return f"stale or missing input: {', '.join(stale)}" if stale else ""

    def robot_state(self, now_ns: int) -> RobotState:
        """Return the latest readings at `now_ns`, with the load cell's mask.

        As in training: the mask (`tether_tension_valid`) is 1 while the tension reading is
        younger than `state_timeout`, else 0 with the tension holding its last reading (0 N
        only before the first one, as training without a load cell); never a silent 0 N.
        A stale tension is not a fault: the load cell is optional.
        """
        arrival = self.arrival_ns["tether"]
        fresh = arrival is not None and now_ns - arrival <= self.param("state_timeout") * 1e9
        return RobotState(
            self.measured_twist.copy(),
            self.gravity_body,
            self.wheel_speeds,
            self.tether_tension,
            1.0 if fresh else 0.0,
        )

    def on_timer(self) -> None:
        """Step at the control rate; with odometry triggering, only the staleness watchdog."""
        if not self.step_on_odometry:
            self.control_step()
        elif self.enabled and self.stale_inputs(self.now_ns()):
            self.control_step()

    def control_step(self) -> None:
        """Compute and publish one wheel speed command (zero on any fault)."""
        if not self.enabled:
            return
        now_ns = self.now_ns()
        fault = self.stale_inputs(now_ns)
        if fault:
            output = self.controller.stop(fault)
        else:
            output = self.controller.step(self.commanded_twist, self.robot_state(now_ns))
        self.publish_wheel_speeds(output.wheel_speeds)
        if output.fault != self.last_fault:
            if output.fault:
                self.get_logger().warning(f"zero wheel command: {output.fault}")
            else:
                self.get_logger().info(f"driving ({output.source})")
            self.last_fault = output.fault

    def publish_wheel_speeds(self, wheel_speeds: np.ndarray) -> None:
        """Publish [left, right] wheel speeds [rad/s]."""
        self.command_publisher.publish(Float64MultiArray(data=[float(w) for w in wheel_speeds]))

    def set_enabled(self, enabled: bool) -> None:
        """Enable (from rest, fresh history) or disable (one zero command)."""
        if enabled and not self.enabled:
            self.controller.reset()
            self.last_fault = ""
        if not enabled and self.enabled:
            self.publish_wheel_speeds(np.zeros(2))
        self.enabled = enabled

    def on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Service ~/enable: True starts driving, False stops."""
        self.set_enabled(request.data)
        response.success = True
        response.message = "enabled" if request.data else "disabled"
        self.get_logger().info(f"controller {response.message}")
        return response

    def status(self) -> dict[str, object]:
        """Return enabled, the current fault ('' when driving) and bad input per kind."""
        return {"enabled": self.enabled, "fault": self.last_fault, **self.rejections.counts}

    def close(self) -> None:
        """On the way out: a zero wheel command, while the context still carries it."""
        if rclpy.ok():
            self.stop_wheels()

    def stop_wheels(self) -> None:
        """Publish a zero command and wait briefly until subscribers have it (shutdown path)."""
        self.publish_wheel_speeds(np.zeros(2))
        self.command_publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=0.5))


def main(args: list[str] | None = None) -> None:
    """Run the node; always end with a zero wheel command (like teleop_twist_keyboard).

    Our own SIGINT/SIGTERM handling (`run_stoppable_node`) keeps the context alive so that the
    final zero gets out; a model or parameter the node refuses exits 2.
    """
    run_stoppable_node(ControllerNode, "controller_node", args)


if __name__ == "__main__":
    main()
