"""House style (ruff.toml: line length 99, pep257 docstrings, imports) holds for the whole tree."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is installed by the 'test' extra"
    result = subprocess.run([ruff, "check", "crawler_rl", "bench", "test", "launch", "setup.py"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
