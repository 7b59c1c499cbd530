"""The torch device of the policy: "auto" takes a CUDA GPU when torch sees one, else the CPU.

Nothing requires a GPU. Checkpoints and published weights are always CPU tensors, so a policy
trained on a GPU loads on a CPU-only robot.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_FORMS = "'auto', 'cpu', 'cuda' or 'cuda:N'"
_DEVICE_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def is_device_spec(spec: object) -> bool:
    """Return whether `spec` has an accepted form (not whether that device exists here).

    Torch is imported only by `resolve_device`: validating a config needs just this check.
    """
    return isinstance(spec, str) and _DEVICE_SPEC.fullmatch(spec) is not None


def resolve_device(spec: str) -> torch.device:
    """Turn "auto", "cpu", "cuda" or "cuda:N" into a torch.device that exists here.

    Raises ValueError naming the value when the form is unknown, when CUDA is asked for but
    torch sees none, or when the CUDA index is out of range.
    """
    import torch

    if not is_device_spec(spec):
        raise ValueError(f"device {spec!r} is not one of {DEVICE_FORMS}")
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {spec!r} requested but torch sees no CUDA device "
            "(torch.cuda.is_available() is False); use 'auto' or 'cpu'"
        )
    count = torch.cuda.device_count()
    index = int(spec.partition(":")[2] or torch.cuda.current_device())
    if index >= count:
        raise ValueError(
            f"device {spec!r} requested but torch sees {count} CUDA device(s) "
            f"(cuda:0 to cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def resolve_setting(spec: str, setting: str) -> torch.device:
    """Run `resolve_device`; its error names the value's origin, e.g. "config key 'run.device'"."""
    try:
        return resolve_device(spec)
    except ValueError as error:
        raise ValueError(f"{setting}: {error}") from None


def describe_device(device: torch.device) -> str:
    """Return "cpu" or "cuda:N (<GPU name>)" for logs and reports."""
    import torch

    if device.type != "cuda":
        return str(device)
    index = torch.cuda.current_device() if device.index is None else device.index
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
