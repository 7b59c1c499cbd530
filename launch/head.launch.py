"""Launch the crawler_rl training graph: inference + learner only (actors run elsewhere).

Built from crawler_rl.ros.training.graph, the same definition `crawler-rl train` runs, e.g.
`ros2 launch crawler_rl head.launch.py actors:=4 envs_per_actor:=16 run_dir:=runs/a`
(actors x envs_per_actor: the env columns of the whole fleet). Ends like train.launch.py.
"""

from crawler_rl.ros.training.graph import generate_launch_description_for


def generate_launch_description():  # noqa: D103 - the ros2 launch entry point
    return generate_launch_description_for("head")
