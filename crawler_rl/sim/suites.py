"""Evaluation suites: the held-out set, out-of-distribution conditions and the chain tether.

A suite is a list of `SuiteCase`s: a scenario and the config changes it runs under (dotted
crawler.yaml keys, as `load_crawler_config(overrides=...)` takes them).
- `held-out`: `held_out_scenarios()`, the default config (inside the training ranges).
- `ood`: one change at a time outside the training ranges, then a few combined. Where the
  training randomization could reach the value (tether length scale, hull radius scale), the
  case pins that randomization, so the value the crawler meets is the one named.
- `chain`: the held-out set on the multibody chain tether.
- `odometry`: the held-out set with the forward velocity from wheel odometry
  (`sensors.velocity_source: odometry`), for controllers trained that way.
- `load-cell-outages` / `no-load-cell`: the held-out set with a load cell that drops out
  (`sensors.tension_sensor: intermittent`) or none at all (`false`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from crawler_rl.sim.config import (
    HULL_RADIUS_M,
    SURFACE_SLOPES_DEG,
    CrawlerConfig,
    load_crawler_config,
)
from crawler_rl.sim.scenario import Scenario, held_out_scenarios

HELD_OUT_VARIANTS: dict[str, tuple[str, Any]] = {
    "chain": ("tether.model", "chain"),
    "odometry": ("sensors.velocity_source", "odometry"),
    "load-cell-outages": ("sensors.tension_sensor", "intermittent"),
    "no-load-cell": ("sensors.tension_sensor", False),
}
"""Suites that are the held-out set under one crawler.yaml change (dotted key, value)."""
SUITE_NAMES = ("held-out", "ood", *HELD_OUT_VARIANTS)

OOD_TETHER_LENGTH = 40.0
"""Deployed tether [m] (the middle of 35-45 m); training reaches 30 m x 1.1 = 33 m."""
OOD_WHEEL_FRICTION = 0.3
"""Wheel / steel friction (wet, oily steel); training draws 0.5-0.9."""
OOD_ADHESION_SCALE = 0.6
"""Magnet pull x 0.6: 40 % lost to paint or marine growth; training draws 0.8-1.2."""
OOD_INCLINE_DEG = 60.0
"""Incline slope [deg] asked for by the issue: steeper than the held-out 45 deg, but inside
training's 15-75 deg (the only case not outside the training ranges)."""
OOD_HULL_RADIUS = 1.0
"""Curved hull radius [m]; training reaches 1.5 m x 0.8 = 1.2 m."""
OOD_MOTOR_LAG = (0.12, 0.2)
"""Speed loop lag [s]: twice the nominal 0.06 s up to twice training's largest 0.1 s."""
BASE_TETHER_LENGTH = 10.0
"""Tether [m] of the ood cases that do not change it (a typical deployment)."""


@dataclass(frozen=True)
class SuiteCase:
    """One row of a suite: a scenario and the config overrides it runs under."""

    scenario: Scenario
    overrides: tuple[tuple[str, Any], ...] = ()
    """(dotted crawler.yaml key, value) pairs applied on top of the config file."""

    @property
    def label(self) -> str:
        """Row name in tables ("<surface family>/<change>")."""
        return self.scenario.label

    def config(self, path: Path | str | None = None) -> CrawlerConfig:
        """Load crawler.yaml (or `path`) with this case's overrides applied."""
        return load_crawler_config(path, dict(self.overrides))


def suite_cases(name: str, path: Path | str | None = None) -> list[SuiteCase]:
    """Return the cases of suite `name` (see SUITE_NAMES); `path` is the base crawler.yaml."""
    if name == "held-out":
        return [SuiteCase(scenario) for scenario in held_out_scenarios()]
    if name in HELD_OUT_VARIANTS:
        return [SuiteCase(scenario, (HELD_OUT_VARIANTS[name],))
                for scenario in held_out_scenarios()]
    if name == "ood":
        return ood_cases(load_crawler_config(path))
    raise ValueError(f"unknown suite {name!r}; available: {', '.join(SUITE_NAMES)}")


def ood_changes(config: CrawlerConfig) -> dict[str, tuple]:
    """Return each out-of-distribution change: name -> (scenario fields, config overrides)."""
    sensors = config.sensors
    return {
        "tether40": ({"tether_length": OOD_TETHER_LENGTH},
                     (("randomization.tether_length_scale", [1.0, 1.0]),)),
        "friction0.3": ({}, (("randomization.wheel_friction",
                              [OOD_WHEEL_FRICTION, OOD_WHEEL_FRICTION]),)),
        "adhesion-40%": ({}, (("randomization.adhesion_scale",
                               [OOD_ADHESION_SCALE, OOD_ADHESION_SCALE]),)),
        "r1.0": ({"hull_radius": OOD_HULL_RADIUS},
                 (("randomization.hull_radius_scale", [1.0, 1.0]),)),
        "lag-x2": ({}, (("randomization.motor_lag", list(OOD_MOTOR_LAG)),)),
        "extra-delay": ({}, (("sensors.odometry_delay_steps", sensors.odometry_delay_steps + 1),
                         ("sensors.imu_delay_steps", sensors.imu_delay_steps + 1),
                         ("sensors.encoder_delay_steps", sensors.encoder_delay_steps + 1))),
        "odometry": ({}, (("sensors.velocity_source", "odometry"),)),
    }


def ood_cases(config: CrawlerConfig) -> list[SuiteCase]:
    """Return the `ood` suite: one change at a time on a fitting surface, then combinations."""
    changes = ood_changes(config)
    bases = {
        "deck": Scenario(surface="deck", tether_length=BASE_TETHER_LENGTH),
        "45deg": Scenario(surface="incline", slope_deg=SURFACE_SLOPES_DEG["incline"],
                          tether_length=BASE_TETHER_LENGTH),
        "60deg": Scenario(surface="incline", slope_deg=OOD_INCLINE_DEG,
                          tether_length=BASE_TETHER_LENGTH),
        "vertical": Scenario(surface="vertical", slope_deg=SURFACE_SLOPES_DEG["vertical"],
                             tether_length=BASE_TETHER_LENGTH),
        "curved": Scenario(surface="curved", slope_deg=SURFACE_SLOPES_DEG["curved"],
                           hull_radius=HULL_RADIUS_M,
                           tether_length=BASE_TETHER_LENGTH),
    }
    rows = [
        ("deck", ("tether40",)), ("vertical", ("tether40",)),
        ("45deg", ("friction0.3",)), ("vertical", ("adhesion-40%",)), ("60deg", ()),
        ("curved", ("r1.0",)), ("vertical", ("lag-x2",)), ("vertical", ("extra-delay",)),
        ("45deg", ("odometry",)),
        ("vertical", ("tether40", "adhesion-40%")),
        ("45deg", ("friction0.3", "lag-x2", "extra-delay")),
        ("curved", ("r1.0", "tether40", "odometry")),
    ]
    cases = []
    for base, names in rows:
        fields: dict[str, Any] = {}
        overrides: list[tuple[str, Any]] = []
        for change in names:
            scenario_fields, change_overrides = changes[change]
            fields.update(scenario_fields)
            overrides.extend(change_overrides)
        label = f"{base}/{'+'.join(names) or 'incline'}"
        cases.append(SuiteCase(replace(bases[base], name=label, **fields), tuple(overrides)))
    return cases
