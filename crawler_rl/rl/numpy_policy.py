"""`ActorCritic.act` and `.value` in numpy, for the rollout loop.

A rollout step runs the policy on a few rows (a worker's 8 envs). At that size torch spends
its time in per-operator dispatch, not arithmetic: numpy does the same float32 arithmetic in
about a third of the time (`bench/local_profile.py` shows the rollout workers' policy share).
The weights are copied from the torch policy once per rollout; the numbers agree with
`ActorCritic.act` to float32 rounding (test/rl/test_numpy_policy.py), and every rollout, in
the trainer's process or in a worker, is acted by this one implementation.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from crawler_rl.rl.policy import ActorCritic

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
Layers = list[tuple[np.ndarray, np.ndarray]]


def _linear_layers(module: nn.Module) -> Layers:
    """(weight transposed, bias) of each nn.Linear in `module`, in order, as float32 arrays."""
    modules = module if isinstance(module, nn.Sequential) else [module]
    return [(layer.weight.detach().cpu().numpy().T.astype(np.float32),
             layer.bias.detach().cpu().numpy().astype(np.float32))
            for layer in modules if isinstance(layer, nn.Linear)]


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))


ACTIVATIONS = {"elu": _elu, "tanh": np.tanh}


class NumpyActorCritic:
    """A frozen numpy copy of an `ActorCritic` for acting: same inputs, same outputs."""

    def __init__(self, policy: ActorCritic) -> None:
        cfg = policy.cfg
        self.actor_obs_dim = policy.actor_obs_dim
        self._activation = ACTIVATIONS[cfg.activation]
        self._normalize_obs = cfg.normalize_obs
        normalizer = policy.obs_normalizer
        self._mean = normalizer.mean.detach().cpu().numpy().astype(np.float32)
        self._inv_std = (1.0 / np.sqrt(normalizer.var.detach().cpu().numpy()
                                       + normalizer.epsilon)).astype(np.float32)
        self._clip = float(normalizer.clip)
        self._actor = _linear_layers(policy.actor_trunk)
        self._critic = _linear_layers(policy.critic_trunk)
        self._actor_head = _linear_layers(policy.actor_head)[0]
        self._critic_head = _linear_layers(policy.critic_head)[0]
        self._log_std = policy.log_std.detach().cpu().numpy().astype(np.float32)
        self._std = np.exp(self._log_std)

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        if not self._normalize_obs:
            return obs.astype(np.float32, copy=False)
        scaled = (obs - self._mean[:obs.shape[-1]]) * self._inv_std[:obs.shape[-1]]
        return np.clip(scaled, -self._clip, self._clip)

    def _forward(self, x: np.ndarray, trunk: Layers, head: tuple[np.ndarray, np.ndarray]
                 ) -> np.ndarray:
        for weight, bias in trunk:
            x = self._activation(x @ weight + bias)
        return x @ head[0] + head[1]

    def act(self, obs: np.ndarray, noise: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(actions (B, A), log_probs (B,), values (B,)), actions = mean + std * noise.

        obs: raw observations (B, obs_dim) float32; noise: standard-normal draws (B, A).
        """
        normalized = self._normalize(obs)
        mean = self._forward(normalized[:, :self.actor_obs_dim], self._actor, self._actor_head)
        actions = mean + self._std * noise
        # log N(mean + std * z; mean, std) = -z^2 / 2 - log std - log sqrt(2 pi), per dimension.
        log_probs = (-0.5 * np.square(noise) - self._log_std - _HALF_LOG_2PI).sum(-1)
        return (actions.astype(np.float32), log_probs.astype(np.float32),
                self._forward(normalized, self._critic, self._critic_head)[:, 0])

    def value(self, obs: np.ndarray) -> np.ndarray:
        """State values (B,) of raw observations (B, obs_dim)."""
        return self._forward(self._normalize(obs), self._critic, self._critic_head)[:, 0]
