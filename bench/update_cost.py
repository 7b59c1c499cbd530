"""CPU cost of one PPO update on the default config, as JSON lines.

The local trainer's ceiling is CPU per env step (docs/speed.md): the simulator's and the
update's share of it. This times `PPO.update` alone (default `config/train.yaml`: 16 envs x 32
steps, 5 epochs x 4 minibatches, mirror augmentation, the yaw leak penalty's probe, the
default networks, fused Adam, one torch thread), every minibatch run (no KL early stop), on a
rollout of random observations acted by the policy itself. Forms, in alternating rounds so
machine noise hits both alike:
- `one_pass`: the update as it is: the probe's shifted rows ride in the minibatch's actor
  pass (`ActorCritic.evaluate_with_probe`);
- `separate_passes`: the update before: `evaluate`, then two more actor passes for the probe
  (`PPO.yaw_leak_loss`'s own form; the same loss to float rounding).
One line per round and form, then a summary with the medians and one_pass / separate_passes.

    PYTHONPATH=. python bench/update_cost.py [--rounds 5] [--updates 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable

import torch

from crawler_rl.rl.config import load_train_config
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.ppo import PPO
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.rl.symmetry import Mirror, MirrorSpec
from crawler_rl.sim.observation import ACTOR_OBS_DIM, OBS_DIM, mirror_spec, yaw_residual_probe

ACTION_DIM = 2
FORMS = ("one_pass", "separate_passes")


def separate_passes(policy: ActorCritic) -> Callable[..., tuple[torch.Tensor, ...]]:
    """`evaluate_with_probe` as the update computed it before: three actor passes."""
    def evaluate_with_probe(obs: torch.Tensor, actions: torch.Tensor,
                            probe_obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        log_probs, entropy, values = policy.evaluate(obs, actions)
        rows = probe_obs.shape[0]
        return (log_probs, entropy, values, policy.action_mean(obs[:rows]),
                policy.action_mean(probe_obs))
    return evaluate_with_probe


def filled_storage(policy: ActorCritic, num_steps: int, num_envs: int,
                   generator: torch.Generator) -> RolloutStorage:
    """A rollout of random observations acted by `policy` (rewards random, no episode end)."""
    storage = RolloutStorage(num_steps, num_envs, OBS_DIM, ACTION_DIM)
    never = torch.zeros(num_envs, dtype=torch.bool)
    for _ in range(num_steps):
        obs = torch.randn(num_envs, OBS_DIM, generator=generator)
        policy.obs_normalizer.update(obs)
        actions, log_probs, values = policy.act(obs)
        storage.add(obs, actions, log_probs, values,
                    torch.randn(num_envs, generator=generator), never, never)
    return storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=10, help="timed updates per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_train_config()
    ppo_cfg = dataclasses.replace(cfg.ppo, target_kl=None, lr_schedule="constant")
    num_steps, num_envs = cfg.ppo.num_steps, cfg.env.num_envs
    minibatch_steps = ppo_cfg.num_epochs * ppo_cfg.num_minibatches
    torch.manual_seed(0)
    policy = ActorCritic(OBS_DIM, ACTION_DIM, cfg.model, ACTOR_OBS_DIM)
    ppo = PPO(policy, ppo_cfg, Mirror(MirrorSpec.from_dict(mirror_spec()), OBS_DIM, ACTION_DIM),
              yaw_residual_probe())
    one_pass = policy.evaluate_with_probe
    generator = torch.Generator().manual_seed(0)
    storages = [filled_storage(policy, num_steps, num_envs, generator) for _ in range(2)]
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    for round_index in range(args.rounds):
        for form in FORMS:
            policy.evaluate_with_probe = (  # type: ignore[method-assign]
                one_pass if form == "one_pass" else separate_passes(policy))
            ppo.update(storages[0], torch.zeros(num_envs), generator)  # warm-up
            start = time.process_time()
            for update in range(args.updates):
                ppo.update(storages[update % 2], torch.zeros(num_envs), generator)
            per_update = (time.process_time() - start) / args.updates
            times[form].append(per_update)
            print(json.dumps({
                "round": round_index, "form": form,
                "cpu_ms_per_update": round(per_update * 1e3, 2),
                "cpu_ms_per_minibatch_step": round(per_update / minibatch_steps * 1e3, 3),
                "cpu_ms_per_env_step": round(per_update / (num_steps * num_envs) * 1e3, 4),
            }), flush=True)
    medians = {form: statistics.median(values) for form, values in times.items()}
    print(json.dumps({
        "summary": True, "rounds": args.rounds, "updates_per_round": args.updates,
        "transitions_per_update": num_steps * num_envs, "minibatch_steps": minibatch_steps,
        **{f"{form}_cpu_ms_per_update": round(value * 1e3, 2) for form, value in medians.items()},
        "one_pass_over_separate_passes": round(medians["one_pass"]
                                               / medians["separate_passes"], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
