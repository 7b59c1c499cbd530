"""Views of a run (no ROS): recorded time series, replay figure and animation, web view."""
