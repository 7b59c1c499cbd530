"""Mirror-symmetry augmentation: the crawler's mirror map, its checks, and the PPO update."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from crawler_rl.rl.config import ModelConfig, PPOConfig
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.ppo import PPO
from crawler_rl.rl.storage import RolloutStorage
from crawler_rl.rl.symmetry import Mirror, MirrorSpec, configured_mirror
from crawler_rl.sim.observation import OBS_DIM, OBS_NAMES, mirror_spec

SWAP = MirrorSpec((1, 0, 2), (1.0, 1.0, -1.0), (0,), (-1.0,))
"""A toy mirror of 3 observations and 1 action: swap obs 0/1, negate obs 2 and the action."""


def test_crawler_mirror_negates_yaw_terms_and_swaps_the_wheels() -> None:
    mirror = Mirror(MirrorSpec.from_dict(mirror_spec()), OBS_DIM, 2)
    obs = torch.arange(1.0, OBS_DIM + 1.0).unsqueeze(0)
    mirrored = dict(zip(OBS_NAMES, mirror.obs(obs)[0].tolist(), strict=True))
    value = dict(zip(OBS_NAMES, obs[0].tolist(), strict=True))
    for name in ("cmd_omega", "meas_omega", "gravity_y", "err_int_omega"):
        assert mirrored[name] == -value[name]
    for name in ("cmd_v", "meas_v", "gravity_x", "gravity_z", "err_int_v", "tether_tension"):
        assert mirrored[name] == value[name]
    for left, right in (("wheel_speed_left", "wheel_speed_right"),
                        ("prev_wheel_cmd_left", "prev_wheel_cmd_right")):
        assert (mirrored[left], mirrored[right]) == (value[right], value[left])
    actions = torch.tensor([[0.1, -0.3]])
    assert torch.equal(mirror.actions(actions), actions.flip(1))
    assert torch.equal(mirror.obs(mirror.obs(obs)), obs)


@pytest.mark.parametrize("spec, message", [
    (dict(obs_perm=(0, 0), obs_sign=(1.0, 1.0)), "permutation"),
    (dict(obs_perm=(1, 0), obs_sign=(1.0, 0.5)), "entries of"),
    (dict(obs_perm=(1, 0), obs_sign=(1.0, -1.0)), "involution"),
    (dict(obs_perm=(1, 2, 0), obs_sign=(1.0, 1.0, 1.0)), "involution"),
])
def test_a_bad_mirror_spec_is_refused(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MirrorSpec(action_perm=(0,), action_sign=(1.0,), **spec)


def test_a_mirror_for_other_dims_and_an_env_without_one_are_refused() -> None:
    with pytest.raises(ValueError, match="obs/action dims"):
        Mirror(SWAP, 4, 1)
    without = {"env_id": "toy", "mirror": None}
    with pytest.raises(ValueError, match="declares no mirror_spec"):
        configured_mirror(True, without, 3, 1)
    assert configured_mirror("auto", without, 3, 1) is None
    assert configured_mirror(False, without, 3, 1) is None
    declared = {"env_id": "toy", "mirror": SWAP.as_dict()}
    assert configured_mirror("auto", declared, 3, 1).spec == SWAP
    assert configured_mirror(False, declared, 3, 1) is None
    policy = ActorCritic(3, 1, ModelConfig())
    with pytest.raises(ValueError, match="mirror_augmentation is true"):
        PPO(policy, PPOConfig(mirror_augmentation=True))
    with pytest.raises(ValueError, match="mirror_augmentation is false"):
        PPO(policy, PPOConfig(mirror_augmentation=False), Mirror(SWAP, 3, 1))


def test_the_crawler_env_declares_its_mirror() -> None:
    from crawler_rl.rl.envs import describe_env
    from crawler_rl.sim.env import CrawlerEnv

    env = CrawlerEnv()
    try:
        info = describe_env(env, "CrawlerVelocity-v0")
    finally:
        env.close()
    # the set-anew corrections (motor.direct_limit) swap sides as the increments do
    assert info["mirror"] == MirrorSpec.from_dict(mirror_spec(4)).as_dict()
    assert info["mirror"]["action_perm"] == [1, 0, 3, 2]
    assert configured_mirror(True, info, OBS_DIM, 4) is not None


def _storage(num_envs: int, mirror: Mirror | None, seed: int = 0) -> RolloutStorage:
    """A random rollout; with `mirror`, envs num_envs.. are the mirror images of 0.."""
    generator = torch.Generator().manual_seed(seed)
    steps = 8
    half = num_envs // 2 if mirror else num_envs
    storage = RolloutStorage(steps, num_envs, 3, 1)
    for _ in range(steps):
        obs = torch.randn(half, 3, generator=generator)
        actions = torch.randn(half, 1, generator=generator)
        log_probs = torch.randn(half, generator=generator) - 1.0
        values = torch.randn(half, generator=generator)
        rewards = torch.randn(half, generator=generator)
        no = torch.zeros(num_envs, dtype=torch.bool)
        if mirror:
            obs, actions = torch.cat([obs, mirror.obs(obs)]), torch.cat(
                [actions, mirror.actions(actions)])
            log_probs, values, rewards = log_probs.repeat(2), values.repeat(2), rewards.repeat(2)
        storage.add(obs, actions, log_probs, values, rewards, no, no)
    return storage


def test_augmented_update_equals_an_update_on_the_mirrored_transitions() -> None:
    """One full-batch step with augmentation == one step on data holding both mirror images."""
    mirror = Mirror(SWAP, 3, 1)
    cfg = PPOConfig(num_epochs=1, num_minibatches=1, lr_schedule="constant", target_kl=None,
                    learning_rate=1e-2, mirror_augmentation=False)
    torch.manual_seed(0)
    augmented = ActorCritic(3, 1, ModelConfig(actor_hidden=(8,), critic_hidden=(8,)))
    explicit, initial = copy.deepcopy(augmented), copy.deepcopy(augmented)
    storage = _storage(4, None)
    doubled = _storage(8, mirror)
    assert torch.equal(doubled.obs[:, :4], storage.obs)
    stats = PPO(augmented, dataclasses.replace(cfg, mirror_augmentation=True),
                mirror).update(storage, torch.zeros(4))
    PPO(explicit, cfg).update(doubled, torch.zeros(8))
    assert stats["num_updates"] == 1.0
    for (name, a), b in zip(augmented.named_parameters(), explicit.parameters(),
                               strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    moved = max(float((a - b).detach().abs().max())
                for a, b in zip(augmented.parameters(), initial.parameters(), strict=True))
    assert moved > 1e-3  # the step changed the policy (not a no-op compared)


def test_augmented_updates_make_the_policy_symmetric() -> None:
    """A reward that is mirror-symmetric (best action: a mirror-odd function of the state) leaves
    a mirror-trained policy much closer to equivariant than one trained without."""
    mirror = Mirror(SWAP, 3, 1)
    asymmetry = {}
    for augment in (False, True):
        torch.manual_seed(0)
        policy = ActorCritic(3, 1, ModelConfig(actor_hidden=(16,), critic_hidden=(16,),
                                               init_std=0.5))
        cfg = PPOConfig(gamma=0.01, lr_schedule="constant", learning_rate=3e-3, target_kl=None,
                        num_epochs=4, mirror_augmentation=augment)
        ppo = PPO(policy, cfg, mirror if augment else None)
        generator = torch.Generator().manual_seed(1)
        for _ in range(15):
            storage = RolloutStorage(16, 4, 3, 1)
            for _ in range(16):
                obs = torch.randn(4, 3, generator=generator)
                actions, log_probs, values = policy.act(obs)
                # Reward: action equal to obs 0 - obs 1 + obs 2 (mirror: the same, negated).
                target = obs[:, 0] - obs[:, 1] + obs[:, 2]
                rewards = -(actions[:, 0] - 0.3 * target).square()
                no = torch.zeros(4, dtype=torch.bool)
                storage.add(obs, actions, log_probs, values, rewards, no, no)
            ppo.update(storage, torch.zeros(4))
        probe = torch.randn(256, 3, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            gap = policy.act_deterministic(mirror.obs(probe)) - mirror.actions(
                policy.act_deterministic(probe))
        asymmetry[augment] = float(gap.abs().mean())
    assert asymmetry[True] < 0.5 * asymmetry[False], asymmetry


def test_the_simulated_crawler_observes_mirror_images() -> None:
    """Mirrored runs (heading +-30 deg across a 30 deg incline, command (v, +-omega), IK wheel
    speeds swapped) give mirrored observations at every step, noise-free: the map matches the
    simulator's sign conventions, including gravity_y and the error integral."""
    from crawler_rl.sim.action import ActionSpec, inverse_kinematics
    from crawler_rl.sim.config import load_crawler_config
    from crawler_rl.sim.crawler import CrawlerSim
    from crawler_rl.sim.observation import ObservationBuilder
    from crawler_rl.sim.scenario import Scenario

    config = load_crawler_config()
    quiet = {name: 0.0 for name in ("encoder_noise", "gyro_noise", "gravity_noise", "accel_noise",
                                    "odometry_noise", "tension_noise")}
    config = dataclasses.replace(config, sensors=dataclasses.replace(config.sensors, **quiet))
    mirror = Mirror(MirrorSpec.from_dict(mirror_spec()), OBS_DIM, 2)
    runs = []
    for sign in (1.0, -1.0):
        scenario = Scenario(surface="incline", slope_deg=30.0, tether_length=5.0,
                            randomize=False, start_heading_deg=30.0 * sign)
        sim = CrawlerSim(config, scenario, np.random.default_rng(0))
        builder = ObservationBuilder(sim.control_dt)
        command = np.array([0.1, 0.4 * sign])
        observations = []
        try:
            for _ in range(40):
                wheels = inverse_kinematics(command, ActionSpec())
                sim.apply_wheel_speeds(wheels)
                sim.step_control()
                builder.record_wheel_command(wheels)
                observations.append(builder.build(command, *sim.observation_inputs()))
        finally:
            sim.close()
        runs.append(torch.tensor(np.array(observations)))
    plus, minus = runs
    assert float(plus[:, OBS_NAMES.index("gravity_y")].abs().max()) > 0.1  # a lateral slope
    assert float(plus[:, OBS_NAMES.index("meas_omega")].abs().max()) > 0.1  # it turns
    assert torch.allclose(mirror.obs(plus), minus, atol=0.02), (mirror.obs(plus) - minus).abs(
        ).max(dim=0).values


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("true", True), ("false", False)])
def test_the_config_key_takes_auto_true_or_false(text: str, expected: bool | str) -> None:
    from crawler_rl.rl.config import load_train_config

    assert load_train_config(
        None, {"ppo.mirror_augmentation": text}).ppo.mirror_augmentation == expected
    with pytest.raises(ValueError, match="ppo.mirror_augmentation"):
        load_train_config(None, {"ppo.mirror_augmentation": "sometimes"})


def test_env_info_holds_a_json_mirror_and_skewed_commands_declare_none() -> None:
    import json

    import gymnasium as gym

    from crawler_rl.rl.envs import describe_env
    from crawler_rl.sim.config import load_crawler_config
    from crawler_rl.sim.env import CrawlerEnv

    class NumpyMirrorEnv(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        mirror_spec = {"obs_perm": np.array([1, 0, 2]), "obs_sign": np.array([1, 1, -1]),
                       "action_perm": np.array([0]), "action_sign": np.array([-1])}

    info = describe_env(NumpyMirrorEnv(), "numpy-mirror")
    incomplete = NumpyMirrorEnv()
    incomplete.mirror_spec = {"obs_perm": [1, 0, 2]}
    with pytest.raises(ValueError, match="mirror_spec must be a dict with keys"):
        describe_env(incomplete, "incomplete-mirror")
    assert json.loads(json.dumps(info))["mirror"] == SWAP.as_dict()
    assert configured_mirror(True, info, 3, 1).spec == SWAP

    config = load_crawler_config()
    skewed = dataclasses.replace(config, task=dataclasses.replace(config.task,
                                                                  omega_range=(-0.2, 0.8)))
    env = CrawlerEnv(skewed)
    try:
        assert describe_env(env, "CrawlerVelocity-v0")["mirror"] is None
    finally:
        env.close()
