"""Collect rollouts in worker processes (a SyncVecEnv and a policy replica each), one per core.

Each worker steps its envs *and* runs the policy on them for a whole rollout, then ships the
rollout in one message: one round trip per rollout instead of one per env step, and the
trainer's process sleeps while the workers use the cores. The trainer sends the current
weights and every env's sampling noise with each request, so a worker's rollout equals
`collector.collect_rollout` on the same envs in-process. Env seeding is SyncVecEnv's (env i
gets seed + i). Nothing is pickled: workers are forked (inheriting the configs) and messages
are `named_arrays` (raw array bytes behind a JSON index); a rollout travels as
`Rollout.to_arrays`.

Workers die with the trainer whatever ends it (PR_SET_PDEATHSIG SIGKILL), ignore SIGINT and
SIGHUP (a Ctrl-C or a hangup reaches the whole process group: the trainer decides how to stop)
and die on SIGTERM.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import struct
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from crawler_rl.rl.collector import InProcessCollector, check_noise_shape
from crawler_rl.rl.config import EnvConfig, ModelConfig
from crawler_rl.rl.named_arrays import pack_arrays, unpack_arrays
from crawler_rl.rl.policy import ActorCritic
from crawler_rl.rl.rollout import Rollout, concat_envs
from crawler_rl.stopping import die_with_parent

_RESET, _COLLECT, _CLOSE, _ERROR = b"R", b"P", b"C", b"E"
_STATE = "state."
_TIMING = "timing."
"""Rollout message entries `timing.<part>`: a worker's seconds in each part of the request."""
_NO_SEED = -1


def _follow_the_trainer(trainer_pid: int) -> None:
    """Signal dispositions of a worker (it inherits the trainer's handlers at fork).

    Ctrl-C and a terminal's hangup reach the whole process group: the trainer decides (under
    `nohup` it ignores SIGHUP, and its workers must live on too). SIGTERM ends a worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(signal.SIGKILL, trainer_pid)


def _worker(connection: Connection, env_cfg: EnvConfig, model_cfg: ModelConfig, num_envs: int,
            first_env: int, trainer_pid: int) -> None:
    """Serve reset/collect requests for `num_envs` envs until told to close."""
    _follow_the_trainer(trainer_pid)
    from crawler_rl.rl.envs import describe_env, make_env_factory
    from crawler_rl.sim.vec_env import SyncVecEnv

    collector = None
    try:
        torch.set_num_threads(1)  # one worker per core
        envs = SyncVecEnv([make_env_factory(env_cfg) for _ in range(num_envs)])
        collector = InProcessCollector(envs, describe_env(envs.envs[0], env_cfg.env_id),
                                       first_env)
        policy = ActorCritic.for_env(collector.env_info, envs.obs_dim, envs.action_dim, model_cfg)
        info = json.dumps(collector.env_info).encode()
        connection.send_bytes(pack_arrays({"env_info": np.frombuffer(info, np.uint8),
                                     "obs_dim": np.array(envs.obs_dim),
                                     "action_dim": np.array(envs.action_dim)}))
        while True:
            message = connection.recv_bytes()
            kind, body = message[:1], message[1:]
            if kind == _RESET:
                (seed,) = struct.unpack("<q", body)
                collector.reset(None if seed == _NO_SEED else seed)
                connection.send_bytes(pack_arrays({}))
            elif kind == _COLLECT:
                begin, begin_cpu = time.perf_counter(), time.process_time()
                arrays = unpack_arrays(body)
                policy.load_state_dict({name[len(_STATE):]: torch.from_numpy(array)
                                        for name, array in arrays.items()
                                        if name.startswith(_STATE)})
                timings = {"load": time.perf_counter() - begin}
                rollout = collector.collect(policy, torch.from_numpy(arrays["noise"]), timings)
                timings["busy"] = time.perf_counter() - begin
                timings["cpu"] = time.process_time() - begin_cpu
                connection.send_bytes(pack_arrays({**rollout.to_arrays(), **{
                    _TIMING + part: np.array(seconds) for part, seconds in timings.items()}}))
            else:
                break
    except Exception as error:  # noqa: BLE001 - report any failure to the parent, then exit
        try:
            connection.send_bytes(_ERROR + f"{type(error).__name__}: {error}".encode())
        except OSError:
            pass
    finally:
        if collector is not None:
            collector.close()
        connection.close()


class RolloutWorkers:
    """`num_envs` envs split over `num_workers` forked collector processes.

    Same interface as `collector.InProcessCollector`; rollouts come back concatenated over
    the workers (env axis 1, in env order).
    """

    def __init__(self, env_cfg: EnvConfig, model_cfg: ModelConfig, num_envs: int,
                 num_workers: int) -> None:
        if not 1 <= num_workers <= num_envs:
            raise ValueError(f"num_workers must be in [1, num_envs={num_envs}], got {num_workers}")
        context = mp.get_context("fork")
        self.num_envs = num_envs
        self.counts = [len(chunk) for chunk in np.array_split(np.arange(num_envs), num_workers)]
        self.offsets = np.cumsum([0, *self.counts[:-1]]).tolist()
        self.connections: list[Connection] = []
        self.processes = []
        self.last_timings: list[dict[str, float]] = []
        """Per worker, seconds of the last rollout in: load (weights), sim, policy, busy
        (the whole request, from receiving it to packing the reply) and cpu (the process's
        CPU time over the request)."""
        self._pending = False
        # Whether requests are out that the workers have not answered (see `close`).
        self.busy = False
        for count, offset in zip(self.counts, self.offsets, strict=True):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, env_cfg, model_cfg, count,
                                                            offset, os.getpid()),
                                      daemon=True)
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)
        self.busy = True  # starting: `close` terminates them, e.g. on a stop signal
        try:
            ready = [self._receive(index) for index in range(num_workers)]
        except BaseException:
            self.close()  # the workers that did start
            raise
        self.busy = False
        self.env_info: dict[str, Any] = json.loads(ready[0]["env_info"].tobytes())
        self.obs_dim = int(ready[0]["obs_dim"])
        self.action_dim = int(ready[0]["action_dim"])

    def _receive(self, index: int) -> dict[str, np.ndarray]:
        try:
            data = self.connections[index].recv_bytes()
        except (EOFError, OSError) as error:  # a killed worker: EOF or connection reset
            raise RuntimeError(f"env worker {index} exited unexpectedly ({error!r})") from None
        if data[:1] == _ERROR:
            raise RuntimeError(f"env worker {index} failed: {data[1:].decode()}")
        return unpack_arrays(data)

    def _send(self, index: int, message: bytes) -> None:
        try:
            self.connections[index].send_bytes(message)
        except OSError as error:  # BrokenPipeError: the worker is gone
            raise RuntimeError(f"env worker {index} exited unexpectedly ({error})") from None

    def reset(self, seed: int | None = None) -> None:
        """Reset every env (env i gets seed + i); RuntimeError while a rollout is under way."""
        if self._pending:
            raise RuntimeError("cannot reset the envs while a rollout is under way")
        self.busy = True
        for index, offset in enumerate(self.offsets):
            worker_seed = _NO_SEED if seed is None else seed + offset
            self._send(index, _RESET + struct.pack("<q", worker_seed))
        for index in range(len(self.connections)):
            self._receive(index)
        self.busy = False

    def collect(self, policy: ActorCritic, noise: torch.Tensor) -> Rollout:
        """One rollout of all envs with `policy`'s current weights (see `collect_rollout`).

        noise: Shape (steps, num_envs, action_dim); each worker gets its envs' columns.
        """
        self.start(policy, noise)
        return self.finish()

    def start(self, policy: ActorCritic, noise: torch.Tensor) -> None:
        """Send a rollout request with a copy of `policy`'s weights now; `finish` returns it.

        The workers act with the weights as they are at this call, whatever the caller does
        to `policy` before `finish` (that is how the trainer overlaps an update with the next
        rollout). One request at a time: RuntimeError if one is pending.
        """
        if self._pending:
            raise RuntimeError("a rollout is already under way: finish() it first")
        check_noise_shape(noise, self.num_envs, self.action_dim)
        state = {_STATE + name: tensor.detach().cpu().numpy()
                 for name, tensor in policy.state_dict().items()}
        noise_np = noise.cpu().numpy()
        self.busy = True
        for index, (offset, count) in enumerate(zip(self.offsets, self.counts, strict=True)):
            self._send(index, _COLLECT + pack_arrays(
                {**state, "noise": noise_np[:, offset:offset + count]}))
        self._pending = True

    def finish(self) -> Rollout:
        """Wait for the rollout requested by `start`; return it (env axis in env order)."""
        if not self._pending:
            raise RuntimeError("no rollout under way: start() one first")
        parts = [self._receive(index) for index in range(len(self.connections))]
        self.busy = self._pending = False
        self.last_timings = [
            {key[len(_TIMING):]: float(part.pop(key))
             for key in [key for key in part if key.startswith(_TIMING)]} for part in parts]
        return concat_envs([Rollout.from_arrays(part) for part in parts])

    def close(self) -> None:
        """Stop the workers: idle ones close their envs, busy ones are terminated at once.

        Busy: a rollout abandoned by a stop signal or an error; waiting for it would delay
        the stop by a whole rollout.
        """
        if self.busy:
            for process in self.processes:
                process.terminate()
        for connection in self.connections:
            try:
                connection.send_bytes(_CLOSE)
            except OSError:
                pass
            connection.close()
        for process in self.processes:
            process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=1.0)
        self.connections, self.processes = [], []
