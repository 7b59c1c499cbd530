"""Chain tether stability sweep: every surface x deployed length x a set of hostile controllers.

Each run is one 20 s episode (`--steps` control steps) on the chain tether at the default
timing. Controllers act on the residual (the env's action): `ik` holds 0, `random` draws
uniform actions each step, `bang` switches full +1 / -1 on both wheels every second, `spin`
drives the wheels against each other, switching every 2 s. Prints one JSON line per run:
max |v|, max |omega|, max tether tension, whether it detached, the first step with |v| >= 0.5
m/s or a non-finite state (null: none) and the wall time.
Usage: PYTHONPATH=. python bench/chain_stability.py [--lengths 0.5,2,10,30,45] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from crawler_rl.sim.config import load_crawler_config
from crawler_rl.sim.env import CrawlerEnv
from crawler_rl.sim.scenario import Scenario

SURFACES = (("deck", 0.0, 3.0), ("incline", 60.0, 3.0), ("vertical", 90.0, 3.0),
            ("curved", 45.0, 1.5))
CONTROLLERS = ("ik", "random", "bang", "spin")
SPEED_LIMIT = 0.5


def action(controller: str, step: int, rng: np.random.Generator) -> np.ndarray:
    """The residual action of a hostile controller at `step`."""
    if controller == "random":
        return rng.uniform(-1.0, 1.0, 2)
    if controller == "bang":
        return np.full(2, 1.0 if (step // 20) % 2 else -1.0)
    if controller == "spin":
        return np.array([1.0, -1.0]) * (1.0 if (step // 40) % 2 else -1.0)
    return np.zeros(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default="0.5,1,2,5,10,20,30,45")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    env = CrawlerEnv(load_crawler_config(overrides={  # actions are residuals on IK, as measured
        "tether.model": "chain", "motor.residual_base": "ik"}))
    try:
        for length in (float(value) for value in args.lengths.split(",")):
            for surface, slope, radius in SURFACES:
                scenario = Scenario(surface=surface, slope_deg=slope, hull_radius=radius,
                                    tether_length=length)
                for controller in args.controllers.split(","):
                    rng = np.random.default_rng(args.seed)
                    start = time.perf_counter()
                    env.reset(seed=args.seed, options={"scenario": scenario})
                    top_v = top_omega = top_tension = 0.0
                    first_bad, terminated = None, False
                    for step in range(args.steps):
                        _, _, terminated, truncated, info = env.step(
                            action(controller, step, rng).astype(np.float32))
                        v, omega = env.sim.true_twist()
                        finite = np.isfinite([v, omega, info["tether_tension"]]).all()
                        if first_bad is None and not (finite and abs(v) < SPEED_LIMIT):
                            first_bad = step
                        top_v, top_omega = max(top_v, abs(v)), max(top_omega, abs(omega))
                        top_tension = max(top_tension, info["tether_tension"])
                        if terminated or truncated:
                            break
                    print(json.dumps({
                        "bench": "chain_stability", "surface": surface, "slope_deg": slope,
                        "hull_radius": radius, "tether_length": length,
                        "deployed_length": round(env.sim.params.tether.length, 2),
                        "controller": controller, "seed": args.seed, "steps": step + 1,
                        "detached": bool(terminated), "max_abs_v": round(top_v, 3),
                        "max_abs_omega": round(top_omega, 3),
                        "max_tension": round(top_tension, 1), "first_bad_step": first_bad,
                        "wall_s": round(time.perf_counter() - start, 2),
                    }), flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()
