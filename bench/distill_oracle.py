"""Distil the lookahead oracle into the package's actor network (DAgger): the experiment in
docs/baseline.md.

Teacher: `crawler_rl.control.oracle.LookaheadOracle` (true state and physics, no noise; PI warm
start). Student: the package's `ActorCritic` actor, reading only the observation, so the result
exports to a controller.onnx like any trained model. Round 0: the oracle drives; round k > 0:
the student drives; in every round the executed action gets N(0, --noise) added, and each
visited state is labelled with the oracle's action there (its wheel speeds as the action of the
env's residual base: IK, or the incremental base's step, clipped to [-1, 1]).
After each round the actor is fitted to all labels so far (mean squared error, mirror-augmented,
the normalizer set from the data). Episodes are drawn from the training distribution only.

Then (--critic-episodes > 0) the critic is fitted to the discounted returns of the student's own
PPO policy (sampled actions, the config's gamma), so that `crawler-rl train --resume` continues
with PPO from a value function that already knows the policy instead of an untrained one. The
checkpoint's counters say how many env steps the labels took (global_step) and the PPO iteration
that many steps make, so the resumed learning-rate schedule and iteration count agree.

    PYTHONPATH=. python bench/distill_oracle.py --run-dir runs/distill_0 --seed 0
    crawler-rl eval --policy runs/distill_0/controller.onnx --baseline ik,pi --episodes 4
    crawler-rl train --backend local --run-dir runs/distill_0 --resume --total-steps 600000 \
        --seed 0

The default (3 rounds of 2 x 80 episodes, 192k labels, the oracle trying 5 commands per step,
then 2 x 40 critic episodes) takes ~5.4 min on 2 idle cores (~15 min on a loaded machine).
`--resume` trains with its own --seed and --config: give the ones the distillation used.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crawler_rl.control.episode import action_for_wheel_speeds
from crawler_rl.control.oracle import ERROR_SCALE, LookaheadOracle, error_scale_argument
from crawler_rl.control.pi import PIController, load_gains
from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.envs import make_env_factory, probe_env
from crawler_rl.rl.learner import Learner, seed_everything
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.symmetry import Mirror, configured_mirror
from crawler_rl.sim.action import incremental_action_for_wheel_speeds, incremental_wheel_speeds

BATCH = 512
LEARNING_RATE = 1e-3
RETURN_TAIL = 0.01
"""A time-limited episode's return is a critic target where the discount left at the cut is
below this (gamma^k < 0.01: the last ~150 steps at gamma 0.97 are left out)."""


@dataclass(frozen=True)
class Job:
    """One worker's share of a round."""

    seed: int
    """The round's seed (run seed x 10 + round)."""
    worker: int
    episodes: int
    student: dict[str, torch.Tensor] | None
    """The student's weights (None: the oracle drives)."""
    noise: float
    config: Path | None = None
    """train.yaml (None: the packaged one): env, model and gamma."""
    teacher_scale: tuple[float, float] = ERROR_SCALE
    """The oracle's (v, omega) error scales."""


def label_for(env: Any, obs: np.ndarray, wheel_speeds: np.ndarray) -> np.ndarray:
    """The env's action that commands `wheel_speeds` (the IK or the incremental base)."""
    spec = env.sim.action_spec
    if env.residual_base_gains is not None:
        raise ValueError("bench/distill_oracle.py labels for the ik or incremental residual "
                         "base, not motor.residual_base: pi")
    if env.increment_limit is not None:
        action = incremental_action_for_wheel_speeds(obs, wheel_speeds, env.increment_limit, spec)
        if env.direct_limit is None:
            return action
        # what the increment cannot reach goes to the set-anew corrections (motor.direct_limit)
        carried = incremental_wheel_speeds(obs, action, env.increment_limit, spec)
        direct = np.clip((wheel_speeds - carried) / env.direct_limit, -1.0, 1.0)
        return np.concatenate([action, direct])
    return action_for_wheel_speeds(obs[0:2], wheel_speeds, spec)


def label_episodes(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """Drive job.episodes training episodes; return (observations, oracle actions), float32."""
    torch.set_num_threads(1)
    cfg = load_train_config(job.config)
    env = make_env_factory(cfg.env)()
    sim = env.unwrapped.sim
    spec = sim.action_spec
    oracle = LookaheadOracle(env.unwrapped, PIController(load_gains(), spec, sim.control_dt),
                             job.teacher_scale)
    student = None
    if job.student is not None:
        info, obs_dim, action_dim = probe_env(cfg.env)
        student = ActorCritic.for_env(info, obs_dim, action_dim, cfg.model)
        student.load_state_dict(job.student)
    rng = np.random.default_rng(job.seed * 1000 + job.worker)
    observations, labels = [], []
    for episode in range(job.episodes):
        obs, _ = env.reset(seed=job.seed * 100_000 + job.worker * 10_000 + episode)
        oracle.reset()
        done = False
        while not done:
            label = label_for(env.unwrapped, obs, oracle(obs))
            observations.append(np.asarray(obs, np.float32))
            labels.append(label.astype(np.float32))
            action = label
            if student is not None:
                with torch.no_grad():
                    action = student.act_deterministic(
                        torch.from_numpy(np.asarray(obs, np.float32)[None]))[0].numpy()
            action = np.clip(action + rng.normal(0.0, job.noise, action.shape), -1.0, 1.0)
            obs, _, terminated, truncated, _ = env.step(action.astype(np.float32))
            done = terminated or truncated
    env.close()
    return np.stack(observations), np.stack(labels)


def discounted_returns(rewards: Sequence[float], gamma: float, terminated: bool,
                       tail: int) -> np.ndarray:
    """Discounted return of each step of one episode whose return the episode determines: every
    step of a terminated episode, all but the last `tail` of one cut by the time limit."""
    returns = np.zeros(len(rewards))
    running = 0.0
    for step in reversed(range(len(rewards))):
        running = rewards[step] + gamma * running
        returns[step] = running
    return returns if terminated else returns[:max(0, len(rewards) - tail)]


def student_returns(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """Drive job.episodes with the student's sampled actions; return (observations, discounted
    returns) of the states whose return the episode determines (`discounted_returns`), float32.
    """
    if job.student is None:
        raise ValueError("student_returns needs the student's weights")
    torch.set_num_threads(1)
    torch.manual_seed(job.seed * 1000 + job.worker)
    cfg = load_train_config(job.config)
    gamma = cfg.ppo.gamma
    tail = math.ceil(math.log(RETURN_TAIL) / math.log(gamma))
    env = make_env_factory(cfg.env)()
    info, obs_dim, action_dim = probe_env(cfg.env)
    student = ActorCritic.for_env(info, obs_dim, action_dim, cfg.model)
    student.load_state_dict(job.student)
    observations, returns = [], []
    for episode in range(job.episodes):
        obs, _ = env.reset(seed=job.seed * 100_000 + job.worker * 10_000 + episode)
        episode_obs, rewards, done, terminated = [], [], False, False
        while not done:
            episode_obs.append(np.asarray(obs, np.float32))
            action, _, _ = student.act(torch.from_numpy(episode_obs[-1][None]))
            obs, reward, terminated, truncated, _ = env.step(
                np.clip(action[0].numpy(), -1.0, 1.0).astype(np.float32))
            rewards.append(float(reward))
            done = terminated or truncated
        kept = discounted_returns(rewards, gamma, terminated, tail)
        observations.extend(episode_obs[:len(kept)])
        returns.extend(kept)
    env.close()
    if not returns:
        raise ValueError(f"no critic targets: every episode ended by its time limit within "
                         f"{tail} steps (the discount's reach at gamma {gamma}); use longer "
                         f"episodes or --critic-episodes 0")
    return np.stack(observations), np.asarray(returns, np.float32)


def minibatch_descent(parameters: list[torch.nn.Parameter],
                      loss: Callable[[torch.Tensor], torch.Tensor], rows: int,
                      epochs: int) -> None:
    """Adam on `loss(row indices)` over shuffled minibatches of BATCH rows (at least one per
    epoch), the learning rate decaying linearly from LEARNING_RATE to ~0."""
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    steps_per_epoch = max(1, rows // BATCH)
    total = epochs * steps_per_epoch
    for step in range(total):
        if step % steps_per_epoch == 0:
            order = torch.randperm(rows)
        batch = order[(step % steps_per_epoch) * BATCH:(step % steps_per_epoch + 1) * BATCH]
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * (1.0 - step / total) + 1e-5
        value = loss(batch)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()


def fit_critic(policy: ActorCritic, mirror: Mirror | None, observations: np.ndarray,
               returns: np.ndarray, epochs: int, seed: int) -> float:
    """Fit the critic to the returns (the actor's normalizer); return the fraction of the
    returns' variance it explains (1 where they do not vary and it hits them)."""
    torch.manual_seed(seed)
    x, y = torch.from_numpy(observations), torch.from_numpy(returns)
    if mirror is not None:  # the value of a state is its mirror image's
        x, y = torch.cat([x, mirror.obs(x)]), torch.cat([y, y])
    minibatch_descent([*policy.critic_trunk.parameters(), *policy.critic_head.parameters()],
                      lambda rows: (policy.value(x[rows]) - y[rows]).square().mean(),
                      x.shape[0], epochs)
    with torch.no_grad():
        residual = float((policy.value(x) - y).var())
    return 1.0 - residual / max(float(y.var()), 1e-12)


def fit_actor(policy: ActorCritic, mirror: Mirror | None, observations: np.ndarray,
              labels: np.ndarray, epochs: int, seed: int) -> float:
    """Fit the actor's mean to the labels (the normalizer set from them); return the MSE."""
    torch.manual_seed(seed)
    x, y = torch.from_numpy(observations), torch.from_numpy(labels)
    if mirror is not None:
        x, y = torch.cat([x, mirror.obs(x)]), torch.cat([y, mirror.actions(y)])
    normalizer = policy.obs_normalizer
    normalizer.mean.zero_()
    normalizer.var.fill_(1.0)
    normalizer.count.zero_()
    normalizer.update(x)
    minibatch_descent([*policy.actor_trunk.parameters(), *policy.actor_head.parameters()],
                      lambda rows: (policy.action_mean(x[rows]) - y[rows]).square().mean(),
                      x.shape[0], epochs)
    with torch.no_grad():
        return float((policy.action_mean(x) - y).square().mean())


def distill(run_dir: Path, seed: int, rounds: int, episodes: int, workers: int, noise: float,
            epochs: int, critic_episodes: int = 40, config: Path | None = None,
            teacher_scale: tuple[float, float] = ERROR_SCALE) -> dict[str, Any]:
    """DAgger rounds, then a checkpoint and <run_dir>/controller.onnx; return a summary."""
    if min(rounds, episodes, workers, epochs) < 1:
        raise ValueError(f"rounds, episodes, workers and epochs must be >= 1, got "
                         f"{(rounds, episodes, workers, epochs)}")
    torch.set_num_threads(1)
    seed_everything(seed)  # the student's initial weights: the same seed, the same model
    cfg = load_train_config(config)
    cfg.run.seed = seed
    info, obs_dim, action_dim = probe_env(cfg.env)
    run_dir.mkdir(parents=True, exist_ok=True)
    learner = Learner(cfg, obs_dim, action_dim, info, run_dir, torch.device("cpu"))
    mirror = configured_mirror(cfg.ppo.mirror_augmentation, info, obs_dim, action_dim)
    observations: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    start = time.perf_counter()
    context = mp.get_context("fork")
    for round_index in range(rounds):
        student = None if round_index == 0 else {
            key: value.clone() for key, value in learner.policy.state_dict().items()}
        jobs = [Job(seed * 10 + round_index, worker, episodes, student, noise, config,
                    teacher_scale)
                for worker in range(workers)]
        with context.Pool(workers) as pool:
            for x, y in pool.map(label_episodes, jobs):
                observations.append(x)
                labels.append(y)
        mse = fit_actor(learner.policy, mirror, np.concatenate(observations),
                        np.concatenate(labels), epochs, seed)
        print(f"round {round_index}: {sum(len(x) for x in observations)} labels, fit MSE "
              f"{mse:.5f}, {time.perf_counter() - start:.0f} s", flush=True)
    explained = None
    if critic_episodes > 0:
        student = {key: value.clone() for key, value in learner.policy.state_dict().items()}
        jobs = [Job(seed * 10 + rounds, worker, critic_episodes, student, 0.0, config)
                for worker in range(workers)]
        with context.Pool(workers) as pool:
            pairs = pool.map(student_returns, jobs)
        explained = fit_critic(learner.policy, mirror, np.concatenate([x for x, _ in pairs]),
                               np.concatenate([y for _, y in pairs]), epochs, seed)
        print(f"critic: {sum(len(y) for _, y in pairs)} returns, explained variance "
              f"{explained:.3f}, {time.perf_counter() - start:.0f} s", flush=True)
    learner.global_step = sum(len(x) for x in observations)
    # whole PPO iterations, so a resumed run trains until at least run.total_steps, as a fresh one
    learner.iteration = learner.global_step // (cfg.ppo.num_steps * cfg.env.num_envs)
    onnx = learner.export(learner.save())
    learner.close()
    return {"labels": learner.global_step, "fit_mse": mse, "critic_explained": explained,
            "label_variance": float(np.concatenate(labels).var()), "onnx": str(onnx),
            "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=80, help="per worker and round")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.05, help="action noise std")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--critic-episodes", type=int, default=40,
                        help="per worker: student episodes whose returns fit the critic (0: none)")
    parser.add_argument("--config", type=Path, default=None,
                        help="train.yaml (default: the packaged one): env, model, gamma")
    parser.add_argument("--teacher-scale", type=error_scale_argument, default=ERROR_SCALE,
                        metavar="V,OMEGA",
                        help="the oracle's error scales (default "
                             f"{ERROR_SCALE[0]},{ERROR_SCALE[1]})")
    args = parser.parse_args()
    for name in ("rounds", "episodes", "workers", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    print(distill(args.run_dir, args.seed, args.rounds, args.episodes, args.workers, args.noise,
                  args.epochs, args.critic_episodes, args.config, args.teacher_scale))


if __name__ == "__main__":
    main()
