"""Tests for dojo.distributed: worlds of real processes on gloo, with a throwaway kata module.

Fork-started worlds cost a fraction of a second; the two tests that start fresh interpreters
(the spawn path, and a parent killed outright) pay a torch import each.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from dojo import distributed  # noqa: E402
from dojo.distributed import clear_cache, run_world, skip_reason  # noqa: E402

if skip_reason("cpu", 2):
    pytest.skip(skip_reason("cpu", 2), allow_module_level=True)

KATA = '''\
import torch
import torch.distributed as dist


def scaled_sum(x, scale):
    """Sum of x over the ranks, times scale."""
    dist.all_reduce(x)
    return x * scale


def broken(x):
    raise ValueError(f"learner bug with {x.numel()} elements")
'''


@pytest.fixture
def toy(tmp_path):
    """A kata module loaded from a file, as the `kata` fixture would give it."""
    path = tmp_path / "toy_kata.py"
    path.write_text(KATA)
    spec = importlib.util.spec_from_file_location(f"toy_kata_{id(path)}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]
    clear_cache()


def gone(pid: int) -> bool:
    """The process is not running (reaped, or at most a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (FileNotFoundError, IndexError):
        return True


def pids_in(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(folder.glob("pid*"))]


def wait_for_pids(folder: Path, n: int, seconds: float = 5.0) -> list[int]:
    end = time.monotonic() + seconds
    while len(pids_in(folder)) < n and time.monotonic() < end:
        time.sleep(0.02)
    return pids_in(folder)


# ------------------------------------------------------------------------------ workers


def sum_worker(kata, rank, world_size, n):
    x = torch.arange(n, dtype=torch.float32) + rank
    return {"rank": rank, "world_size": world_size, "out": kata.scaled_sum(x, 2.0),
            "device": str(distributed.rank_device()), "pid": os.getpid()}


def raising_worker(kata, rank, world_size):
    if rank == 1:
        kata.broken(torch.zeros(3))
    dist.barrier()
    return rank


def deadlock_worker(kata, rank, world_size, folder):
    Path(folder, f"pid{rank}").write_text(str(os.getpid()))
    if rank == 0:
        dist.recv(torch.zeros(1), src=1)  # rank 1 never sends
    return rank


def sleeping_worker(kata, rank, world_size, folder):
    Path(folder, f"pid{rank}").write_text(str(os.getpid()))
    time.sleep(120)


def exiting_worker(kata, rank, world_size):
    if rank == 0:
        os._exit(3)
    return rank


# ------------------------------------------------------------------------------ results


@pytest.mark.parametrize("world_size", [2, 4])
def test_results_come_back_per_rank_in_rank_order(toy, world_size):
    results = run_world(toy, sum_worker, world_size, args=(5,), timeout=15)
    assert [r["rank"] for r in results] == list(range(world_size))
    assert all(r["world_size"] == world_size for r in results)
    expected = 2.0 * (world_size * torch.arange(5.0) + sum(range(world_size)))
    for r in results:
        assert torch.equal(r["out"], expected)
        assert r["device"] == "cpu"
    assert len({r["pid"] for r in results} | {os.getpid()}) == world_size + 1, (
        "each rank must run in a process of its own")


def test_identical_calls_share_one_launch(toy):
    before = distributed.launches
    first = run_world(toy, sum_worker, 2, args=(3,), timeout=15)
    second = run_world(toy, sum_worker, 2, args=(3,), timeout=15)
    assert distributed.launches == before + 1
    assert [r["pid"] for r in first] == [r["pid"] for r in second]
    run_world(toy, sum_worker, 2, args=(4,), timeout=15)  # other args: a world of its own
    assert distributed.launches == before + 2
    clear_cache()
    run_world(toy, sum_worker, 2, args=(3,), timeout=15)
    assert distributed.launches == before + 3


# ------------------------------------------------------------------------------ failures


def test_a_rank_that_raises_is_named_with_its_traceback(toy):
    before = distributed.launches
    with pytest.raises(AssertionError) as info:
        run_world(toy, raising_worker, 2, timeout=15)
    message = str(info.value)
    assert "rank 1 of 2 failed" in message
    assert "ValueError: learner bug with 3 elements" in message
    assert "toy_kata.py" in message and "in broken" in message  # the learner's frame
    assert "_rank_body" not in message  # not the engine's
    # memoised: every test of a broken implementation fails, without a new launch
    with pytest.raises(AssertionError, match="learner bug"):
        run_world(toy, raising_worker, 2, timeout=15)
    assert distributed.launches == before + 1


def test_a_rank_that_dies_is_reported(toy):
    with pytest.raises(AssertionError, match=r"(?s)rank 0 of 2 failed.*exited with status 3"):
        run_world(toy, exiting_worker, 2, timeout=15)


def test_a_deadlock_times_out_and_leaves_no_process(toy, tmp_path):
    start = time.monotonic()
    with pytest.raises(AssertionError) as info:
        run_world(toy, deadlock_worker, 2, args=(str(tmp_path),), timeout=2)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "timed out after 2s" in message and "[0, 1]" in message
    assert "a send without a matching recv" in message
    assert "rank 0 was waiting in" in message and "in deadlock_worker" in message
    assert elapsed < 2 + distributed.KILL_GRACE + 3, f"took {elapsed:.1f}s"
    pids = pids_in(tmp_path)
    assert len(pids) == 2 and all(gone(pid) for pid in pids)


class Interrupted(BaseException):
    pass


def test_an_interrupted_parent_stops_every_rank(toy, tmp_path):
    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        with pytest.raises(Interrupted):
            run_world(toy, sleeping_worker, 2, args=(str(tmp_path),), timeout=15)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    pids = pids_in(tmp_path)
    assert len(pids) == 2 and all(gone(pid) for pid in pids)


ORPHAN_SCRIPT = '''\
import importlib.util, sys
sys.path.insert(0, {tests!r})
spec = importlib.util.spec_from_file_location("toy", {kata!r})
kata = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kata)
import test_distributed as t
from dojo.distributed import run_world
run_world(kata, t.sleeping_worker, 2, args=({folder!r},), timeout=60)
'''


@pytest.mark.timeout(60)
def test_ranks_die_with_a_parent_killed_outright(tmp_path):
    kata = tmp_path / "toy_kata.py"
    kata.write_text(KATA)
    script = ORPHAN_SCRIPT.format(tests=str(Path(__file__).parent), kata=str(kata),
                                  folder=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                              env=dict(os.environ, TMPDIR=str(tmp_path)))  # its world folder
    try:
        pids = wait_for_pids(tmp_path, 2, seconds=40)
        assert len(pids) == 2, "the ranks did not start"
    finally:
        parent.kill()  # SIGKILL: no finally runs in the parent
        parent.wait()
    end = time.monotonic() + 5
    while not all(gone(pid) for pid in pids) and time.monotonic() < end:
        time.sleep(0.02)
    assert all(gone(pid) for pid in pids), "ranks outlived their parent"


@pytest.mark.timeout(60)
def test_spawned_ranks_reload_the_kata_and_the_worker_from_their_files(toy):
    results = run_world(toy, sum_worker, 2, args=(4,), timeout=50, start="spawn")
    assert [r["rank"] for r in results] == [0, 1]
    assert torch.equal(results[1]["out"], 2.0 * (2 * torch.arange(4.0) + 1))


# ------------------------------------------------------------------------------ the rest


def test_workers_must_be_module_level_functions(toy):
    def local(kata, rank, world_size):
        return rank

    with pytest.raises(TypeError, match="module-level"):
        run_world(toy, local)
    with pytest.raises(TypeError, match="module-level"):
        run_world(toy, lambda kata, rank, world_size: rank)
    with pytest.raises(ValueError, match="fork"):
        run_world(toy, sum_worker, args=(1,), device="cuda", start="fork")


def test_skip_reason_says_what_is_missing():
    assert skip_reason("cpu", 4) is None
    n = torch.cuda.device_count()
    reason = skip_reason(torch.device("cuda"), n + 1)
    assert reason is not None and (f"needs {n + 1} GPUs" in reason or "NCCL" in reason)
    assert "gloo" in skip_reason("mps", 2)


def test_two_worlds_at_once_do_not_collide(toy):
    """The store binds port 0, so two worlds (two pytest runs side by side) never pick the
    same port; here, two launches in a row each get a port of their own."""
    a = run_world(toy, sum_worker, 2, args=(6,), timeout=15)
    b = run_world(toy, sum_worker, 2, args=(7,), timeout=15)
    assert a[0]["out"].shape == (6,) and b[0]["out"].shape == (7,)


def running_children() -> list[str]:
    """/proc/PID/stat of our child processes that are still running (Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, ppid = text.rsplit(") ", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and state not in "ZX":
            out.append(text[:80])
    return out


@pytest.fixture(autouse=True)
def no_rank_left_behind():
    yield
    if sys.platform.startswith("linux"):
        alive = running_children()
        assert not alive, "child processes left running:\n" + "\n".join(alive)


def ring_worker(kata, rank, world_size):
    return kata.ring_allreduce(torch.ones(4))


@pytest.mark.timeout(60)
def test_spawned_ranks_load_a_pristine_starter_as_dojo_loading_did():
    # The pristine starter exists only in memory: the ranks generate it again through
    # dojo.loading, so the learner sees the TODO of the starter, not a missing file.
    from pathlib import Path

    from dojo import catalog, loading

    root = Path(__file__).resolve().parents[1]
    pristine = loading.load(catalog.load_kata(root, "ring_allreduce"), "pristine")
    try:
        with pytest.raises(AssertionError, match="NotImplementedError: TODO"):
            run_world(pristine, ring_worker, 2, timeout=50, start="spawn")
    finally:
        clear_cache()
