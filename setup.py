"""Build script: an ament_python package that also pip-installs into a plain venv."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "crawler_rl"

NODES = {
    "actor_node": "crawler_rl.ros.actor_node:main",
    "inference_node": "crawler_rl.ros.inference_node:main",
    "learner_node": "crawler_rl.ros.learner_node:main",
    "head_node": "crawler_rl.ros.head_node:main",
    "controller_node": "crawler_rl.ros.controller_node:main",
    "robot_sim_node": "crawler_rl.ros.robot_sim_node:main",
    "square_path": "crawler_rl.ros.square_path:main",
    "excitation_driver": "crawler_rl.ros.excitation_driver:main",
    "recorder_node": "crawler_rl.ros.recorder_node:main",
    "web_view_node": "crawler_rl.ros.web_view_node:main",
}

# ROS 2 itself comes from the distribution on a real install; in a plain venv use the
# `ros-wheels` extra (ROS 2 kilted wheels from PyPI).
ROS_WHEELS = [
    "ros-rclpy",
    "ros-rmw-fastrtps-cpp",
    "ros-std-msgs",
    "ros-geometry-msgs",
    "ros-sensor-msgs",
    "ros-nav-msgs",
    "ros-std-srvs",
    "ros-visualization-msgs",
]
TRAIN = ["torch>=2.3", "tensorboard", "tqdm", "onnx", "onnxscript", "matplotlib", "imageio",
         "optuna", "scipy"]
TEST = ["pytest", "hypothesis", "mcap-ros2-support", "colcon-common-extensions", "ruff"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*")),
    ],
    package_data={PACKAGE: ["data/*"]},
    include_package_data=True,
    install_requires=[
        "setuptools", "numpy", "pyyaml", "pybullet", "gymnasium>=1.0", "onnxruntime",
    ],
    extras_require={
        "train": TRAIN,
        "ros-wheels": ROS_WHEELS,
        "test": TEST,
        "all": TRAIN + ROS_WHEELS + TEST,
    },
    zip_safe=True,
    maintainer="crawler_rl developers",
    maintainer_email="crawler-rl@example.com",
    description="Learned velocity controller for tethered magnetic hull crawlers (ROS 2 + PPO).",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": ["crawler-rl = crawler_rl.cli:main"]
        + [f"{name} = {target}" for name, target in NODES.items()],
    },
)
