"""Launch controller_node + robot_sim_node + RViz (built from sim_deploy_graph).

`ros2 launch crawler_rl sim_deploy.launch.py policy:=/path/controller.onnx
[use_ik_fallback:=true] [rviz:=true|false] [record:=run.png]`

Without an installed rviz2 package the launch says so once and runs the rest.
"""

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch_ros.actions import Node

from crawler_rl.paths import config_path
from crawler_rl.ros.graph import launch_nodes
from crawler_rl.ros.robot.deploy_graph import RVIZ_CONFIG, TRUE_WORDS, graph_from_launch_arguments
from launch import LaunchDescription

RVIZ_PACKAGE = "rviz2"


def _rviz():
    try:
        get_package_prefix(RVIZ_PACKAGE)
    except PackageNotFoundError:
        return LogInfo(msg=f"{RVIZ_PACKAGE} is not installed: running without RViz "
                           "(rviz:=false starts none)")
    return Node(package=RVIZ_PACKAGE, executable="rviz2", name="rviz2",
                arguments=["-d", str(config_path(RVIZ_CONFIG))], output="screen")


def _nodes(context):
    arguments = dict(context.launch_configurations)
    actions = launch_nodes(graph_from_launch_arguments(arguments, sim=True))
    if arguments.get("rviz", "true").lower() in TRUE_WORDS:
        actions.append(_rviz())
    return actions


def generate_launch_description():  # noqa: D103 - the ros2 launch entry point
    return LaunchDescription([
        DeclareLaunchArgument("policy", default_value="", description="controller.onnx"),
        DeclareLaunchArgument("use_ik_fallback", default_value="false"),
        DeclareLaunchArgument("rviz", default_value="true",
                              description="start RViz (true|false); skipped if rviz2 is absent"),
        DeclareLaunchArgument("record", default_value="", description=".png or .gif"),
        OpaqueFunction(function=_nodes),
    ])
