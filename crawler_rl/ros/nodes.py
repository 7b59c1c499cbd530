"""The ROS 2 executables of crawler_rl (`ros2 run crawler_rl <name>`) and each one's module.

Plain data, read by setup.py (its console scripts) and by `process_graph` (`python -m <module>`).
"""

NODE_MODULES = {
    "actor_node": "crawler_rl.ros.training.actor_node",
    "inference_node": "crawler_rl.ros.training.inference_node",
    "learner_node": "crawler_rl.ros.training.learner_node",
    "head_node": "crawler_rl.ros.training.head_node",
    "controller_node": "crawler_rl.ros.robot.controller_node",
    "robot_sim_node": "crawler_rl.ros.robot.robot_sim_node",
    "square_path": "crawler_rl.ros.robot.square_path",
    "excitation_driver": "crawler_rl.ros.robot.excitation_driver",
    "recorder_node": "crawler_rl.ros.robot.recorder_node",
    "web_view_node": "crawler_rl.ros.robot.web_view_node",
}
"""Executable name -> module whose `main` runs it (names are the public interface: keep them)."""
