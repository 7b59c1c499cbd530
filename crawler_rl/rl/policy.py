"""Gaussian actor-critic MLP with a running observation normalizer (rsl_rl-style modules)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal

from crawler_rl.rl.config import ModelConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {"elu": nn.ELU, "tanh": nn.Tanh}


class ObservationNormalizer(nn.Module):
    """Running mean/variance of observations; `forward` only reads, `update` only writes.

    Updated from rollout observations only (never from minibatches or exported graphs), so the
    learner, the inference node and the exported ONNX model normalize identically.
    """

    def __init__(self, obs_dim: int, clip: float = 10.0, epsilon: float = 1e-4) -> None:
        super().__init__()
        self.clip = clip
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("var", torch.ones(obs_dim))
        self.register_buffer("count", torch.tensor(0.0, dtype=torch.float64))

    @torch.no_grad()
    def update(self, obs_batch: torch.Tensor) -> None:
        """Merge a batch into the running statistics (Chan et al.). Shape: (batch, obs_dim)."""
        batch = obs_batch.detach().reshape(-1, self.mean.shape[0]).to(torch.float64)
        if batch.shape[0] == 0:
            return
        if not torch.isfinite(batch).all():
            raise ValueError("non-finite observation in the normalizer update")
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        batch_count = float(batch.shape[0])
        count = float(self.count)
        total = count + batch_count
        mean = self.mean.to(torch.float64)
        delta = batch_mean - mean
        new_mean = mean + delta * batch_count / total
        m2 = self.var.to(torch.float64) * count + batch_var * batch_count
        m2 = m2 + delta.square() * count * batch_count / total
        self.mean.copy_(new_mean.to(self.mean.dtype))
        self.var.copy_((m2 / total).to(self.var.dtype))
        self.count.fill_(total)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Return clip((obs - mean) / sqrt(var + eps)). Shape: (batch, d), d <= obs_dim.

        d < obs_dim normalizes the leading d entries (an actor that reads only those).
        """
        width = obs.shape[-1]
        scaled = (obs - self.mean[:width]) / torch.sqrt(self.var[:width] + self.epsilon)
        return torch.clamp(scaled, -self.clip, self.clip)


def mlp(in_dim: int, hidden: tuple[int, ...], activation: str) -> nn.Sequential:
    """Hidden layers only (Linear + activation each); the heads are added by the caller."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(in_dim, size), ACTIVATIONS[activation]()]
        in_dim = size
    return nn.Sequential(*layers)


def _init_linear(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCritic(nn.Module):
    """Gaussian policy with state-independent log-std, and a value function.

    Inputs are raw observations (Shape: (batch, obs_dim)); normalization happens inside.
    Actions are in the policy's normalized space (nominally [-1, 1]). `actor_obs_dim` < obs_dim
    makes an asymmetric actor-critic: the actor reads only the leading actor_obs_dim entries
    (what the robot senses), the critic all of them (`env.privileged_critic`).
    """

    def __init__(self, obs_dim: int, action_dim: int, cfg: ModelConfig,
                 actor_obs_dim: int | None = None) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.actor_obs_dim = obs_dim if actor_obs_dim is None else int(actor_obs_dim)
        if not 1 <= self.actor_obs_dim <= obs_dim:
            raise ValueError(f"actor_obs_dim must be in [1, {obs_dim}], got {actor_obs_dim}")
        self.action_dim = action_dim
        self.cfg = cfg
        self.obs_normalizer = ObservationNormalizer(obs_dim, clip=cfg.obs_clip)
        self.actor_trunk = mlp(self.actor_obs_dim, cfg.actor_hidden, cfg.activation)
        actor_out = cfg.actor_hidden[-1]
        if cfg.shared_trunk:
            if self.actor_obs_dim != obs_dim:
                raise ValueError("model.shared_trunk needs the actor and the critic to read the "
                                 "same observation (not the crawler's, whose critic also reads "
                                 "the action base's state, or env.privileged_critic)")
            self.critic_trunk: nn.Module = self.actor_trunk
            critic_out = actor_out
        else:
            self.critic_trunk = mlp(obs_dim, cfg.critic_hidden, cfg.activation)
            critic_out = cfg.critic_hidden[-1]
        for trunk in (self.actor_trunk, self.critic_trunk):
            for layer in trunk:
                if isinstance(layer, nn.Linear):
                    _init_linear(layer, 2**0.5)
        # Small actor output: the policy starts near action 0 (pure IK on the crawler).
        self.actor_head = _init_linear(nn.Linear(actor_out, action_dim), 0.01)
        self.critic_head = _init_linear(nn.Linear(critic_out, 1), 1.0)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(cfg.init_std)))

    def std_ceiling(self, progress: float) -> float | None:
        """Return the `final_std` schedule's ceiling on the action std at progress in [0, 1]."""
        if self.cfg.final_std is None:
            return None
        ratio = self.cfg.final_std / self.cfg.init_std
        return self.cfg.init_std * ratio ** min(max(progress, 0.0), 1.0)

    def cap_std(self, progress: float) -> None:
        """Hold the learned action std under `std_ceiling(progress)` (no-op without one)."""
        ceiling = self.std_ceiling(progress)
        if ceiling is not None:
            with torch.no_grad():
                self.log_std.clamp_(max=math.log(ceiling))

    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return self.obs_normalizer(obs) if self.cfg.normalize_obs else obs

    @classmethod
    def for_env(cls, env_info: dict, obs_dim: int, action_dim: int,
                cfg: ModelConfig) -> ActorCritic:
        """Build the policy for an env described by `crawler_rl.rl.envs.describe_env`."""
        return cls(obs_dim, action_dim, cfg, env_info.get("actor_obs_dim"))

    def action_mean(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean action. Shape: (batch, obs_dim or actor_obs_dim) -> (batch, action_dim)."""
        return self.actor_head(self.actor_trunk(self._normalize(obs[..., :self.actor_obs_dim])))

    def distribution(self, obs: torch.Tensor) -> Normal:
        """Return the action distribution for raw observations."""
        return self._distribution(self._normalize(obs))

    def _distribution(self, normalized: torch.Tensor) -> Normal:
        actor_in = normalized[..., :self.actor_obs_dim]
        return self._gaussian(self.actor_head(self.actor_trunk(actor_in)))

    def _gaussian(self, mean: torch.Tensor) -> Normal:
        # No argument validation (it was ~40% of a PPO update): observations are checked for
        # NaN before they get here, and a non-finite loss stops the update before it can make
        # the parameters non-finite.
        return Normal(mean, self.log_std.exp().expand_as(mean), validate_args=False)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State value. Shape: (batch, obs_dim) -> (batch,)."""
        return self._value(self._normalize(obs))

    def _value(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self.critic_trunk(normalized)).squeeze(-1)

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions for a rollout: (actions (B, A), log_probs (B,), values (B,)).

        noise: standard-normal draws (B, A) to use (actions = mean + std * noise), so a
        caller can fix the sampling noise; None samples with torch's default generator of the
        policy's device.
        """
        normalized = self._normalize(obs)  # once for actor and critic (same numbers)
        dist = self._distribution(normalized)
        actions = dist.sample() if noise is None else dist.loc + dist.scale * noise
        return actions, dist.log_prob(actions).sum(-1), self._value(normalized)

    @torch.no_grad()
    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean action (evaluation/deployment). Shape: (batch, action_dim)."""
        return self.action_mean(obs)

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Differentiable (log_probs (B,), entropy (B,), values (B,)) of stored actions."""
        normalized = self._normalize(obs)
        dist = self._distribution(normalized)
        return dist.log_prob(actions).sum(-1), dist.entropy().sum(-1), self._value(normalized)

    def evaluate_with_probe(
        self, obs: torch.Tensor, actions: torch.Tensor, probe_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`evaluate`, plus the mean actions on `obs` (B, A) and on `probe_obs` (P, A).

        One actor pass over both batches (an update's probe term, e.g. `PPO.yaw_leak_loss`,
        costs no forward of its own); the critic sees `obs` only.
        """
        rows = obs.shape[0]
        normalized = self._normalize(torch.cat([obs, probe_obs]))
        means = self.actor_head(self.actor_trunk(normalized[..., :self.actor_obs_dim]))
        dist = self._gaussian(means[:rows])
        return (dist.log_prob(actions).sum(-1), dist.entropy().sum(-1),
                self._value(normalized[:rows]), means[:rows], means[rows:])
