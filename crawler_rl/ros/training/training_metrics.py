"""The learner's progress as a TrainingMetrics message, and back to the dict that is logged.

The dict is what `<run_dir>/metrics.jsonl` holds per line: the fixed fields of the message plus
the update's statistics by name, None where a statistic was not finite.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crawler_rl.ros.interfaces import TrainingMetricsMsg
from crawler_rl.ros.training.codec import CodecError, double_field, expect_type

FIXED_FIELDS = ("global_step", "total_steps", "iteration", "policy_version", "done",
                "actor_ids", "session", "wall_time")
MAX_STATISTICS = 256
"""Most named statistics in one message."""


def encode_metrics(metrics: dict[str, Any]) -> TrainingMetricsMsg:
    """Build the message of a metrics dict (statistics: every key not in FIXED_FIELDS)."""
    statistics = {key: value for key, value in metrics.items() if key not in FIXED_FIELDS}
    return TrainingMetricsMsg(
        global_step=metrics["global_step"], total_steps=metrics["total_steps"],
        iteration=metrics["iteration"], policy_version=metrics["policy_version"],
        done=metrics["done"], actor_ids=list(metrics["actor_ids"]),
        session=metrics["session"], wall_time=float(metrics["wall_time"]),
        names=list(statistics),
        values=double_field([math.nan if value is None else value
                             for value in statistics.values()]),
    )


def decode_metrics(msg: TrainingMetricsMsg) -> dict[str, Any]:
    """Return the metrics dict of a message; CodecError unless names and values pair up."""
    expect_type(msg, TrainingMetricsMsg)
    names, values = list(msg.names), np.frombuffer(msg.values, np.float64)
    if len(names) != len(values) or len(names) > MAX_STATISTICS:
        raise CodecError(f"training metrics with {len(names)} names and {len(values)} values "
                         f"(at most {MAX_STATISTICS})")
    if len(set(names)) != len(names) or set(names) & set(FIXED_FIELDS):
        raise CodecError(f"training metrics names repeat or shadow a field: {names[:8]}")
    statistics = {name: float(value) if math.isfinite(value) else None
                  for name, value in zip(names, values, strict=True)}
    fixed = {name: getattr(msg, name) for name in FIXED_FIELDS}
    fixed["actor_ids"] = list(fixed["actor_ids"])
    return {**statistics, **fixed}
