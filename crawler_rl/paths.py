"""Locate the package's shared files (urdf/, config/, launch/) in every install layout."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "crawler_rl"


def share_dir() -> Path:
    """Return the folder holding `urdf/`, `config/` and `launch/`.

    Order: the source tree (editable install or checkout), the ament index (colcon install),
    then `<prefix>/share/crawler_rl` (plain pip install).
    """
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "package.xml").is_file() and (source_root / "urdf").is_dir():
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - ament index absent or package not registered
        pass
    candidate = Path(sys.prefix) / "share" / PACKAGE
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(
        f"cannot find the {PACKAGE} share folder (looked in {source_root}, the ament index "
        f"and {candidate}); reinstall the package"
    )


def config_path(name: str) -> Path:
    """Return the path of a file in `config/`."""
    return share_dir() / "config" / name


def urdf_path(name: str = "crawler.urdf") -> Path:
    """Return the path of a file in `urdf/`."""
    return share_dir() / "urdf" / name
