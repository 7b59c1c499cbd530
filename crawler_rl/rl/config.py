"""Training settings: one typed dataclass per concern, loaded from `config/train.yaml`.

Every field has a default and a docstring. Unknown keys and bad values raise ValueError naming
the dotted key, so a typo in the YAML or in a dotted override never passes silently.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from crawler_rl.rl.device import DEVICE_FORMS, is_device_spec
from crawler_rl.validation import CONFIG_KEY, invalid, plain, require, unknown_message

DEFAULT_CONFIG_NAME = "train.yaml"

CrawlerOverride = bool | int | float | str | tuple[float, ...]
"""A value in env.crawler_overrides: a setting, or a list of numbers for a [low, high] range."""


class _Section:
    """Base of the config sections: validate on construction."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""


@dataclass
class EnvConfig(_Section):
    """Which environment to train on and how many copies to step per process."""

    env_id: str = "CrawlerVelocity-v0"
    """Gymnasium id (e.g. "Pendulum-v1") or "module:Class" of a gymnasium.Env subclass."""
    num_envs: int = 16
    """Environments stepped in lock-step by the local trainer (SyncVecEnv)."""
    num_workers: int = 2
    """Rollout worker processes (1: in-process); each steps its envs with a policy copy.
    Two by default: one per core of a 2-core machine (config/train.yaml states the same)."""
    crawler_config: str | None = None
    """Crawler sim config YAML (None: the packaged default); ignored by non-crawler envs."""
    crawler_overrides: dict[str, CrawlerOverride] = field(
        default_factory=lambda: {"sensors.tension_sensor": "intermittent"})
    """Dotted-key overrides of the crawler sim config, training only (e.g. reward.* terms, or
    a randomization range as a list: `randomization.extra_sensor_delay_steps: [0, 1]`).
    The default trains through load cell outages: a model that never saw the load cell's mask
    at 0 fails when the robot's reading goes stale (docs/fidelity.md)."""
    max_episode_steps: int | None = None
    """Override the env's time limit in steps (None: keep the registered one)."""
    privileged_critic: bool = False
    """Crawler only: the value function also sees simulator state the robot cannot sense
    (`crawler_rl/sim/critic_state.py`); the actor and the exported model do not."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _require(bool(self.env_id.strip()), "env.env_id", self.env_id, "a non-empty id")
        _require(self.num_envs >= 1, "env.num_envs", self.num_envs, ">= 1")
        _require(1 <= self.num_workers <= self.num_envs, "env.num_workers", self.num_workers,
                 f"in [1, env.num_envs={self.num_envs}]")
        if self.max_episode_steps is not None:
            _require(self.max_episode_steps >= 1, "env.max_episode_steps",
                     self.max_episode_steps, ">= 1 or null")
        _require(not self.privileged_critic or self.env_id.startswith("CrawlerVelocity"),
                 "env.privileged_critic", self.privileged_critic,
                 "false for envs other than CrawlerVelocity-v0")


@dataclass
class PPOConfig(_Section):
    """PPO hyper-parameters (names follow CleanRL's ppo_continuous_action.py)."""

    num_steps: int = 32
    """Steps per env per rollout; a rollout holds num_steps * num_envs transitions."""
    gamma: float = 0.97
    """Discount factor (0.97: a horizon of ~1.7 s at 20 Hz; docs/baseline.md)."""
    gae_lambda: float = 0.9
    """GAE lambda (bias/variance trade-off of the advantage)."""
    learning_rate: float = 2e-3
    """Initial Adam learning rate."""
    lr_schedule: Literal["adaptive", "linear", "constant"] = "linear"
    """adaptive: scale lr to keep approx_kl near desired_kl; linear: anneal to 0; constant."""
    desired_kl: float = 0.01
    """Target approx_kl of the adaptive schedule."""
    min_learning_rate: float = 1e-5
    """Lower bound of the adaptive schedule."""
    max_learning_rate: float = 1e-2
    """Upper bound of the adaptive schedule."""
    num_epochs: int = 5
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    clip_coef: float = 0.2
    """Surrogate clipping range epsilon."""
    clip_value_loss: bool = True
    """Clip the value update around the rollout's value estimates (same epsilon)."""
    value_coef: float = 1.0
    """Weight of the value loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clipping threshold."""
    target_kl: float | None = 0.05
    """Stop the update early once approx_kl exceeds this (None: never)."""
    normalize_advantages: bool = True
    """Normalize advantages per minibatch."""
    yaw_leak_penalty: float = 1.0
    """Weight of a loss term on the share of the previous residual's yaw mode the actor takes
    back each step (the env's `yaw_residual_probe`: the crawler on the incremental base; other
    envs declare none and the term is off). The actor cannot read the residual but can rebuild
    it from the previous command and the encoders; 1 keeps the yaw mode integrating
    (docs/baseline.md)."""
    mirror_augmentation: bool | Literal["auto"] = "auto"
    """Train each minibatch with its left/right mirror image too (rl/symmetry.py): "auto" when
    the env declares a `mirror_spec` (the crawler does), true to require one, false never."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _require(self.num_steps >= 1, "ppo.num_steps", self.num_steps, ">= 1")
        _require(0.0 < self.gamma <= 1.0, "ppo.gamma", self.gamma, "in (0, 1]")
        _require(0.0 <= self.gae_lambda <= 1.0, "ppo.gae_lambda", self.gae_lambda, "in [0, 1]")
        for name in ("learning_rate", "desired_kl", "min_learning_rate", "max_learning_rate",
                     "clip_coef", "max_grad_norm"):
            value = getattr(self, name)
            _require(value > 0.0, f"ppo.{name}", value, "> 0")
        _require(self.min_learning_rate <= self.max_learning_rate, "ppo.min_learning_rate",
                 self.min_learning_rate, "<= ppo.max_learning_rate")
        _require(self.num_epochs >= 1, "ppo.num_epochs", self.num_epochs, ">= 1")
        _require(self.num_minibatches >= 1, "ppo.num_minibatches", self.num_minibatches, ">= 1")
        _require(self.value_coef >= 0.0, "ppo.value_coef", self.value_coef, ">= 0")
        _require(self.entropy_coef >= 0.0, "ppo.entropy_coef", self.entropy_coef, ">= 0")
        _require(self.yaw_leak_penalty >= 0.0, "ppo.yaw_leak_penalty", self.yaw_leak_penalty,
                 ">= 0")
        if self.target_kl is not None:
            _require(self.target_kl > 0.0, "ppo.target_kl", self.target_kl, "> 0 or null")


@dataclass
class ModelConfig(_Section):
    """Gaussian actor-critic network."""

    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the actor (or of the shared trunk when shared_trunk)."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the critic (ignored when shared_trunk)."""
    shared_trunk: bool = False
    """Actor and critic share one trunk with two linear heads."""
    activation: Literal["elu", "tanh"] = "elu"
    """Hidden activation."""
    init_std: float = 0.2
    """Initial standard deviation of the (state-independent) action noise."""
    final_std: float | None = None
    """None: the action noise's std is learned freely. A number: a ceiling on it that falls
    geometrically from init_std to this at run.total_steps (the learned std stays where it is
    below the ceiling): less exploration noise late in training, when the errors left are
    smaller than the noise (docs/baseline.md)."""
    normalize_obs: bool = True
    """Normalize observations with running mean/var (updated from rollouts only)."""
    obs_clip: float = 10.0
    """Clip normalized observations to +-obs_clip."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in ("actor_hidden", "critic_hidden"):
            sizes = getattr(self, name)
            _require(len(sizes) >= 1 and all(size >= 1 for size in sizes), f"model.{name}",
                     sizes, "a non-empty list of positive layer sizes")
        _require(self.init_std > 0.0, "model.init_std", self.init_std, "> 0")
        _require(self.final_std is None or 0.0 < self.final_std <= self.init_std,
                 "model.final_std", self.final_std, "null or in (0, model.init_std]")
        _require(self.obs_clip > 0.0, "model.obs_clip", self.obs_clip, "> 0")


@dataclass
class RunConfig(_Section):
    """Budget, seeding, logging and checkpointing of one training run."""

    total_steps: int = 400_000
    """Environment steps (summed over envs) to train for."""
    seed: int = 0
    """Seed of torch, numpy, Python and the environments."""
    torch_threads: int = 1
    """torch.set_num_threads for the learner (small: the simulator needs the cores)."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many iterations (and always at the end)."""
    keep_checkpoints: int = 5
    """Keep the newest this many periodic checkpoints (0: keep all)."""
    run_name: str | None = None
    """Name shown in logs (None: the run directory's name)."""
    export_onnx: bool = True
    """Export <run_dir>/controller.onnx at the end of training."""
    exact_resume: bool = False
    """Local trainer: re-seed the envs at every checkpoint, so a resumed run is bit-identical
    to an uninterrupted one. Off: envs reset only at start and on resume; with it on, every
    episode is cut at checkpoint_every * num_steps steps, which measured 1.4x more env steps
    to the tracking target."""
    overlap_update: bool = False
    """Local trainer: the rollout workers collect rollout k+1 while the learner updates on
    rollout k (policy lag 1, as SEED RL and Sample Factory). Rollout k+1 is acted by the
    weights before update k; its log-probs, values and bootstrap values are that policy's, and
    the clipped PPO ratio is taken against them. Needs env.num_workers >= 2 (the workers are
    the other processes) and exact_resume off."""
    device: str = "auto"
    """Torch device of the policy and the PPO update: auto (CUDA when torch sees a GPU, else
    CPU), cpu, cuda or cuda:N. Checked against the hardware when the trainer or learner starts;
    checkpoints hold CPU tensors either way."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _require(self.total_steps >= 1, "run.total_steps", self.total_steps, ">= 1")
        _require(self.seed >= 0, "run.seed", self.seed, ">= 0")
        _require(self.torch_threads >= 1, "run.torch_threads", self.torch_threads, ">= 1")
        _require(self.checkpoint_every >= 1, "run.checkpoint_every", self.checkpoint_every, ">= 1")
        _require(self.keep_checkpoints >= 0, "run.keep_checkpoints", self.keep_checkpoints, ">= 0")
        _require(is_device_spec(self.device), "run.device", self.device, f"one of {DEVICE_FORMS}")


@dataclass
class DistributedConfig(_Section):
    """Defaults of the ROS training graph (actor/inference/learner nodes)."""

    actors: int = 2
    """Actor processes started by `crawler-rl train --backend ros`."""
    envs_per_actor: int = 8
    """Simulators stepped by each actor (2 x 8 = the local backend's 16 envs per update)."""

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _require(self.actors >= 0, "distributed.actors", self.actors, ">= 0")
        _require(self.envs_per_actor >= 1, "distributed.envs_per_actor",
                 self.envs_per_actor, ">= 1")


@dataclass
class TrainConfig:
    """All settings of a training run (the shape of config/train.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment settings."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO settings."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network settings."""
    run: RunConfig = field(default_factory=RunConfig)
    """Budget, seeding, logging, checkpoints."""
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    """ROS training graph defaults."""

    def validate(self) -> None:
        """Validate every section (ValueError naming the dotted key)."""
        for section in dataclasses.fields(self):
            getattr(self, section.name).validate()
        if self.run.overlap_update:
            _require(self.env.num_workers >= 2, "env.num_workers", self.env.num_workers,
                     ">= 2 with run.overlap_update (rollouts overlap the update only in "
                     "worker processes)")
            _require(not self.run.exact_resume, "run.exact_resume", self.run.exact_resume,
                     "false with run.overlap_update (the next rollout is under way at a "
                     "checkpoint)")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists), suitable for YAML/JSON."""
        return plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build and validate a config from a nested dict (missing keys keep defaults)."""
        cfg = _build(cls, data, prefix="")
        cfg.validate()
        return cfg


def load_train_config(
    path: Path | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Load `path` (default: the packaged config/train.yaml) and apply dotted-key overrides.

    Override values may be typed or strings (parsed as YAML scalars, e.g. "1e-3", "null").
    """
    if path is None:
        from crawler_rl.paths import config_path

        path = config_path(DEFAULT_CONFIG_NAME)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    for dotted_key, value in (overrides or {}).items():
        _set_dotted(data, dotted_key, value)
    try:
        return TrainConfig.from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _set_dotted(data: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set data["a"]["b"] = value for "a.b", checking the key exists in TrainConfig."""
    parts = dotted_key.split(".")
    target_type: Any = TrainConfig
    for part in parts:
        hints = _field_types(target_type) if dataclasses.is_dataclass(target_type) else {}
        if part not in hints:
            raise ValueError(unknown_message(CONFIG_KEY, [dotted_key]))
        target_type = hints[part]
    if dataclasses.is_dataclass(target_type):
        raise invalid(CONFIG_KEY, dotted_key, "a field, not a section (override one of its "
                      "fields)", value)
    if isinstance(value, str) and target_type is not str and not _allows_str(target_type):
        value = yaml.safe_load(value)
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(CONFIG_KEY, part, "a mapping", child)
        node = child
    node[parts[-1]] = value


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _allows_str(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return str in typing.get_args(annotation)
    return annotation is str


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Instantiate dataclass `cls` from `data`, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise invalid(CONFIG_KEY, prefix.rstrip(".") or "<root>", "a mapping", data)
    hints = _field_types(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(unknown_message(CONFIG_KEY, [prefix + key for key in unknown]))
    kwargs = {}
    for name, annotation in hints.items():
        if name not in data:
            continue
        key = prefix + name
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = _build(annotation, data[name], key + ".")
        else:
            kwargs[name] = _coerce(data[name], annotation, key)
    return cls(**kwargs)


def coerce_crawler_overrides(value: Any, key: str) -> dict[str, CrawlerOverride]:
    """Check a `crawler_overrides` mapping and return it typed (lists become float tuples).

    The one rule for the training config's `env.crawler_overrides` and the actor node's
    parameter of the same name; ValueError naming `key` (and the dotted entry) otherwise.
    """
    return _coerce(value, dict[str, CrawlerOverride], key)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against a field annotation; return it in the field's type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (arg for arg in args if arg is not type(None)):
            try:
                return _coerce(value, option, key)
            except ValueError as error:
                errors.append(str(error))
        prefix, suffix = f"{CONFIG_KEY} {key!r} must be ", f", got {value!r}"
        expectations = [text[len(prefix):-len(suffix)] for text in errors
                        if text.startswith(prefix) and text.endswith(suffix)]
        if len(expectations) < len(errors):  # a nested entry failed: name it
            raise ValueError(next((text for text in errors if not text.startswith(prefix)),
                                  errors[0]))
        raise invalid(CONFIG_KEY, key, " or ".join(expectations), value)
    if origin is Literal:
        if value not in args:
            raise invalid(CONFIG_KEY, key, f"one of {list(args)}", value)
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise invalid(CONFIG_KEY, key, "a mapping", value)
        return {
            _coerce(name, args[0], key): _coerce(item, args[1], f"{key}.{name}")
            for name, item in value.items()
        }
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise invalid(CONFIG_KEY, key, "a list", value)
        return tuple(_coerce(item, args[0], f"{key}[{i}]") for i, item in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise invalid(CONFIG_KEY, key, "true/false", value)
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise invalid(CONFIG_KEY, key, "an integer", value)
        return value
    if annotation is float:
        if isinstance(value, str):
            # YAML 1.1 reads "3e-4" (no dot) as a string; accept it as the number it means.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(CONFIG_KEY, key, "a number", value)
        if not math.isfinite(value):
            raise invalid(CONFIG_KEY, key, "a finite number", value)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise invalid(CONFIG_KEY, key, "a string", value)
        return value
    raise TypeError(f"config key {key!r}: unsupported annotation {annotation!r}")


def _require(ok: bool, key: str, value: Any, expectation: str) -> None:
    require(ok, CONFIG_KEY, key, value, expectation)
