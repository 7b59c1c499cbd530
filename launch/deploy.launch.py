"""Launch controller_node alone, disabled until `~/enable` (built from deploy_graph).

`ros2 launch crawler_rl deploy.launch.py policy:=/path/controller.onnx`; remap cmd_vel, odom,
imu, joint_states to the robot's drivers.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from crawler_rl.ros.graph import launch_nodes
from crawler_rl.ros.robot.deploy_graph import graph_from_launch_arguments
from launch import LaunchDescription


def _nodes(context):
    graph = graph_from_launch_arguments(dict(context.launch_configurations), sim=False)
    return launch_nodes(graph)


def generate_launch_description():  # noqa: D103 - the ros2 launch entry point
    return LaunchDescription([
        DeclareLaunchArgument("policy", default_value="", description="controller.onnx"),
        OpaqueFunction(function=_nodes),
    ])
