"""PPO with GAE(lambda), written term by term in the style of CleanRL's ppo_continuous_action.

Time limits versus terminal states: a truncated episode did not end, so its last reward gets
gamma * V(final_obs) added at rollout time (`bootstrap_truncated`); afterwards both kinds of
episode end cut the GAE recursion the same way. With `ppo.mirror_augmentation` each minibatch
is trained together with its left/right mirror image (`symmetry.py`).
"""

from __future__ import annotations

import torch
from torch import nn

from crawler_rl.rl.config import PPOConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.rl.symmetry import Mirror


def bootstrap_truncated(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Return rewards + gamma * V(final_obs) where truncated and not terminated. Shape: (K,)."""
    time_limit = truncated & ~terminated
    return rewards + gamma * final_values * time_limit.to(rewards.dtype)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over a rollout.

    rewards, values, terminated, truncated: Shape (num_steps, num_envs); last_values: V of the
    observation after the last step, Shape (num_envs,). Rewards of truncated steps must already
    include the bootstrap (`bootstrap_truncated`). Returns (advantages, returns), both
    Shape (num_steps, num_envs).
    """
    num_steps = rewards.shape[0]
    episode_end = (terminated | truncated).to(rewards.dtype)
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(last_values)
    for t in reversed(range(num_steps)):
        next_values = last_values if t == num_steps - 1 else values[t + 1]
        next_nonterminal = 1.0 - episode_end[t]
        delta = rewards[t] + gamma * next_values * next_nonterminal - values[t]
        last_gae = delta + gamma * gae_lambda * next_nonterminal * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


def policy_loss(
    advantages: torch.Tensor, log_ratio: torch.Tensor, clip_coef: float
) -> torch.Tensor:
    """Clipped surrogate objective, as a loss to minimize."""
    ratio = log_ratio.exp()
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float,
    clip: bool,
) -> torch.Tensor:
    """0.5 * squared error, optionally clipped around the rollout's values (pessimistic max)."""
    v_loss_unclipped = (new_values - returns).square()
    if not clip:
        return 0.5 * v_loss_unclipped.mean()
    v_clipped = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    v_loss_clipped = (v_clipped - returns).square()
    return 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()


def approx_kl_and_clipfrac(log_ratio: torch.Tensor, clip_coef: float) -> tuple[float, float]:
    """Low-variance KL estimate (http://joschu.net/blog/kl-approx.html) and clip fraction."""
    with torch.no_grad():
        ratio = log_ratio.exp()
        approx_kl = ((ratio - 1.0) - log_ratio).mean().item()
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean().item()
    return approx_kl, clipfrac


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target); nan when the target is constant."""
    var_target = target.var()
    if var_target.item() == 0.0:
        return float("nan")
    return float(1.0 - (target - predicted).var() / var_target)


class PPO:
    """The learner: owns the optimizer and the learning-rate schedule of one policy.

    mirror: train every minibatch together with its mirror image (`symmetry.py`); required
    when `cfg.mirror_augmentation` is true, refused when it is false (see
    `symmetry.configured_mirror`).
    """

    def __init__(self, policy: ActorCritic, cfg: PPOConfig, mirror: Mirror | None = None,
                 yaw_probe: dict[str, list[float]] | None = None) -> None:
        wanted = cfg.mirror_augmentation
        if (wanted is True and mirror is None) or (wanted is False and mirror is not None):
            raise ValueError(f"ppo.mirror_augmentation is {str(wanted).lower()} but a mirror "
                             f"was {'not ' if mirror is None else ''}given")
        self.policy = policy
        self.cfg = cfg
        self.mirror = mirror
        self.yaw_probe: tuple[torch.Tensor, torch.Tensor] | None = None
        """(observation shift, action weights) of `yaw_leak_loss`; None: the term is off."""
        if yaw_probe is not None and cfg.yaw_leak_penalty > 0.0:
            device = next(policy.parameters()).device
            self.yaw_probe = (torch.tensor(yaw_probe["obs_shift"], device=device),
                              torch.tensor(yaw_probe["action_weights"], device=device))
        self.learning_rate = cfg.learning_rate
        # fused: one kernel per step for all parameters, on the CPU too (torch's default there
        # is a Python loop over them; the foreach step used before takes 3x as long for these
        # small networks, the whole update 1.1x: bench/update_cost.py); the same arithmetic.
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate, eps=1e-5,
                                          fused=True)

    def yaw_leak_loss(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean squared share of the residual's yaw mode the actor's mean takes back per step.

        The change of the mean action when the observation moves by the probe's shift, read
        through its action weights: 0 for an actor that keeps the residual (an integrator),
        -1 for one that cancels it each step. Shape: (batch, obs_dim) -> ().
        """
        return self.yaw_leak(self.policy.action_mean(obs),
                             self.policy.action_mean(self.yaw_probe_obs(obs)))

    def yaw_probe_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """Return the observations moved by the probe's shift. Shape: (batch, obs_dim)."""
        assert self.yaw_probe is not None
        return obs + self.yaw_probe[0]

    def yaw_leak(self, mean: torch.Tensor, probe_mean: torch.Tensor) -> torch.Tensor:
        """`yaw_leak_loss` from the mean actions on the observations and on the shifted ones."""
        assert self.yaw_probe is not None
        return ((probe_mean - mean) @ self.yaw_probe[1]).square().mean()

    def load_optimizer_state(self, state: dict) -> None:
        """Restore the optimizer from a checkpoint (fused, whatever the checkpoint's says)."""
        self.optimizer.load_state_dict(state)
        for group in self.optimizer.param_groups:
            group["foreach"] = None
            group["fused"] = True

    def set_learning_rate(self, learning_rate: float) -> None:
        """Set the optimizer's learning rate (scheduled or restored from a checkpoint)."""
        self.learning_rate = learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def anneal(self, progress: float) -> None:
        """Apply the "linear" schedule: progress in [0, 1] of the run's total steps."""
        if self.cfg.lr_schedule == "linear":
            self.set_learning_rate(self.cfg.learning_rate * max(1.0 - progress, 0.0))

    def _adapt_learning_rate(self, approx_kl: float) -> None:
        if self.cfg.lr_schedule != "adaptive":
            return
        if approx_kl > 2.0 * self.cfg.desired_kl:
            lr = max(self.learning_rate / 1.5, self.cfg.min_learning_rate)
        elif approx_kl < 0.5 * self.cfg.desired_kl:
            lr = min(self.learning_rate * 1.5, self.cfg.max_learning_rate)
        else:
            return
        self.set_learning_rate(lr)

    def update(
        self,
        storage: RolloutStorage,
        last_values: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """Compute GAE into `storage`, run the PPO epochs and return the diagnostics.

        last_values: V(obs after the last stored step), Shape (num_envs,).
        """
        cfg = self.cfg
        advantages, returns = compute_gae(
            storage.rewards, storage.values, storage.terminated, storage.truncated,
            last_values, cfg.gamma, cfg.gae_lambda,
        )
        storage.advantages.copy_(advantages)
        storage.returns.copy_(returns)
        # The KL that adapts the learning rate and stops early measures how far *this update*
        # moved the policy: against the policy as the update starts, not the one that acted.
        # They differ when rollouts are acted by an older version (the ROS pipeline's lag of
        # about one version): against the acting policy the lag alone reads as an overshoot,
        # lowering an adaptive learning rate and stopping updates early.
        with torch.no_grad():
            anchor, _, _ = self.policy.evaluate(
                storage.obs.reshape(-1, storage.obs_dim),
                storage.actions.reshape(-1, storage.action_dim))
        storage.anchor_log_probs.copy_(anchor.reshape(storage.num_steps, storage.num_envs))
        lag_kl, _ = approx_kl_and_clipfrac(anchor - storage.log_probs.reshape(-1), cfg.clip_coef)

        stats = {"pg_loss": 0.0, "v_loss": 0.0, "entropy": 0.0, "clipfrac": 0.0}
        if self.yaw_probe is not None:
            stats["yaw_leak"] = 0.0
        kl_values: list[float] = []
        num_updates = 0
        stopped_early = False
        for _epoch in range(cfg.num_epochs):
            for batch in storage.minibatches(cfg.num_minibatches, generator):
                rows = batch.log_probs.shape[0]
                if self.mirror is not None:
                    batch = self.mirror.augment(batch)
                if self.yaw_probe is None:
                    new_log_probs, entropy, new_values = self.policy.evaluate(batch.obs,
                                                                              batch.actions)
                else:
                    new_log_probs, entropy, new_values, means, probe_means = (
                        self.policy.evaluate_with_probe(batch.obs, batch.actions,
                                                        self.yaw_probe_obs(batch.obs[:rows])))
                log_ratio = new_log_probs - batch.log_probs
                # KL and clip fraction of the collected rows only: a mirrored row has no
                # anchor of its own (its log-probs are the original's).
                _, clipfrac = approx_kl_and_clipfrac(log_ratio[:rows], cfg.clip_coef)
                approx_kl, _ = approx_kl_and_clipfrac(
                    new_log_probs[:rows].detach() - batch.anchor_log_probs[:rows], cfg.clip_coef)
                kl_values.append(approx_kl)
                # Adapt before a possible early stop, else a too-large lr is never reduced.
                self._adapt_learning_rate(approx_kl)
                if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                    stopped_early = True
                    break

                mb_advantages = batch.advantages
                if cfg.normalize_advantages and mb_advantages.numel() > 1:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                        mb_advantages.std() + 1e-8
                    )
                pg_loss = policy_loss(mb_advantages, log_ratio, cfg.clip_coef)
                v_loss = value_loss(
                    new_values, batch.values, batch.returns, cfg.clip_coef, cfg.clip_value_loss
                )
                entropy_loss = entropy.mean()
                loss = pg_loss - cfg.entropy_coef * entropy_loss + cfg.value_coef * v_loss
                if self.yaw_probe is not None:
                    yaw_leak = self.yaw_leak(means[:rows], probe_means)
                    loss = loss + cfg.yaw_leak_penalty * yaw_leak
                    stats["yaw_leak"] += yaw_leak.item()
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"non-finite PPO loss (pg={pg_loss.item()}, v={v_loss.item()})"
                    )

                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm,
                                         foreach=True)
                self.optimizer.step()

                num_updates += 1
                stats["pg_loss"] += pg_loss.item()
                stats["v_loss"] += v_loss.item()
                stats["entropy"] += entropy_loss.item()
                stats["clipfrac"] += clipfrac
            if stopped_early:
                break

        result = {key: value / max(num_updates, 1) for key, value in stats.items()}
        result["approx_kl"] = sum(kl_values) / len(kl_values)
        result["max_approx_kl"] = max(kl_values)
        result["lag_kl"] = lag_kl
        result["explained_variance"] = explained_variance(
            storage.values.flatten(), storage.returns.flatten()
        )
        result["learning_rate"] = self.learning_rate
        result["num_updates"] = float(num_updates)
        result["early_stop"] = float(stopped_early)
        result["action_std"] = float(self.policy.log_std.detach().exp().mean())
        return result
