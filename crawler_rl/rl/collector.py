"""One PPO rollout: act with the policy, step a vector env, value time-limit truncations.

The same `collect_rollout` runs in the trainer's process (`env.num_workers: 1`) and inside
each env worker process (`rollout_workers.py`), which then ships one message per rollout
instead of one per env step. The sampling noise comes from the caller (the trainer draws it
for all envs from the seeded torch RNG), so the noise an env sees does not depend on how the
envs are split over workers. The result is a `rollout.Rollout` (raw rewards; the value of each
truncated episode's final observation in `final_values`, bootstrapped by the learner). The
policy acts through a numpy copy of its weights (`numpy_policy.py`), made once per rollout.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from crawler_rl.rl.envs import TRACKING_KEYS, ActionScaler
from crawler_rl.rl.numpy_policy import NumpyActorCritic
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout
from crawler_rl.sim.vec_env import SyncVecEnv


@torch.no_grad()
def collect_rollout(
    envs: SyncVecEnv,
    policy: ActorCritic,
    obs: np.ndarray,
    noise: torch.Tensor,
    scale_actions: ActionScaler,
    first_env: int = 0,
    timings: dict[str, float] | None = None,
) -> tuple[Rollout, np.ndarray]:
    """Act `noise.shape[0]` steps from `obs`; return (the rollout, observations after it).

    noise: standard-normal action noise, Shape (steps, num_envs, action_dim). The rollout's
    tracking_error holds the env's TRACKING_KEYS infos (float64; width 0 for envs without
    them); truncations are valued, not bootstrapped (`rollout.Rollout`). Raises ValueError on a
    non-finite observation and FloatingPointError on a non-finite action, naming the envs by
    their index in the whole run (`first_env` + index here). `timings` (optional) accumulates
    the seconds spent in "sim" (`envs.step`) and "policy" (acting and the value estimates); the
    rest is bookkeeping.
    """
    steps, num_envs = noise.shape[0], noise.shape[1]
    actor = NumpyActorCritic(policy)  # this rollout's weights, frozen
    noise_np = noise.detach().cpu().numpy().astype(np.float32, copy=False)
    shape = (steps, num_envs)
    rollout = {
        "obs": np.zeros((*shape, envs.obs_dim), np.float32),
        "actions": np.zeros((*shape, envs.action_dim), np.float32),
        **{key: np.zeros(shape, np.float32)
           for key in ("log_probs", "values", "rewards", "final_values")},
        "terminated": np.zeros(shape, bool),
        "truncated": np.zeros(shape, bool),
    }
    tracking: list[np.ndarray] = []
    sim_s = policy_s = 0.0
    for step in range(steps):
        _check_finite(obs, step, first_env)
        begin = time.perf_counter()
        actions_np, log_probs, values = actor.act(obs, noise_np[step])
        acted = time.perf_counter()
        policy_s += acted - begin
        if not np.isfinite(actions_np).all():
            bad = (first_env + np.flatnonzero(~np.isfinite(actions_np).all(axis=1))).tolist()
            raise FloatingPointError(f"non-finite action for env(s) {bad} at rollout step {step}: "
                                     "the policy's weights or normalizer are not finite")
        next_obs, rewards, terminated, truncated, infos = envs.step(scale_actions(actions_np))
        stepped = time.perf_counter()
        sim_s += stepped - acted
        if truncated.any():
            final_values = actor.value(infos["final_obs"])
            policy_s += time.perf_counter() - stepped
            rollout["final_values"][step][truncated] = final_values[truncated]
        for key, value in (("obs", obs), ("actions", actions_np), ("rewards", rewards),
                           ("log_probs", log_probs), ("values", values),
                           ("terminated", terminated),
                           ("truncated", truncated)):
            rollout[key][step] = value
        tracking.append(np.stack([infos[key] for key in TRACKING_KEYS], -1)
                        if all(key in infos for key in TRACKING_KEYS) else np.zeros((num_envs, 0)))
        obs = next_obs
    _check_finite(obs, steps, first_env)
    begin = time.perf_counter()
    last_values = actor.value(obs)
    if timings is not None:
        timings["sim"] = timings.get("sim", 0.0) + sim_s
        timings["policy"] = (timings.get("policy", 0.0) + policy_s
                             + time.perf_counter() - begin)
    return Rollout(**rollout, tracking_error=np.stack(tracking), last_obs=obs.copy(),
                   last_values=last_values), obs


def check_noise_shape(noise: torch.Tensor, num_envs: int, action_dim: int) -> None:
    """ValueError unless `noise` is (steps, num_envs, action_dim): no silent broadcasting."""
    if noise.ndim != 3 or tuple(noise.shape[1:]) != (num_envs, action_dim):
        raise ValueError(f"noise must have shape (steps, {num_envs}, {action_dim}), "
                         f"got {tuple(noise.shape)}")


def _check_finite(obs: np.ndarray, step: int, first_env: int) -> None:
    if not np.isfinite(obs).all():
        bad = (first_env + np.flatnonzero(~np.isfinite(obs).all(axis=1))).tolist()
        raise ValueError(f"non-finite observation from env(s) {bad} at rollout step {step}")


class InProcessCollector:
    """Collect rollouts of `env.num_workers: 1` envs in this process (the reference path)."""

    def __init__(self, envs: SyncVecEnv, env_info: dict[str, Any], first_env: int = 0) -> None:
        self.envs = envs
        self.first_env = first_env
        self.env_info = env_info
        self.num_envs, self.obs_dim, self.action_dim = envs.num_envs, envs.obs_dim, envs.action_dim
        self._scale = ActionScaler(env_info["action_low"], env_info["action_high"])
        self._obs: np.ndarray | None = None
        self.last_timings: list[dict[str, float]] = []
        """Seconds of the last rollout in sim, policy and busy (the whole collect), in a list
        of one (as `RolloutWorkers.last_timings`, one per worker)."""

    def reset(self, seed: int | None = None) -> None:
        """Reset every env (env i gets seed + i)."""
        self._obs = self.envs.reset(seed=seed)

    def collect(self, policy: ActorCritic, noise: torch.Tensor,
                timings: dict[str, float] | None = None) -> Rollout:
        """One rollout of all envs with `policy` (see `collect_rollout`, also for `timings`)."""
        if self._obs is None:
            raise RuntimeError("reset() the collector before the first rollout")
        check_noise_shape(noise, self.num_envs, self.action_dim)
        begin = time.perf_counter()
        timings = {} if timings is None else timings
        rollout, self._obs = collect_rollout(self.envs, policy, self._obs, noise, self._scale,
                                             self.first_env, timings)
        self.last_timings = [{**timings, "busy": time.perf_counter() - begin}]
        return rollout

    def close(self) -> None:
        """Close the envs."""
        self.envs.close()
