"""The default physics step stays within bench/sim_throughput.py's bound of a converged reference.

The reference (1 kHz, 100 solver iterations) and the bound (one std of the sensor noise, RMS of
the true twist over open-loop trajectories on the flat surfaces) are the bench's; a change to
the physics defaults, the URDF or the contact model that moves the simulator further from the
reference than that fails here.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from bench_loader import load_bench

from crawler_rl.sim.config import load_crawler_config


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("sim_throughput")


def test_default_physics_is_within_the_bound_of_the_reference(bench) -> None:
    base = load_crawler_config()
    default = bench.physics_config(base, base.physics.physics_hz, base.physics.solver_iterations)
    reference = bench.physics_config(base, *bench.REFERENCE_PHYSICS)
    for scenario in bench.FIDELITY_SCENARIOS:
        ours = bench.twist_trajectory(default, scenario)
        converged = bench.twist_trajectory(reference, scenario)
        assert np.abs(converged).mean(axis=0)[0] > 0.05  # the crawler really drives
        deviation = bench.rms_deviation(ours, converged)
        assert (deviation <= np.asarray(bench.fidelity_bound(base))).all(), (scenario.label,
                                                                          deviation)


def test_a_coarser_step_is_outside_the_bound(bench) -> None:
    """The measure can fail: 120 Hz with 10 iterations leaves the bound on the deck."""
    base = load_crawler_config()
    scenario = bench.FIDELITY_SCENARIOS[0]
    coarse = bench.twist_trajectory(bench.physics_config(base, 120.0, 10), scenario)
    converged = bench.twist_trajectory(bench.physics_config(base, *bench.REFERENCE_PHYSICS),
                                       scenario)
    assert (bench.rms_deviation(coarse, converged) > np.asarray(bench.fidelity_bound(base))).any()
