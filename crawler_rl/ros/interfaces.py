"""The generated types of `crawler_rl_interfaces`: import the message classes from here.

Sourced workspaces (ROS 2 installs) provide them as usual. Otherwise the build in this source
tree (`scripts/build_interfaces.sh`, see interface_paths) is added to this process: sys.path,
AMENT_PREFIX_PATH (.msg files for MCAP schemas), and its type support libraries loaded up front,
as LD_LIBRARY_PATH cannot change once a process runs. Missing: InterfacesMissing says how to
build them.
"""

from __future__ import annotations

import ctypes
import os
import sys

from crawler_rl.ros.interface_paths import (
    MISSING,
    PACKAGE,
    built_prefix,
    check_built,
    prepend_path,
    site_packages,
    sourced,
)


class InterfacesMissing(ImportError):
    """crawler_rl_interfaces is neither importable nor built in the source tree."""


def _load() -> None:
    """Make `import crawler_rl_interfaces` work in this process, or raise InterfacesMissing."""
    prefix = built_prefix()
    if prefix is not None and not sourced():
        sys.path.insert(0, str(site_packages(prefix)))
        prepend_path(os.environ, "AMENT_PREFIX_PATH", str(prefix))
        # rmw loads the type support by file name through dlopen, which takes an already
        # loaded library of that name: load them all now.
        for library in sorted((prefix / "lib").glob(f"lib{PACKAGE}__*.so")):
            ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
        return
    try:
        check_built()
    except FileNotFoundError as error:
        raise InterfacesMissing(MISSING) from error


_load()

from crawler_rl_interfaces import msg as _msg  # noqa: E402
from crawler_rl_interfaces.srv import Act  # noqa: E402

ActionBatchMsg = _msg.ActionBatch
ObservationBatchMsg = _msg.ObservationBatch
PolicyWeightsMsg = _msg.PolicyWeights
RolloutMsg = _msg.Rollout
TensorMsg = _msg.Tensor
TrainingMetricsMsg = _msg.TrainingMetrics

__all__ = ["Act", "ActionBatchMsg", "InterfacesMissing", "ObservationBatchMsg",
           "PolicyWeightsMsg", "RolloutMsg", "TensorMsg", "TrainingMetricsMsg"]
