"""The robot side: controller, simulated robot, TF, markers, recording, deploy graph."""
