"""Which environment to step: any Gymnasium env with Box spaces, built from `EnvConfig.env_id`.

Torch-free on purpose: the actor nodes import it and must stay light (the policy lives in the
inference node). `env_id` is one of
- a registered Gymnasium id: "CrawlerVelocity-v0" (registered by `crawler_rl.sim`),
  "Pendulum-v1", or an id registered by another installed package: "my_pkg:MyRobot-v0"
  imports `my_pkg` (which registers the id) first, as `gymnasium.make` does;
- "module:Class", a `gymnasium.Env` subclass constructed with no arguments;
- "module:callable", any other callable returning an env (Gymnasium's entry-point form).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from crawler_rl.rl.config import EnvConfig

CRAWLER_PREFIX = "CrawlerVelocity"
TRACKING_KEYS = ("tracking_error_v", "tracking_error_omega")
"""Per-step info entries reported as RMS tracking errors (when the env has them)."""


def make_env_factory(env_cfg: EnvConfig) -> Callable[[], gym.Env]:
    """Return a factory of one env: a Gymnasium id (the crawler included) or "module:Class"."""
    env_id = env_cfg.env_id
    kwargs: dict[str, Any] = {}
    if env_id.startswith(CRAWLER_PREFIX):
        importlib.import_module("crawler_rl.sim")  # registers CrawlerVelocity-v0
        if env_cfg.crawler_config is not None or env_cfg.crawler_overrides:
            from crawler_rl.sim.config import load_crawler_config

            path = None if env_cfg.crawler_config is None else Path(env_cfg.crawler_config)
            kwargs["config"] = load_crawler_config(path, dict(env_cfg.crawler_overrides))
    limit = env_cfg.max_episode_steps
    if env_cfg.privileged_critic:
        from crawler_rl.sim.critic_state import PrivilegedCriticObservation

        make = _make_registered(env_id, kwargs, limit)
        return lambda: PrivilegedCriticObservation(make())
    if ":" in env_id:
        module_name, _, attr = env_id.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"env.env_id={env_id!r}: cannot import {module_name!r} "
                             f"({error})") from error
        target = getattr(module, attr, None)
        if target is None and attr in gym.registry:
            return _make_registered(attr, kwargs, limit)
        if not callable(target):
            raise ValueError(f"env.env_id={env_id!r}: {module_name!r} has no env class or "
                             f"factory called {attr!r}")

        def make_from_entry_point() -> gym.Env:
            env = target(**kwargs)
            if not isinstance(env, gym.Env):
                raise ValueError(f"env.env_id={env_id!r} built a {type(env).__name__}, "
                                 "not a gymnasium.Env")
            return gym.wrappers.TimeLimit(env, limit) if limit else env

        return make_from_entry_point
    return _make_registered(env_id, kwargs, limit)


def _make_registered(env_id: str, kwargs: dict[str, Any],
                     limit: int | None) -> Callable[[], gym.Env]:
    if env_id not in gym.registry:
        raise ValueError(f"env.env_id={env_id!r} is not a registered Gymnasium id (import "
                         "the package registering it via 'package:Id-v0') nor 'module:Class'")
    if limit is not None:
        kwargs = {**kwargs, "max_episode_steps": limit}
    return lambda: gym.make(env_id, **kwargs)


def check_box_spaces(env: gym.Env, env_id: str) -> tuple[int, int]:
    """Return (obs_dim, action_dim); ValueError naming the env unless both spaces are Box."""
    for role, space in (("observation", env.observation_space), ("action", env.action_space)):
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"env.env_id={env_id!r}: {role} space is {space}, crawler_rl "
                             "needs gymnasium.spaces.Box (flatten or wrap the env)")
    return (int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape)))


def describe_env(env: gym.Env, env_id: str) -> dict[str, Any]:
    """Facts about the env that the export and evaluation need (JSON-serializable)."""
    check_box_spaces(env, env_id)
    space = env.action_space
    info: dict[str, Any] = {
        "env_id": env_id,
        "action_low": np.asarray(space.low, dtype=np.float64).reshape(-1).tolist(),
        "action_high": np.asarray(space.high, dtype=np.float64).reshape(-1).tolist(),
        "action_spec": None,
        "control_dt": None,
        "mirror": None,
        "residual_base_gains": None,
        "increment_limit": None,
        "direct_limit": None,
        "yaw_gain_limit": None,
        "actor_obs_dim": None,
        "model_obs_dim": None,
        "yaw_residual_probe": None,
    }
    base = env.unwrapped
    actor_dim = _wrapper_attr(env, "actor_observation_dim")  # None: the actor sees all
    info["actor_obs_dim"] = None if actor_dim is None else int(actor_dim)
    model_dim = _wrapper_attr(env, "model_observation_dim")  # None: what the actor reads
    info["model_obs_dim"] = None if model_dim is None else int(model_dim)
    probe = _wrapper_attr(env, "yaw_residual_probe")
    if probe is not None:  # the shift padded with zeros over entries a wrapper appends
        width = int(np.prod(env.observation_space.shape))
        shift = [float(x) for x in probe["obs_shift"]]
        info["yaw_residual_probe"] = {
            "obs_shift": shift + [0.0] * (width - len(shift)),
            "action_weights": [float(x) for x in probe["action_weights"]]}
    mirror = _wrapper_attr(env, "mirror_spec")  # checked where it is used (rl/symmetry.py)
    if mirror is not None:  # plain ints / floats, so env_info stays JSON
        keys = {"obs_perm", "obs_sign", "action_perm", "action_sign"}
        if not isinstance(mirror, dict) or set(mirror) != keys:
            raise ValueError(f"env {env_id!r}: mirror_spec must be a dict with keys "
                             f"{sorted(keys)}, got {mirror!r}")
        info["mirror"] = {key: [int(i) for i in mirror[key]]
                          for key in ("obs_perm", "action_perm")}
        info["mirror"].update({key: [float(x) for x in mirror[key]]
                               for key in ("obs_sign", "action_sign")})
    spec = getattr(base, "action_spec", None) or getattr(getattr(base, "sim", None),
                                                         "action_spec", None)
    if spec is not None:
        info["action_spec"] = {
            key: float(getattr(spec, key))
            for key in ("wheel_radius", "track_width", "max_wheel_speed", "residual_limit")
        }
        dt = getattr(base, "control_dt", None) or getattr(getattr(base, "sim", None),
                                                           "control_dt", None)
        info["control_dt"] = None if dt is None else float(dt)
        gains = getattr(base, "residual_base_gains", None)
        info["residual_base_gains"] = None if gains is None else [float(g) for g in gains]
        increment = getattr(base, "increment_limit", None)
        info["increment_limit"] = None if increment is None else float(increment)
        direct = getattr(base, "direct_limit", None)
        info["direct_limit"] = None if direct is None else float(direct)
        yaw_gain = getattr(base, "yaw_gain_limit", None)
        info["yaw_gain_limit"] = None if yaw_gain is None else float(yaw_gain)
    return info


def _wrapper_attr(env: gym.Env, name: str) -> Any:
    """Return the outermost wrapper's (or the env's) attribute `name`; None if nobody has it."""
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def probe_env(env_cfg: EnvConfig) -> tuple[dict[str, Any], int, int]:
    """Build one env to read its facts; return (env_info, obs_dim, action_dim)."""
    env = make_env_factory(env_cfg)()
    try:
        info = describe_env(env, env_cfg.env_id)
        obs_dim, action_dim = check_box_spaces(env, env_cfg.env_id)
    finally:
        env.close()
    return info, obs_dim, action_dim


class ActionScaler:
    """Map policy actions (nominally [-1, 1]) onto a Box action space.

    A bounded Box gets clip-then-affine; an unbounded one gets the raw actions.
    """

    def __init__(self, low: Any, high: Any) -> None:
        self.low = np.asarray(low, dtype=np.float32).reshape(-1)
        self.high = np.asarray(high, dtype=np.float32).reshape(-1)
        self.bounded = bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        """Shape: (num_envs, action_dim) -> same."""
        if not self.bounded:
            return actions
        unit = np.clip(actions, -1.0, 1.0)
        return self.low + (unit + 1.0) * 0.5 * (self.high - self.low)
