"""Declared, validated node parameters: one ParamSpec per tunable, checked at start and on set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from crawler_rl.validation import PARAMETER, invalid_message


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: default, meaning and allowed values.

    `low`/`high` bound numbers (inclusive), `choices` lists allowed values, `read_only`
    parameters describe the graph's structure (sizes, ids) and cannot change after start.
    """

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    read_only: bool = False

    def allowed(self) -> str:
        """Human-readable allowed range."""
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"[{low}, {high}]" if (self.low, self.high) != (None, None) else "any"

    def error(self, value: Any) -> str | None:
        """Return a message naming the parameter, what it must be and the value, or None."""
        if self.choices is not None:
            if value in self.choices:
                return None
            return invalid_message(PARAMETER, self.name, self.allowed(), value)
        if not isinstance(self.default, (int, float)) or isinstance(self.default, bool):
            return None
        bounded = "" if self.allowed() == "any" else f" in {self.allowed()}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return invalid_message(PARAMETER, self.name, f"a number{bounded}", value)
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            return invalid_message(PARAMETER, self.name, f"in {self.allowed()}", value)
        return None


def declare_validated(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on `node`, validate the start values and guard later changes.

    Returns a dict of current values that the set-callback keeps up to date.
    Raises ValueError (naming parameter, value and range) when a start value is invalid.
    """
    by_name = {spec.name: spec for spec in specs}
    values: dict[str, Any] = {}
    for spec in specs:
        descriptor = ParameterDescriptor(
            description=f"{spec.description} (allowed: {spec.allowed()})", read_only=spec.read_only
        )
        value = node.declare_parameter(spec.name, spec.default, descriptor).value
        if isinstance(spec.default, float) and isinstance(value, int):
            value = float(value)
        message = spec.error(value)
        if message is not None:
            raise ValueError(message)
        values[spec.name] = value

    def on_set(parameters: list[Parameter]) -> SetParametersResult:
        errors = []
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            message = spec.error(parameter.value) if spec else None
            if message:
                errors.append(message)
        if errors:
            return SetParametersResult(successful=False, reason="; ".join(errors))
        for parameter in parameters:
            if parameter.name in values:
                values[parameter.name] = parameter.value
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values
