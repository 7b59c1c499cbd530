"""Calibration of the simulator from a recorded run (no ROS).

`excitation`: the manoeuvre to record; `recorded_run`: recorded signals as per-control-step
arrays (built from timestamped samples; ros/robot/recorded_signals.py reads them from MCAP);
`replay`: the recorded wheel commands replayed open loop in CrawlerSim; `fit`: the parameters
fitted with scipy's least_squares; `report`: the fitted config, the report and the figure.
"""
