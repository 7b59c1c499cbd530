import numpy as np

from crawler_rl.sim.config import TrainingDistribution
from crawler_rl.sim.scenario import held_out_scenarios, sample_scenario


def test_held_out_set_is_seeded_and_covers_surfaces_and_lengths():
    first, second = held_out_scenarios(), held_out_scenarios()
    assert first == second
    assert held_out_scenarios(seed=7) != first
    assert {s.surface for s in first} == {"deck", "incline", "vertical", "curved"}
    assert {s.label.split("/")[1] for s in first} == {"short", "long"}
    lengths = [s.tether_length for s in first]
    assert min(lengths) < 5.0 and max(lengths) >= 20.0
    assert all(s.randomize for s in first)


def test_training_distribution_covers_all_surfaces_and_lengths():
    rng = np.random.default_rng(0)
    scenarios = [sample_scenario(TrainingDistribution(), rng) for _ in range(300)]
    assert {s.surface for s in scenarios} == {"deck", "incline", "vertical", "curved"}
    lengths = np.array([s.tether_length for s in scenarios])
    assert lengths.min() < 3.0 and lengths.max() > 20.0
    assert all(0.0 <= s.slope_deg <= 90.0 for s in scenarios)


def test_a_surface_s_usual_slope_and_radius_come_from_one_table():
    from crawler_rl.control.drive import baseline_scenario
    from crawler_rl.sim.config import HULL_RADIUS_M, SURFACE_SLOPES_DEG, CrawlerConfig
    from crawler_rl.sim.suites import ood_cases

    for scenario in held_out_scenarios():
        if scenario.surface != "curved":  # the held-out curved hulls draw their slopes
            assert scenario.slope_deg == SURFACE_SLOPES_DEG[scenario.surface]
    for surface, slope in SURFACE_SLOPES_DEG.items():
        scenario = baseline_scenario(surface, 5.0)
        assert (scenario.slope_deg, scenario.hull_radius) == (slope, HULL_RADIUS_M)
    curved = {case.scenario.slope_deg for case in ood_cases(CrawlerConfig())
              if case.scenario.surface == "curved"}
    assert curved == {SURFACE_SLOPES_DEG["curved"]}  # its radius is the case's change
