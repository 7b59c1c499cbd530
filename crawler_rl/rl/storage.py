"""Fixed-size rollout storage with named fields (rsl_rl-style), filled one env step at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class Minibatch:
    """One PPO minibatch, flattened over (step, env). Shapes: (batch, ...)."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    anchor_log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


class RolloutStorage:
    """Transitions of `num_envs` envs over `num_steps` steps.

    Fields (float32 unless noted):
        obs: (num_steps, num_envs, obs_dim) observations the actions were chosen on
        actions: (num_steps, num_envs, action_dim) sampled (unclipped) actions
        log_probs: (num_steps, num_envs) log-probability of the actions when sampled
        values: (num_steps, num_envs) value estimates V(obs)
        rewards: (num_steps, num_envs) rewards; on truncation the caller has already added
            gamma * V(final_obs) (see `ppo.bootstrap_truncated`)
        terminated: (num_steps, num_envs) bool, episode ended in a terminal state
        truncated: (num_steps, num_envs) bool, episode cut by a time limit
        advantages, returns: (num_steps, num_envs), filled by `ppo.compute_gae`
        anchor_log_probs: (num_steps, num_envs) log-probability of the actions under the policy
            as the update starts (filled by `PPO.update`); equal to log_probs on-policy, apart
            by the policy lag when the rollouts were acted by an older version

    All fields live on `device` (the policy's); `add` copies inputs from any device.
    """

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_dim: int,
        action_dim: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.device = torch.device(device)
        shape = (num_steps, num_envs)
        self.obs = torch.zeros(*shape, obs_dim, device=self.device)
        self.actions = torch.zeros(*shape, action_dim, device=self.device)
        self.log_probs = torch.zeros(shape, device=self.device)
        self.values = torch.zeros(shape, device=self.device)
        self.rewards = torch.zeros(shape, device=self.device)
        self.terminated = torch.zeros(shape, dtype=torch.bool, device=self.device)
        self.truncated = torch.zeros(shape, dtype=torch.bool, device=self.device)
        self.advantages = torch.zeros(shape, device=self.device)
        self.returns = torch.zeros(shape, device=self.device)
        self.anchor_log_probs = torch.zeros(shape, device=self.device)
        self.step = 0

    @property
    def full(self) -> bool:
        """True when every step slot holds a transition."""
        return self.step == self.num_steps

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        rewards: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
    ) -> None:
        """Store one step of all envs.

        Shapes: obs (num_envs, obs_dim), actions (num_envs, action_dim), the rest (num_envs,).
        Raises OverflowError when the storage is full (call `clear` after each update) and
        ValueError on non-finite rewards, values or observations.
        """
        if self.step >= self.num_steps:
            raise OverflowError(
                f"rollout storage is full ({self.num_steps} steps); call clear() after update"
            )
        for name, tensor in (("obs", obs), ("rewards", rewards), ("values", values)):
            if not torch.isfinite(torch.as_tensor(tensor)).all():
                raise ValueError(f"non-finite {name} at rollout step {self.step}: {tensor}")
        index = self.step
        self.obs[index].copy_(torch.as_tensor(obs).reshape(self.num_envs, self.obs_dim))
        self.actions[index].copy_(torch.as_tensor(actions).reshape(self.num_envs, self.action_dim))
        self.log_probs[index].copy_(torch.as_tensor(log_probs).reshape(self.num_envs))
        self.values[index].copy_(torch.as_tensor(values).reshape(self.num_envs))
        self.rewards[index].copy_(torch.as_tensor(rewards).reshape(self.num_envs))
        self.terminated[index].copy_(torch.as_tensor(terminated).reshape(self.num_envs))
        self.truncated[index].copy_(torch.as_tensor(truncated).reshape(self.num_envs))
        self.step += 1

    def clear(self) -> None:
        """Start a new rollout (the tensors are overwritten, not reallocated)."""
        self.step = 0

    def minibatches(
        self, num_minibatches: int, generator: torch.Generator | None = None
    ) -> Iterator[Minibatch]:
        """Yield `num_minibatches` shuffled minibatches covering the rollout once (one epoch)."""
        if not self.full:
            raise RuntimeError(f"rollout incomplete: {self.step}/{self.num_steps} steps stored")
        batch_size = self.num_steps * self.num_envs
        if num_minibatches > batch_size:
            raise ValueError(f"num_minibatches={num_minibatches} exceeds batch size {batch_size}")
        obs = self.obs.reshape(batch_size, self.obs_dim)
        actions = self.actions.reshape(batch_size, self.action_dim)
        flat = {
            name: getattr(self, name).reshape(batch_size)
            for name in ("log_probs", "anchor_log_probs", "values", "advantages", "returns")
        }
        # Drawn on the CPU (where `generator` lives): the same minibatches on every device.
        order = torch.randperm(batch_size, generator=generator).to(self.device)
        for indices in torch.tensor_split(order, num_minibatches):
            yield Minibatch(
                obs=obs[indices],
                actions=actions[indices],
                log_probs=flat["log_probs"][indices],
                anchor_log_probs=flat["anchor_log_probs"][indices],
                values=flat["values"][indices],
                advantages=flat["advantages"][indices],
                returns=flat["returns"][indices],
            )
