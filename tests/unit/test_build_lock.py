"""Unit tests of library/teletreball_build_lock.py with real processes as lock holders."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import threading
import time

import pytest
from module_runner import load_library_module, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(name="lock_module")
def fixture_lock_module():
    return load_library_module("teletreball_build_lock")


def write_lock(lock_module, path, pid, holder="tt-repo builds asterisk"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(lock_module.identity(pid), holder=holder)))


def test_a_free_lock_is_taken_privately_and_given_back(lock_module, tmp_path, capsys):
    lock = tmp_path / "cache" / "asterisk_22.lock"
    result = run_main(lock_module, {"path": str(lock), "holder": "tt-repo builds asterisk"}, capsys)
    assert result["rc"] == 0 and result["acquired"] and not result["done"]
    assert result["changed"] is False
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    content = json.loads(lock.read_text())
    assert content["holder"] == "tt-repo builds asterisk"
    assert content["pid"] == os.getppid()  # no ansible-playbook above the tests: the parent

    result = run_main(lock_module, {"path": str(lock), "state": "released"}, capsys)
    assert result["released"] and not lock.exists()


def test_a_live_run_is_waited_for_then_the_wait_fails_naming_it(lock_module, tmp_path, capsys,
                                                                  other_run):
    lock = tmp_path / "asterisk_22.lock"
    write_lock(lock_module, lock, other_run.pid)
    started = time.monotonic()
    result = run_main(lock_module, {"path": str(lock), "timeout": 2, "poll": 1}, capsys)
    assert time.monotonic() - started >= 2
    assert result["rc"] == 1 and result["failed"]
    assert "tt-repo builds asterisk" in result["msg"] and str(other_run.pid) in result["msg"]
    assert json.loads(lock.read_text())["pid"] == other_run.pid, "another run's lock was touched"


def test_the_lock_is_taken_when_the_other_run_gives_it_back(lock_module, tmp_path, capsys,
                                                              other_run):
    lock = tmp_path / "asterisk_22.lock"
    write_lock(lock_module, lock, other_run.pid)
    threading.Timer(1.5, lock.unlink).start()
    result = run_main(lock_module, {"path": str(lock), "timeout": 30, "poll": 1}, capsys)
    assert result["acquired"] and result["waited"] >= 1
    assert json.loads(lock.read_text())["pid"] == os.getppid()


def test_the_other_runs_finished_build_ends_the_wait(lock_module, tmp_path, capsys, other_run):
    lock = tmp_path / "asterisk_22.lock"
    done = tmp_path / "asterisk_22" / ".complete"
    write_lock(lock_module, lock, other_run.pid)

    def finish():
        done.parent.mkdir()
        done.write_text("built\n")
    threading.Timer(1.5, finish).start()
    result = run_main(lock_module, {"path": str(lock), "done": str(done), "timeout": 30, "poll": 1},
                      capsys)
    assert result["done"] and not result["acquired"]
    assert json.loads(lock.read_text())["pid"] == other_run.pid


def test_the_lock_of_a_run_that_was_killed_is_taken_over(lock_module, tmp_path, capsys):
    dead = subprocess.Popen(["sleep", "60"])
    lock = tmp_path / "asterisk_22.lock"
    write_lock(lock_module, lock, dead.pid, holder="killed run")
    dead.kill()
    dead.wait()
    result = run_main(lock_module, {"path": str(lock), "timeout": 0}, capsys)
    assert result["acquired"] and result["took_over"]["holder"] == "killed run"
    assert result["waited"] < 1


def test_a_reused_process_number_is_not_the_holder(lock_module, tmp_path, capsys, other_run):
    lock = tmp_path / "asterisk_22.lock"
    write_lock(lock_module, lock, other_run.pid)
    content = json.loads(lock.read_text())
    content["start"] = "1"  # same number, another process (started at another time)
    lock.write_text(json.dumps(content))
    result = run_main(lock_module, {"path": str(lock), "timeout": 0}, capsys)
    assert result["acquired"] and "took_over" in result


def test_a_damaged_lock_is_taken_over_only_once_it_stays_damaged(lock_module, tmp_path, capsys,
                                                                   monkeypatch):
    lock = tmp_path / "asterisk_22.lock"
    lock.write_text("{not json")
    result = run_main(lock_module, {"path": str(lock), "timeout": 0, "poll": 1}, capsys)
    assert result["rc"] == 1 and "unknown holder" in result["msg"]
    monkeypatch.setattr(lock_module, "UNREADABLE_GRACE", 1)
    result = run_main(lock_module, {"path": str(lock), "timeout": 10, "poll": 1}, capsys)
    assert result["acquired"] and result["took_over"] == {}


def test_release_leaves_another_runs_lock_alone(lock_module, tmp_path, capsys, other_run):
    lock = tmp_path / "asterisk_22.lock"
    write_lock(lock_module, lock, other_run.pid)
    result = run_main(lock_module, {"path": str(lock), "state": "released"}, capsys)
    assert result["rc"] == 0 and not result["released"]
    assert result["held_by"]["pid"] == other_run.pid and lock.exists()
    lock.unlink()
    result = run_main(lock_module, {"path": str(lock), "state": "released"}, capsys)
    assert result["rc"] == 0 and not result["released"]


def test_check_mode_writes_nothing(lock_module, tmp_path, capsys):
    lock = tmp_path / "cache" / "asterisk_22.lock"
    result = run_main(lock_module, {"path": str(lock)}, capsys, check_mode=True)
    assert result["rc"] == 0 and not result["acquired"] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("args", [{"poll": 0}, {"timeout": -1}])
def test_bad_numbers_are_refused(lock_module, tmp_path, capsys, args):
    result = run_main(lock_module, dict(args, path=str(tmp_path / "x.lock")), capsys)
    assert result["rc"] == 1 and "timeout must be" in result["msg"]
    assert not (tmp_path / "x.lock").exists()


def test_the_holder_is_the_playbooks_main_process_not_its_task_worker(lock_module):
    # ansible-playbook > its task worker (forked: same command line) > the module.
    chain = subprocess.Popen(
        ["bash", "-c", 'exec -a ansible-playbook bash -c '
                       '"(exec -a ansible-playbook bash -c \\"sleep 60 & wait\\") & wait"'],
        start_new_session=True)
    try:
        found = []
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            time.sleep(0.1)
            members = subprocess.run(["pgrep", "-x", "-s", str(chain.pid), "sleep"], check=False,
                                     capture_output=True, text=True).stdout.split()
            found = [int(pid) for pid in members]
        assert found, "the chain never started its sleep"
        assert lock_module.owner_process(found[0]) == chain.pid
        # Outside any playbook (these tests): the parent.
        assert lock_module.owner_process() == os.getppid()
    finally:
        os.killpg(chain.pid, 9)
        chain.wait()
