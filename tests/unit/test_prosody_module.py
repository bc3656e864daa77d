"""Unit tests of library/teletreball_prosody.py with a fake prosodyctl (no Prosody).

The Prosody side (roles/conference/files/mod_teletreball_sync.lua) is proven by
the conference scenario against the real Prosody; these tests pin the Python side
of the protocol and its error paths.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import sys
from types import SimpleNamespace

import pytest
from module_runner import load_library_module, register_module_utils, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]
# Every module_utils file importable as Ansible ships it with a module.
register_module_utils()

import teletreball_prosody  # noqa: E402

utils = sys.modules["ansible.module_utils.teletreball_prosody"]

PASSWORD = "Xk29dLq7Pz0aBc4e"  # noqa: S105 (a test value)
HOST = "prova.teletreball.test"


def load():
    return load_library_module("teletreball_prosody")


def args(tmp_path, **changes):
    result = {
        "hosts": [HOST],
        "accounts": [{"host": HOST, "username": "anna", "password": PASSWORD}],
        "muc_host": f"rooms.{HOST}",
        "rooms": [{"name": "govern", "affiliations": {f"anna@{HOST}": "member"}}],
        "state_dir": str(tmp_path / "state"),
        "identity_file": str(tmp_path / "identities.json"),
    }
    result.update(changes)
    return result


def fake_prosody(monkeypatch, module, answer, seen):
    """prosodyctl found, user prosody = the test's own user, run_command answers."""
    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(module.pwd, "getpwnam", lambda name: SimpleNamespace(
        pw_uid=os.getuid(), pw_gid=os.getgid()))

    def run_command(self, argv, **kwargs):
        path = argv[-2]
        seen.append({"argv": argv, "mode": stat.S_IMODE(os.stat(path).st_mode),
                     "state": json.loads(pathlib.Path(path).read_text(encoding="utf-8"))})
        return answer

    monkeypatch.setattr(module.AnsibleModule, "run_command", run_command)


def test_check_mode_without_prosody_plans_to_create_everything(tmp_path, capsys, monkeypatch):
    module = load()
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    result = run_main(module, args(tmp_path), capsys, check_mode=True)
    assert result["rc"] == 0
    assert result["changed"] is True
    assert {"action": "create", "jid": f"anna@{HOST}"} in result["actions"]
    assert {"action": "room_create", "room": f"govern@rooms.{HOST}"} in result["actions"]
    assert PASSWORD not in result["raw"]
    assert not (tmp_path / "state").exists()


def test_apply_hands_a_private_file_to_prosody_and_removes_it(tmp_path, capsys, monkeypatch):
    module = load()
    seen = []
    lines = "\n".join([
        "banner line",
        json.dumps({"action": "create", "jid": f"anna@{HOST}"}),
        json.dumps({"action": "archive_due", "jid": f"pere@{HOST}"}),
    ])
    fake_prosody(monkeypatch, module, (0, lines, ""), seen)
    result = run_main(module, args(tmp_path), capsys)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["archive_due"] == [f"pere@{HOST}"]
    (call,) = seen
    assert call["mode"] == 0o600
    assert call["argv"][-1] == "apply"
    assert PASSWORD not in " ".join(call["argv"])
    assert call["state"]["accounts"][0]["password"] == PASSWORD
    assert call["state"]["rooms"][0]["affiliations"] == {f"anna@{HOST}": "member"}
    assert list((tmp_path / "state").iterdir()) == []
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert PASSWORD not in result["raw"]


def test_check_mode_plans_and_reports_only_actions_change_nothing(tmp_path, capsys, monkeypatch):
    module = load()
    seen = []
    lines = json.dumps({"action": "archive_due", "jid": f"pere@{HOST}"})
    fake_prosody(monkeypatch, module, (0, lines, ""), seen)
    result = run_main(module, args(tmp_path), capsys, check_mode=True)
    assert result["rc"] == 0, result
    assert seen[0]["argv"][-1] == "plan"
    assert result["changed"] is False


def test_a_failed_sync_fails_and_removes_the_file(tmp_path, capsys, monkeypatch):
    module = load()
    seen = []
    fake_prosody(monkeypatch, module, (1, "! Error: host not found\n", ""), seen)
    result = run_main(module, args(tmp_path), capsys)
    assert result["rc"] == 1
    assert "host not found" in result["msg"]
    assert list((tmp_path / "state").iterdir()) == []


def test_bad_input_is_refused_with_every_problem_and_no_password(tmp_path, capsys):
    bad = "contrasenya amb espais"
    result = run_main(load(), args(tmp_path, accounts=[
        {"host": HOST, "username": "Anna", "password": bad},
        {"host": "other.test", "username": "jordi", "password": PASSWORD},
    ], rooms=[{"name": "govern", "affiliations": {f"anna@{HOST}": "owner"}}]), capsys)
    assert result["rc"] == 1
    assert "username is not a valid" in result["msg"]
    assert "printable ASCII" in result["msg"]
    assert "not one of the managed hosts" in result["msg"]
    assert "affiliation 'owner'" in result["msg"]
    assert bad not in result["raw"]


def test_an_answer_carrying_a_password_is_refused():
    line = json.dumps({"action": "create", "jid": f"anna@{HOST}", "password": PASSWORD})
    with pytest.raises(teletreball_prosody.ProsodyError, match="password"):
        teletreball_prosody.parse_actions([line])


def test_an_unknown_action_is_refused():
    with pytest.raises(teletreball_prosody.ProsodyError, match="unknown action"):
        teletreball_prosody.parse_actions(['{"action": "format_disk"}'])


def test_store_encode_matches_prosody_file_names():
    assert utils.store_encode("lab.teletreball.test") == "lab%2eteletreball%2etest"
    assert utils.store_encode("pere-marc") == "pere%2dmarc"
    assert utils.store_encode("anna_2") == "anna%5f2"


def test_account_files_finds_every_store_of_one_account_only(tmp_path):
    host = tmp_path / "d%2etest"
    for store, name in [("accounts", "pere.dat"), ("archive", "pere.list"),
                        ("archive", "pere%2dmarc.list"), ("roster", "perez.dat")]:
        (host / store).mkdir(parents=True, exist_ok=True)
        (host / store / name).write_text("x")
    found = utils.account_files(str(tmp_path), "pere@d.test")
    assert [p.split("/")[-2:] for p in found] == [
        ["accounts", "pere.dat"], ["archive", "pere.list"]]
    assert utils.account_files(str(tmp_path), "nobody@other.test") == []


def test_a_local_action_printed_by_prosody_is_refused():
    with pytest.raises(utils.ProsodyError):
        utils.parse_actions(['{"action": "archive", "jid": "a@d.test"}'])


DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def test_remembered_keys_go_to_prosody_and_verified_accounts_come_back(tmp_path, capsys,
                                                                      monkeypatch):
    module = load()
    seen = []
    lines = "\n".join([
        json.dumps({"action": "verified", "jid": f"anna@{HOST}", "credential": DIGEST_B}),
        json.dumps({"action": "password", "jid": f"pau@{HOST}"}),
        json.dumps({"action": "verified", "jid": f"pau@{HOST}", "credential": DIGEST_A}),
    ])
    fake_prosody(monkeypatch, module, (0, lines, ""), seen)
    accounts = [
        {"host": HOST, "username": "anna", "password": PASSWORD, "verified_credential": DIGEST_B},
        {"host": HOST, "username": "pau", "password": PASSWORD + "x"},
    ]
    result = run_main(module, args(tmp_path, accounts=accounts, rooms=[]), capsys)
    assert result["rc"] == 0, result
    sent = seen[0]["state"]["accounts"]
    assert sent[0]["verified_credential"] == DIGEST_B
    assert "verified_credential" not in sent[1]
    # The verified lines are no actions: the changes and the report stay as they were.
    assert result["actions"] == [{"action": "password", "jid": f"pau@{HOST}"}]
    # Whole digests (the option is not no_log, or Ansible would blank them out).
    assert result["verified"] == {f"anna@{HOST}": DIGEST_B, f"pau@{HOST}": DIGEST_A}
    assert PASSWORD not in result["raw"]


def test_no_verified_lines_means_nothing_verified(tmp_path, capsys, monkeypatch):
    module = load()
    fake_prosody(monkeypatch, module, (0, "", ""), [])
    result = run_main(module, args(tmp_path), capsys)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["verified"] == {}


def test_a_bad_remembered_digest_is_refused(tmp_path, capsys):
    result = run_main(load(), args(tmp_path, accounts=[
        {"host": HOST, "username": "anna", "password": PASSWORD,
         "verified_credential": "not-a-digest"}]), capsys)
    assert result["rc"] == 1
    assert "verified_credential must be 64 lower-case hex digits" in result["msg"]


@pytest.mark.parametrize("line", [
    {"action": "verified", "jid": f"anna@{HOST}"},
    {"action": "verified", "jid": f"anna@{HOST}", "credential": "short"},
    {"action": "verified", "credential": DIGEST_A},
])
def test_an_odd_verified_line_is_refused(line):
    with pytest.raises(utils.ProsodyError, match="verified"):
        utils.parse_actions([json.dumps(line)])


# --- a username given to another person (issue 18 D) ------------------------------

ANNA_ID, OTHER_ID = "a1" * 16, "b2" * 16


def test_reused_accounts_and_the_identity_record():
    accounts = [{"host": HOST, "username": "anna", "identity": OTHER_ID},
                {"host": HOST, "username": "pau", "identity": ANNA_ID},
                {"host": HOST, "username": "marc"}]
    record = {f"anna@{HOST}": ANNA_ID, f"pau@{HOST}": ANNA_ID, f"old@{HOST}": OTHER_ID}
    assert utils.reused_accounts(accounts, record, lambda jid: True) == [f"anna@{HOST}"]
    assert utils.reused_accounts(accounts, record, lambda jid: False) == []
    assert utils.reused_accounts(accounts, {}, lambda jid: True) == []
    assert utils.identity_record(record, accounts) == {
        f"anna@{HOST}": OTHER_ID, f"old@{HOST}": OTHER_ID, f"pau@{HOST}": ANNA_ID}


def test_an_account_given_to_another_person_is_archived_and_made_anew(
        tmp_path, capsys, monkeypatch):
    module = load()
    data = tmp_path / "data"
    roster = data / utils.store_encode(HOST) / "roster"
    roster.mkdir(parents=True)
    (roster / "anna.dat").write_text("return { [\"pere@x\"] = {} };\n")
    (tmp_path / "identities.json").write_text(json.dumps({f"anna@{HOST}": ANNA_ID}))
    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(module.pwd, "getpwnam", lambda name: SimpleNamespace(
        pw_uid=os.getuid(), pw_gid=os.getgid()))
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        if argv[-2:] == ["delete", f"anna@{HOST}"]:
            (roster / "anna.dat").unlink()  # what Prosody's user delete does
            return 0, "", ""
        return 0, json.dumps({"action": "create", "jid": f"anna@{HOST}"}), ""

    monkeypatch.setattr(module.AnsibleModule, "run_command", run_command)
    accounts = [{"host": HOST, "username": "anna", "password": PASSWORD, "identity": OTHER_ID}]
    base = args(tmp_path, accounts=accounts, data_dir=str(data),
                archive_dir=str(tmp_path / "archive"))
    check = run_main(module, base, capsys, check_mode=True)
    assert check["actions"][0] == {"action": "archive", "jid": f"anna@{HOST}", "file": None,
                                   "reason": "another person"}
    assert (roster / "anna.dat").exists()
    calls.clear()
    result = run_main(module, base, capsys)
    assert result["rc"] == 0 and result["changed"] is True
    archive = result["actions"][0]["file"]
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert calls[0][-2:] == ["delete", f"anna@{HOST}"] and calls[1][-1] == "apply"
    assert json.loads((tmp_path / "identities.json").read_text()) == {f"anna@{HOST}": OTHER_ID}
    # Without archive_dir the old account is never deleted unarchived.
    (roster / "anna.dat").write_text("x")
    (tmp_path / "identities.json").write_text(json.dumps({f"anna@{HOST}": ANNA_ID}))
    refused = run_main(module, dict(base, archive_dir=None), capsys)
    assert refused["rc"] == 1 and "archive_dir is needed" in refused["msg"]
