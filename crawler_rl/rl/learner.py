"""The one PPO learner of both backends: policy, optimizer, update, checkpoints, export, metrics.

The local trainer (`trainer.py`) feeds it rollouts from its collector; the ROS learner node
(`ros/training/learner_node.py`) feeds it rollouts shipped by the actors. Either way it owns

- the `ActorCritic` policy (with its observation normalizer) and the `PPO` update (optimizer,
  learning-rate schedule, mirror augmentation);
- the counters `iteration` and `global_step`;
- checkpoints: everything a resume needs, RNG states included, written atomically;
- the ONNX export of the final checkpoint and the TensorBoard scalars (one set of names).

An update that raises or leaves non-finite weights is rolled back: policy, optimizer and
learning rate are as before it, and the error is raised again for the caller to handle.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crawler_rl.rl.checkpoint import (
    Checkpoint,
    capture_rng_state,
    checkpoint_path,
    latest_good_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from crawler_rl.rl.config import TrainConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.ppo import PPO
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.rl.symmetry import configured_mirror

ONNX_NAME = "controller.onnx"
"""File name of the exported controller in a run directory."""
LOSS_METRICS = frozenset({"pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac",
                          "explained_variance", "yaw_leak"})
"""Metrics logged as TensorBoard `losses/<name>`; every other one is `charts/<name>`."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def metric_tag(name: str) -> str:
    """TensorBoard tag of a metric (CleanRL's groups): `losses/pg_loss`, `charts/sps`."""
    return f"{'losses' if name in LOSS_METRICS else 'charts'}/{name}"


@dataclass
class _UpdateBoundary:
    """What a checkpoint holds besides the live policy and optimizer, taken after an update.

    The local trainer draws the next rollout's noise before the next update: a stop in
    between must checkpoint the RNG state as the update left it, not the advanced one.
    """

    rng_state: dict[str, Any]
    learning_rate: float


MODEL_KEYS = ("model.actor_hidden", "model.critic_hidden", "model.shared_trunk",
              "model.activation", "env.privileged_critic")
"""Config keys that decide a policy's tensors or what they compute: a checkpoint resumes only
under the same values."""


ACTION_MAPPING_KEYS = ("residual_base_gains", "increment_limit", "direct_limit",
                       "yaw_gain_limit")
"""env_info entries that decide what an action means (the residual base, `envs.describe_env`)."""


def action_mapping_difference(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key: checkpoint X, this run Y` for each action mapping entry of env_info that differs.

    A key missing from `saved` (a checkpoint of an older version) counts as None.
    """
    return [f"{key}: checkpoint {saved.get(key)!r}, this run {current.get(key)!r}"
            for key in ACTION_MAPPING_KEYS if saved.get(key) != current.get(key)]


def config_difference(saved: dict[str, Any], current: dict[str, Any],
                      keys: tuple[str, ...] = MODEL_KEYS) -> list[str]:
    """`key: checkpoint X, this run Y` for each dotted key whose values differ.

    A key missing from `saved` (a checkpoint of an older version) counts as its default.
    """
    defaults = TrainConfig().to_dict()

    def value(config: dict[str, Any], key: str) -> Any:
        section, name = key.split(".")
        return config.get(section, {}).get(name, defaults[section][name])

    return [f"{key}: checkpoint {value(saved, key)!r}, this run {value(current, key)!r}"
            for key in keys if value(saved, key) != value(current, key)]


RESUME_FREE_KEYS = ("run.total_steps", "run.checkpoint_every", "run.keep_checkpoints",
                    "run.run_name", "run.export_onnx", "run.device", "run.torch_threads",
                    "run.seed", "env.num_workers")
"""Settings a resume may change without a word: budget, bookkeeping, hardware (run.seed has a
warning of its own). Any other setting that differs from the checkpoint's is named."""


def settings_difference(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key: checkpoint X, this run Y` for each dotted setting a resume silently changes.

    Leaves out RESUME_FREE_KEYS and MODEL_KEYS (refused by `Learner.restore`). A key on one
    side only reads "absent" there: a checkpoint of an older version lacks a newer key (the run
    takes today's default for it), or this version dropped the checkpoint's. (`config_difference`
    reads a missing key as its default instead: a refusal must not hit an old checkpoint whose
    value is today's default; a warning may name it.)
    """
    absent = object()

    def shown(value: Any) -> str:
        return "absent" if value is absent else repr(value)

    differences = []
    for section in dict.fromkeys([*current, *saved]):
        ours, theirs = current.get(section, {}), saved.get(section, {})
        for name in dict.fromkeys([*ours, *theirs]):
            key = f"{section}.{name}"
            value, old = ours.get(name, absent), theirs.get(name, absent)
            if key not in RESUME_FREE_KEYS and key not in MODEL_KEYS and value != old:
                differences.append(f"{key}: checkpoint {shown(old)}, this run {shown(value)}")
    return differences


class Learner:
    """Policy + PPO + counters + checkpoints + export + metrics of one training run.

    obs_dim, action_dim and env_info describe the env (`envs.describe_env`); checkpoints,
    TensorBoard logs (<run_dir>/tb) and the ONNX export go to run_dir. The policy and the
    update live on `device`; checkpoints hold CPU tensors.
    """

    def __init__(self, cfg: TrainConfig, obs_dim: int, action_dim: int,
                 env_info: dict[str, Any], run_dir: Path, device: torch.device) -> None:
        self.cfg = cfg
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.env_info = env_info
        self.run_dir = Path(run_dir)
        self.device = device
        self.policy = ActorCritic.for_env(env_info, obs_dim, action_dim, cfg.model).to(device)
        mirror = configured_mirror(cfg.ppo.mirror_augmentation, env_info, obs_dim, action_dim,
                                   device)
        self.ppo = PPO(self.policy, cfg.ppo, mirror, env_info.get("yaw_residual_probe"))
        self.iteration = 0
        """PPO updates completed."""
        self.global_step = 0
        """Environment steps trained on (summed over envs)."""
        self.saved_iteration = 0
        """Newest iteration on disk (0: nothing to save yet)."""
        self.last_checkpoint: Path | None = None
        from torch.utils.tensorboard import SummaryWriter

        self._writer: Any = SummaryWriter(str(self.run_dir / "tb"))
        self._boundary = self._capture_boundary()

    @property
    def done(self) -> bool:
        """True once `run.total_steps` environment steps are trained on."""
        return self.global_step >= self.cfg.run.total_steps

    # ---- resume -------------------------------------------------------------------------
    def restore_latest(self, warn: Callable[[str], Any] | None = None) -> Path | None:
        """Restore the newest good checkpoint of run_dir (skipping corrupt ones, via `warn`).

        Returns its path, or None when there is none (the learner stays fresh).
        """
        found = latest_good_checkpoint(self.run_dir, warn=warn)
        if found is not None:
            saved = self.restore(found).config
            changed = settings_difference(saved, self.cfg.to_dict())
            if warn is not None and changed:
                warn(f"{found} was trained with other settings; this run continues with its "
                     f"own: {'; '.join(changed)}")
            saved_seed = saved.get("run", {}).get("seed")
            if warn is not None and saved_seed is not None and saved_seed != self.cfg.run.seed:
                warn(f"{found} was trained with run.seed {saved_seed}, this run uses "
                     f"{self.cfg.run.seed} for its env and noise seeds from here on: pass "
                     f"--seed {saved_seed} to continue it as it was")
        return found

    def restore(self, path: Path) -> Checkpoint:
        """Load a checkpoint's training state: weights, optimizer, schedule, RNGs, counters.

        Returns the loaded checkpoint.
        """
        state = load_checkpoint(path)
        changed = config_difference(state.config, self.cfg.to_dict())
        if changed:  # refused before anything is loaded: the learner stays as it was
            raise ValueError(f"{path} was trained with another model ({'; '.join(changed)}): "
                             "resume with the checkpoint's values")
        if (state.obs_dim, state.action_dim) != (self.obs_dim, self.action_dim):
            raise ValueError(
                f"{path}: checkpoint is for obs/action dims {(state.obs_dim, state.action_dim)}, "
                f"env has {(self.obs_dim, self.action_dim)}"
            )
        mapping = action_mapping_difference(state.env_info, self.env_info)
        if mapping:
            raise ValueError(f"{path} was trained with another action mapping "
                             f"({'; '.join(mapping)}): its actions would mean other wheel "
                             "speeds here; resume with the checkpoint's motor.residual_base, "
                             "increment_limit, direct_limit and yaw_gain_limit")
        self.policy.load_state_dict(state.model)
        self.ppo.load_optimizer_state(state.optimizer)
        self.ppo.set_learning_rate(state.learning_rate)
        if state.rng_state is not None:
            restore_rng_state(state.rng_state)
        self.iteration, self.global_step = state.iteration, state.global_step
        self.saved_iteration = state.iteration
        self.last_checkpoint = Path(path)
        self._boundary = self._capture_boundary()
        return state

    # ---- learning -----------------------------------------------------------------------
    def update(self, storage: RolloutStorage, last_values: torch.Tensor) -> dict[str, float]:
        """One PPO iteration on a filled `storage`; return the update's diagnostics.

        Anneals the learning rate to this run's progress, runs the PPO epochs, then updates
        the observation normalizer from the rollout (after the update that used the rollout's
        log-probs, so old and new log-probs share one normalization) and counts the
        iteration. last_values: V(obs after the last stored step), Shape (num_envs,).
        Rolled back (and the error raised again) on a FloatingPointError or ValueError.
        """
        model = copy.deepcopy(self.policy.state_dict())
        optimizer = copy.deepcopy(self.ppo.optimizer.state_dict())
        learning_rate = self.ppo.learning_rate
        try:
            self.ppo.anneal(self.global_step / self.cfg.run.total_steps)
            stats = self.ppo.update(storage, last_values)
            if not torch.isfinite(storage.returns).all():
                raise FloatingPointError("returns overflow (finite but absurd rewards or values)")
            bad = [name for name, tensor in self.policy.state_dict().items()
                   if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
            if bad:
                raise FloatingPointError(f"non-finite weights {bad[:3]} after the update")
        except (ValueError, FloatingPointError):
            self.policy.load_state_dict(model)
            self.ppo.load_optimizer_state(optimizer)
            self.ppo.set_learning_rate(learning_rate)
            raise
        self.policy.obs_normalizer.update(storage.obs.reshape(-1, self.obs_dim))
        self.iteration += 1
        self.global_step += storage.num_steps * storage.num_envs
        self.policy.cap_std(self.global_step / self.cfg.run.total_steps)
        self._boundary = self._capture_boundary()
        return stats

    # ---- checkpoints and export ---------------------------------------------------------
    def checkpoint_due(self) -> bool:
        """Whether the iteration just completed is checkpointed (every N, and the last)."""
        return self.done or self.iteration % self.cfg.run.checkpoint_every == 0

    def save(self) -> Path:
        """Checkpoint the last completed update atomically, prune old checkpoints, flush logs."""
        path = save_checkpoint(checkpoint_path(self.run_dir, self.iteration), Checkpoint(
            model=self.policy.state_dict(), optimizer=self.ppo.optimizer.state_dict(),
            iteration=self.iteration, global_step=self.global_step, config=self.cfg.to_dict(),
            learning_rate=self._boundary.learning_rate, obs_dim=self.obs_dim,
            action_dim=self.action_dim, env_info=self.env_info,
            rng_state=self._boundary.rng_state,
        ))
        prune_checkpoints(self.run_dir, self.cfg.run.keep_checkpoints)
        if self._writer is not None:
            self._writer.flush()
        self.saved_iteration = self.iteration
        self.last_checkpoint = path
        return path

    def save_if_unsaved(self) -> Path | None:
        """Checkpoint the last completed update unless it is on disk; return the newest one."""
        if self.iteration != self.saved_iteration:
            return self.save()
        return self.last_checkpoint  # None before the first update: nothing to keep

    def export(self, checkpoint: Path) -> Path | None:
        """Export `checkpoint` to <run_dir>/controller.onnx when `run.export_onnx` (else None)."""
        if not self.cfg.run.export_onnx:
            return None
        from crawler_rl.rl.export import export_checkpoint

        return export_checkpoint(checkpoint, self.run_dir / ONNX_NAME)

    # ---- metrics ------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Write the finite metrics to TensorBoard at the current global step."""
        for name, value in metrics.items():
            if math.isfinite(value):
                self._writer.add_scalar(metric_tag(name), value, self.global_step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _capture_boundary(self) -> _UpdateBoundary:
        return _UpdateBoundary(capture_rng_state(), self.ppo.learning_rate)
