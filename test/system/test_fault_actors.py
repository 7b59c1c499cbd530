"""Acceptance: SIGKILL 1 of 3 actor processes mid-training; the graph respawns it, it rejoins."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import pytest
from fault_rig import (
    REPO,
    TOY_ENV_DIR,
    GraphMonitor,
    read_metrics,
    steps_per_second,
    toy_config,
)
from policy_check import trained_and_initial_returns
from rclpy.context import Context

from crawler_rl.ros.process_graph import ProcessGraph
from crawler_rl.ros.training.graph import training_graph, write_run_config

ACTORS, ENVS, STEPS = 3, 4, 16
BUDGET = 100_000  # iterations: never reached, so training outlasts however slow a respawn is
AFTER_REJOIN, MIN_ITERATIONS = 10, 40  # stop this many iterations after the rejoin, not before


@pytest.mark.slow
def test_killed_actor_is_respawned_rejoins_and_only_its_partial_rollout_is_lost(
    ros_context: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TOY_ENV_DIR)]))
    cfg = toy_config(ACTORS, ENVS, STEPS, BUDGET)
    run_dir = tmp_path / "run"
    write_run_config(cfg, run_dir)
    processes = ProcessGraph(training_graph(cfg, ACTORS, ENVS, run_dir), run_dir / "logs")
    monitor = GraphMonitor(ros_context, processes)
    victim = None
    try:
        processes.start()
        victim = processes.running["actor_1"]

        def victim_contributed() -> bool:
            """Five updates, one with the victim's data: the others alone can fill an update,
            and an actor killed before its first step would not be a restart to the graph."""
            return monitor.latest.get("iteration", 0) >= 5 and any(
                1 in m["actor_ids"] for m in read_metrics(run_dir))

        assert monitor.wait_for(victim_contributed, 120), monitor.latest
        learner = monitor.status("/learner/status")
        assert learner is not None
        before_kill = len(monitor.metrics)
        rollouts_at_kill = learner["rollouts_by_actor"].get("1", 0)
        assert rollouts_at_kill >= 1, learner
        os.kill(victim.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()

        def rejoined() -> bool:
            status = monitor.status("/learner/status") or {}
            # Rollouts the old session had in flight can still complete after the kill, so the
            # learner's count alone can rise without the new session: it must step too.
            if status.get("rollouts_by_actor", {}).get("1", 0) < rollouts_at_kill + 2:
                return False
            actor = monitor.status("/actor_1/status", timeout=5.0) or {}
            return actor.get("steps", 0) > 0

        assert monitor.wait_for(lambda: victim.respawns == 1, 30)
        assert monitor.wait_for(rejoined, 60), monitor.status("/learner/status")
        rejoined_at, after_rejoin = time.monotonic(), len(monitor.metrics)
        stop_at = max(monitor.latest.get("iteration", 0) + AFTER_REJOIN, MIN_ITERATIONS)
        assert monitor.wait_for(lambda: monitor.latest.get("iteration", 0) >= stop_at, 120), (
            monitor.latest)
        inference = monitor.status("/inference/status")
        learner = monitor.status("/learner/status")
        actor = monitor.status("/actor_1/status")
        assert inference is not None and learner is not None and actor is not None
    finally:
        monitor.close()
        codes = processes.shutdown()

    # training went on without the learner noticing: one version per iteration, all finite
    metrics = [m for m in read_metrics(run_dir) if m["iteration"] > 0]
    assert len(metrics) >= stop_at
    assert [m["policy_version"] for m in metrics] == list(range(1, len(metrics) + 1))
    assert all(m["global_step"] == m["iteration"] * ACTORS * ENVS * STEPS for m in metrics)
    assert all(math.isfinite(m["mean_reward"]) and math.isfinite(m["approx_kl"])
               for m in metrics)
    # it still learned: the newest checkpoint beats the initial policy on fixed seeded episodes
    trained, initial = trained_and_initial_returns(run_dir)
    assert trained > 0.5 * initial, (trained, initial)  # returns are <= 0: error at least halved
    # the respawned actor (same id, new session) steps again with current weights
    assert actor["steps"] > 0 and actor["policy_version"] > 5
    # the statuses in full (pytest shortens a dict in an assertion message)
    seen = json.dumps({"inference": inference, "learner": learner, "actor_1": actor})
    assert inference["actor_restarts"] + inference["dropped_actors"] == 1, seen
    assert inference["live_actors"] == ACTORS, seen
    # lost: at most the dead actor's partial rollout (< STEPS steps of its ENVS envs)
    assert inference["discarded_env_steps"] < STEPS * ENVS, seen
    for kind in ("non_finite", "wrong_size", "stale_seq", "unknown_actor", "malformed"):
        assert inference.get(kind, 0) == 0, (kind, seen)
    assert learner["rejected_rollouts"] == learner["rejected_updates"] == 0, seen
    assert [processes.running[f"actor_{i}"].respawns for i in range(ACTORS)] == [0, 1, 0]
    assert codes["head"] == 0 and codes["actor_0"] == codes["actor_2"] == 0, codes

    samples = monitor.metrics
    print(json.dumps({
        "metric": "actor_kill_throughput",
        "steps_per_s_before_kill": round(steps_per_second(samples[1:before_kill]), 1),
        "steps_per_s_kill_to_rejoin": round(
            steps_per_second(samples[before_kill - 1:after_rejoin]), 1),
        "steps_per_s_after_rejoin": round(steps_per_second(samples[after_rejoin - 1:]), 1),
        "rejoin_s": round(rejoined_at - killed_at, 2),
        "discarded_env_steps": inference["discarded_env_steps"],
        "stale_rollouts": learner["stale_rollouts"],
        "returns_trained_initial": [round(trained, 3), round(initial, 3)],
    }))
