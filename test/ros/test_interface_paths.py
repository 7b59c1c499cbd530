"""Finding the built crawler_rl_interfaces: child environments, and a clear error without."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler_rl.ros import interface_paths
from crawler_rl.ros.process_graph import child_environment


def test_children_of_the_launcher_import_and_use_the_built_types(tmp_path: Path) -> None:
    ours = interface_paths.built_prefix()
    assert ours is not None, "run bash scripts/build_interfaces.sh first"
    plain = dict(os.environ, PYTHONPATH=str(interface_paths.SOURCE_ROOT))
    plain.pop("AMENT_PREFIX_PATH", None)
    plain["LD_LIBRARY_PATH"] = os.pathsep.join(
        entry for entry in plain.get("LD_LIBRARY_PATH", "").split(os.pathsep)
        if not entry.startswith(str(ours)))
    code = ("from rclpy.serialization import serialize_message; "
            "from crawler_rl_interfaces.msg import ActionBatch; "
            "print(len(serialize_message(ActionBatch(num_envs=2))))")

    def run(env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    assert "No module named 'crawler_rl_interfaces'" in run(plain).stderr
    extended = run(interface_paths.extend_environment(dict(plain)))
    assert extended.returncode == 0 and int(extended.stdout) > 0, extended.stderr[-2000:]
    assert str(ours) in child_environment()["PYTHONPATH"]


def test_missing_build_names_the_command(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(interface_paths, "SOURCE_ROOT", tmp_path)
    monkeypatch.setattr(interface_paths.importlib.util, "find_spec", lambda name: None)
    assert interface_paths.built_prefix() is None
    assert interface_paths.extend_environment({}) == {}
    with pytest.raises(FileNotFoundError, match=r"bash scripts/build_interfaces\.sh"):
        interface_paths.check_built()
