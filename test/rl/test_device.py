from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.checkpoint import load_checkpoint
from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.device import describe_device, is_device_spec, resolve_device
from crawler_rl.rl.trainer import run_training

CUDA = torch.cuda.is_available()


def _tensors(value: object) -> list[torch.Tensor]:
    """Every tensor inside nested dicts/lists (a checkpoint's model/optimizer state)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def test_auto_picks_cuda_exactly_when_torch_sees_it() -> None:
    device = resolve_device("auto")
    assert device.type == ("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert describe_device(torch.device("cpu")) == "cpu"
    if CUDA:
        assert describe_device(device).startswith(f"cuda:{device.index} (")


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "", " cpu",
                                  "mps", "cpu:0"])
def test_unknown_device_strings_are_named(spec: str) -> None:
    assert not is_device_spec(spec)
    with pytest.raises(ValueError, match=f"device {spec!r} is not one of 'auto', 'cpu'"):
        resolve_device(spec)


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    if CUDA:
        assert resolve_device("cuda").type == "cuda"
        assert resolve_device("cuda:0") == torch.device("cuda", 0)
    else:
        with pytest.raises(ValueError, match=r"device 'cuda' requested but torch sees no CUDA "
                                             r"device \(torch.cuda.is_available\(\) is False\)"):
            resolve_device("cuda")
    # One past the last GPU (cuda:0 here when there is none) never resolves.
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match=f"device {missing!r} requested but torch sees"):
        resolve_device(missing)


def test_config_checks_the_device_format_and_names_the_key() -> None:
    assert TrainConfig().run.device == "auto"
    assert load_train_config().run.device == "auto"
    # Format only: whether cuda:3 exists is checked when a trainer or learner resolves it.
    assert TrainConfig.from_dict({"run": {"device": "cuda:3"}}).run.device == "cuda:3"
    with pytest.raises(ValueError, match=r"'run\.device' must be one of .*got 'gpu'"):
        TrainConfig.from_dict({"run": {"device": "gpu"}})
    with pytest.raises(ValueError, match=r"'run\.device'.*got 'cuda:x'"):
        load_train_config(overrides={"run.device": "cuda:x"})


def test_local_training_on_explicit_cpu_writes_cpu_checkpoints(tmp_path: Path) -> None:
    cfg = toy_config(run={"total_steps": 400, "checkpoint_every": 2, "device": "cpu"})
    summary = run_training(cfg, tmp_path, progress=False)
    assert summary["device"] == "cpu"
    assert summary["global_step"] == 400 and summary["iterations"] == 2
    checkpoint = load_checkpoint(Path(summary["checkpoint"]))
    tensors = _tensors(checkpoint.model) + _tensors(checkpoint.optimizer)
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert checkpoint.optimizer["state"], "the optimizer never stepped"


def test_local_training_on_cuda_trains_on_a_gpu_and_refuses_without_one(
    tmp_path: Path,
) -> None:
    cfg = toy_config(run={"total_steps": 200, "checkpoint_every": 2, "device": "cuda"})
    if not CUDA:
        with pytest.raises(ValueError, match=r"config key 'run\.device': device 'cuda' "
                                             "requested but torch sees no CUDA device"):
            run_training(cfg, tmp_path, progress=False)
        assert not (tmp_path / "checkpoints").exists()
        return
    summary = run_training(cfg, tmp_path, progress=False)
    assert summary["device"].startswith("cuda:")
    # A GPU-trained checkpoint holds CPU tensors: it loads on a CPU-only robot.
    checkpoint = load_checkpoint(Path(summary["checkpoint"]))
    tensors = _tensors(checkpoint.model) + _tensors(checkpoint.optimizer)
    assert tensors and all(t.device.type == "cpu" for t in tensors)
