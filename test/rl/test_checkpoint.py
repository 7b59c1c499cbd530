from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from rl_fixtures import random_checkpoint

from crawler_rl.rl.checkpoint import (
    CheckpointError,
    capture_rng_state,
    checkpoint_iteration,
    checkpoint_path,
    latest_good_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    original = random_checkpoint()
    path = save_checkpoint(checkpoint_path(tmp_path, 3), original)
    loaded = load_checkpoint(path)
    assert loaded.iteration == 3 and loaded.global_step == 600
    assert loaded.config == original.config and loaded.env_info == original.env_info
    assert all(torch.equal(loaded.model[k], v) for k, v in original.model.items())
    assert loaded.optimizer["param_groups"] == original.optimizer["param_groups"]
    assert [p.name for p in tmp_path.rglob("*")] == ["checkpoints", "ckpt_000003.pt"]


def test_rng_state_restores_torch_numpy_and_python(tmp_path: Path) -> None:
    from crawler_rl.rl.checkpoint import restore_rng_state

    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    save_checkpoint(tmp_path / "c.pt", random_checkpoint())
    restore_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_failed_write_leaves_previous_file_intact(tmp_path: Path, monkeypatch) -> None:
    path = save_checkpoint(tmp_path / "c.pt", random_checkpoint(seed=1))
    before = path.read_bytes()

    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, random_checkpoint(seed=2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_files_raise_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    path = save_checkpoint(tmp_path / "c.pt", random_checkpoint())
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        # Flip a byte inside the payload (the middle of the file), keeping the zip intact.
        data[len(data) // 2] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint at all")
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.pt") as info:
        load_checkpoint(path)
    assert info.value.path == path


def test_a_torch_file_that_is_not_ours_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a crawler_rl checkpoint"):
        load_checkpoint(path)


def test_latest_good_checkpoint_skips_corrupt_newest(tmp_path: Path, caplog) -> None:
    assert latest_good_checkpoint(tmp_path) is None
    for iteration in (2, 4, 6):
        save_checkpoint(checkpoint_path(tmp_path, iteration), random_checkpoint())
    newest = checkpoint_path(tmp_path, 6)
    newest.write_bytes(newest.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        found = latest_good_checkpoint(tmp_path)
    assert found == checkpoint_path(tmp_path, 4)
    assert "ckpt_000006.pt" in caplog.text


def test_checkpoint_iteration_reads_the_name_and_refuses_other_files(tmp_path: Path) -> None:
    assert checkpoint_iteration(checkpoint_path(tmp_path, 1083)) == 1083
    for name in ("ckpt_000003.pt.tmp", "ckpt_.pt", "model.pt"):
        with pytest.raises(ValueError, match="ckpt_<iteration>.pt"):
            checkpoint_iteration(tmp_path / name)
