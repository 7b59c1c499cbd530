"""The training graph's ROS side: actor, inference, learner and head nodes, their messages."""
