#!/usr/bin/env bash
# Build the crawler_rl_interfaces message package with colcon into <repo>/install, from the
# ROS 2 wheels of the active Python environment (no ROS install, no root).
#
# The rosidl wheels' exported CMake targets name include folders of the machine they were
# built on (/opt/python/cp311-cp311/...); CMake refuses paths that do not exist, so they are
# rewritten once to this interpreter's Python and numpy include folders.
# On a ROS 2 install use the usual `colcon build` of the workspace instead.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$(command -v python)}"
prefix="$("$python" -c 'import sys; print(sys.prefix)')"
python_include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
numpy_include="$("$python" -c 'import numpy; print(numpy.get_include())')"

for tool in cmake gcc g++; do
    command -v "$tool" >/dev/null || { echo "build_interfaces.sh: $tool is required (apt-get install cmake g++)" >&2; exit 1; }
done
colcon="$(dirname "$python")/colcon"
[ -x "$colcon" ] || colcon="$(command -v colcon)" || {
    echo "build_interfaces.sh: colcon is missing (pip install -e '.[all]')" >&2; exit 1; }

{ grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+/' "$prefix/share" --include='*.cmake' || true; } \
    | while read -r file; do
        sed -i -E \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include#$numpy_include#g" \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$python_include#g" \
            "$file"
    done

cd "$repo"
CMAKE_PREFIX_PATH="$prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}" \
AMENT_PREFIX_PATH="$prefix${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" \
    "$colcon" build --base-paths interfaces --packages-select crawler_rl_interfaces \
    --build-base "$repo/build" --install-base "$repo/install" \
    --event-handlers console_direct- \
    --cmake-args -DPython3_EXECUTABLE="$python" -DBUILD_TESTING=OFF \
    "-DCMAKE_INSTALL_RPATH=\$ORIGIN;\$ORIGIN/../../.." -DCMAKE_BUILD_WITH_INSTALL_RPATH=OFF
echo "crawler_rl_interfaces built into $repo/install"
