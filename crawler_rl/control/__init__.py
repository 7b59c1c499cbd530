"""Classical velocity controllers (no ROS, no torch): the baselines the learned one must beat.

- open-loop inverse kinematics: `crawler_rl.sim.action.InverseKinematicsController` (action 0);
- IK feed-forward + PI on the measured twist: `pi.PIController`, gains tuned by `tuning`.
"""
