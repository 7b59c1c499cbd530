"""excitation_driver: drive the calibration manoeuvre on `cmd_vel`, then stop.

The manoeuvre (crawler_rl/calibration/excitation.py: steps and chirps in v and omega at safe
speeds, hold-still segments) starts `start_delay` s after both the robot's joint states and the
controller's wheel commands are seen, so on the robot nothing moves before the controller is
enabled; with `wait_for_recorder` also only once that node subscribes to the joint states and
`cmd_vel` (a recorder started late would miss the manoeuvre's start). Republishes at `rate_hz`
and always ends with a zero Twist (also on Ctrl-C); exits 0 when the manoeuvre is done.
"""

from __future__ import annotations

from typing import Any

from sensor_msgs.msg import JointState

from crawler_rl.calibration.excitation import excitation_command, excitation_seconds
from crawler_rl.ros.params import ParamSpec
from crawler_rl.ros.robot import robot_interface as robot
from crawler_rl.ros.robot.twist_driver import TwistDriver, drive_until_done, start_parameters

PARAMETERS = (
    ParamSpec("time_scale", 1.0, "stretch (> 1) or shorten (< 1) every segment", low=0.1,
              high=10.0, read_only=True),
    ParamSpec("wait_for_recorder", "", "name of a recorder node to wait for ('': none)",
              read_only=True),
    *start_parameters(rate_hz=20.0),
)


class ExcitationDriver(TwistDriver):
    """Publishes the manoeuvre's Twist commands on a timer once robot and controller are up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("excitation_driver", PARAMETERS, **kwargs)
        self.robot_seen = False
        self.create_subscription(JointState, robot.JOINT_STATES_TOPIC, self.on_joint_states,
                                 robot.sensor_subscription_qos())
        self.get_logger().info(
            f"excitation of {excitation_seconds(self.params['time_scale']):.1f} s starts "
            f"{self.params['start_delay']:.1f} s after the robot's joint states and the "
            "controller's first wheel command")

    def on_joint_states(self, _: JointState) -> None:
        """Note that the robot (its drivers) is up."""
        self.robot_seen = True
        self.start_when_ready()

    def recorder_ready(self) -> bool:
        """Return whether the recorder to wait for (if any) subscribes to what it must record."""
        name = self.params["wait_for_recorder"]
        return not name or all(
            any(info.node_name == name for info in self.get_subscriptions_info_by_topic(
                self.resolve_topic_name(topic)))
            for topic in (robot.JOINT_STATES_TOPIC, robot.CMD_VEL_TOPIC))

    def ready(self) -> bool:
        """Return whether the robot, the controller (and the recorder, if any) are all seen."""
        return self.robot_seen and super().ready() and self.recorder_ready()

    def command_at(self, elapsed: float) -> tuple[float, float] | None:
        """Return the manoeuvre's command `elapsed` s in (zero before it, None after it)."""
        return excitation_command(elapsed, self.params["time_scale"])


def main(args: list[str] | None = None) -> None:
    """Drive the manoeuvre once, then stop; a zero Twist goes out in every case."""
    drive_until_done(ExcitationDriver, "excitation_driver", args)


if __name__ == "__main__":
    main()
