import signal
import subprocess
import sys
import time

import pytest
from proc_signals import catches

from crawler_rl.cli import build_parser

SUBCOMMANDS = ["train", "export", "eval", "tune-baseline", "deploy", "actors", "drive", "excite",
               "calibrate"]


def test_top_level_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "crawler_rl.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([name, "--help"])
    assert done.value.code == 0
    assert "usage: crawler-rl" in capsys.readouterr().out


def test_train_flags_parse():
    args = build_parser().parse_args(
        ["train", "--backend", "local", "--actors", "2", "--envs-per-actor", "8",
         "--total-steps", "1000", "--run-dir", "r", "--resume"])
    assert (args.backend, args.actors, args.envs_per_actor, args.total_steps, args.resume) == (
        "local", 2, 8, 1000, True)


def test_train_crawler_config_becomes_the_env_override(tmp_path):
    from crawler_rl.cli import _train_overrides

    args = build_parser().parse_args(["train", "--crawler-config", str(tmp_path / "fit.yaml")])
    assert _train_overrides(args)["env.crawler_config"] == str(tmp_path / "fit.yaml")


def test_bad_backend_is_rejected():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--backend", "gpu"])


def test_local_training_ends_with_evaluation_table_and_onnx_path(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "crawler_rl.cli", "train", "--backend", "local", "--config",
         "config/train_smoke.yaml", "--run-dir", str(run_dir), "--no-progress"],
        capture_output=True, text=True, timeout=300,
        cwd=__import__("pathlib").Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vertical/long" in result.stdout and "overall" in result.stdout
    assert f"exported controller: {run_dir / 'controller.onnx'}" in result.stdout
    assert (run_dir / "eval" / "report.json").is_file()


def test_eval_refuses_a_bad_oracle_scale_before_running(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "crawler_rl.cli", "eval", "--baseline", "oracle",
         "--oracle-scale", "0.01", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--oracle-scale" in result.stderr and "V,OMEGA" in result.stderr
    assert not (tmp_path / "report.json").exists()


def test_eval_refuses_an_oracle_scale_without_the_oracle(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "crawler_rl.cli", "eval", "--baseline", "ik,pi",
         "--oracle-scale", "0.01,0.2", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "add oracle to --baseline" in result.stderr
    assert not (tmp_path / "report.json").exists()


def test_sigusr1_prints_the_stacks_of_a_running_command_which_goes_on(tmp_path):
    """A hung run can be asked where it waits (faulthandler), without stopping it."""
    log = tmp_path / "eval.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "crawler_rl.cli", "eval", "--baseline", "ik,pi",
             "--episodes", "2", "--out-dir", str(tmp_path / "eval")],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not catches(run.pid, signal.SIGUSR1):
            assert run.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        run.send_signal(signal.SIGUSR1)
        assert run.wait(timeout=300) == 0, log.read_text()  # it went on to the end
    finally:
        if run.poll() is None:
            run.kill()
    text = log.read_text()
    assert "most recent call first" in text and "cli.py" in text, text[-2000:]
    assert (tmp_path / "eval" / "report.json").is_file()
