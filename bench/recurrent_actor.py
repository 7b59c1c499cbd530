"""PPO with a recurrent (GRU) actor on the default config: the comparison in docs/baseline.md.

An experiment, not a training backend: the package's policy is the feedforward `ActorCritic`.
Actor: normalized observation -> Linear+ELU (x) -> GRUCell(x, h) -> Linear+ELU on [x, h] ->
mean action (the skip from x lets it start as a feedforward actor); critic: the default's MLP.
Everything else is `crawler-rl train --backend local`'s: config, reward, PPO hyper-parameters
and their schedule, seeded sampling noise, the normalizer updated after each update, mirror
augmentation (the mirror image of each env's observations runs through the actor at collection
time, so its sequences start from their own hidden state). The update trains whole 32-step
sequences per env column from the hidden state stored at the rollout's start (backpropagation
through time; the state is zeroed where an episode starts), 4 minibatches of env columns.
The envs step in this process: about 15 min per 400k steps on one core.

    PYTHONPATH=. python bench/recurrent_actor.py train --seed 0 --run-dir runs/gru_0
    PYTHONPATH=. python bench/recurrent_actor.py eval --run-dir runs/gru_0 --episodes 4

`eval` writes the held-out table against IK and the PI (runs/gru_0/eval_ho; another --suite:
eval_<suite>), as `crawler-rl eval` does for a controller.onnx. Settings it does not reproduce
(privileged critic, a PI residual base, the adaptive schedule) are refused.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

from crawler_rl.rl.config import TrainConfig, load_train_config
from crawler_rl.rl.envs import ActionScaler, describe_env, make_env_factory
from crawler_rl.rl.policy import ObservationNormalizer, mlp
from crawler_rl.rl.ppo import (
    approx_kl_and_clipfrac,
    bootstrap_truncated,
    compute_gae,
    policy_loss,
    value_loss,
)
from crawler_rl.rl.symmetry import Mirror, configured_mirror
from crawler_rl.rl.trainer import env_reset_seed
from crawler_rl.sim.action import (
    ActionSpec,
    incremental_direct_wheel_speeds,
    incremental_wheel_speeds,
    wheel_speeds_from_action,
)
from crawler_rl.sim.vec_env import SyncVecEnv

MODEL_FILE = "gru.pt"


def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights, zero bias (the package policy's initialization)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class RecurrentActorCritic(nn.Module):
    """GRU actor (see the module docstring) and feedforward critic on raw observations."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 64, init_std: float = 0.2,
                 obs_clip: float = 10.0, critic_hidden: tuple[int, ...] = (64, 64),
                 activation: str = "elu") -> None:
        super().__init__()
        self.hidden = hidden
        self.obs_normalizer = ObservationNormalizer(obs_dim, clip=obs_clip)
        self.encoder = nn.Sequential(_orthogonal(nn.Linear(obs_dim, hidden), 2**0.5), nn.ELU())
        self.gru = nn.GRUCell(hidden, hidden)
        self.post = nn.Sequential(_orthogonal(nn.Linear(2 * hidden, hidden), 2**0.5), nn.ELU())
        self.actor_head = _orthogonal(nn.Linear(hidden, action_dim), 0.01)
        self.critic_trunk = mlp(obs_dim, critic_hidden, activation)
        for layer in self.critic_trunk:
            if isinstance(layer, nn.Linear):
                _orthogonal(layer, 2**0.5)
        self.critic_head = _orthogonal(nn.Linear(critic_hidden[-1], 1), 1.0)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def initial_state(self, batch: int) -> torch.Tensor:
        """Hidden state at an episode start. Shape: (batch, hidden)."""
        return torch.zeros(batch, self.hidden)

    def actor_step(self, normalized: torch.Tensor,
                   state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean action (B, A), next state (B, H)) for normalized observations (B, D)."""
        features = self.encoder(normalized)
        state = self.gru(features, state)
        return self.actor_head(self.post(torch.cat([features, state], -1))), state

    def actor_sequence(self, normalized: torch.Tensor, state: torch.Tensor,
                       starts: torch.Tensor) -> torch.Tensor:
        """Mean actions (T, B, A) of sequences (T, B, D) from `state` (B, H).

        starts (T, B) bool: an episode starts at step t, so the state is zeroed before it.
        """
        means = []
        for t in range(normalized.shape[0]):
            state = state * (~starts[t]).unsqueeze(-1).to(state.dtype)
            mean, state = self.actor_step(normalized[t], state)
            means.append(mean)
        return torch.stack(means)

    def value(self, normalized: torch.Tensor) -> torch.Tensor:
        """State value of normalized observations. Shape: (..., D) -> (...)."""
        return self.critic_head(self.critic_trunk(normalized)).squeeze(-1)


@dataclass
class Sequences:
    """One rollout: per-step tensors time-major (T, K, ...); the hidden states it started from
    (K, H), the values after it (K,) and the squared tracking errors per step (T, 2)."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    starts: torch.Tensor
    state: torch.Tensor
    mirror_state: torch.Tensor
    last_values: torch.Tensor
    squared_errors: np.ndarray


class RecurrentCollector:
    """Steps the envs with the recurrent actor; keeps every env's (and mirror's) hidden state."""

    def __init__(self, cfg: TrainConfig, policy: RecurrentActorCritic, envs: SyncVecEnv,
                 scale: ActionScaler, mirror: Mirror | None) -> None:
        self.cfg, self.policy, self.envs = cfg, policy, envs
        self.scale, self.mirror = scale, mirror
        self.obs = envs.reset(seed=env_reset_seed(cfg, 0))
        self.state = policy.initial_state(envs.num_envs)
        self.mirror_state = policy.initial_state(envs.num_envs)

    @torch.no_grad()
    def collect(self, noise: torch.Tensor) -> Sequences:
        """One rollout of noise.shape[0] steps with sampling noise (T, K, A)."""
        policy, envs, num_envs = self.policy, self.envs, self.envs.num_envs
        steps = noise.shape[0]
        state, mirror_state = self.state.clone(), self.mirror_state.clone()
        out: dict[str, Any] = {key: [] for key in ("obs", "actions", "log_probs", "values",
                                                    "rewards", "terminated", "truncated")}
        starts = torch.zeros(steps, num_envs, dtype=torch.bool)
        errors = []
        std = policy.log_std.exp()
        for t in range(steps):
            obs = torch.from_numpy(self.obs)
            normalized = policy.obs_normalizer(obs)
            if self.mirror is not None:  # the mirror image's state in the same call
                inputs = torch.cat([normalized, policy.obs_normalizer(self.mirror.obs(obs))])
                means, states = policy.actor_step(inputs, torch.cat([self.state,
                                                                     self.mirror_state]))
                mean, self.state, self.mirror_state = (means[:num_envs], states[:num_envs],
                                                       states[num_envs:])
            else:
                mean, self.state = policy.actor_step(normalized, self.state)
            actions = mean + std * noise[t]
            next_obs, rewards, terminated, truncated, infos = envs.step(
                self.scale(actions.numpy()))
            rewards_t = torch.from_numpy(np.asarray(rewards, np.float32))
            terminated_t, truncated_t = torch.from_numpy(terminated), torch.from_numpy(truncated)
            if truncated.any():
                final = torch.from_numpy(np.asarray(infos["final_obs"], np.float32))
                rewards_t = bootstrap_truncated(rewards_t, terminated_t, truncated_t,
                                                policy.value(policy.obs_normalizer(final)),
                                                self.cfg.ppo.gamma)
            for key, value in (("obs", obs), ("actions", actions),
                               ("log_probs", Normal(mean, std).log_prob(actions).sum(-1)),
                               ("values", policy.value(normalized)), ("rewards", rewards_t),
                               ("terminated", terminated_t), ("truncated", truncated_t)):
                out[key].append(value)
            done = terminated_t | truncated_t
            if t + 1 < steps:
                starts[t + 1] = done
            keep = (~done).unsqueeze(-1).float()
            self.state, self.mirror_state = self.state * keep, self.mirror_state * keep
            errors.append([np.mean(np.square(infos["tracking_error_v"])),
                           np.mean(np.square(infos["tracking_error_omega"]))])
            self.obs = next_obs
        last_values = policy.value(policy.obs_normalizer(torch.from_numpy(self.obs)))
        return Sequences(**{key: torch.stack(value) for key, value in out.items()},
                         starts=starts, state=state, mirror_state=mirror_state,
                         last_values=last_values, squared_errors=np.asarray(errors))


def ppo_update(policy: RecurrentActorCritic, optimizer: torch.optim.Optimizer,
               cfg: TrainConfig, rollout: Sequences, mirror: Mirror | None) -> dict[str, float]:
    """PPO epochs over env-column minibatches of whole sequences (as `rl/ppo.py` per row)."""
    ppo = cfg.ppo
    steps, num_envs, obs_dim = rollout.obs.shape
    action_dim = rollout.actions.shape[-1]
    advantages, returns = compute_gae(rollout.rewards, rollout.values, rollout.terminated,
                                      rollout.truncated, rollout.last_values, ppo.gamma,
                                      ppo.gae_lambda)
    normalized = policy.obs_normalizer(rollout.obs)
    if mirror is not None:
        mirrored = policy.obs_normalizer(
            mirror.obs(rollout.obs.reshape(-1, obs_dim)).reshape(steps, num_envs, obs_dim))
        mirrored_actions = mirror.actions(
            rollout.actions.reshape(-1, action_dim)).reshape(steps, num_envs, action_dim)
    with torch.no_grad():
        anchor = Normal(policy.actor_sequence(normalized, rollout.state, rollout.starts),
                        policy.log_std.exp()).log_prob(rollout.actions).sum(-1)
    per_minibatch = num_envs // ppo.num_minibatches
    kls: list[float] = []
    updates, stopped = 0, False
    for _epoch in range(ppo.num_epochs):
        order = torch.randperm(num_envs)
        for k in range(ppo.num_minibatches):
            cols = order[k * per_minibatch:(k + 1) * per_minibatch]
            width = len(cols)
            obs, state = normalized[:, cols], rollout.state[cols]
            actions, starts = rollout.actions[:, cols], rollout.starts[:, cols]
            per_row = [x[:, cols].reshape(-1) for x in (rollout.log_probs, advantages, returns,
                                                         rollout.values)]
            if mirror is not None:  # original and mirror image as one batch of sequences
                obs = torch.cat([obs, mirrored[:, cols]], 1)
                state = torch.cat([state, rollout.mirror_state[cols]])
                actions = torch.cat([actions, mirrored_actions[:, cols]], 1)
                starts = torch.cat([starts, starts], 1)
                per_row = [x.repeat(2) for x in per_row]
            old_log_probs, mb_advantages, mb_returns, old_values = per_row
            dist = Normal(policy.actor_sequence(obs, state, starts), policy.log_std.exp())
            per_step = dist.log_prob(actions).sum(-1)
            # rows ordered as `per_row`: the original (T x width), then its mirror image
            new_log_probs = torch.cat([per_step[:, :width].reshape(-1),
                                       per_step[:, width:].reshape(-1)])
            new_values = torch.cat([policy.value(obs[:, :width]).reshape(-1),
                                    policy.value(obs[:, width:]).reshape(-1)])
            rows = steps * width
            log_ratio = new_log_probs - old_log_probs
            approx_kl, _ = approx_kl_and_clipfrac(
                new_log_probs[:rows].detach() - anchor[:, cols].reshape(-1), ppo.clip_coef)
            kls.append(approx_kl)
            if ppo.target_kl is not None and approx_kl > ppo.target_kl:
                stopped = True
                break
            if ppo.normalize_advantages:
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (
                    mb_advantages.std() + 1e-8)
            loss = (policy_loss(mb_advantages, log_ratio, ppo.clip_coef)
                    - ppo.entropy_coef * dist.entropy().sum(-1).mean()
                    + ppo.value_coef * value_loss(new_values, old_values, mb_returns,
                                                  ppo.clip_coef, ppo.clip_value_loss))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite PPO loss {loss.item()}")
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), ppo.max_grad_norm)
            optimizer.step()
            updates += 1
        if stopped:
            break
    return {"approx_kl": float(np.mean(kls)), "updates": float(updates)}


def check_supported(cfg: TrainConfig, env_info: dict[str, Any]) -> None:
    """ValueError for the settings this experiment does not reproduce."""
    unsupported = {
        "env.privileged_critic: true": cfg.env.privileged_critic,
        "motor.residual_base: pi": env_info["residual_base_gains"] is not None,
        "ppo.lr_schedule: adaptive": cfg.ppo.lr_schedule == "adaptive",
        "model.shared_trunk: true": cfg.model.shared_trunk,
        "model.normalize_obs: false": not cfg.model.normalize_obs,
    }
    found = [name for name, present in unsupported.items() if present]
    if found:
        raise ValueError(f"bench/recurrent_actor.py does not support {', '.join(found)}")


def train(config: Path | None, seed: int, total_steps: int | None, run_dir: Path,
          hidden: int = 64, progress: bool = True) -> Path:
    """Train the recurrent actor; write <run_dir>/gru.pt and log.jsonl; return the model path.

    total_steps None: the config's run.total_steps.
    """
    cfg = load_train_config(config)
    cfg.run.seed = seed
    total_steps = cfg.run.total_steps if total_steps is None else total_steps
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)
    factory = make_env_factory(cfg.env)
    envs = SyncVecEnv([factory for _ in range(cfg.env.num_envs)])
    info = describe_env(envs.envs[0], cfg.env.env_id)
    check_supported(cfg, info)
    obs_dim, action_dim = envs.obs_dim, envs.action_dim
    mirror = configured_mirror(cfg.ppo.mirror_augmentation, info, obs_dim, action_dim)
    policy = RecurrentActorCritic(obs_dim, action_dim, hidden, cfg.model.init_std,
                                  cfg.model.obs_clip, tuple(cfg.model.critic_hidden),
                                  cfg.model.activation)
    # fused, as the package's PPO (rl/ppo.py)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.ppo.learning_rate, eps=1e-5,
                                 fused=True)
    collector = RecurrentCollector(cfg, policy, envs,
                                   ActionScaler(info["action_low"], info["action_high"]), mirror)
    batch = cfg.ppo.num_steps * envs.num_envs
    start = time.perf_counter()
    with (run_dir / "log.jsonl").open("w") as log:
        for iteration in range(math.ceil(total_steps / batch)):
            if cfg.ppo.lr_schedule == "linear":
                for group in optimizer.param_groups:
                    group["lr"] = cfg.ppo.learning_rate * max(
                        1.0 - iteration * batch / total_steps, 0.0)
            rollout = collector.collect(torch.randn(cfg.ppo.num_steps, envs.num_envs,
                                                    action_dim))
            stats = ppo_update(policy, optimizer, cfg, rollout, mirror)
            policy.obs_normalizer.update(rollout.obs.reshape(-1, obs_dim))
            rms = np.sqrt(rollout.squared_errors.mean(axis=0))
            row = {"step": (iteration + 1) * batch, "tracking_error_v": float(rms[0]),
                   "tracking_error_omega": float(rms[1]),
                   "action_std": float(policy.log_std.detach().exp().mean()),
                   "wall_s": time.perf_counter() - start, **stats}
            log.write(json.dumps(row) + "\n")
            if progress and iteration % 20 == 0:
                print(json.dumps(row), flush=True)
    envs.close()
    path = run_dir / MODEL_FILE
    torch.save({"model": policy.state_dict(), "hidden": hidden, "obs_dim": obs_dim,
                "action_dim": action_dim, "action_spec": info["action_spec"],
                "increment_limit": info.get("increment_limit"),
                "direct_limit": info.get("direct_limit"),
                "obs_clip": cfg.model.obs_clip, "critic_hidden": list(cfg.model.critic_hidden),
                "activation": cfg.model.activation}, path)
    return path


class RecurrentController:
    """A `WheelSpeedController` over a trained recurrent actor: mean action, state per episode."""

    def __init__(self, path: Path) -> None:
        saved = torch.load(path, weights_only=True)
        self.policy = RecurrentActorCritic(saved["obs_dim"], saved["action_dim"],
                                           saved["hidden"], obs_clip=saved["obs_clip"],
                                           critic_hidden=tuple(saved["critic_hidden"]),
                                           activation=saved["activation"])
        self.policy.load_state_dict(saved["model"])
        self.spec = ActionSpec(**saved["action_spec"])
        self.increment_limit = saved.get("increment_limit")  # None: the IK base
        self.direct_limit = saved.get("direct_limit")  # None: no set-anew corrections
        self.carried: np.ndarray | None = None
        """The command whose residual the next observation carries (`OnnxPolicy.carried`)."""
        self.reset()

    def reset(self) -> None:
        """Forget the hidden state (an episode starts)."""
        self.state = self.policy.initial_state(1)
        self.carried = None

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Wheel speed command [rad/s] for one observation (the residual base it trained on)."""
        raw = torch.from_numpy(np.asarray(obs, np.float32).reshape(1, -1))
        mean, self.state = self.policy.actor_step(self.policy.obs_normalizer(raw), self.state)
        action = mean.numpy()[0].astype(np.float64)
        if self.direct_limit is not None:
            self.carried, sent = incremental_direct_wheel_speeds(
                obs, action, self.increment_limit, self.direct_limit, self.spec)
            return sent
        if self.increment_limit is not None:
            return incremental_wheel_speeds(obs, action, self.increment_limit, self.spec)
        return wheel_speeds_from_action(np.asarray(obs[0:2], np.float64), action, self.spec)


def evaluate(run_dir: Path, episodes: int, suite: str) -> dict[str, Any]:
    """`crawler-rl eval --baseline ik,pi` with the recurrent controller as "policy"."""
    from crawler_rl.rl.evaluate import run_evaluation

    model = run_dir / MODEL_FILE
    out_dir = run_dir / ("eval_ho" if suite == "held-out" else f"eval_{suite}")
    return run_evaluation(model, "ik,pi", out_dir, episodes=episodes, suite=suite,
                          make_policy=lambda env: RecurrentController(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("train", "eval"))
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None, help="default: config/train.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-steps", type=int, default=None,
                        help="default: the config's run.total_steps")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--suite", default="held-out")
    args = parser.parse_args()
    if args.mode == "train":
        print(train(args.config, args.seed, args.total_steps, args.run_dir, args.hidden))
    else:
        evaluate(args.run_dir, args.episodes, args.suite)


if __name__ == "__main__":
    main()
