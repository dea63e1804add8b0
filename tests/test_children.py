"""Worker processes die with their parent: a parent killed with SIGKILL (the out-of-memory killer) leaves
no worker writing into its output folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mapfree import children

PARENT = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from pathlib import Path

    from mapfree.children import process_pool

    def busy(path):
        Path(path).write_text(str(os.getpid()))
        time.sleep(60)

    if __name__ == "__main__":
        folder = Path(sys.argv[1])
        pool = process_pool(2, multiprocessing.get_context(sys.argv[2]))
        for i in range(2):
            pool.submit(busy, folder / f"worker{i}.pid")
        time.sleep(60)
""")

WATCHED = textwrap.dedent("""
    import os, subprocess, sys, time

    child = "import os; from mapfree.children import watch_parent; print(os.getpid(), flush=True); watch_parent({}, .1)"
    subprocess.Popen([sys.executable, "-c", child.format(os.getpid())])
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for a parent that never reaps it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def kill_and_check(parent: subprocess.Popen, pids: list[int]) -> None:
    """SIGKILL `parent`; every pid in `pids` must be gone within a few seconds (else killed here)."""
    assert all(alive(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        assert wait_for(lambda: not any(alive(pid) for pid in pids), 5), "a worker outlived its parent"
    finally:
        for pid in filter(alive, pids):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_pool_workers_die_when_their_parent_is_killed(tmp_path, method):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), method])
    files = [tmp_path / f"worker{i}.pid" for i in range(2)]
    try:
        assert wait_for(lambda: all(f.is_file() and f.read_text() for f in files), 30), "the workers did not start"
        kill_and_check(parent, [int(f.read_text()) for f in files])
    finally:
        parent.kill()


def test_the_watchdog_ends_a_child_whose_parent_is_killed():
    """The portable fallback, where `prctl` is not available."""
    parent = subprocess.Popen([sys.executable, "-c", WATCHED], stdout=subprocess.PIPE, text=True)
    try:
        kill_and_check(parent, [int(parent.stdout.readline())])
    finally:
        parent.kill()
        parent.stdout.close()


def test_a_worker_whose_parent_died_before_it_was_armed_exits_at_once():
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()  # the pid of the parent that started the worker, gone before the worker armed its signal
    code = f"from mapfree.children import die_with_parent; die_with_parent({dead.pid}); print('ran on')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == children.ORPHANED_EXIT and "ran on" not in done.stdout


class PoolMade(Exception):
    pass


def record_pool(calls: list[dict]):
    def process_pool(workers, mp_context=None, initializer=None, initargs=()):
        calls.append({"context": mp_context, "initializer": initializer, "initargs": initargs})
        raise PoolMade

    return process_pool


def test_study_and_synth_workers_come_from_the_pool_that_dies_with_its_parent(tmp_path, monkeypatch):
    from mapfree.study import pipeline
    from mapfree.synth import SynthConfig, generate, generate_dataset

    calls: list[dict] = []
    monkeypatch.setattr(pipeline, "process_pool", record_pool(calls))
    monkeypatch.setattr(pipeline, "load_record", lambda path: None)
    monkeypatch.setattr(generate, "process_pool", record_pool(calls))
    jobs = [type("Job", (), {"record_file": tmp_path / f"{i}.json"})() for i in range(2)]
    with pytest.raises(PoolMade):
        pipeline.execute(jobs, workers=2)
    with pytest.raises(PoolMade):
        generate_dataset(tmp_path / "synth", SynthConfig(train_scenes=2, val_scenes=0, test_scenes=0), workers=2)
    assert calls[0]["context"].get_start_method() == "spawn" and calls[0]["initializer"] is pipeline.worker_setup
    assert len(calls) == 2
