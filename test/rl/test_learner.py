"""The Learner both backends share: exact resume (RNGs included), rollback, metric names."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from rl_fixtures import toy_config

from crawler_rl.rl.learner import (
    Learner,
    config_difference,
    metric_tag,
    seed_everything,
    settings_difference,
)
from crawler_rl.rl.storage import RolloutStorage

OBS_DIM, ACTION_DIM, STEPS, ENVS = 3, 1, 16, 4
ENV_INFO = {"env_id": "toy", "action_low": [-1.0], "action_high": [1.0], "mirror": None}


def make_learner(run_dir: Path, seed: int) -> Learner:
    seed_everything(seed)
    cfg = toy_config(ppo={"num_steps": STEPS}, run={"total_steps": 10 * STEPS * ENVS})
    return Learner(cfg, OBS_DIM, ACTION_DIM, ENV_INFO, run_dir, torch.device("cpu"))


def filled_storage(
    seed: int, huge_reward: float | None = None
) -> tuple[RolloutStorage, torch.Tensor]:
    """A rollout of random but fixed data (its own generator: the global RNGs stay put)."""
    gen = torch.Generator().manual_seed(seed)
    storage = RolloutStorage(STEPS, ENVS, OBS_DIM, ACTION_DIM, torch.device("cpu"))
    for _ in range(STEPS):
        storage.add(torch.randn(ENVS, OBS_DIM, generator=gen),
                    torch.randn(ENVS, ACTION_DIM, generator=gen),
                    -torch.rand(ENVS, generator=gen), torch.randn(ENVS, generator=gen),
                    torch.randn(ENVS, generator=gen) if huge_reward is None
                    else torch.full((ENVS,), huge_reward),
                    torch.rand(ENVS, generator=gen) < 0.1, torch.zeros(ENVS, dtype=torch.bool))
    return storage, torch.randn(ENVS, generator=gen)


def weights(learner: Learner) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in learner.policy.state_dict().items()}


def test_a_restored_learner_continues_exactly_like_the_uninterrupted_one(tmp_path: Path) -> None:
    original = make_learner(tmp_path / "a", seed=0)
    original.update(*filled_storage(1))
    checkpoint = original.save()
    # The minibatch order comes from the global torch RNG: a resume that forgot the RNG state
    # would shuffle differently and end with other weights.
    torch.rand(7)  # what a collector would draw after the checkpoint
    second = original.update(*filled_storage(2))
    expected = weights(original)

    resumed = make_learner(tmp_path / "b", seed=123)
    resumed.restore(checkpoint)
    assert (resumed.iteration, resumed.global_step) == (1, STEPS * ENVS)
    assert resumed.saved_iteration == 1 and resumed.last_checkpoint == checkpoint
    torch.rand(7)
    assert resumed.update(*filled_storage(2)) == second
    for name, tensor in weights(resumed).items():
        assert torch.equal(tensor, expected[name]), name
    original.close()
    resumed.close()


def test_a_non_finite_update_is_rolled_back_and_raised(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, seed=0)
    learner.update(*filled_storage(1))  # the optimizer has moments to lose
    before = weights(learner)
    moments = copy.deepcopy(learner.ppo.optimizer.state_dict())
    learning_rate = learner.ppo.learning_rate
    with pytest.raises(FloatingPointError):
        learner.update(*filled_storage(2, huge_reward=3e38))
    assert (learner.iteration, learner.global_step) == (1, STEPS * ENVS)
    assert learner.ppo.learning_rate == learning_rate
    for name, tensor in weights(learner).items():
        assert torch.equal(tensor, before[name]), name
    after = learner.ppo.optimizer.state_dict()["state"]
    for index, state in moments["state"].items():
        assert torch.equal(after[index]["exp_avg"], state["exp_avg"])
    learner.close()


def test_checkpoints_every_n_iterations_and_at_the_end_then_exports(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, seed=0)  # checkpoint_every 2, 10 iterations in all
    assert learner.save_if_unsaved() is None  # nothing learned, nothing to keep
    due = []
    for index in range(10):
        learner.update(*filled_storage(index))
        due.append(learner.checkpoint_due())
    assert due == [False, True] * 5 and learner.done
    assert learner.save_if_unsaved() == tmp_path / "checkpoints" / "ckpt_000010.pt"
    assert learner.export(learner.last_checkpoint) is None  # run.export_onnx is false here
    learner.close()


def test_both_backends_log_under_one_set_of_tensorboard_names() -> None:
    assert metric_tag("pg_loss") == "losses/pg_loss"
    assert metric_tag("explained_variance") == "losses/explained_variance"
    assert metric_tag("sps") == "charts/sps"
    assert metric_tag("policy_lag") == "charts/policy_lag"


def test_a_resume_under_another_run_seed_says_which_seed_continues_it(tmp_path: Path) -> None:
    def learner(seed: int) -> Learner:
        cfg = toy_config(ppo={"num_steps": STEPS},
                         run={"total_steps": 10 * STEPS * ENVS, "seed": seed})
        return Learner(cfg, OBS_DIM, ACTION_DIM, ENV_INFO, tmp_path, torch.device("cpu"))

    first = learner(1)
    first.update(*filled_storage(1))
    first.save()
    for seed, expected in ((1, 0), (2, 1)):
        messages: list[str] = []
        assert learner(seed).restore_latest(warn=messages.append) is not None
        assert len(messages) == expected, messages
    assert "run.seed 1" in messages[0] and "--seed 1" in messages[0]


def test_a_resume_with_another_model_names_the_keys_that_differ(tmp_path: Path) -> None:
    def learner(**model: object) -> Learner:
        cfg = toy_config(ppo={"num_steps": STEPS}, model={"actor_hidden": [8, 8], **model},
                         run={"total_steps": 10 * STEPS * ENVS})
        return Learner(cfg, OBS_DIM, ACTION_DIM, ENV_INFO, tmp_path, torch.device("cpu"))

    learner().save()
    for model, named in (({"actor_hidden": [16, 16]}, r"model.actor_hidden: checkpoint "
                          r"\[8, 8\], this run \[16, 16\]"),
                         ({"activation": "tanh"}, "model.activation: checkpoint 'elu', this "
                          "run 'tanh'")):
        resumed = learner(**model)
        before = weights(resumed)
        with pytest.raises(ValueError, match=named + r"\): resume with the checkpoint's values"):
            resumed.restore_latest()
        assert resumed.iteration == 0  # refused before anything was loaded
        assert all(torch.equal(before[name], after) for name, after in weights(resumed).items())
    assert learner().restore_latest() is not None


def test_a_resume_under_another_action_mapping_is_refused_before_loading(tmp_path: Path) -> None:
    def learner(**mapping: object) -> Learner:
        cfg = toy_config(ppo={"num_steps": STEPS}, run={"total_steps": 10 * STEPS * ENVS})
        return Learner(cfg, OBS_DIM, ACTION_DIM, {**ENV_INFO, **mapping}, tmp_path,
                       torch.device("cpu"))

    learner(increment_limit=1.0).save()
    for mapping, named in (({}, "increment_limit: checkpoint 1.0, this run None"),
                           ({"increment_limit": 2.0}, "checkpoint 1.0, this run 2.0"),
                           ({"increment_limit": 1.0, "residual_base_gains": [1, 2, 3, 4]},
                            r"residual_base_gains: checkpoint None, this run \[1, 2, 3, 4\]")):
        resumed = learner(**mapping)
        before = weights(resumed)
        with pytest.raises(ValueError, match=named + r".*would mean other wheel speeds"):
            resumed.restore_latest()
        assert resumed.iteration == 0
        assert all(torch.equal(before[name], after) for name, after in weights(resumed).items())
    assert learner(increment_limit=1.0).restore_latest() is not None


def test_config_difference_counts_a_key_an_older_checkpoint_lacks_as_its_default() -> None:
    current = toy_config().to_dict()
    older = {section: dict(values) for section, values in current.items()}
    del older["env"]["privileged_critic"]  # written before the option existed
    assert config_difference(older, current) == []
    current["env"]["privileged_critic"] = True
    assert config_difference(older, current) == [
        "env.privileged_critic: checkpoint False, this run True"]


def test_a_resume_names_the_settings_it_changes_and_those_the_checkpoint_lacks(
        tmp_path: Path) -> None:
    def learner(**ppo: object) -> Learner:
        cfg = toy_config(ppo={"num_steps": STEPS, **ppo},
                         run={"total_steps": 10 * STEPS * ENVS})
        return Learner(cfg, OBS_DIM, ACTION_DIM, ENV_INFO, tmp_path, torch.device("cpu"))

    first = learner(gamma=0.97)
    first.update(*filled_storage(1))
    first.save()
    messages: list[str] = []
    assert learner(gamma=0.97).restore_latest(warn=messages.append) is not None
    assert messages == []  # the same settings, nothing to say
    assert learner(gamma=0.9).restore_latest(warn=messages.append) is not None
    assert len(messages) == 1 and "ppo.gamma: checkpoint 0.97, this run 0.9" in messages[0]
    # A checkpoint of an older version lacks a key: the run takes today's default, and says so.
    saved = {section: dict(values) for section, values in first.cfg.to_dict().items()}
    del saved["ppo"]["yaw_leak_penalty"]
    assert settings_difference(saved, first.cfg.to_dict()) == [
        f"ppo.yaw_leak_penalty: checkpoint absent, this run {first.cfg.ppo.yaw_leak_penalty!r}"]
    # ... and a key this version dropped is named too.
    saved = first.cfg.to_dict()
    saved["ppo"] = {**saved["ppo"], "retired_option": 3}
    assert settings_difference(saved, first.cfg.to_dict()) == [
        "ppo.retired_option: checkpoint 3, this run absent"]
    # Budget and bookkeeping may change on a resume without a word.
    longer = first.cfg.to_dict()
    longer["run"] = {**longer["run"], "total_steps": 10**9, "keep_checkpoints": 1}
    assert settings_difference(first.cfg.to_dict(), longer) == []


def test_final_std_holds_the_noise_under_a_falling_ceiling(tmp_path: Path) -> None:
    seed_everything(0)
    cfg = toy_config(ppo={"num_steps": STEPS}, run={"total_steps": 2 * STEPS * ENVS})
    cfg.model.final_std = 0.05  # init_std 0.5: the ceiling falls 10x over the run
    learner = Learner(cfg, OBS_DIM, ACTION_DIM, ENV_INFO, tmp_path, torch.device("cpu"))
    assert learner.policy.std_ceiling(0.5) == pytest.approx(0.5 * 0.1 ** 0.5)
    learner.update(*filled_storage(1))  # half-way: the ceiling is 0.158
    assert learner.policy.log_std.exp().item() == pytest.approx(0.5 * 0.1 ** 0.5, rel=1e-5)
    learner.update(*filled_storage(2))  # the end: final_std
    assert learner.policy.log_std.exp().item() == pytest.approx(0.05, rel=1e-5)


def test_without_final_std_the_learned_std_is_left_alone(tmp_path: Path) -> None:
    learner = make_learner(tmp_path, seed=0)
    learner.update(*filled_storage(1))
    assert learner.policy.std_ceiling(1.0) is None
    assert learner.policy.log_std.exp().item() > 0.4  # init 0.5, one small update


def test_a_final_std_above_the_initial_one_is_refused() -> None:
    with pytest.raises(ValueError, match="model.final_std"):
        toy_config(model={"init_std": 0.2, "final_std": 0.3})
