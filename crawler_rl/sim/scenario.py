"""Scenarios: which hull surface, slope, curvature and tether length an episode runs on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crawler_rl.sim.config import (
    HULL_RADIUS_M,
    SURFACE_SLOPES_DEG,
    SURFACES,
    TrainingDistribution,
)

SHORT_TETHER = (2.0, 5.0)
"""Range of 'short' tether lengths in the held-out set [m]."""
LONG_TETHER = (20.0, 30.0)
"""Range of 'long' tether lengths in the held-out set [m]."""


@dataclass(frozen=True)
class Scenario:
    """One hull situation.

    `slope_deg` tilts gravity (incline: any 0..90, vertical: 90, deck: 0, curved: the slope at
    the start point of the cylinder section). `hull_radius` is only used by "curved".
    """

    surface: str = "deck"
    slope_deg: float = 0.0
    hull_radius: float = HULL_RADIUS_M
    tether_length: float = 5.0
    randomize: bool = True
    name: str = ""
    start_heading_deg: float | None = None
    """Start heading relative to up-slope (0 = climbing); None samples it per episode."""

    def __post_init__(self) -> None:
        if self.surface not in SURFACES:
            raise ValueError(f"scenario surface must be one of {SURFACES}, got {self.surface!r}")
        if not 0.0 <= self.slope_deg <= 90.0:
            raise ValueError(f"scenario slope_deg must be in [0, 90], got {self.slope_deg!r}")
        if not self.hull_radius > 0.5:
            raise ValueError(f"scenario hull_radius must be > 0.5 m, got {self.hull_radius!r}")
        if not self.tether_length >= 0.0:
            raise ValueError(
                f"scenario tether_length must be >= 0 m, got {self.tether_length!r}"
            )

    @property
    def label(self) -> str:
        """Short name for tables."""
        return self.name or f"{self.surface}/{self.tether_length:.0f}m"


def sample_scenario(distribution: TrainingDistribution, rng: np.random.Generator) -> Scenario:
    """Draw a randomized scenario from the training distribution."""
    surfaces = list(distribution.surface_weights)
    weights = np.array([distribution.surface_weights[s] for s in surfaces], dtype=np.float64)
    surface = surfaces[int(rng.choice(len(surfaces), p=weights / weights.sum()))]
    slope_range = {"incline": distribution.incline_slope_deg,
                   "curved": distribution.curved_slope_deg}.get(surface)
    slope = (SURFACE_SLOPES_DEG[surface] if slope_range is None
             else float(rng.uniform(*slope_range)))
    # Log-uniform length: short and long tethers get similar shares of the episodes.
    low, high = distribution.tether_length
    length = float(np.exp(rng.uniform(np.log(max(low, 0.1)), np.log(max(high, 0.1)))))
    return Scenario(
        surface=surface,
        slope_deg=slope,
        hull_radius=float(rng.uniform(*distribution.hull_radius)),
        tether_length=length,
        randomize=True,
    )


def held_out_scenarios(seed: int = 2024) -> list[Scenario]:
    """Return the evaluation set: deck / 45 deg / vertical / curved x short / long tether.

    Lengths (and the curved hull's radius and slope) are drawn from a generator seeded with
    `seed`, so the set is fixed; each scenario keeps physical randomization on.
    """
    rng = np.random.default_rng(seed)
    scenarios = []
    for surface in ("deck", "incline", "vertical", "curved"):
        for tether, lengths in (("short", SHORT_TETHER), ("long", LONG_TETHER)):
            hull_radius = float(rng.uniform(2.0, 5.0))
            scenario_slope = (float(rng.uniform(30.0, 70.0)) if surface == "curved"
                              else SURFACE_SLOPES_DEG[surface])
            scenarios.append(
                Scenario(
                    surface=surface,
                    slope_deg=scenario_slope,
                    hull_radius=hull_radius,
                    tether_length=float(rng.uniform(*lengths)),
                    randomize=True,
                    name=f"{'45deg' if surface == 'incline' else surface}/{tether}",
                )
            )
    return scenarios
