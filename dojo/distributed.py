"""Run kata code on a real torch.distributed world: N local processes, one per rank.

The one place that knows how to launch a world. A test writes a module-level *worker*

    def allreduce_worker(kata, rank, world_size, n):
        x = torch.arange(n, dtype=torch.float32) + rank
        return kata.ring_allreduce(x)

and asks for its results, one per rank, in rank order:

    results = run_world(kata, allreduce_worker, world_size=2, args=(10,), timeout=10)

Each rank runs `worker(kata_module, rank, world_size, *args)` in its own process, inside an
initialised default process group: gloo on CPU; NCCL on CUDA with rank r on cuda:r, which
needs `world_size` GPUs (`skip_reason(device, world_size)` says why a world cannot run here;
the test skips with it). Inside a worker, `rank_device()` is the device of this rank. A
worker's return value (tensors moved to CPU) is sent back with torch.save.

How the processes start:
- CPU: os.fork of the test process (on Linux and other non-macOS POSIX). The child inherits
  the loaded kata module and the worker as they are, torch already imported: a world starts
  in a fraction of a second instead of 2-4 s of interpreter start and torch import per rank.
  No fork-unsafe state is touched: the parent never initialises a process group or CUDA for
  the world, and each child runs torch single-threaded.
- CUDA (a CUDA context does not survive fork), and CPU where fork is unsafe (macOS): a fresh
  `python -m dojo.distributed SPEC` per rank, which loads the kata module again the way
  dojo.loading loaded it (starter, solution, pristine or a file; any other module from its
  `__file__`) and the worker from its defining file and __qualname__. So workers must be
  module-level functions; a nested function or a lambda is refused on every device alike.

Rendezvous: the parent itself serves the TCPStore, bound to 127.0.0.1 on a port the kernel
picks (port 0), and every rank connects to it as a client. No port is ever guessed, so no
two worlds (two pytest runs side by side) can collide, and there is no EADDRINUSE to retry.

Never a process left behind:
- one overall deadline for the whole world (start included); on a timeout, on the first
  rank that fails, or when the parent is interrupted (Ctrl-C, pytest-timeout raising in the
  main thread), a `finally` sends SIGTERM to every rank's process group, then SIGKILL after a
  short grace, and reaps them;
- each rank also asks the kernel to kill it when the parent dies (PR_SET_PDEATHSIG on
  Linux), and arms a faulthandler watchdog that exits it a few seconds after the deadline:
  even a parent killed with SIGKILL (pytest-timeout's thread method, a mutation run's hard
  timeout) leaves no rank running.

Failures come back as AssertionError with a message a learner can act on: which rank raised
and its traceback (the engine's own frames left out), or, for a world that hangs, which ranks
were still running and the line of kata code each was blocked in (faulthandler dumps each
rank's stack on SIGTERM).

Speed: a forked rank pays for whatever the test process has not imported or initialised yet.
One trap: `y.backward(dy)` with an explicit gradient imports sympy (torch's symbolic shapes),
a second or more per rank on a busy machine; `(y * dy).sum().backward()` does not.

Results are memoised in this process by (kata module, worker, world_size, repr(args),
device): many small tests can share one launch. A failure is memoised too and re-raised by
every test that asks for the same world, so each test of a broken implementation fails,
quickly. `clear_cache()` forgets them. torch is imported lazily.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT = 30.0
KILL_GRACE = 1.0  # seconds between SIGTERM (stack dump) and SIGKILL
WATCHDOG_MARGIN = 5.0  # a rank exits by itself this long after the world's deadline
TRACEBACK_LINES = 40  # of each failing rank's traceback, in the message
HANG_HINT = ("a send without a matching recv, or a collective that not every rank calls, "
             "deadlocks")

_ENGINE_FILE = os.path.abspath(__file__)
_cache: dict[tuple, tuple[bool, object]] = {}
launches = 0  # worlds actually started in this process (memoised calls do not count)

# Set in a rank's process before the worker runs.
_rank_device = None


def _device_type(device) -> str:
    return getattr(device, "type", str(device).split(":")[0])


def skip_reason(device, world_size: int) -> str | None:
    """Why a world of `world_size` ranks cannot run on `device` here, or None if it can."""
    import torch
    import torch.distributed as dist

    kind = _device_type(device)
    if not dist.is_available():
        return f"this torch build ({torch.__version__}) has no torch.distributed"
    if kind == "cpu":
        return None if dist.is_gloo_available() else "this torch build has no gloo backend"
    if kind == "cuda":
        if not dist.is_nccl_available():
            return "this torch build has no NCCL backend for a CUDA world"
        n = torch.cuda.device_count()
        if n < world_size:
            return (f"a CUDA world of {world_size} ranks needs {world_size} GPUs (NCCL puts one "
                    f"rank on each GPU), and this machine has {n}; run with --device cpu")
        return None
    return (f"torch.distributed has no backend for {kind} tensors (gloo takes CPU tensors, "
            "NCCL CUDA ones); run with --device cpu")


def rank_device():
    """Inside a worker: the torch.device of this rank (cpu, or cuda:rank in an NCCL world)."""
    if _rank_device is None:
        raise RuntimeError("rank_device() is only defined inside a worker run by run_world")
    return _rank_device


def clear_cache() -> None:
    """Forget memoised worlds (results and failures)."""
    _cache.clear()


def run_world(kata, worker, world_size: int = 2, *, args: tuple = (),
              timeout: float = DEFAULT_TIMEOUT, device="cpu", start: str | None = None) -> list:
    """Run `worker(kata, rank, world_size, *args)` on `world_size` ranks; their return values
    (tensors moved to CPU), in rank order.

    Raises AssertionError when a rank raises, dies, or the world is still running after
    `timeout` seconds (process start included); memoised, see the module docstring.
    start: "fork" or "spawn" (a fresh interpreter per rank); default: fork on CPU where it is
    safe, spawn otherwise. CUDA always spawns.
    """
    __tracebackhide__ = True  # pytest: the learner needs the message, not the engine's frames
    kind = _device_type(device)
    qualname = getattr(worker, "__qualname__", "")
    if "<" in qualname or not callable(worker):  # <locals>, <lambda>
        raise TypeError(f"run_world needs a module-level worker function, not {qualname!r}: "
                        "the ranks find it again by its file and name")
    if kind not in ("cpu", "cuda"):
        raise ValueError(skip_reason(kind, world_size))
    if start is None:
        start = "fork" if _use_fork(kind) else "spawn"
    if start not in ("fork", "spawn") or (start == "fork" and kind == "cuda"):
        raise ValueError(f"start={start!r}: use 'spawn' (any device) or 'fork' (cpu only)")
    key = (id(kata), getattr(kata, "__file__", None), worker.__code__.co_filename, qualname,
           world_size, repr(args), kind, start)
    if key not in _cache:
        try:
            _cache[key] = (True, _launch(kata, worker, world_size, args, timeout, kind,
                                         start == "fork"))
        except _WorldFailed as err:
            _cache[key] = (False, str(err))
    ok, value = _cache[key]
    if not ok:
        raise AssertionError(value)
    return list(value)


class _WorldFailed(Exception):
    pass


# ---------------------------------------------------------------------------- the parent


def _use_fork(kind: str) -> bool:
    return kind == "cpu" and hasattr(os, "fork") and sys.platform != "darwin"


@dataclass
class _Rank:
    rank: int
    pid: int
    folder: Path
    popen: object = None  # subprocess.Popen on the spawn path
    returncode: int | None = field(default=None)
    port_pipe: int | None = None  # fork path: where the parent writes the store's port

    def tell_port(self, port: int) -> None:
        try:
            os.write(self.port_pipe, f"{port}\n".encode())
        except OSError:  # the rank is already gone; _wait reports it
            pass
        finally:
            os.close(self.port_pipe)
            self.port_pipe = None

    def poll(self) -> int | None:
        if self.returncode is None:
            if self.popen is not None:
                self.returncode = self.popen.poll()
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> None:
        if self.returncode is None:
            if self.popen is not None:
                self.returncode = self.popen.wait()
            else:
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def send(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)  # the rank and anything it started
        except (ProcessLookupError, PermissionError):
            try:  # not yet its own group leader (it has only just been forked)
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def path(self, name: str) -> Path:
        return self.folder / f"rank{self.rank}.{name}"

    def read(self, name: str) -> str:
        try:
            return self.path(name).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def _launch(kata, worker, world_size, args, timeout, kind, fork) -> list:
    global launches
    import torch
    import torch.distributed as dist

    launches += 1

    def serve():
        return dist.TCPStore("127.0.0.1", 0, None, True, dt.timedelta(seconds=timeout + 10),
                             wait_for_workers=False)

    folder = Path(tempfile.mkdtemp(prefix="dojo-world-"))
    started = time.monotonic()
    spec = {"world_size": world_size, "port": None, "device": kind,
            "deadline": time.time() + timeout, "timeout": timeout, "folder": str(folder),
            "parent": os.getpid()}
    ranks: list[_Rank] = []
    store = None
    try:
        try:
            if fork:
                # Fork every rank BEFORE the store exists: the store's server thread may hold
                # a lock at the instant of a fork (it is busy with the ranks already
                # connecting), and a child that inherits a held lock hangs on it. The ranks
                # wait for the port on a pipe.
                for rank in range(world_size):
                    ranks.append(_fork(dict(spec, rank=rank), kata, worker, args, folder))
                store = serve()
                for r in ranks:
                    r.tell_port(store.port)
            else:
                store = serve()
                spec.update(_spawn_spec(kata, worker, args, folder), port=store.port)
                for rank in range(world_size):
                    ranks.append(_spawn(dict(spec, rank=rank), folder))
            failure = _wait(ranks, started, timeout)
        finally:
            for r in ranks:  # a rank still waiting for its port reads EOF and exits
                if r.port_pipe is not None:
                    os.close(r.port_pipe)
                    r.port_pipe = None
            _stop(ranks)
            del store
        if failure is not None:
            raise _WorldFailed(failure())
        return [torch.load(r.path("result"), weights_only=False) for r in ranks]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait(ranks, started, timeout):
    """None when every rank exited 0; else a function that writes the failure message once
    the ranks are stopped (their logs complete)."""
    while True:
        codes = [r.poll() for r in ranks]
        failed = [r for r, code in zip(ranks, codes, strict=True) if code not in (None, 0)]
        if failed:
            return lambda: _failure_message(failed, len(ranks))
        if all(code == 0 for code in codes):
            return None
        if time.monotonic() - started > timeout:
            running = [r for r, code in zip(ranks, codes, strict=True) if code is None]
            return lambda: _timeout_message(running, timeout, len(ranks))
        time.sleep(0.005)


def _stop(ranks) -> None:
    """SIGTERM every rank still running (each dumps its stack), SIGKILL after a grace; reap."""
    alive = [r for r in ranks if r.poll() is None]
    for r in alive:
        r.send(signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE
    while any(r.poll() is None for r in alive) and time.monotonic() < end:
        time.sleep(0.005)
    for r in alive:
        if r.poll() is None:
            r.send(signal.SIGKILL)
    for r in ranks:
        r.wait()


def _fork(spec, kata, worker, args, folder) -> _Rank:
    import warnings

    port_read, port_write = os.pipe()
    with warnings.catch_warnings():  # python >= 3.12 warns about fork with threads alive
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the rank: never returns into the test process
        code = 1
        try:
            os.setpgid(0, 0)
            os.close(port_write)
            spec["port_pipe"] = port_read
            code = _rank_main(spec, kata, worker, args)
        except BaseException:  # noqa: B036  (even SystemExit must not run pytest's code here)
            try:
                traceback.print_exc()
            except BaseException:  # noqa: B036
                pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(port_read)
    try:
        os.setpgid(pid, pid)  # also here: no race with a kill right after the fork
    except OSError:
        pass
    return _Rank(spec["rank"], pid, folder, port_pipe=port_write)


def _spawn_spec(kata, worker, args, folder) -> dict:
    args_path = folder / "args.pkl"
    args_path.write_bytes(pickle.dumps(tuple(args)))
    spec = {"worker_file": worker.__code__.co_filename, "worker_qualname": worker.__qualname__,
            "args": str(args_path)}
    loaded = getattr(kata, "__dojo_kata__", None)  # set by dojo.loading: reload it the same way
    if loaded is not None:
        return {**spec, "kata_loaded": loaded}
    name = getattr(kata, "__file__", None) or ""
    if not Path(name).is_file():
        raise _WorldFailed(f"cannot start the ranks: the kata module {kata.__name__!r} has no "
                           f"source file ({name!r}) to load in them")
    return {**spec, "kata_file": name, "kata_name": kata.__name__}


def _spawn(spec, folder) -> _Rank:
    import subprocess

    spec_path = folder / f"rank{spec['rank']}.spec"
    spec_path.write_bytes(pickle.dumps(spec))
    env = dict(os.environ)
    root = str(Path(_ENGINE_FILE).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    with open(folder / f"rank{spec['rank']}.log", "wb") as log:
        popen = subprocess.Popen([sys.executable, "-m", "dojo.distributed", str(spec_path)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                 start_new_session=True)
    return _Rank(spec["rank"], popen.pid, folder, popen=popen)


# ---------------------------------------------------------------------------- messages


def _failure_message(failed, world_size) -> str:
    by_text: dict[str, list[int]] = {}
    for r in failed:
        text = r.read("error").strip()
        if not text:  # died without a Python traceback: a signal, os._exit, a crash
            code = r.returncode
            how = (f"was killed by {signal.Signals(-code).name}" if code < 0
                   else f"exited with status {code}")
            text = f"the process {how}\n" + _tail(r.read("log"), 20)
        by_text.setdefault(text, []).append(r.rank)
    parts = []
    for text, ranks in by_text.items():
        who = f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {ranks}"
        parts.append(f"{who} of {world_size} failed (the other ranks were stopped):\n"
                     f"{_tail(text, TRACEBACK_LINES)}")
    return "\n\n".join(parts)


def _timeout_message(running, timeout, world_size) -> str:
    not_started = [r.rank for r in running if not r.path("ready").exists()]
    if not_started:
        return (f"timed out after {timeout:g}s before ranks {not_started} of {world_size} had "
                "joined the process group (process start, torch import, rendezvous): the "
                "machine may be very busy; try again")
    lines = [f"timed out after {timeout:g}s: ranks {[r.rank for r in running]} of "
             f"{world_size} still running — {HANG_HINT}."]
    for r in running:
        where = _where_stuck(r.read("log"))
        if where:
            lines.append(f"rank {r.rank} was waiting in:\n{where}")
    return "\n".join(lines)


def _where_stuck(log: str) -> str:
    """The frames of kata or test code in the last faulthandler dump of a rank's log
    (most recent call first), without torch's or the engine's frames."""
    start = max(log.rfind("Current thread"), log.rfind("Stack (most recent call first)"))
    if start < 0:
        return ""
    frames = []
    for line in log[start:].splitlines()[1:]:
        if not line.strip().startswith("File") or _ENGINE_FILE in line:
            break  # the engine called the worker: below are the launcher's frames
        if f"{os.sep}torch{os.sep}" not in line:
            frames.append(line)
    return "\n".join(frames[:6])


def _tail(text: str, n: int) -> str:
    lines = text.rstrip().splitlines()
    return "\n".join((["..."] if len(lines) > n else []) + lines[-n:])


# ---------------------------------------------------------------------------- a rank


def _rank_main(spec, kata=None, worker=None, args=()) -> int:
    """The life of one rank; returns its exit status. kata/worker/args are None on the spawn
    path and loaded from the spec. Output goes to rankN.log, a traceback to rankN.error."""
    rank, folder = spec["rank"], Path(spec["folder"])
    log = open(folder / f"rank{rank}.log", "ab", buffering=0)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = open(log.fileno(), "w", buffering=1, closefd=False,
                                   encoding="utf-8", errors="replace")
    try:
        return _rank_body(spec, kata, worker, args)
    except BaseException as err:  # noqa: B036  (SystemExit too: report it, never unwind)
        (folder / f"rank{rank}.error").write_text(_format_error(err), encoding="utf-8")
        return 1


def _rank_body(spec, kata, worker, args) -> int:
    global _rank_device
    rank, world_size, folder = spec["rank"], spec["world_size"], Path(spec["folder"])
    _die_with_parent(spec["parent"])
    import faulthandler

    faulthandler.cancel_dump_traceback_later()
    faulthandler.enable(file=sys.stderr)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread
        pass
    # SIGTERM from the parent (the world timed out): dump where this rank is, then die.
    faulthandler.register(signal.SIGTERM, file=sys.stderr, all_threads=False, chain=True)
    remaining = spec["deadline"] - time.time()
    faulthandler.dump_traceback_later(max(remaining, 0.0) + WATCHDOG_MARGIN, exit=True,
                                      file=sys.stderr)
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # N ranks share the cores
    if worker is None:
        kata, worker, args = _load(spec)
    if spec["device"] == "cuda":
        torch.cuda.set_device(rank)
        _rank_device = torch.device("cuda", rank)
    else:
        _rank_device = torch.device("cpu")
    backend = "nccl" if spec["device"] == "cuda" else "gloo"
    wait = dt.timedelta(seconds=max(remaining, 1.0) + 2 * WATCHDOG_MARGIN)
    port = spec["port"]
    if port is None:  # forked: the parent starts the store after the fork and sends its port
        with os.fdopen(spec.pop("port_pipe"), "rb") as pipe:
            line = pipe.readline()
        if not line:
            raise RuntimeError("the test process never sent the store's port")
        port = int(line)
    store = dist.TCPStore("127.0.0.1", port, None, False, wait)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                            timeout=wait)
    barrier = dist.barrier  # captured before the worker: a worker may patch collectives
    (folder / f"rank{rank}.ready").touch()
    result = worker(kata, rank, world_size, *args)
    torch.save(_to_cpu(result), folder / f"rank{rank}.result")
    if backend == "nccl":
        barrier(device_ids=[rank])
    else:
        barrier()  # no rank leaves while a peer may still read what it sent
    dist.destroy_process_group()
    return 0


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when the parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)


def _format_error(err: BaseException) -> str:
    """The traceback of a worker's exception, without the engine's own frames."""
    tb = traceback.TracebackException.from_exception(err)
    while tb.stack and tb.stack[0].filename == _ENGINE_FILE:
        tb.stack.pop(0)
    return "".join(tb.format())


def _to_cpu(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _load(spec):
    """Spawn path: the kata module from its file, the worker from its file and qualname."""
    import importlib.util

    def load(path, name):
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module

    if "kata_loaded" in spec:
        from dojo import catalog, loading

        root, slug, impl = spec["kata_loaded"]
        kata = loading.load(catalog.load_kata(Path(root), slug), impl)
    else:
        kata = load(spec["kata_file"], spec["kata_name"])
    obj = load(spec["worker_file"], "_dojo_world_worker_module")
    for part in spec["worker_qualname"].split("."):
        obj = getattr(obj, part)
    args = pickle.loads(Path(spec["args"]).read_bytes())
    return kata, obj, args


def _main(argv: list[str]) -> None:
    spec = pickle.loads(Path(argv[0]).read_bytes())
    code = 1
    try:
        code = _rank_main(spec)
    except BaseException:  # noqa: B036
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    # Run the imported module's copy, not __main__'s: workers read dojo.distributed's globals.
    from dojo.distributed import _main as main

    main(sys.argv[1:])
