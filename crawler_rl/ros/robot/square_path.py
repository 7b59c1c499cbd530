"""square_path: drive a square on `cmd_vel` the way teleop_twist_keyboard does, then stop.

Forward for `side_seconds`, turn in place for `turn_seconds`, four times; republishes the held
key's Twist at `rate_hz` and always ends with a zero Twist (also on Ctrl-C). The square starts
`start_delay` s after the controller's first wheel command (`controller_name`; '': after
start-up), so no side is cut short by a controller that came up late (`TwistDriver`).
"""

from __future__ import annotations

import math
from typing import Any

from crawler_rl.ros.params import ParamSpec
from crawler_rl.ros.robot.twist_driver import TwistDriver, drive_until_done, start_parameters

PARAMETERS = (
    ParamSpec("speed", 0.1, "forward speed on the sides [m/s]", low=-1.0, high=1.0),
    ParamSpec("turn_rate", 0.5, "yaw rate in the corners [rad/s]", low=-5.0, high=5.0),
    ParamSpec("side_seconds", 4.0, "time per side [s]", low=0.0, high=600.0),
    ParamSpec("turn_seconds", math.pi / 2 / 0.5, "time per corner [s]", low=0.0, high=600.0),
    *start_parameters(rate_hz=10.0),
)


def square_schedule(speed: float, turn_rate: float, side_seconds: float,
                    turn_seconds: float) -> list[tuple[float, float, float]]:
    """(v, omega, seconds) segments of one square: side, corner, side, corner ..."""
    return [segment for _ in range(4)
            for segment in ((speed, 0.0, side_seconds), (0.0, turn_rate, turn_seconds))]


class SquarePathDriver(TwistDriver):
    """Publishes the square's Twist commands on a timer once the controller drives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("square_path", PARAMETERS, **kwargs)
        param = self.params.__getitem__
        self.schedule = square_schedule(param("speed"), param("turn_rate"),
                                        param("side_seconds"), param("turn_seconds"))

    def command_at(self, elapsed: float) -> tuple[float, float] | None:
        """Return the held command `elapsed` s into the square (zero before, None after)."""
        if elapsed < 0.0:
            return 0.0, 0.0
        for v, omega, seconds in self.schedule:
            if elapsed < seconds:
                return v, omega
            elapsed -= seconds
        return None


def main(args: list[str] | None = None) -> None:
    """Drive one square, then stop; a zero Twist goes out in every case."""
    drive_until_done(SquarePathDriver, "square_path", args)


if __name__ == "__main__":
    main()
