"""Unit tests of library/teletreball_run_lock.py and of the callback that gives the lock
back, with real processes as other runs (the concurrent ansible-playbook runs are in
tests/preflight/test_inventories.py)."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import threading

import pytest
from module_runner import load_library_module, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(name="lock_module")
def fixture_lock_module():
    return load_library_module("teletreball_run_lock")


def write_lock(lock_module, path, pid, **extra):
    record = dict(lock_module.identity(pid), user="anna", host="admin-pc",
                  started="2026-03-02 08:00:00 UTC", playbooks=["playbooks/site.yml"])
    record.update(extra)
    path.write_text(json.dumps(record))


def test_the_lock_beside_the_folder_records_the_run(lock_module, tmp_path, capsys):
    credentials = tmp_path / "inventory" / "credentials" / "council"
    result = run_main(lock_module, {"credentials_dir": str(credentials) + "/"}, capsys)
    lock = tmp_path / "inventory" / "credentials" / "council.lock"
    assert result["rc"] == 0 and result["acquired"] and result["changed"] is False
    assert result["lock"] == str(lock)
    assert not credentials.exists(), "the lock must not make the credentials folder"
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    content = json.loads(lock.read_text())
    assert content["pid"] == os.getppid()  # no ansible-playbook above the tests: the parent
    assert content["user"] and content["host"] and content["started"].endswith(" UTC")
    assert content == result["holder"]


def test_a_live_run_stops_this_one_with_its_name(lock_module, tmp_path, capsys, other_run):
    lock = tmp_path / "council.lock"
    write_lock(lock_module, lock, other_run.pid)
    result = run_main(lock_module, {"credentials_dir": str(tmp_path / "council"), "timeout": 0},
                      capsys)
    assert result["rc"] == 1
    assert (f"process {other_run.pid} of user anna on admin-pc, started 2026-03-02 08:00:00 UTC,"
            " running playbooks/site.yml") in result["msg"]
    assert json.loads(lock.read_text())["pid"] == other_run.pid, "another run's lock was touched"


def test_a_live_run_is_waited_for(lock_module, tmp_path, capsys, other_run):
    lock = tmp_path / "council.lock"
    write_lock(lock_module, lock, other_run.pid)
    threading.Timer(1.5, lock.unlink).start()
    result = run_main(lock_module, {"credentials_dir": str(tmp_path / "council"), "timeout": 30,
                                    "poll": 1}, capsys)
    assert result["acquired"] and result["waited"] >= 1
    assert json.loads(lock.read_text())["pid"] == os.getppid()


def test_the_lock_of_a_dead_run_is_taken_over(lock_module, tmp_path, capsys):
    dead = subprocess.Popen(["sleep", "60"])
    lock = tmp_path / "council.lock"
    write_lock(lock_module, lock, dead.pid)
    dead.kill()
    dead.wait()
    result = run_main(lock_module, {"credentials_dir": str(tmp_path / "council"), "timeout": 0},
                      capsys)
    assert result["acquired"] and result["took_over"]["pid"] == dead.pid
    assert json.loads(lock.read_text())["pid"] == os.getppid()


def test_check_mode_waits_but_writes_nothing(lock_module, tmp_path, capsys, other_run):
    result = run_main(lock_module, {"credentials_dir": str(tmp_path / "new" / "council")}, capsys,
                      check_mode=True)
    assert result["rc"] == 0 and not result["acquired"] and not (tmp_path / "new").exists()
    lock = tmp_path / "council.lock"
    write_lock(lock_module, lock, other_run.pid)
    result = run_main(lock_module, {"credentials_dir": str(tmp_path / "council"), "timeout": 0},
                      capsys, check_mode=True)
    assert result["rc"] == 1 and str(other_run.pid) in result["msg"]


@pytest.mark.parametrize("args", [{"poll": 0}, {"timeout": -1}, {"credentials_dir": "rel/dir"}])
def test_bad_arguments_are_refused(lock_module, tmp_path, capsys, args):
    result = run_main(lock_module, dict({"credentials_dir": str(tmp_path / "c")}, **args), capsys)
    assert result["rc"] == 1 and not (tmp_path / "c.lock").exists()


def test_only_the_playbooks_of_a_command_line_are_recorded(lock_module):
    args = ["-i", "inventories/x/hosts.yml", "-e", "@secrets.yml", "--extra-vars",
            "vars.yaml", "-v", "playbooks/preflight.yml", "playbooks/pbx.yml", "--tags", "pbx"]
    assert lock_module.playbooks(args) == ["playbooks/preflight.yml", "playbooks/pbx.yml"]


@pytest.fixture(name="callback")
def fixture_callback():
    from ansible.plugins.loader import callback_loader

    callback_loader.add_directory(str(REPO / "callback_plugins"))
    return callback_loader.get("teletreball_run_lock")


class FakeResult:
    def __init__(self, action, result):
        self._task = type("Task", (), {"action": action})()
        self._result = result


def test_the_callback_gives_back_only_this_processs_lock(callback, lock_module, tmp_path,
                                                         other_run):
    assert callback.CALLBACK_NEEDS_ENABLED is False
    mine, theirs = tmp_path / "mine.lock", tmp_path / "theirs.lock"
    write_lock(lock_module, mine, os.getpid())
    write_lock(lock_module, theirs, other_run.pid)
    callback.v2_runner_on_ok(FakeResult("ansible.builtin.debug", {"lock": str(theirs)}))
    callback.v2_runner_on_ok(FakeResult("teletreball_run_lock",
                                        {"acquired": True, "lock": str(mine)}))
    # A run that took it, then lost it to another (it cannot happen while it lives, but
    # the callback checks): left alone.
    callback.v2_runner_on_ok(FakeResult("teletreball_run_lock",
                                        {"acquired": True, "lock": str(theirs)}))
    callback.v2_playbook_on_stats(None)
    assert not mine.exists() and theirs.exists()
