"""ros/ is split by side: the robot side runs without the training graph, node names stay."""

from __future__ import annotations

import importlib
import subprocess
import sys

from crawler_rl.ros.nodes import NODE_MODULES

NODE_NAMES = {"actor_node", "inference_node", "learner_node", "head_node", "controller_node",
              "robot_sim_node", "square_path", "excitation_driver", "recorder_node",
              "web_view_node"}


def test_every_ros2_run_name_is_kept_and_has_a_main() -> None:
    assert set(NODE_MODULES) == NODE_NAMES
    for name, module in NODE_MODULES.items():
        side = "training" if name in {"actor_node", "inference_node", "learner_node",
                                      "head_node"} else "robot"
        assert module == f"crawler_rl.ros.{side}.{name}"
        assert callable(importlib.import_module(module).main), name


def test_deploy_does_not_import_the_training_side() -> None:
    snippet = ("import sys, crawler_rl.ros.robot.deploy, crawler_rl.ros.robot.excite\n"
               "print(sorted(m for m in sys.modules if m.startswith('crawler_rl.ros.training')"
               " or m == 'torch'))")
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
