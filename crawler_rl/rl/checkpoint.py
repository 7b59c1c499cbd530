"""Atomic, checksummed training checkpoints, read back with torch.load(weights_only=True) only.

File layout: torch.save of {"format", "version", "sha256", "payload"} where payload is the
torch.save bytes of the training state (as a uint8 tensor) and sha256 its digest, so a
truncated or bit-flipped file is detected before anything in it is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

LOG = logging.getLogger(__name__)

FORMAT = "crawler_rl.checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a crawler_rl checkpoint."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"bad checkpoint {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass
class Checkpoint:
    """Everything needed to resume training or export a policy."""

    model: dict[str, torch.Tensor]
    """ActorCritic.state_dict(), including the observation normalizer's buffers."""
    optimizer: dict[str, Any]
    """Optimizer.state_dict()."""
    iteration: int
    """PPO iterations completed."""
    global_step: int
    """Environment steps completed (summed over envs)."""
    config: dict[str, Any]
    """TrainConfig.to_dict() of the run."""
    learning_rate: float
    """Current learning rate (the adaptive schedule's state)."""
    obs_dim: int
    """Observation size of the policy."""
    action_dim: int
    """Action size of the policy."""
    env_info: dict[str, Any]
    """Env facts the export needs: env_id, action_low/high, action_spec (crawler) or None."""
    rng_state: dict[str, Any] | None = None
    """RNG states from `capture_rng_state`, restored on resume."""


def checkpoint_path(run_dir: Path, iteration: int) -> Path:
    """Canonical file name of the checkpoint after `iteration` iterations."""
    return Path(run_dir) / CHECKPOINT_DIR / f"ckpt_{iteration:06d}.pt"


def checkpoint_iteration(path: Path) -> int:
    """Return the iteration in a checkpoint's name (ckpt_<iteration>.pt); ValueError otherwise."""
    match = _NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not named like a checkpoint (ckpt_<iteration>.pt)")
    return int(match.group(1))


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run, oldest first (by iteration)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [path for _, path in sorted(found)]


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Torch, numpy and Python RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": json.dumps(random.getstate()),
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    # Only once CUDA is in use: asking earlier would start a CUDA context for nothing.
    if torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of `capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        # A GPU run resumed on a machine with fewer GPUs restores the ones it has.
        for index, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` atomically (temp file in the same folder + fsync + os.replace).

    Tensors are written as CPU tensors whatever device they are on, so a checkpoint trained
    on a GPU loads on a CPU-only machine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload_buffer = io.BytesIO()
    torch.save(
        {**_on_cpu(checkpoint.__dict__), "config": json.dumps(checkpoint.config),
         "env_info": json.dumps(checkpoint.env_info)},
        payload_buffer,
    )
    payload = payload_buffer.getvalue()
    envelope = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            torch.save(envelope, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path: Path) -> Checkpoint:
    """Read and verify a checkpoint; raise CheckpointError naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        envelope = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is one kind of failure
        raise CheckpointError(path, f"unreadable (truncated or corrupt): {error}") from error
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise CheckpointError(path, "not a crawler_rl checkpoint")
    if envelope.get("version") != FORMAT_VERSION:
        raise CheckpointError(path, f"unsupported version {envelope.get('version')!r}")
    payload = envelope["payload"].numpy().tobytes()
    if hashlib.sha256(payload).hexdigest() != envelope.get("sha256"):
        raise CheckpointError(path, "checksum mismatch (file corrupt)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        state["config"] = json.loads(state["config"])
        state["env_info"] = json.loads(state["env_info"])
        return Checkpoint(**state)
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(path, f"bad payload: {error}") from error


def latest_good_checkpoint(
    run_dir: Path, warn: Callable[[str], Any] | None = None
) -> Path | None:
    """Newest checkpoint of `run_dir` that loads and verifies; corrupt ones are logged, skipped.

    `warn` receives one "skipping bad checkpoint <path>: <reason>" line per skipped file
    (default: this module's logger).
    """
    for path in reversed(list_checkpoints(run_dir)):
        try:
            load_checkpoint(path)
        except CheckpointError as error:
            (warn or LOG.warning)(f"skipping {error}")
            continue
        return path
    return None


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (keep=0: keep all) and stale temp files.

    A temp file is what a writer killed before its `os.replace` leaves behind; only one
    learner writes a run's checkpoints, so after its own save none is in progress.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        for temp in folder.glob(".ckpt_*.pt.*.tmp"):
            temp.unlink(missing_ok=True)
    if keep <= 0:
        return
    for path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)


def _on_cpu(value: Any) -> Any:
    """`value` with every tensor in its dicts/lists/tuples moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
