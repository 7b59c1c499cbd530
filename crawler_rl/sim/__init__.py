"""PyBullet simulator of the tethered magnetic crawler (no ROS, no torch)."""
