"""Controller latency on one core: ONNX call, control step, and odometry arrival -> wheel command.

Prints JSON lines {"what", "p50_us", "p99_us", "n"}. Target: node p99 < 1000 us.
  PYTHONPATH=. python bench/controller_latency.py [--policy controller.onnx] [--n 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def percentiles(what: str, samples: list[float]) -> None:
    us = np.array(samples) * 1e6
    print(json.dumps({"what": what, "p50_us": round(float(np.percentile(us, 50)), 1),
                      "p99_us": round(float(np.percentile(us, 99)), 1), "n": len(us)}),
          flush=True)


def timed(call: Callable[[], object], n: int, warmup: int = 200) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def default_policy(tmp: Path) -> Path:
    shipped = ROOT / "test" / "data" / "controller.onnx"
    if shipped.is_file():
        return shipped
    sys.path.insert(0, str(ROOT / "test" / "ros"))
    from controller_models import make_controller_onnx

    return make_controller_onnx(tmp / "controller.onnx")


def bench_core(policy_path: Path, n: int) -> None:
    from crawler_rl.control.onnx_runner import OnnxPolicy, RobotState, VelocityController
    from crawler_rl.sim.observation import OBS_DIM

    policy = OnnxPolicy(policy_path)
    obs = np.linspace(-0.5, 0.5, OBS_DIM).astype(np.float32)
    percentiles("onnx_call", timed(lambda: policy.wheel_speeds(obs), n))
    controller = VelocityController(policy, policy.action_spec, 0.05, 240.0)
    state = RobotState(np.array([0.05, 0.0]), np.array([-1.0, 0.0, 0.0]), np.ones(2), 20.0, 1.0)
    cmd = np.array([0.1, 0.1])
    percentiles("controller_step", timed(lambda: controller.step(cmd, state), n))


def bench_node(policy_path: Path, n: int) -> None:
    """Odometry callback (as the executor dispatches it) up to the published wheel command."""
    import rclpy
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Imu, JointState

    from crawler_rl.ros.robot.controller_node import ControllerNode

    rclpy.init(domain_id=int(os.environ.get("ROS_DOMAIN_ID", "77")))
    params = {"policy_path": str(policy_path), "start_enabled": True,
              "control_trigger": "odometry", "command_timeout": 10.0,
              "state_timeout": 10.0}
    node = ControllerNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    twist = Twist()
    twist.linear.x = 0.1
    node.on_cmd_vel(twist)
    imu = Imu()
    imu.orientation.w = 1.0
    node.on_imu(imu)
    node.on_joint_states(JointState(name=list(node.wheel_joints), velocity=[1.0, 1.0]))
    odom = Odometry()
    odom.twist.twist.linear.x = 0.05
    percentiles("node_odometry_to_wheel_command", timed(lambda: node.on_odometry(odom), n))
    node.destroy_node()
    rclpy.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy or default_policy(Path(tmp))
        print(json.dumps({"policy": str(policy), "cores": len(os.sched_getaffinity(0))}))
        bench_core(policy, args.n)
        bench_node(policy, args.n)


if __name__ == "__main__":
    main()
