"""The `crawler-rl` command: train, export, eval, deploy, actors and a baseline drive.

Every subcommand imports its heavy modules lazily so `crawler-rl --help` stays instant.
Stopping (docs/stopping.md): SIGINT, SIGTERM and SIGHUP end a command with 130, 143 and 129,
after what it must do on the way out (a final checkpoint, a zero wheel command).
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Map command-line flags onto dotted config keys."""
    overrides: dict[str, Any] = {}
    if args.total_steps is not None:
        overrides["run.total_steps"] = args.total_steps
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.env is not None:
        overrides["env.env_id"] = args.env
    if getattr(args, "crawler_config", None) is not None:
        overrides["env.crawler_config"] = str(Path(args.crawler_config).resolve())
    return overrides


def _cmd_train(args: argparse.Namespace) -> int:
    from crawler_rl.rl.config import load_train_config

    cfg = load_train_config(args.config, _train_overrides(args))
    run_dir = Path(args.run_dir)
    if args.backend == "local":
        from crawler_rl.rl.trainer import run_training

        if args.actors is not None or args.envs_per_actor is not None:
            cfg = load_train_config(
                args.config,
                {
                    **_train_overrides(args),
                    "env.num_envs": (args.actors or 1) * (args.envs_per_actor or cfg.env.num_envs),
                },
            )
        summary = run_training(cfg, run_dir, resume=args.resume, progress=not args.no_progress)
        _report_trained_controller(cfg, summary.get("onnx"), run_dir)
        return 0
    from crawler_rl.ros.training.launcher import run_training_graph

    return run_training_graph(
        cfg,
        run_dir,
        resume=args.resume,
        actors=args.actors if args.actors is not None else cfg.distributed.actors,
        envs_per_actor=(
            args.envs_per_actor
            if args.envs_per_actor is not None
            else cfg.distributed.envs_per_actor
        ),
        local_actors=not args.no_local_actors,
        progress=not args.no_progress,
    )


def _report_trained_controller(cfg: Any, onnx_path: str | None, run_dir: Path) -> None:
    """Evaluate the exported crawler controller against IK and print where it is."""
    if onnx_path is None:
        return
    from crawler_rl.rl.envs import CRAWLER_PREFIX

    if cfg.env.env_id.startswith(CRAWLER_PREFIX):
        from crawler_rl.rl.evaluate import run_evaluation

        run_evaluation(Path(onnx_path), "ik,pi", run_dir / "eval")
        print(f"evaluation report: {run_dir / 'eval' / 'report.json'}")
    print(f"exported controller: {onnx_path}")


def _cmd_actors(args: argparse.Namespace) -> int:
    from crawler_rl.rl.config import load_train_config
    from crawler_rl.ros.training.launcher import run_actor_fleet

    overrides = {"env.env_id": args.env} if args.env else {}
    cfg = load_train_config(args.config, overrides)
    envs = args.envs_per_actor
    if envs is None:
        envs = cfg.distributed.envs_per_actor
    return run_actor_fleet(cfg, count=args.count, envs_per_actor=envs, first_id=args.first_id)


def _cmd_export(args: argparse.Namespace) -> int:
    from crawler_rl.rl.export import export_checkpoint

    path = export_checkpoint(Path(args.checkpoint), Path(args.output))
    print(f"exported {path}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from crawler_rl.control.pi import load_gains
    from crawler_rl.rl.evaluate import run_evaluation

    if args.policy is None and args.baseline is None:
        raise SystemExit("crawler-rl eval: give --policy FILE and/or --baseline ik,pi")
    run_evaluation(
        Path(args.policy) if args.policy else None,
        args.baseline,
        Path(args.out_dir),
        seed=args.seed,
        episodes=args.episodes,
        replay=args.replay,
        replay_format=f".{args.replay_format}",
        pi_gains=load_gains(args.pi_gains) if args.pi_gains else None,
        suite=args.suite,
        oracle_scale=args.oracle_scale,
    )
    return 0


def _cmd_tune_baseline(args: argparse.Namespace) -> int:
    from crawler_rl.control.tuning import tune_pi_gains, write_gains

    result = tune_pi_gains(trials=args.trials, seed=args.seed, episodes=args.episodes,
                           progress=not args.no_progress)
    command = (f"crawler-rl tune-baseline --trials {args.trials} --seed {args.seed} "
               f"--episodes {args.episodes} -o {args.output}")
    path = write_gains(result, Path(args.output), command)
    gains = ", ".join(f"{name} {value:.4g}" for name, value in result.gains.as_dict().items())
    print(f"PI gains: {gains}")
    print(f"training-distribution score (mean RMSE PI / IK): {result.objective:.4f}; "
          f"RMSE v {result.rmse['v']:.4f} m/s (IK {result.ik_rmse['v']:.4f}), "
          f"omega {result.rmse['omega']:.4f} rad/s (IK {result.ik_rmse['omega']:.4f})")
    print(f"written: {path}")
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    from crawler_rl.ros.robot.deploy import run_deploy

    return run_deploy(
        sim=args.sim,
        policy=Path(args.policy) if args.policy else None,
        record=Path(args.record) if args.record else None,
        duration=args.duration,
        view=args.view,
    )


def _cmd_excite(args: argparse.Namespace) -> int:
    from crawler_rl.ros.robot.excite import run_excite

    sim_parameters = {"surface": args.surface, "tether_length": args.tether_length,
                      "start_heading_deg": args.start_heading}
    if args.slope_deg is not None:
        sim_parameters["slope_deg"] = args.slope_deg
    if args.crawler_config is not None:
        sim_parameters["crawler_config"] = str(Path(args.crawler_config).resolve())
    if not args.sim and args.crawler_config is not None:
        raise ValueError("--crawler-config sets up the simulated robot: it needs --sim")
    return run_excite(sim=args.sim, record=Path(args.record) if args.record else None,
                      policy=Path(args.policy) if args.policy else None,
                      time_scale=args.time_scale, sim_parameters=sim_parameters)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from crawler_rl.calibration.command import calibrate, load_base_config, recorded_scenario
    from crawler_rl.calibration.fit import expand_params
    from crawler_rl.ros.robot.recorded_signals import load_recorded_run
    from crawler_rl.sim.config import config_from_dict

    names = expand_params(args.params)
    if args.max_evaluations < 2 * len(names) + 2:
        raise ValueError(f"--max-evaluations must be >= {2 * len(names) + 2} for "
                         f"{len(names)} parameters, got {args.max_evaluations}")
    scenario = recorded_scenario(args.surface, args.tether_length, args.slope_deg,
                                 args.hull_radius, args.start_heading)
    base = load_base_config(args.crawler_config)
    physics = config_from_dict(base).physics
    run = load_recorded_run(Path(args.recording), physics.substeps / physics.physics_hz)
    outcome = calibrate(run, base, scenario, Path(args.output), names, args.max_evaluations,
                        recording=args.recording, progress=not args.no_progress,
                        command=" ".join(["crawler-rl", *sys.argv[1:]]))
    return 0 if outcome.config is not None else 1


def _add_surface_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    """Where the robot runs: surface, slope, hull radius, tether length, start heading."""
    parser.add_argument("--surface", choices=["deck", "incline", "vertical", "curved"],
                        required=required, default=None if required else "deck")
    parser.add_argument("--slope-deg", type=float, default=None,
                        help="incline / curved: slope [deg] (deck 0, vertical 90)")
    parser.add_argument("--hull-radius", type=float, default=3.0, help="curved hull [m]")
    parser.add_argument("--tether-length", type=float, required=required,
                        default=None if required else 5.0, help="paid-out tether [m]")
    parser.add_argument("--start-heading", type=float, default=0.0,
                        help="start heading from up-slope, i.e. towards the tether anchor [deg]")


def _cmd_drive(args: argparse.Namespace) -> int:
    from crawler_rl.control.drive import drive_baseline

    drive_baseline(args.surface, args.tether_length, args.seconds, args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    from crawler_rl.control.oracle import ERROR_SCALE, error_scale_argument

    parser = argparse.ArgumentParser(
        prog="crawler-rl",
        description="Learn, export and deploy a velocity controller for tethered hull crawlers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a controller with PPO")
    train.add_argument("--config", type=Path, default=None, help="train.yaml (default: packaged)")
    train.add_argument("--backend", choices=["ros", "local"], default="ros",
                       help="ros: actor/inference/learner nodes over DDS; local: PPO in this "
                       "process, envs in env.num_workers rollout workers")
    train.add_argument("--actors", type=int, default=None, help="actor processes (ros backend)")
    train.add_argument("--envs-per-actor", type=int, default=None, help="simulators per actor")
    train.add_argument("--total-steps", type=int, default=None, help="env steps to train for")
    train.add_argument("--run-dir", default="runs/latest", help="checkpoints, logs, ONNX")
    train.add_argument("--resume", action="store_true", help="continue from the last good *.pt")
    train.add_argument("--no-local-actors", action="store_true",
                       help="start inference + learner only (actors run on other machines)")
    train.add_argument("--env", default=None, help="Gymnasium id or module:Class")
    train.add_argument("--crawler-config", type=Path, default=None,
                       help="crawler sim YAML, e.g. crawler_fit.yaml from crawler-rl calibrate")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(handler=_cmd_train)

    export = sub.add_parser("export", help="export a checkpoint to ONNX")
    export.add_argument("checkpoint", help="*.pt checkpoint")
    export.add_argument("-o", "--output", default="controller.onnx")
    export.set_defaults(handler=_cmd_export)

    evaluate = sub.add_parser("eval", help="evaluate a controller on held-out scenarios")
    evaluate.add_argument("--policy", default=None, help="controller.onnx to evaluate")
    evaluate.add_argument("--baseline", default=None,
                          help="comma-separated baselines: ik (open-loop IK), pi (IK + tuned PI), "
                               "oracle (one-step lookahead on the simulator: a bound, ~6x slower)")
    evaluate.add_argument("--pi-gains", default=None,
                          help="gains YAML from tune-baseline (default: config/baseline_pi.yaml)")
    evaluate.add_argument("--oracle-scale", type=error_scale_argument, default=None,
                          metavar="V,OMEGA",
                          help="the oracle's error scales [m/s, rad/s]: it keeps the try with the "
                               "smallest (e_v/V)^2 + (e_omega/OMEGA)^2 (default "
                               f"{ERROR_SCALE[0]},{ERROR_SCALE[1]})")
    evaluate.add_argument("--out-dir", default="runs/eval", help="report.json and plots")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--episodes", type=int, default=1,
                          help="episodes per scenario (other seeds); RMSE pools their steps")
    evaluate.add_argument("--replay", default=None, metavar="SCENARIOS",
                          help="'all' or scenario labels (deck/short,curved/long): replay each "
                          "one's first episode per controller into <out-dir>/replay/")
    evaluate.add_argument("--replay-format", choices=["png", "gif", "mp4"], default="png",
                          help="replay figure (png) or animation (gif, mp4)")
    evaluate.add_argument("--suite", default="held-out",
                          help="held-out (inside the training ranges), ood (outside them), "
                               "chain (held-out on the multibody tether), odometry "
                               "(held-out with wheel-odometry velocity), load-cell-outages or "
                               "no-load-cell (held-out with a load cell that drops out, or none)")
    evaluate.set_defaults(handler=_cmd_eval)

    tune = sub.add_parser("tune-baseline",
                          help="tune the PI baseline's gains on the training distribution")
    tune.add_argument("--trials", type=int, default=128, help="Optuna trials (gain sets)")
    tune.add_argument("--seed", type=int, default=0, help="sampler and episode seed")
    tune.add_argument("--episodes", type=int, default=16,
                      help="training-distribution episodes per trial (the same for every trial)")
    tune.add_argument("-o", "--output", default="baseline_pi.yaml", help="gains YAML to write")
    tune.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tune.set_defaults(handler=_cmd_tune_baseline)

    deploy = sub.add_parser("deploy", help="run the ONNX controller node (and a simulated robot)")
    deploy.add_argument("--sim", action="store_true", help="also start robot_sim_node")
    deploy.add_argument("--policy", default=None, help="controller.onnx")
    deploy.add_argument("--record", default=None,
                        help="run.mcap: every topic (ros2 bag / Foxglove); run.png / .gif / .mp4: "
                        "replay of the simulated run")
    deploy.add_argument("--duration", type=float, default=None, help="seconds, then stop")
    deploy.add_argument("--view", type=int, nargs="?", const=8765, default=None, metavar="PORT",
                        help="live view in a browser at http://127.0.0.1:PORT/ (default 8765)")
    deploy.set_defaults(handler=_cmd_deploy)

    excite = sub.add_parser("excite", help="drive and record the calibration manoeuvre "
                            "(docs/calibration.md)")
    excite.add_argument("--sim", action="store_true", help="on robot_sim_node instead")
    excite.add_argument("--record", default=None, help="run.mcap for crawler-rl calibrate")
    excite.add_argument("--policy", default=None, help="controller.onnx (default: plain IK)")
    excite.add_argument("--time-scale", type=float, default=1.0,
                        help="stretch (> 1) or shorten (< 1) the ~32 s manoeuvre")
    excite.add_argument("--crawler-config", type=Path, default=None,
                        help="--sim: the simulated robot's crawler YAML")
    _add_surface_arguments(excite, required=False)
    excite.set_defaults(handler=_cmd_excite)

    calibrate = sub.add_parser("calibrate", help="fit the simulator to a recorded run")
    calibrate.add_argument("recording", help="run.mcap recorded with crawler-rl excite")
    calibrate.add_argument("--params", default=None,
                           help="comma-separated config keys or patterns (motor.*) to fit "
                           "(default: motor.gain,motor.lag_time,motor.droop,"
                           "tether.drag_per_metre)")
    calibrate.add_argument("--crawler-config", type=Path, default=None,
                           help="crawler YAML to start from (default: config/crawler.yaml)")
    calibrate.add_argument("--max-evaluations", type=int, default=200,
                           help="simulated replays at most")
    calibrate.add_argument("-o", "--output", default="crawler_fit.yaml",
                           help="fitted crawler YAML (report .report.json and .png beside it)")
    calibrate.add_argument("--no-progress", action="store_true", help="hide the progress")
    _add_surface_arguments(calibrate, required=True)
    calibrate.set_defaults(handler=_cmd_calibrate)

    actors = sub.add_parser("actors", help="start actor nodes only (worker machines)")
    actors.add_argument("--count", type=int, default=1)
    actors.add_argument("--envs-per-actor", type=int, default=None)
    actors.add_argument("--first-id", type=int, default=0,
                        help="actor id of the first actor (unique per machine)")
    actors.add_argument("--config", type=Path, default=None)
    actors.add_argument("--env", default=None)
    actors.set_defaults(handler=_cmd_actors)

    drive = sub.add_parser("drive", help="drive the inverse-kinematics baseline in simulation")
    drive.add_argument("--surface", default="vertical",
                       choices=["deck", "incline", "vertical", "curved"])
    drive.add_argument("--tether-length", type=float, default=25.0)
    drive.add_argument("--seconds", type=float, default=20.0)
    drive.add_argument("--seed", type=int, default=0)
    drive.set_defaults(handler=_cmd_drive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `crawler-rl` console script."""
    from crawler_rl.stopping import Stopped, exit_code

    args = build_parser().parse_args(argv)
    # `kill -USR1 <pid>` writes every thread's Python stack to stderr, of this process and of the
    # rollout workers it forks: a run that hangs shows where it waits, and keeps running.
    # (Called in-process with a stderr that has no file descriptor, as under pytest's capture,
    # it goes to the process's real stderr.)
    faulthandler.register(signal.SIGUSR1, file=sys.__stderr__ or sys.stderr, all_threads=True)
    # Started as a background job of a script, SIGINT arrives ignored: `kill -INT` must still
    # stop the command the documented way (the long-running ones handle it themselves).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"crawler-rl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Stopped as stopped:
        resume = "; continue with --resume" if args.command == "train" else ""
        print(f"crawler-rl {args.command}: {stopped}{resume}", file=sys.stderr)
        return stopped.exit_code
    except KeyboardInterrupt:
        return exit_code(signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
