"""Mirror-symmetry data augmentation for PPO minibatches (rsl_rl's symmetry augmentation).

A robot that is left/right symmetric sees, for every transition (s, a), an equally likely
mirrored one (M_s s, M_a a) with the same advantage and return. Each minibatch is trained on
both halves. The mirrored half keeps the original's behaviour log-probability: its action was
drawn from the mirror image of the acting policy, so that is its behaviour probability.

An env declares its mirror as `mirror_spec` (see `MirrorSpec.as_dict`); `describe_env` copies
it into env_info, which checkpoints and the ROS learner carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from crawler_rl.rl.storage import Minibatch


@dataclass(frozen=True)
class MirrorSpec:
    """mirrored[i] = sign[i] * x[perm[i]], for observations and for actions."""

    obs_perm: tuple[int, ...]
    obs_sign: tuple[float, ...]
    action_perm: tuple[int, ...]
    action_sign: tuple[float, ...]

    def __post_init__(self) -> None:
        for kind in ("obs", "action"):
            perm, sign = getattr(self, f"{kind}_perm"), getattr(self, f"{kind}_sign")
            if sorted(perm) != list(range(len(perm))):
                raise ValueError(f"mirror {kind}_perm must be a permutation of "
                                 f"0..{len(perm) - 1}, got {list(perm)}")
            if len(sign) != len(perm) or any(value not in (-1.0, 1.0) for value in sign):
                raise ValueError(f"mirror {kind}_sign must be {len(perm)} entries of +1 or -1, "
                                 f"got {list(sign)}")
            # A mirror applied twice is the identity.
            if any(perm[perm[i]] != i or sign[i] * sign[perm[i]] != 1.0 for i in range(len(perm))):
                raise ValueError(f"mirror {kind} map is not an involution (applied twice it must "
                                 f"give the identity): perm {list(perm)}, sign {list(sign)}")

    @classmethod
    def from_dict(cls, data: dict[str, Sequence[float]]) -> MirrorSpec:
        """Build from env_info["mirror"] (lists of ints / floats)."""
        return cls(tuple(int(i) for i in data["obs_perm"]),
                   tuple(float(s) for s in data["obs_sign"]),
                   tuple(int(i) for i in data["action_perm"]),
                   tuple(float(s) for s in data["action_sign"]))

    def as_dict(self) -> dict[str, list[float]]:
        """JSON-serializable form (env_info["mirror"])."""
        return {"obs_perm": list(self.obs_perm), "obs_sign": list(self.obs_sign),
                "action_perm": list(self.action_perm), "action_sign": list(self.action_sign)}


class Mirror:
    """Apply a `MirrorSpec` to batches of tensors on one device."""

    def __init__(self, spec: MirrorSpec, obs_dim: int, action_dim: int,
                 device: torch.device | str = "cpu") -> None:
        if (len(spec.obs_perm), len(spec.action_perm)) != (obs_dim, action_dim):
            raise ValueError(f"mirror is for obs/action dims "
                             f"{(len(spec.obs_perm), len(spec.action_perm))}, "
                             f"the env has {(obs_dim, action_dim)}")
        self.spec = spec
        self._obs_perm = torch.tensor(spec.obs_perm, device=device)
        self._obs_sign = torch.tensor(spec.obs_sign, device=device)
        self._action_perm = torch.tensor(spec.action_perm, device=device)
        self._action_sign = torch.tensor(spec.action_sign, device=device)

    def obs(self, obs: torch.Tensor) -> torch.Tensor:
        """Return mirrored observations. Shape: (batch, obs_dim)."""
        return obs[:, self._obs_perm] * self._obs_sign

    def actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Return mirrored actions. Shape: (batch, action_dim)."""
        return actions[:, self._action_perm] * self._action_sign

    def augment(self, batch: Minibatch) -> Minibatch:
        """Return the minibatch followed by its mirror image (twice the rows)."""
        return Minibatch(
            obs=torch.cat([batch.obs, self.obs(batch.obs)]),
            actions=torch.cat([batch.actions, self.actions(batch.actions)]),
            log_probs=batch.log_probs.repeat(2),
            anchor_log_probs=batch.anchor_log_probs.repeat(2),
            values=batch.values.repeat(2),
            advantages=batch.advantages.repeat(2),
            returns=batch.returns.repeat(2),
        )


def configured_mirror(setting: bool | str, env_info: dict[str, Any], obs_dim: int,
                      action_dim: int, device: torch.device | str = "cpu") -> Mirror | None:
    """Return the mirror that `ppo.mirror_augmentation` (`setting`) asks for, or None.

    "auto": the env's mirror if it declares one; true: the env's mirror, ValueError if it
    declares none; false: None.
    """
    data = env_info.get("mirror")
    if setting is False or (setting == "auto" and not data):
        return None
    if not data:
        raise ValueError(f"config key 'ppo.mirror_augmentation' is true but env "
                         f"{env_info.get('env_id')!r} declares no mirror_spec: set it to "
                         "auto or false")
    return Mirror(MirrorSpec.from_dict(data), obs_dim, action_dim, device)
