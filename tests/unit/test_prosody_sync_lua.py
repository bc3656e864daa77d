"""Unit tests of the accounts part of roles/conference/files/mod_teletreball_sync.lua,
run by Lua 5.4 outside Prosody (tests/unit/fixtures/prosody_sync_harness.lua fakes the
Prosody libraries it needs, with a password check that counts its calls).

They pin what remembering the checked passwords changes: an account whose stored keys
have the digest the state file gives is not checked again, anything else is. The rest
of the module is proven by the conference scenario against the real Prosody. Skipped
when lua5.4 is not installed (harness/setup-host installs it).
"""

from __future__ import annotations

import importlib
import json
import pathlib
import shutil
import subprocess

import pytest
from module_runner import register_module_utils

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULE = REPO / "roles" / "conference" / "files" / "mod_teletreball_sync.lua"
HARNESS = REPO / "tests" / "unit" / "fixtures" / "prosody_sync_harness.lua"
# Every module_utils file importable as Ansible ships it with a module.
register_module_utils()
utils = importlib.import_module("teletreball_prosody")

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed")

HOST = "d.test"


def stored(password, salt="salt-1", count=10000):
    """An account whose stored keys are those of ``password`` (the harness's hasher)."""
    return {"salt": salt, "iteration_count": count,
            "stored_key": f"K{password}|{salt}|{count}",
            "server_key": f"S{password}|{salt}|{count}"}


def lua(value):
    """``value`` as a Lua literal (the scenario file)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua(v) for v in value) + "}"
    return "{" + ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in value.items()) + "}"


def sync(tmp_path, accounts, wanted, mode="apply", known=None, config=None,
         display=None, vcards=None, notes=None, cached=()):
    """Run the sync on ``accounts`` (username to stored fields) for ``wanted``
    (username to password); ``known``: username to verified_credential;
    ``display``: username to the directory's name; ``vcards`` and ``notes``:
    username to the name and the note the account's vCard has before; ``cached``:
    the addresses whose roster Prosody has in its cache."""
    known, display = known or {}, display or {}
    state = utils.desired_state(
        [HOST],
        [{"host": HOST, "username": name, "password": password,
          **({"name": display[name]} if name in display else {}),
          **({"verified_credential": known[name]} if name in known else {})}
         for name, password in wanted.items()],
        [], None, 30)
    scenario = tmp_path / "scenario.lua"
    scenario.write_text("return " + lua({
        "config": config or {"password_hash": "SHA-1"}, "host": HOST,
        "accounts": accounts, "state": state, "names": vcards or {},
        "notes": notes or {}, "cached_rosters": list(cached)}) + "\n", encoding="utf-8")
    run = subprocess.run([LUA, str(HARNESS), str(MODULE), str(scenario), mode],
                         capture_output=True, text=True, check=False, timeout=30)
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stderr.strip().splitlines()[-1])
    assert outcome["ok"] is True, outcome
    assert outcome["state_file_left"] is False
    # The same parser as the module's: nothing the Lua side prints is refused.
    actions, verified = utils.split_verified(utils.parse_actions(run.stdout.splitlines()))
    for password in wanted.values():
        assert password not in run.stdout
    return actions, verified, outcome


def jid(name):
    return f"{name}@{HOST}"


def test_first_run_checks_each_account_and_reports_what_matches(tmp_path):
    accounts = {"anna": stored("pw-anna"), "pau": stored("old-pau")}
    wanted = {"anna": "pw-anna", "pau": "pw-pau", "marta": "pw-marta"}
    actions, verified, outcome = sync(tmp_path, accounts, wanted)
    assert actions == [{"action": "create", "jid": jid("marta")},
                       {"action": "password", "jid": jid("pau")}]
    assert outcome["hasher_calls"] == 2  # anna and pau; marta is new
    assert sorted(verified) == [jid("anna"), jid("marta"), jid("pau")]
    assert len(set(verified.values())) == 3
    # The action count is unchanged: the verified lines are not actions.
    assert outcome["message"] == "2 action(s), mode apply"


def test_remembered_accounts_are_not_checked_again(tmp_path):
    accounts = {"anna": stored("pw-anna"), "pau": stored("pw-pau", salt="salt-2")}
    wanted = {"anna": "pw-anna", "pau": "pw-pau"}
    _, first, outcome = sync(tmp_path, accounts, wanted)
    assert outcome["hasher_calls"] == 2
    known = {name: first[jid(name)] for name in wanted}
    actions, again, outcome = sync(tmp_path, accounts, wanted, known=known)
    assert actions == []
    assert outcome["hasher_calls"] == 0
    assert again == first


def test_keys_changed_by_hand_are_checked_again(tmp_path):
    accounts = {"anna": stored("pw-anna")}
    _, first, _ = sync(tmp_path, accounts, {"anna": "pw-anna"})
    # Somebody set another password on the server: new salt and keys.
    accounts = {"anna": stored("by-hand", salt="salt-9")}
    actions, verified, outcome = sync(tmp_path, accounts, {"anna": "pw-anna"},
                                      known={"anna": first[jid("anna")]})
    assert outcome["hasher_calls"] == 1
    assert actions == [{"action": "password", "jid": jid("anna")}]
    # The new keys are reported, not the remembered ones.
    assert verified[jid("anna")] != first[jid("anna")]
    assert outcome["accounts"]["anna"]["stored_key"].startswith("Kpw-anna|")


def test_a_wrong_remembered_digest_means_the_check_runs(tmp_path):
    accounts = {"anna": stored("pw-anna")}
    actions, verified, outcome = sync(tmp_path, accounts, {"anna": "pw-anna"},
                                      known={"anna": "0" * 64})
    assert outcome["hasher_calls"] == 1
    assert actions == []
    assert verified[jid("anna")] != "0" * 64


def test_another_password_hash_setting_is_checked_again(tmp_path):
    accounts = {"anna": stored("pw-anna")}
    _, first, _ = sync(tmp_path, accounts, {"anna": "pw-anna"})
    _, verified, outcome = sync(tmp_path, accounts, {"anna": "pw-anna"},
                                known={"anna": first[jid("anna")]},
                                config={"password_hash": "SHA-256"})
    assert outcome["hasher_calls"] == 1
    assert verified[jid("anna")] != first[jid("anna")]


def test_plan_reports_only_what_already_matches_and_changes_nothing(tmp_path):
    accounts = {"anna": stored("pw-anna"), "pau": stored("old-pau")}
    wanted = {"anna": "pw-anna", "pau": "pw-pau", "marta": "pw-marta"}
    actions, verified, outcome = sync(tmp_path, accounts, wanted, mode="plan")
    assert actions == [{"action": "create", "jid": jid("marta")},
                       {"action": "password", "jid": jid("pau")}]
    assert list(verified) == [jid("anna")]
    assert outcome["accounts"] == accounts


def test_disabled_and_unlisted_accounts_behave_as_before(tmp_path):
    accounts = {"anna": {**stored("pw-anna"), "disabled": True}, "pere": stored("x")}
    actions, verified, _ = sync(tmp_path, accounts, {"anna": "pw-anna"})
    assert actions == [{"action": "enable", "jid": jid("anna")},
                       {"action": "disable", "jid": jid("pere")}]
    assert list(verified) == [jid("anna")]


NURIA = "Núria D'Amat i Pérez-Soler"


def test_the_directory_name_becomes_the_display_name_once(tmp_path):
    accounts = {"anna": stored("pw-anna"), "pau": stored("pw-pau")}
    wanted = {"anna": "pw-anna", "pau": "pw-pau", "nuria": "pw-nuria"}
    display = {"anna": 'Anna "Ann" Puig; \\ ;--', "pau": "Pau Roig", "nuria": NURIA}
    actions, _, outcome = sync(tmp_path, accounts, wanted, display=display,
                               vcards={"pau": "Pau Roig"}, notes={"anna": "Arxiu"})
    assert actions == [{"action": "name", "jid": jid("anna")},
                       {"action": "create", "jid": jid("nuria")},
                       {"action": "name", "jid": jid("nuria")}]
    assert outcome["published"] == {
        "anna": {"fn": display["anna"], "other": "note"},  # her note is kept
        "nuria": {"fn": NURIA, "other": ""}}


def test_a_name_changed_in_a_client_is_set_back(tmp_path):
    accounts = {"nuria": stored("pw")}
    actions, _, outcome = sync(tmp_path, accounts, {"nuria": "pw"}, display={"nuria": NURIA},
                               vcards={"nuria": "Nuri"})
    assert actions == [{"action": "name", "jid": jid("nuria")}]
    assert outcome["published"]["nuria"]["fn"] == NURIA
    again, _, outcome = sync(tmp_path, accounts, {"nuria": "pw"}, display={"nuria": NURIA},
                             vcards={"nuria": NURIA})
    assert again == [] and outcome["published"] == {}


def test_plan_reports_a_name_and_publishes_nothing(tmp_path):
    accounts = {"nuria": stored("pw")}
    actions, _, outcome = sync(tmp_path, accounts, {"nuria": "pw", "new": "pw2"}, mode="plan",
                               display={"nuria": NURIA, "new": "Nou"})
    assert actions == [{"action": "create", "jid": jid("new")},
                       {"action": "name", "jid": jid("new")},
                       {"action": "name", "jid": jid("nuria")}]
    assert outcome["published"] == {}


def test_without_a_name_the_vcard_is_left_alone(tmp_path):
    actions, _, outcome = sync(tmp_path, {"anna": stored("pw")}, {"anna": "pw"},
                               vcards={"anna": "Whatever she chose"})
    assert actions == [] and outcome["published"] == {}


def test_a_new_account_never_gets_the_cached_roster_of_a_deleted_one(tmp_path):
    """Prosody caches offline users' rosters and deleting an account leaves the
    entry: the sync drops it before it creates an account of that name (issue 18 D)."""
    accounts = {"pere": stored("pw-pere")}
    cached = [jid("marta"), jid("pere")]
    _, _, outcome = sync(tmp_path, accounts, {"marta": "pw-marta", "pere": "pw-pere"},
                         cached=cached)
    assert outcome["cached_rosters"] == {jid("pere"): True}
    _, _, planned = sync(tmp_path, accounts, {"marta": "pw-marta"}, mode="plan", cached=cached)
    assert planned["cached_rosters"] == {jid("marta"): True, jid("pere"): True}
