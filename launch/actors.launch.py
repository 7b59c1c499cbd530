"""Launch the crawler_rl training graph: actor processes only (worker machines).

Built from crawler_rl.ros.training.graph, the same definition `crawler-rl train` runs, e.g.
`ros2 launch crawler_rl actors.launch.py actors:=4 envs_per_actor:=16 first_id:=4`
(first_id: this machine's actors are actor_4..actor_7; every worker needs its own range).
Actors wait for a head and serve the next one after it: this launch runs until Ctrl-C.
"""

from crawler_rl.ros.training.graph import generate_launch_description_for


def generate_launch_description():  # noqa: D103 - the ros2 launch entry point
    return generate_launch_description_for("actors")
