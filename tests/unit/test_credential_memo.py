"""Unit tests of the password memo: filter_plugins/teletreball_memo.py (which stored
credentials are known to match the current passwords) and the module
library/teletreball_credential_memo.py (the private file on the controller)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pathlib
import stat
import sys

import pytest
from module_runner import load_library_module, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "module_utils"))
sys.modules["ansible.module_utils.teletreball_files"] = importlib.import_module(
    "teletreball_files")
_spec = importlib.util.spec_from_file_location(
    "teletreball_memo", REPO / "filter_plugins" / "teletreball_memo.py")
memo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memo)

KEY = "0123456789" * 6 + "abcd"
DIGEST_A = "a" * 64
DIGEST_B = "b" * 64
ACCOUNTS = [{"username": "anna", "comment": "Anna", "password": "Pw-anna-1"},
            {"username": "pau", "comment": "", "password": "Pw-pau-1"}]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- the filters -------------------------------------------------------------------


def test_memo_gives_back_the_remembered_credentials_of_the_same_passwords():
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A, "pau": DIGEST_B}, KEY, "desktop")
    known = memo.memo_known(ACCOUNTS, text, KEY, "desktop")
    assert [a["verified_credential"] for a in known] == [DIGEST_A, DIGEST_B]
    assert [{k: v for k, v in a.items() if k != "verified_credential"} for a in known] == ACCOUNTS
    # Stable text: the role compares it with the file to write only when it changed.
    assert text == memo.memo_text(ACCOUNTS, {"pau": DIGEST_B, "anna": DIGEST_A}, KEY, "desktop")


def test_memo_holds_no_password_and_no_plain_hash_of_one():
    import hashlib

    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A}, KEY, "desktop")
    for account in ACCOUNTS:
        assert account["password"] not in text
        assert hashlib.sha256(account["password"].encode()).hexdigest() not in text
    assert set(json.loads(text)["accounts"]) == {"anna"}


def test_a_changed_password_drops_its_remembered_credential():
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A, "pau": DIGEST_B}, KEY, "desktop")
    changed = [{**ACCOUNTS[0], "password": "Pw-anna-2"}, ACCOUNTS[1]]
    known = memo.memo_known(changed, text, KEY, "desktop")
    assert "verified_credential" not in known[0]
    assert known[1]["verified_credential"] == DIGEST_B


@pytest.mark.parametrize("other", [
    {"key": "f" * 64}, {"scope": "chat"}])
def test_another_key_or_service_remembers_nothing(other):
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A}, KEY, "desktop")
    known = memo.memo_known(ACCOUNTS, text, other.get("key", KEY), other.get("scope", "desktop"))
    assert all("verified_credential" not in a for a in known)


@pytest.mark.parametrize("text", [
    None, "", "not json", "[]", '{"version": 2, "scope": "desktop", "accounts": {}}',
    '{"version": 1, "scope": "desktop", "accounts": []}',
    '{"version": 1, "scope": "desktop", "accounts": {"anna": {"password": "x", '
    '"credential": "not-a-digest"}}}',
])
def test_a_missing_or_broken_memo_remembers_nothing(text):
    known = memo.memo_known(ACCOUNTS, text, KEY, "desktop")
    assert all("verified_credential" not in a for a in known)


def test_without_a_key_there_is_no_memo():
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A}, KEY, "desktop")
    assert memo.memo_text(ACCOUNTS, {"anna": DIGEST_A}, "", "desktop") == ""
    known = memo.memo_known(ACCOUNTS, text, "", "desktop")
    assert all("verified_credential" not in a for a in known)


def test_chat_accounts_are_remembered_by_address():
    chat = [{"host": "d.test", "username": "anna", "password": "Pw-anna-1"}]
    text = memo.memo_text(chat, {"anna@d.test": DIGEST_A, "anna": DIGEST_B}, KEY, "chat")
    assert list(json.loads(text)["accounts"]) == ["anna@d.test"]
    assert memo.memo_known(chat, text, KEY, "chat")[0]["verified_credential"] == DIGEST_A


def test_people_no_longer_listed_or_not_verified_leave_the_memo():
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A, "pau": DIGEST_B}, KEY, "desktop")
    smaller = memo.memo_text(ACCOUNTS[:1], {"anna": DIGEST_A, "pau": DIGEST_B}, KEY, "desktop")
    assert smaller != text and list(json.loads(smaller)["accounts"]) == ["anna"]
    # Not verified (its password is to be set, in check mode): no entry.
    assert list(json.loads(memo.memo_text(ACCOUNTS, {"pau": DIGEST_B}, KEY, "desktop"))
                ["accounts"]) == ["pau"]


def test_the_filters_are_registered():
    assert set(memo.FilterModule().filters()) == {
        "teletreball_memo_known", "teletreball_memo_text"}


# --- the module --------------------------------------------------------------------


def write(path, content, capsys, check_mode=False):
    module = load_library_module("teletreball_credential_memo")
    return run_main(module, {"path": str(path), "content": content}, capsys, check_mode)


def test_memo_is_written_privately_and_only_when_it_changed(tmp_path, capsys):
    path = tmp_path / "credentials" / "memo" / "vdi1" / "desktop-accounts.json"
    text = memo.memo_text(ACCOUNTS, {"anna": DIGEST_A}, KEY, "desktop")
    first = write(path, text, capsys)
    assert first["rc"] == 0 and first["changed"] is True
    assert path.read_text() == text + "\n"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert text not in first["raw"] and DIGEST_A not in first["raw"]
    inode, mtime = os.stat(path).st_ino, os.stat(path).st_mtime_ns

    again = write(path, text, capsys)
    assert again["changed"] is False
    assert (os.stat(path).st_ino, os.stat(path).st_mtime_ns) == (inode, mtime)

    other = memo.memo_text(ACCOUNTS, {"anna": DIGEST_B}, KEY, "desktop")
    third = write(path, other, capsys)
    assert third["changed"] is True
    assert path.read_text() == other + "\n" and mode(path) == 0o600
    assert os.stat(path).st_ino != inode  # a new file renamed in place: atomic
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_memo_check_mode_writes_nothing(tmp_path, capsys):
    path = tmp_path / "memo" / "vdi1" / "desktop-accounts.json"
    result = write(path, memo.memo_text(ACCOUNTS, {}, KEY, "desktop"), capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert not (tmp_path / "memo").exists()


def test_memo_with_a_loose_mode_is_made_private(tmp_path, capsys):
    path = tmp_path / "desktop-accounts.json"
    text = memo.memo_text(ACCOUNTS, {}, KEY, "desktop")
    path.write_text(text + "\n")
    path.chmod(0o644)
    result = write(path, text, capsys)
    assert result["changed"] is True and mode(path) == 0o600


def test_memo_folder_made_meanwhile_by_another_host_is_fine(tmp_path, capsys, monkeypatch):
    path = tmp_path / "memo" / "vdi2" / "desktop-accounts.json"
    real_mkdir = os.mkdir

    def racing_mkdir(folder, mode=0o777):
        if str(folder) == str(tmp_path / "memo"):
            real_mkdir(folder, mode)  # the other host's run got there first
        real_mkdir(folder, mode)

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    result = write(path, memo.memo_text(ACCOUNTS, {}, KEY, "desktop"), capsys)
    assert result["rc"] == 0, result
    assert path.exists()


@pytest.mark.parametrize(("path", "content", "message"), [
    ("relative/memo.json", '{"version": 1, "accounts": {}}', "absolute path"),
    ("/srv/../etc/memo.json", '{"version": 1, "accounts": {}}', "absolute path"),
    ("/nonexistent/memo.json", "not json", "content is not JSON."),
    ("/nonexistent/memo.json", '{"version": 9, "accounts": {}}', "not a memo of version 1"),
])
def test_memo_error_paths(capsys, path, content, message):
    module = load_library_module("teletreball_credential_memo")
    result = run_main(module, {"path": path, "content": content}, capsys)
    assert result["rc"] == 1
    assert message in result["msg"]
