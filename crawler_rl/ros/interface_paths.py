"""Where the built `crawler_rl_interfaces` lie, and the environment that finds them.

On a ROS 2 install `source install/setup.bash` puts the generated types on the paths. In a
plain venv `scripts/build_interfaces.sh` builds them into `<source tree>/install`: this module
finds that prefix and extends an environment for child processes (PYTHONPATH, LD_LIBRARY_PATH
for the type support libraries, AMENT_PREFIX_PATH for the .msg files). No ROS import here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PACKAGE = "crawler_rl_interfaces"
SOURCE_ROOT = Path(__file__).resolve().parents[2]
BUILD_COMMAND = "bash scripts/build_interfaces.sh"
MISSING = (f"the ROS 2 message package {PACKAGE} is not built: run `{BUILD_COMMAND}` in the "
           f"crawler_rl source tree ({SOURCE_ROOT}), or on a ROS 2 install `colcon build` the "
           "workspace and `source install/setup.bash`")


def site_packages(prefix: Path) -> Path:
    """Return the Python folder of an install prefix."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return prefix / "lib" / version / "site-packages"


def built_prefix() -> Path | None:
    """Return the package's install prefix in this source tree, if it was built there."""
    prefix = SOURCE_ROOT / "install" / PACKAGE
    return prefix if (site_packages(prefix) / PACKAGE).is_dir() else None


def sourced() -> bool:
    """Tell whether a sourced workspace, not this tree's build, provides the package."""
    ours = SOURCE_ROOT / "install" / PACKAGE
    return any(Path(entry) != ours and (Path(entry) / "share" / PACKAGE).is_dir()
               for entry in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if entry)


def prepend_path(env: dict[str, str] | os._Environ, key: str, value: str) -> None:
    """Put `value` first on the path list `env[key]` (once)."""
    entries = [value, *filter(None, env.get(key, "").split(os.pathsep))]
    env[key] = os.pathsep.join(dict.fromkeys(entries))


def extend_environment(env: dict[str, str]) -> dict[str, str]:
    """Add the source tree's built interfaces to an environment for child processes."""
    prefix = built_prefix()
    if prefix is not None and not sourced():
        prepend_path(env, "PYTHONPATH", str(site_packages(prefix)))
        prepend_path(env, "LD_LIBRARY_PATH", str(prefix / "lib"))
        prepend_path(env, "AMENT_PREFIX_PATH", str(prefix))
    return env


def check_built() -> None:
    """Raise FileNotFoundError naming the build command unless the interfaces can be found."""
    if built_prefix() is None and importlib.util.find_spec(PACKAGE) is None:
        raise FileNotFoundError(MISSING)
