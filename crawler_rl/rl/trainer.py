"""PPO training in this process: collector -> RolloutStorage -> Learner, seeded and resumable.

The collector steps the envs with the policy for one rollout: in this process
(`env.num_workers: 1`), or in worker processes that each run the policy on their own envs and
return whole rollouts (`rollout_workers.py`). The trainer draws every env's sampling noise, so
an env sees the same noise however the envs are split; runs are still bit-identical only for
the same `num_workers` (a batch of 8 rows and one of 16 round differently in the policy's
matrix products).

Overlap (`run.overlap_update`, worker processes only): while the learner updates on rollout k
the workers already collect rollout k+1 with the weights before that update (policy lag 1, as
SEED RL and Sample Factory). The rollout keeps the acting policy's log-probs, values and
bootstrap values; PPO's clipped ratio is taken against those log-probs, so the lag is inside
what the clip already bounds (the update's `lag_kl` reports it). Each rollout is trained on
exactly once; the last iteration starts no further rollout. Seeded runs are deterministic,
but differ from runs without overlap, and a resume starts a fresh rollout with the restored
weights (exact_resume is refused). Each iteration logs where its time went: rollout_wait_s,
fill_s and update_s in this process, worker_{load,sim,policy,busy}_s in the collectors.

Reproducibility: torch/numpy/Python RNGs are seeded from `run.seed` and saved in checkpoints;
the envs are reset with a seed at the start and on resume. With `run.exact_resume` they are also
re-seeded at every checkpoint boundary (iterations that are multiples of `run.checkpoint_every`),
so resuming from a periodic checkpoint continues exactly like an uninterrupted run; that cuts
every episode at the boundary, which costs sample efficiency, so it is off by default.

Stopping: SIGINT, SIGTERM or SIGHUP abandons the rollout being collected (an update and a
checkpoint are never cut), writes a final checkpoint of the last completed update, the one a
periodic checkpoint at that iteration would be, and raises `stopping.Stopped`; `resume`
continues from it. SIGKILL loses the iterations since the last periodic checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from crawler_rl.rl.collector import InProcessCollector
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.device import describe_device, resolve_setting
from crawler_rl.rl.envs import TRACKING_KEYS, describe_env, make_env_factory
from crawler_rl.rl.learner import Learner, seed_everything
from crawler_rl.rl.rollout import Rollout, fill_storage
from crawler_rl.rl.rollout_workers import RolloutWorkers
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.sim.vec_env import SyncVecEnv
from crawler_rl.stopping import Stopped, StopRequest

LOG = logging.getLogger(__name__)
Collector = InProcessCollector | RolloutWorkers


def make_collector(cfg: TrainConfig) -> Collector:
    """Build the rollout collector: in this process, or in `env.num_workers` processes."""
    env_cfg = cfg.env
    if env_cfg.num_workers == 1:
        envs = SyncVecEnv([make_env_factory(env_cfg) for _ in range(env_cfg.num_envs)])
        return InProcessCollector(envs, describe_env(envs.envs[0], env_cfg.env_id))
    return RolloutWorkers(env_cfg, cfg.model, env_cfg.num_envs, env_cfg.num_workers)


def env_reset_seed(cfg: TrainConfig, iteration: int) -> int:
    """Seed of the env re-sync at a checkpoint boundary (env i gets this + i)."""
    return cfg.run.seed * 1_000_003 + (iteration // cfg.run.checkpoint_every) * 10_007


class RolloutStats:
    """Per-iteration reward / tracking statistics and a window of finished episode returns."""

    def __init__(self, num_envs: int) -> None:
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.running_return = np.zeros(num_envs)
        self.begin()

    def begin(self) -> None:
        """Start a new rollout."""
        self.reward_sum = 0.0
        self.count = 0
        self.squared_errors = {key: 0.0 for key in TRACKING_KEYS}
        self.error_count = 0

    def record(self, rewards: np.ndarray, done: np.ndarray, infos: dict[str, np.ndarray]) -> None:
        """Account for one vector step (infos: per-env values of TRACKING_KEYS, if any)."""
        self.reward_sum += float(rewards.sum())
        self.count += rewards.shape[0]
        self.running_return += rewards
        for index in np.flatnonzero(done):
            self.episode_returns.append(float(self.running_return[index]))
            self.running_return[index] = 0.0
        if all(key in infos for key in TRACKING_KEYS):
            for key in TRACKING_KEYS:
                self.squared_errors[key] += float(np.square(infos[key]).sum())
            self.error_count += rewards.shape[0]

    def record_rollout(self, rollout: Rollout) -> None:
        """`record` each step of a rollout (its env rewards, as given)."""
        done = rollout.terminated | rollout.truncated
        has_errors = rollout.tracking_error.shape[-1] == len(TRACKING_KEYS)
        for step in range(rollout.num_steps):
            infos = ({key: rollout.tracking_error[step, :, column]
                      for column, key in enumerate(TRACKING_KEYS)} if has_errors else {})
            self.record(rollout.rewards[step], done[step], infos)

    def summary(self) -> dict[str, float]:
        """Mean step reward, mean episode return and RMS tracking errors of this rollout."""
        result = {"mean_reward": self.reward_sum / max(self.count, 1)}
        if self.episode_returns:
            result["episode_return"] = float(np.mean(self.episode_returns))
        if self.error_count:
            for key in TRACKING_KEYS:
                result[key] = math.sqrt(self.squared_errors[key] / self.error_count)
        return result


def run_training(
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    progress: bool = True,
    *,
    on_iteration: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train a policy with PPO in this process; return a summary dict.

    `on_iteration` (optional) receives each iteration's diagnostics, with "global_step" and
    "wall_time_s" added (used by bench/ppo_vs_sb3.py).

    Writes <run_dir>/config.yaml, <run_dir>/tb (TensorBoard), <run_dir>/checkpoints/*.pt and
    <run_dir>/controller.onnx (when run.export_onnx). The update runs on `run.device`; so
    does acting with `env.num_workers: 1`, while rollout workers act with CPU copies of the
    policy. Environments, checkpoints and the export stay on the CPU.
    """
    cfg.validate()
    device = resolve_setting(cfg.run.device, "config key 'run.device'")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.run.torch_threads)
    seed_everything(cfg.run.seed)

    with StopRequest() as stop:
        with stop.interruptible():
            collector = make_collector(cfg)
        try:
            summary = _train(cfg, run_dir, resume, progress, on_iteration, device, collector,
                             stop)
        finally:
            collector.close()
        if stop.signum is not None:  # it came during the last update or the export
            raise Stopped(stop.signum,
                          f" as training finished; checkpoint {summary['checkpoint']}")
        return summary


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool,
    progress: bool,
    on_iteration: Callable[[dict[str, float]], None] | None,
    device: torch.device,
    collector: Collector,
    stop: StopRequest,
) -> dict[str, Any]:
    """`run_training` once the collector exists (the caller closes it)."""
    from tqdm import tqdm

    learner = Learner(cfg, collector.obs_dim, collector.action_dim, collector.env_info, run_dir,
                      device)
    storage = RolloutStorage(cfg.ppo.num_steps, collector.num_envs, collector.obs_dim,
                             collector.action_dim, device)
    LOG.info("training %s on %s", cfg.env.env_id, describe_device(device))
    batch_size = cfg.ppo.num_steps * collector.num_envs
    num_iterations = math.ceil(cfg.run.total_steps / batch_size)

    if resume:
        found = learner.restore_latest(warn=LOG.warning)
        if found is None:
            LOG.warning("no usable checkpoint in %s: starting a new run", run_dir)
        else:
            LOG.info("resumed from %s (iteration %d, step %d)", found, learner.iteration,
                     learner.global_step)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    stats = RolloutStats(collector.num_envs)
    bar = tqdm(total=num_iterations * batch_size, initial=learner.global_step,
               disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"{cfg.run.run_name or run_dir.name} ({device})")
    first: dict[str, float] | None = None
    last: dict[str, float] = {}
    stopped: Stopped | None = None
    start_time = time.perf_counter()
    start_step = learner.global_step
    needs_reset = True
    rollouts = _RolloutSource(cfg, collector, learner, num_iterations)
    try:
        while learner.iteration < num_iterations:
            # Up to the rollout's end a stop signal abandons the iteration at once; from the
            # update on it waits for this check at the start of the next one (with
            # run.overlap_update the next rollout is then abandoned, never trained on).
            with stop.interruptible():
                if needs_reset or (cfg.run.exact_resume
                                   and learner.iteration % cfg.run.checkpoint_every == 0):
                    collector.reset(seed=env_reset_seed(cfg, learner.iteration))
                    stats.running_return[:] = 0.0  # a cut episode's return is not reported
                    needs_reset = False
                iteration_start = time.perf_counter()
                stats.begin()
                rollout, policy_lag = rollouts.next()
            waited = time.perf_counter()
            fill_storage(storage, rollout, cfg.ppo.gamma)
            stats.record_rollout(rollout)
            filled = time.perf_counter()
            update = learner.update(storage, torch.from_numpy(rollout.last_values).to(device))

            done = time.perf_counter()
            elapsed = done - iteration_start
            last = {**stats.summary(), **update, "sps": batch_size / max(elapsed, 1e-9),
                    "rollout_wait_s": waited - iteration_start, "fill_s": filled - waited,
                    "update_s": done - filled, "policy_lag": float(policy_lag),
                    **worker_time_split(collector.last_timings)}
            first = first or dict(last)
            learner.log_metrics(last)
            if on_iteration is not None:
                on_iteration({**last, "global_step": float(learner.global_step),
                              "wall_time_s": time.perf_counter() - start_time})
            bar.update(batch_size)
            bar.set_postfix(_postfix(last), refresh=False)
            if learner.checkpoint_due():
                learner.save()
    except Stopped as signal_stop:
        stopped = signal_stop
    finally:
        bar.close()
        learner.close()
    if stopped is not None:
        checkpoint = learner.save_if_unsaved()
        where = (f"; final checkpoint {checkpoint} (iteration {learner.iteration}, step "
                 f"{learner.global_step})" if checkpoint else " before the first update")
        raise Stopped(stopped.signum, where)

    wall_time = time.perf_counter() - start_time
    checkpoint = learner.save_if_unsaved() or learner.save()
    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "env_id": cfg.env.env_id,
        "device": describe_device(device),
        "iterations": learner.iteration,
        "global_step": learner.global_step,
        "wall_time_s": wall_time,
        "sps": (learner.global_step - start_step) / max(wall_time, 1e-9),
        "checkpoint": str(checkpoint),
        "initial": first or {},
        "final": last,
    }
    onnx = learner.export(checkpoint)
    if onnx is not None:
        summary["onnx"] = str(onnx)
    return summary


class _RolloutSource:
    """The trainer's rollouts in order: each collected once and trained on once.

    Default: draw the noise, collect with the current weights, return (policy lag 0).
    run.overlap_update: return rollout k and, unless it is the run's last, start rollout k+1
    with the weights as they are now, before update k (policy lag 1 from the second rollout
    on). The noise is drawn from the same seeded torch RNG either way.
    """

    def __init__(self, cfg: TrainConfig, collector: Collector, learner: Learner,
                 num_iterations: int) -> None:
        self.cfg, self.collector, self.learner = cfg, collector, learner
        self.num_iterations = num_iterations
        self.pending_from: int | None = None
        """learner.iteration when the rollout under way was started (None: none is)."""

    def _noise(self) -> torch.Tensor:
        # Sampling noise for every env from the seeded (and checkpointed) torch RNG.
        return torch.randn(self.cfg.ppo.num_steps, self.collector.num_envs,
                           self.collector.action_dim)

    def next(self) -> tuple[Rollout, int]:
        """Return the next rollout to train on and its policy lag (updates since it started)."""
        learner = self.learner
        if not self.cfg.run.overlap_update:
            return self.collector.collect(learner.policy, self._noise()), 0
        assert isinstance(self.collector, RolloutWorkers)  # TrainConfig.validate ensures it
        if self.pending_from is None:  # the first rollout, or the first after a resume
            self.collector.start(learner.policy, self._noise())
            self.pending_from = learner.iteration
        rollout = self.collector.finish()
        lag = learner.iteration - self.pending_from
        self.pending_from = None
        if learner.iteration + 1 < self.num_iterations:
            self.collector.start(learner.policy, self._noise())
            self.pending_from = learner.iteration
        return rollout, lag


def worker_time_split(timings: list[dict[str, float]]) -> dict[str, float]:
    """Mean seconds per collecting process of the last rollout: `worker_<part>_s`."""
    parts = sorted(set().union(*timings)) if timings else []
    return {f"worker_{part}_s": float(np.mean([t.get(part, 0.0) for t in timings]))
            for part in parts}


def _postfix(values: dict[str, float]) -> dict[str, str]:
    postfix = {"sps": f"{values['sps']:.0f}", "rew": f"{values['mean_reward']:.3f}"}
    if "tracking_error_v" in values:
        postfix["e_v"] = f"{values['tracking_error_v']:.3f}"
        postfix["e_w"] = f"{values['tracking_error_omega']:.3f}"
    return postfix
