"""Launch the crawler_rl training graph: head (inference + learner) and the actor processes.

Built from crawler_rl.ros.training.graph, the same definition `crawler-rl train` runs, e.g.
`ros2 launch crawler_rl train.launch.py actors:=4 envs_per_actor:=16 run_dir:=runs/a`.
The launch ends when the head exits: 0 once training is done (final checkpoint and
controller.onnx written), 1 when the head failed. `--show-args` lists the arguments.
"""

from crawler_rl.ros.training.graph import generate_launch_description_for


def generate_launch_description():  # noqa: D103 - the ros2 launch entry point
    return generate_launch_description_for("train")
