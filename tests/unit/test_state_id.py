"""Unit tests of library/teletreball_state_id.py: the id of a credentials folder and the
guard against a run that does not find the folder the inventory recorded (the runs
themselves are in tests/preflight/test_inventories.py)."""

from __future__ import annotations

import re
import stat

import pytest
from module_runner import collect_warnings, load_library_module, run_main


@pytest.fixture(name="state_module")
def fixture_state_module():
    return load_library_module("teletreball_state_id")


@pytest.fixture(name="warnings")
def fixture_warnings(monkeypatch):
    return collect_warnings(monkeypatch)


def run(state_module, capsys, folder, check_mode=False, **args):
    return run_main(state_module, dict({"credentials_dir": str(folder)}, **args), capsys,
                    check_mode=check_mode)


def test_a_new_folder_gets_an_id_and_a_warning_with_the_line(state_module, tmp_path, capsys,
                                                              warnings):
    folder = tmp_path / "credentials" / "council"
    result = run(state_module, capsys, folder, state="present", inventory="inventories/council")
    assert result["rc"] == 0 and result["changed"] is True
    assert re.fullmatch(r"\d{8}-[0-9a-f]{16}", result["state_id"])
    path = folder / "state-id"
    assert path.read_text() == result["state_id"] + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(warnings) == 1
    assert f"add the line 'teletreball_state_id: {result['state_id']}'" in warnings[0]
    assert "inventories/council" in warnings[0]
    again = run(state_module, capsys, folder, state="present", expected=result["state_id"])
    assert again["rc"] == 0 and again["changed"] is False
    assert again["state_id"] == result["state_id"] and len(warnings) == 1


def test_check_mode_writes_no_id(state_module, tmp_path, capsys):
    folder = tmp_path / "council"
    result = run(state_module, capsys, folder, check_mode=True, state="present")
    assert result["rc"] == 0 and result["changed"] is True and result["state_id"] == ""
    assert not folder.exists()
    folder.mkdir()
    result = run(state_module, capsys, folder, check_mode=True, state="present")
    assert not (folder / "state-id").exists()


def test_the_check_alone_never_writes(state_module, tmp_path, capsys):
    folder = tmp_path / "council"
    result = run(state_module, capsys, folder)
    assert result["rc"] == 0 and result["changed"] is False and not folder.exists()


@pytest.mark.parametrize("setup, problem, found", [
    ("missing", "is missing", "none"),
    ("empty", "is empty", "none"),
    ("no-id", "holds no state-id", "none"),
    ("other", "holds another state: its state-id is '20250101-00000000000000aa'",
     "20250101-00000000000000aa"),
])
def test_a_recorded_id_refuses_another_folder(state_module, tmp_path, capsys, setup, problem,
                                              found):
    folder = tmp_path / "council"
    if setup != "missing":
        folder.mkdir()
    if setup == "no-id":
        (folder / "vpn-addresses.json").write_text("{}")
    if setup == "other":
        (folder / "state-id").write_text("20250101-00000000000000aa\n")
    for state in ("checked", "present"):
        result = run(state_module, capsys, folder, expected="20260302-8f1c2a9b04d7e3f1",
                     state=state, inventory="inventories/council")
        assert result["rc"] == 1
        assert (f"The credentials folder {folder} {problem}, but the inventory records "
                f"teletreball_state_id: 20260302-8f1c2a9b04d7e3f1 (found: {found}).") in (
                    result["msg"])
        assert "TELETREBALL_STATE_DIR" in result["msg"]
        assert "playbooks/restore.yml" in result["msg"]
        assert "inventories/council" in result["msg"]
    assert not (folder / "state-id").exists() or setup == "other"
    if setup == "missing":
        assert not folder.exists()


def test_the_recorded_id_of_the_folder_passes(state_module, tmp_path, capsys, warnings):
    folder = tmp_path / "council"
    folder.mkdir()
    (folder / "state-id").write_text("20260302-8f1c2a9b04d7e3f1\n")
    result = run(state_module, capsys, folder, expected="20260302-8f1c2a9b04d7e3f1")
    assert result["rc"] == 0 and result["state_id"] == "20260302-8f1c2a9b04d7e3f1"
    assert not warnings


def test_disposable_guards_nothing_and_gets_an_id(state_module, tmp_path, capsys, warnings):
    folder = tmp_path / "lab"
    assert run(state_module, capsys, folder, expected="disposable")["rc"] == 0
    result = run(state_module, capsys, folder, expected="disposable", state="present")
    assert result["rc"] == 0 and (folder / "state-id").exists()
    assert not warnings, "a disposable folder needs no line in the inventory"
    (folder / "state-id").write_text("another\n")
    assert run(state_module, capsys, folder, expected="disposable")["rc"] == 0


@pytest.mark.parametrize("args, message", [
    ({"credentials_dir": "credentials/council"}, "credentials_dir must be an absolute path"),
    ({"expected": "two words"}, "teletreball_state_id 'two words' is not an id"),
])
def test_bad_parameters_are_refused(state_module, tmp_path, capsys, args, message):
    result = run_main(state_module, dict({"credentials_dir": str(tmp_path / "c")}, **args),
                      capsys)
    assert result["rc"] == 1 and message in result["msg"]


def test_an_unwritable_folder_is_reported(state_module, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(state_module.os, "open", refuse)
    result = run(state_module, capsys, tmp_path / "council", state="present")
    assert result["rc"] == 1 and "Cannot write" in result["msg"]
    assert "Permission denied" in result["msg"]
