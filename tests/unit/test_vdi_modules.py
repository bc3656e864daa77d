"""Unit tests of the remote-desktop modules: teletreball_oath_users, teletreball_desktop_accounts.

No test runs a command that changes this machine's accounts: an autouse fixture makes
AnsibleModule.run_command fail unless a test puts a recording fake in its place.
"""

from __future__ import annotations

import ctypes.util
import datetime as dt
import fcntl
import json
import os
import pathlib
import secrets
import stat
import subprocess
import sys
import time

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import fake_bin_paths, load_library_module, refuse_commands, run_main

# TOTP seeds: made at run time (no seed-like constant is committed), and two
# plain patterns.
KEY_A = secrets.token_hex(20)
KEY_B = "00112233445566778899aabbccddeeff"
KEY_C = "ffeeddccbbaa99887766554433221100ffeeddcc"
TOTP = "HOTP/T30/6"


def load(name):
    return load_library_module(name)


def run_module(name, args, capsys, check_mode=False, prepare=None):
    module = load(name)
    if prepare:
        prepare(module)
    return run_main(module, args, capsys, check_mode)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)


# --- teletreball_oath_users -----------------------------------------------------


def oath_args(users_file, *users, **changes):
    args = {"path": str(users_file), "users": [{"username": u, "secret": s} for u, s in users]}
    args.update(changes)
    return args


def test_oath_users_new_file_is_private_sorted_and_stable(tmp_path, capsys):
    path = tmp_path / "etc" / "users.oath"
    args = oath_args(path, ("pau", KEY_B), ("anna", KEY_A))
    first = run_module("teletreball_oath_users", args, capsys)
    assert first["rc"] == 0 and first["changed"] is True
    assert first["added"] == ["anna", "pau"]
    assert path.read_text() == (
        f"{TOTP}\tanna\t+\t{KEY_A}\n{TOTP}\tpau\t+\t{KEY_B}\n")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    # pam_oath (liboath 2.6.12) refuses to log anybody in while <path>.lock exists.
    assert not os.path.exists(f"{path}.lock")
    assert first["diff"] == {"before": "", "after": f"anna {TOTP}\npau {TOTP}\n"}
    again = run_module("teletreball_oath_users", args, capsys)
    assert again["changed"] is False
    assert again["added"] == again["updated"] == again["removed"] == []


def test_oath_users_keep_replay_state_and_revoke(tmp_path, capsys):
    path = tmp_path / "users.oath"
    anna = f"{TOTP}\tanna\t+\t{KEY_A}\t1\t145839\t2026-11-29T01:39:11L"
    path.write_text(
        "# written by hand\n"
        f"{anna}\n"
        "\n"
        f"{TOTP}\tpau\t+\t{KEY_B}\t3\t000111\t2026-11-28T09:00:00L\n"
        f"{TOTP}\tmarta\t+\t{KEY_C}\n"
        "garbage\n"
    )
    path.chmod(0o600)
    args = oath_args(path, ("anna", KEY_A), ("pau", KEY_C), ("jordi", KEY_B))
    result = run_module("teletreball_oath_users", args, capsys)
    assert result["changed"] is True
    assert result["added"] == ["jordi"]
    assert result["updated"] == ["pau"]
    assert result["removed"] == ["marta"]
    assert result["dropped"] == [
        "line 1: comment", "line 3: blank", "line 6: not a pam_oath entry"]
    assert path.read_text() == (
        f"{anna}\n"
        f"{TOTP}\tjordi\t+\t{KEY_B}\n"
        f"{TOTP}\tpau\t+\t{KEY_C}\n"
    )
    assert result["diff"]["before"] == f"anna {TOTP}\nmarta {TOTP}\npau {TOTP}\n"
    assert result["diff"]["after"] == f"anna {TOTP}\njordi {TOTP}\npau {TOTP} (replaced)\n"
    for key in (KEY_A, KEY_B, KEY_C):
        assert key not in json.dumps(result["diff"])
        assert key not in json.dumps(
            {k: result[k] for k in ("added", "updated", "removed", "dropped")})


def test_oath_users_new_type_or_pin_gets_a_fresh_line(tmp_path, capsys):
    path = tmp_path / "users.oath"
    path.write_text(
        f"{TOTP}\tanna\t+\t{KEY_A}\t1\t145839\t2026-11-29T01:39:11L\n"
        f"HOTP/T60/8\tpau\t-\t{KEY_B}\t1\t12345678\t2026-11-29T01:39:11L\n"
    )
    args = oath_args(path, ("anna", KEY_A), ("pau", KEY_B), period=60, digits=8)
    result = run_module("teletreball_oath_users", args, capsys)
    assert result["updated"] == ["anna", "pau"]
    assert path.read_text() == (
        f"HOTP/T60/8\tanna\t+\t{KEY_A}\nHOTP/T60/8\tpau\t+\t{KEY_B}\n")


def test_oath_users_plan_keeps_the_matching_line_of_a_user_listed_twice():
    module = load("teletreball_oath_users")
    old = f"{TOTP}\tanna\t+\t{KEY_B}\n{TOTP}\tanna\t+\t{KEY_A}\t2\t1\tx\n"
    step = module.plan(old, {"anna": KEY_A}, TOTP)
    assert step["text"] == f"{TOTP}\tanna\t+\t{KEY_A}\t2\t1\tx\n"
    assert step["dropped"] == ["line 1: another line of anna"]
    assert step["added"] == step["updated"] == step["removed"] == []
    # Without the trailing newline the kept line is the same; the file then gets one.
    assert module.plan(old.rstrip("\n"), {"anna": KEY_A}, TOTP)["text"] == step["text"]


def test_oath_users_check_mode_writes_nothing(tmp_path, capsys):
    path = tmp_path / "missing" / "users.oath"
    result = run_module(
        "teletreball_oath_users", oath_args(path, ("anna", KEY_A)), capsys, check_mode=True)
    assert result["changed"] is True and result["added"] == ["anna"]
    assert not path.parent.exists()
    existing = tmp_path / "users.oath"
    existing.write_text(f"{TOTP}\tpau\t+\t{KEY_B}\n")
    existing.chmod(0o600)
    result = run_module(
        "teletreball_oath_users", oath_args(existing, ("anna", KEY_A)), capsys, True)
    assert result["removed"] == ["pau"]
    assert existing.read_text() == f"{TOTP}\tpau\t+\t{KEY_B}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.oath"]  # no lock file


def test_oath_users_fix_a_loose_mode(tmp_path, capsys):
    path = tmp_path / "users.oath"
    path.write_text(f"{TOTP}\tanna\t+\t{KEY_A}\n")
    path.chmod(0o644)
    result = run_module("teletreball_oath_users", oath_args(path, ("anna", KEY_A)), capsys)
    assert result["changed"] is True and result["added"] == []
    assert mode(path) == 0o600


def test_oath_users_wait_for_pam_oath_lock(tmp_path, capsys):
    """A login holds the lock file: the run waits, then gives up and leaves it."""
    path = tmp_path / "users.oath"
    lock = tmp_path / "users.oath.lock"
    lock.write_text("")

    def short_wait(module):
        module.LOCK_TIMEOUT = 0.3

    result = run_module(
        "teletreball_oath_users", oath_args(path, ("anna", KEY_A)), capsys, prepare=short_wait)
    assert result["rc"] == 1
    assert result["msg"] == (
        f"Cannot update the pam_oath users file {path}: "
        f"{path}.lock stayed in place for 0.3 seconds.")
    assert not path.exists()
    assert lock.exists()  # not ours: left alone


def test_oath_users_remove_a_stale_lock_file(tmp_path, capsys):
    """A lock file older than a minute is a crash's leftover that blocks every login."""
    path = tmp_path / "users.oath"
    lock = tmp_path / "users.oath.lock"
    lock.write_text("")
    old = time.time() - 600
    os.utime(lock, (old, old))
    result = run_module("teletreball_oath_users", oath_args(path, ("anna", KEY_A)), capsys)
    assert result["rc"] == 0 and result["changed"] is True
    assert not lock.exists()


def test_oath_users_lock_is_exclusive_and_removed(tmp_path):
    module = load("teletreball_oath_users")
    path = tmp_path / "users.oath"
    path.write_text("x\n")
    with module.locked(str(path), create=True) as text:
        assert text == "x\n"
        probe = subprocess.run(
            [sys.executable, "-c",
             "import fcntl, os, sys\n"
             "try:\n"
             "    os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL)\n"
             "    print('free')\n"
             "except FileExistsError:\n"
             "    print('held')\n"
             "fd = os.open(sys.argv[2], os.O_RDWR)\n"
             "try:\n"
             "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "    print('free')\n"
             "except OSError:\n"
             "    print('held')\n",
             f"{path}.lock", str(path)],
            capture_output=True, text=True, check=True,
        )
        assert probe.stdout.split() == ["held", "held"]
    assert not os.path.exists(f"{path}.lock")
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


@pytest.mark.parametrize(
    ("users", "changes", "message"),
    [
        ([("Anna", KEY_A)], {}, "'Anna' is not a valid username."),
        ([("anna", KEY_A), ("anna", KEY_B)], {}, "users lists 'anna' more than once."),
        ([("anna", KEY_A.upper())], {},
         "the secret of 'anna' must be 32 to 128 lowercase hexadecimal digits, an even "
         "number of them."),
        ([("anna", KEY_A + "0")], {},
         "the secret of 'anna' must be 32 to 128 lowercase hexadecimal digits, an even "
         "number of them."),
        ([("anna", "ab" * 15)], {},
         "the secret of 'anna' must be 32 to 128 lowercase hexadecimal digits, an even "
         "number of them."),
        ([("anna", KEY_A)], {"period": 10}, "period must be 15 to 120 seconds, not 10."),
        ([("anna", KEY_A)], {"path": "users.oath"},
         "path must be an absolute path, not users.oath."),
    ],
)
def test_oath_users_error_paths(tmp_path, capsys, users, changes, message):
    args = oath_args(tmp_path / "users.oath", *users, **changes)
    result = run_module("teletreball_oath_users", args, capsys)
    assert result["rc"] == 1
    assert result["msg"] == message
    for _, key in users:
        assert key not in result["raw"]
    assert not (tmp_path / "users.oath").exists()


# --- teletreball_desktop_accounts: the password check ----------------------------


def test_crypt_verifies_a_sha512_hash():
    if ctypes.util.find_library("crypt") is None:
        pytest.skip("libcrypt is not installed")
    module = load("teletreball_desktop_accounts")
    made = module.crypt("Correct horse 1", "$6$Xq0cA1bUd2eF3gH4$")
    assert made and made.startswith("$6$Xq0cA1bUd2eF3gH4$")
    assert module.password_matches("Correct horse 1", made) is True
    assert module.password_matches("correct horse 1", made) is False
    assert module.password_matches("Correct horse 1", "!" + made) is False
    assert module.password_matches("Correct horse 1", "") is False
    assert module.password_matches("Correct horse 1", "*") is False


# --- teletreball_desktop_accounts: the plan ---------------------------------------

TODAY = dt.date(2026, 11, 30)
GROUP = "tsusers"


def account(uid=1001, home=None, login_shell="/bin/bash", comment="", home_exists=True,
            name="x"):
    return {"uid": uid, "home": home or f"/home/{name}", "shell": login_shell,
            "comment": comment, "home_exists": home_exists}


def person(name, pw="secret-1", comment=""):
    return {"username": name, "password": pw, "comment": comment}


def fake_verify(password, stored):
    return stored == f"hash-of-{password}"


def plan(users=(), passwd=None, shadow=None, members=frozenset(), state=None, module=None,
         **changes):
    module = module or load("teletreball_desktop_accounts")
    options = {
        "group": GROUP, "shell": "/bin/bash", "today": TODAY, "retention_days": 30,
        "archive_dir": "/backups", "archives": frozenset(), "verify": fake_verify,
    }
    options.update(changes)
    return module.plan(
        list(users), passwd or {}, shadow or {},
        None if members is None else set(members),
        state or {"accounts": {}}, **options,
    )


def steps(actions):
    return [(a["user"], a["do"]) for a in actions]


ACTIVE = {"status": "active", "locked_on": None, "archive": None}


def test_plan_creates_a_new_person_and_the_group():
    actions, state = plan([person("anna", comment="Anna Puig")], members=None)
    assert steps(actions) == [
        (None, "groupadd"), ("anna", "useradd"), ("anna", "password"), ("anna", "state")]
    assert actions[1] == {"do": "useradd", "user": "anna", "comment": "Anna Puig",
                          "shell": "/bin/bash", "group": GROUP}
    assert state == {"accounts": {"anna": ACTIVE}}


def test_plan_leaves_a_person_in_order_alone():
    actions, state = plan(
        [person("anna")], passwd={"anna": account(name="anna")},
        shadow={"anna": {"hash": "hash-of-secret-1", "expire": ""}},
        members={"anna"}, state={"accounts": {"anna": ACTIVE}})
    assert actions == []
    assert state == {"accounts": {"anna": ACTIVE}}


def test_plan_sets_a_changed_password_comment_shell_and_group():
    actions, _ = plan(
        [person("anna", pw="new", comment="Anna P.")],
        passwd={"anna": account(name="anna", login_shell="/bin/sh")},
        shadow={"anna": {"hash": "hash-of-old", "expire": ""}},
        state={"accounts": {"anna": ACTIVE}})
    assert steps(actions) == [
        ("anna", "password"), ("anna", "group_add"), ("anna", "usermod")]
    assert actions[2] == {"do": "usermod", "user": "anna", "comment": "Anna P.",
                          "shell": "/bin/bash"}


def test_plan_unlocks_a_returning_person():
    locked = {"status": "locked", "locked_on": "2026-11-20", "archive": None}
    actions, state = plan(
        [person("anna")], passwd={"anna": account(name="anna")},
        shadow={"anna": {"hash": "!hash-of-secret-1", "expire": "1"}},
        state={"accounts": {"anna": locked}})
    assert steps(actions) == [
        ("anna", "unlock"), ("anna", "group_add"), ("anna", "state")]
    assert actions[0] == {"do": "unlock", "user": "anna", "hash": True, "expiry": True}
    assert state["accounts"]["anna"] == ACTIVE
    # A new password replaces the locked hash whole; only the expiry is cleared.
    actions, _ = plan(
        [person("anna", pw="other")], passwd={"anna": account(name="anna")},
        shadow={"anna": {"hash": "!hash-of-secret-1", "expire": "1"}},
        members={"anna"}, state={"accounts": {"anna": locked}})
    assert actions[:2] == [
        {"do": "password", "user": "anna"},
        {"do": "unlock", "user": "anna", "hash": False, "expiry": True},
    ]


def digest(text):
    return load("teletreball_desktop_accounts").credential_digest(text)


class CountingVerify:
    """fake_verify that counts its calls (the slow libcrypt check)."""

    def __init__(self):
        self.calls = []

    def __call__(self, password, stored):
        self.calls.append(stored)
        return fake_verify(password, stored)


def remembered(name, pw, stored_hash):
    return {**person(name, pw=pw), "verified_credential": digest(stored_hash)}


IN_ORDER = {"passwd": {"anna": account(name="anna")}, "members": {"anna"},
            "state": {"accounts": {"anna": ACTIVE}}}


def test_plan_skips_the_check_of_a_remembered_hash():
    verify, verified = CountingVerify(), {}
    actions, _ = plan([remembered("anna", "secret-1", "hash-of-secret-1")],
                      shadow={"anna": {"hash": "hash-of-secret-1", "expire": ""}},
                      verify=verify, verified=verified, **IN_ORDER)
    assert actions == []
    assert verify.calls == []
    assert verified == {"anna": digest("hash-of-secret-1")}


def test_plan_checks_again_when_the_hash_was_changed_by_hand():
    verify, verified = CountingVerify(), {}
    # The memo knew hash-of-secret-1; somebody ran passwd on the host since.
    actions, _ = plan([remembered("anna", "secret-1", "hash-of-secret-1")],
                      shadow={"anna": {"hash": "hash-of-by-hand", "expire": ""}},
                      verify=verify, verified=verified, **IN_ORDER)
    assert verify.calls == ["hash-of-by-hand"]
    assert steps(actions) == [("anna", "password")]
    assert verified == {}


def test_plan_checks_every_user_without_a_remembered_hash():
    verify, verified = CountingVerify(), {}
    plan([person("anna"), remembered("pau", "secret-1", "hash-of-secret-1")],
         passwd={"anna": account(name="anna"), "pau": account(name="pau")},
         shadow={"anna": {"hash": "hash-of-secret-1", "expire": ""},
                 "pau": {"hash": "hash-of-secret-1", "expire": ""}},
         members={"anna", "pau"}, verify=verify, verified=verified,
         state={"accounts": {"anna": ACTIVE, "pau": ACTIVE}})
    assert verify.calls == ["hash-of-secret-1"]  # anna only
    assert verified == {"anna": digest("hash-of-secret-1"), "pau": digest("hash-of-secret-1")}


def test_plan_remembered_hash_of_a_locked_account_still_unlocks_it():
    locked = {"status": "locked", "locked_on": "2026-11-20", "archive": None}
    verify, verified = CountingVerify(), {}
    actions, _ = plan([remembered("anna", "secret-1", "hash-of-secret-1")],
                      passwd={"anna": account(name="anna")}, members={"anna"},
                      shadow={"anna": {"hash": "!hash-of-secret-1", "expire": "1"}},
                      state={"accounts": {"anna": locked}}, verify=verify, verified=verified)
    assert verify.calls == []
    assert actions[0] == {"do": "unlock", "user": "anna", "hash": True, "expiry": True}
    assert verified == {"anna": digest("hash-of-secret-1")}


@pytest.mark.parametrize("stored_hash", ["", "*", "!", "!!hash-of-secret-1"])
def test_plan_never_trusts_a_remembered_digest_of_an_unusable_hash(stored_hash):
    verify = CountingVerify()
    actions, _ = plan([remembered("anna", "secret-1", stored_hash.lstrip("!"))],
                      shadow={"anna": {"hash": stored_hash, "expire": ""}},
                      verify=verify, **IN_ORDER)
    assert ("anna", "password") in steps(actions)


@pytest.mark.parametrize("uid", [0, 999, 65534])
def test_plan_refuses_system_accounts(uid):
    module = load("teletreball_desktop_accounts")
    with pytest.raises(module.PlanError) as error:
        plan([person("backup")], passwd={"backup": account(uid=uid)}, module=module)
    assert str(error.value) == (
        f"'backup' is a system account (UID {uid}); it cannot be a desktop account.")


def test_plan_locks_an_absent_person_at_once():
    actions, state = plan(
        [], passwd={"pau": account(name="pau")},
        shadow={"pau": {"hash": "hash-of-x", "expire": ""}}, members={"pau"},
        state={"accounts": {"pau": ACTIVE}})
    assert steps(actions) == [
        ("pau", "lock"), ("pau", "kill"), ("pau", "group_remove"), ("pau", "state")]
    assert state["accounts"]["pau"] == {
        "status": "locked", "locked_on": "2026-11-30", "archive": None}


def test_plan_keeps_a_locked_account_until_the_retention_ends():
    locked = {"status": "locked", "locked_on": "2026-11-01", "archive": None}
    views = {"passwd": {"pau": account(name="pau")},
             "shadow": {"pau": {"hash": "!hash-of-x", "expire": "1"}}}
    actions, state = plan([], state={"accounts": {"pau": locked}}, **views)
    assert actions == [] and state["accounts"]["pau"] == locked
    actions, state = plan([], state={"accounts": {"pau": locked}}, retention_days=29,
                          archives={"pau-20261130.tar.gz"}, **views)
    assert steps(actions) == [
        ("pau", "kill"), ("pau", "archive"), ("pau", "userdel"), ("pau", "state")]
    assert actions[1] == {"do": "archive", "user": "pau", "home": "/home/pau",
                          "archive": "/backups/pau-20261130-2.tar.gz"}
    assert actions[2]["remove_home"] is True
    assert state["accounts"]["pau"] == {
        "status": "archived", "locked_on": "2026-11-01",
        "archive": "/backups/pau-20261130-2.tar.gz"}


def test_plan_retention_zero_locks_and_archives_in_one_run():
    actions, state = plan(
        [], passwd={"pau": account(name="pau")},
        shadow={"pau": {"hash": "hash-of-x", "expire": ""}},
        state={"accounts": {"pau": ACTIVE}}, retention_days=0)
    assert steps(actions) == [
        ("pau", "lock"), ("pau", "kill"), ("pau", "state"), ("pau", "archive"),
        ("pau", "userdel"), ("pau", "state")]
    assert state["accounts"]["pau"]["status"] == "archived"


def test_plan_relocks_an_account_unlocked_by_hand_and_skips_odd_homes():
    locked = {"status": "locked", "locked_on": "2026-10-01", "archive": None}
    actions, state = plan(
        [], passwd={"pau": account(name="pau", home="/")},
        shadow={"pau": {"hash": "hash-of-x", "expire": ""}},
        state={"accounts": {"pau": locked}})
    assert steps(actions) == [
        ("pau", "lock"), ("pau", "kill"), ("pau", "userdel"), ("pau", "state")]
    assert actions[2]["remove_home"] is False
    assert state["accounts"]["pau"]["archive"] is None


ANNA_ID, OTHER_ID = "a1" * 16, "b2" * 16


def test_plan_gives_a_username_reused_by_another_person_a_new_account_and_home():
    """During the retention (locked) or while active: the predecessor's home is
    archived and her account deleted before the new one is made (issue 18 D)."""
    locked = {"status": "locked", "locked_on": "2026-11-20", "archive": None,
              "identity": ANNA_ID}
    newcomer = dict(person("anna", pw="hers"), identity=OTHER_ID)
    for entry in (locked, dict(ACTIVE, identity=ANNA_ID)):
        actions, state = plan(
            [newcomer], passwd={"anna": account(name="anna")},
            shadow={"anna": {"hash": "!hash-of-secret-1", "expire": "1"}},
            members={"anna"}, state={"accounts": {"anna": entry}})
        assert steps(actions) == [
            ("anna", "lock"), ("anna", "kill"), ("anna", "archive"), ("anna", "userdel"),
            ("anna", "useradd"), ("anna", "password"), ("anna", "state")]
        assert actions[2]["archive"] == "/backups/anna-20261130.tar.gz"
        assert actions[3]["remove_home"] is True
        assert state["accounts"]["anna"] == dict(ACTIVE, identity=OTHER_ID)


def test_plan_keeps_the_account_of_the_same_person_or_of_an_unrecorded_identity():
    views = {"passwd": {"anna": account(name="anna")}, "members": {"anna"},
             "shadow": {"anna": {"hash": "hash-of-secret-1", "expire": ""}}}
    same = dict(person("anna"), identity=ANNA_ID)
    actions, state = plan([same], state={"accounts": {"anna": dict(ACTIVE, identity=ANNA_ID)}},
                          **views)
    assert actions == []
    # Recorded before identities were kept: taken as hers, and recorded now.
    actions, state = plan([same], state={"accounts": {"anna": ACTIVE}}, **views)
    assert steps(actions) == [("anna", "state")]
    assert state["accounts"]["anna"] == dict(ACTIVE, identity=ANNA_ID)


def test_plan_keeps_the_identity_of_a_locked_and_an_archived_account():
    views = {"passwd": {"pau": account(name="pau")},
             "shadow": {"pau": {"hash": "hash-of-x", "expire": ""}}}
    _, state = plan([], state={"accounts": {"pau": dict(ACTIVE, identity=ANNA_ID)}},
                    retention_days=0, **views)
    assert state["accounts"]["pau"]["status"] == "archived"
    assert state["accounts"]["pau"]["identity"] == ANNA_ID


def test_plan_records_accounts_deleted_by_other_means_and_recreates_archived_ones():
    old = {"status": "archived", "locked_on": "2026-01-01", "archive": "/b/anna.tar.gz"}
    actions, state = plan(
        [person("anna")], state={"accounts": {"anna": old, "pau": ACTIVE}})
    assert steps(actions) == [
        ("anna", "useradd"), ("anna", "password"), ("anna", "state"), ("pau", "state")]
    assert state["accounts"] == {
        "anna": ACTIVE, "pau": {"status": "archived", "locked_on": None, "archive": None}}


def test_commands_are_argument_lists():
    module = load("teletreball_desktop_accounts")
    assert module.commands({"do": "useradd", "user": "anna", "comment": "Anna Puig",
                            "shell": "/bin/bash", "group": GROUP}) == [[
        "useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
        "--comment", "Anna Puig", "--groups", GROUP, "anna"]]
    assert module.commands({"do": "unlock", "user": "anna", "hash": True, "expiry": True}) == [
        ["usermod", "--unlock", "anna"], ["usermod", "--expiredate", "", "anna"]]
    assert module.commands({"do": "lock", "user": "pau"}) == [
        ["usermod", "--lock", "--expiredate", "1", "pau"]]
    assert module.commands({"do": "kill", "user": "pau"}) == [["pkill", "-KILL", "-u", "pau"]]
    assert module.commands(
        {"do": "archive", "user": "pau", "home": "/home/pau", "archive": "/b/p.tar.gz"}) == [[
            "tar", "--create", "--gzip", "--file", "/b/p.tar.gz", "-C", "/home", "pau"]]
    assert module.commands({"do": "userdel", "user": "pau", "remove_home": True}) == [
        ["userdel", "--remove", "pau"]]


# --- teletreball_desktop_accounts: the module --------------------------------------


def desktop_args(tmp_path, users=(), **changes):
    args = {
        "users": list(users), "group": GROUP, "today": "2026-11-30",
        "archive_dir": str(tmp_path / "backups" / "desktops"),
        "state_file": str(tmp_path / "lib" / "desktop-accounts.json"),
    }
    args.update(changes)
    return args


@pytest.fixture
def fake_host(monkeypatch):
    """Replace what the module reads of the host and record what it would run."""

    def prepare_with(passwd=None, shadow=None, members=frozenset(), commands=None, fail=None):
        def read_views(names, group, archive_dir):
            archives = set(os.listdir(archive_dir)) if os.path.isdir(archive_dir) else set()
            return (passwd or {}, shadow or {}, None if members is None else set(members),
                    archives)

        def run_command(self, args, data=None, expand_user_and_vars=True, **kwargs):
            assert expand_user_and_vars is False
            commands.append((args, data))
            name = pathlib.Path(args[0]).name
            if name == fail:
                return 9, "", f"{fail}: no"
            if name == "tar":
                pathlib.Path(args[args.index("--file") + 1]).write_bytes(b"archive")
            return (1 if name == "pkill" else 0), "", ""

        def read_shadow(names):
            # What chpasswd stored: the fake hash of the password it was given.
            set_now = {c[1].split(":", 1)[0]: c[1].split(":", 1)[1]
                       for c in commands or [] if c[1]}
            return {name: {"hash": f"hash-of-{set_now[name]}", "expire": ""}
                    for name in names if name in set_now}

        def prepare(module):
            monkeypatch.setattr(module, "read_views", read_views)
            monkeypatch.setattr(module, "read_shadow", read_shadow)
            if commands is not None:
                monkeypatch.setattr(AnsibleModule, "run_command", run_command)
                fake_bin_paths(monkeypatch, "/fake")

        return prepare

    return prepare_with


def test_desktop_accounts_check_mode_runs_and_writes_nothing(tmp_path, capsys, fake_host):
    state_file = tmp_path / "lib" / "desktop-accounts.json"
    state_file.parent.mkdir()
    state_file.write_text(json.dumps({"accounts": {"pau": ACTIVE}}))
    before = state_file.read_text()
    args = desktop_args(tmp_path, [person("anna", pw="Very-secret-9")], retention_days=0)
    result = run_module(
        "teletreball_desktop_accounts", args, capsys, check_mode=True,
        prepare=fake_host(passwd={"pau": account(name="pau")},
                          shadow={"pau": {"hash": "x", "expire": ""}}, members=None))
    assert result["rc"] == 0 and result["changed"] is True
    assert result["created"] == ["anna"] and result["password_set"] == ["anna"]
    assert result["locked"] == ["pau"]
    assert result["archived"] == [
        {"username": "pau", "archive": f"{tmp_path}/backups/desktops/pau-20261130.tar.gz"}]
    assert result["diff"]["after"].splitlines()[:2] == [
        "group: create group tsusers",
        "anna: create account (home folder, group tsusers), set password, record status active",
    ]
    assert "Very-secret-9" not in result["raw"]
    assert state_file.read_text() == before
    assert not (tmp_path / "backups").exists()


def test_desktop_accounts_run_the_plan_and_keep_the_state(tmp_path, capsys, fake_host):
    commands = []
    args = desktop_args(tmp_path, [person("anna", pw="Very-secret-9")])
    result = run_module("teletreball_desktop_accounts", args, capsys,
                        prepare=fake_host(members=None, commands=commands))
    assert result["rc"] == 0, result
    assert [c[0] for c in commands] == [
        ["/fake/groupadd", GROUP],
        ["/fake/useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
         "--comment", "", "--groups", GROUP, "anna"],
        ["/fake/chpasswd"],
    ]
    assert commands[2][1] == "anna:Very-secret-9"
    assert "Very-secret-9" not in result["raw"]
    state_file = tmp_path / "lib" / "desktop-accounts.json"
    assert json.loads(state_file.read_text()) == {"accounts": {"anna": ACTIVE}}
    assert mode(state_file) == 0o600 and mode(state_file.parent) == 0o700

    # anna leaves with retention 0: locked, archived and deleted in one run.
    commands.clear()
    args = desktop_args(tmp_path, [], retention_days=0)
    result = run_module(
        "teletreball_desktop_accounts", args, capsys,
        prepare=fake_host(passwd={"anna": account(name="anna")},
                          shadow={"anna": {"hash": "h", "expire": ""}},
                          members={"anna"}, commands=commands))
    assert result["rc"] == 0, result
    names = [pathlib.Path(c[0][0]).name for c in commands]
    assert names == ["usermod", "pkill", "gpasswd", "tar", "userdel"]
    archive = tmp_path / "backups" / "desktops" / "anna-20261130.tar.gz"
    assert result["archived"] == [{"username": "anna", "archive": str(archive)}]
    assert archive.read_bytes() == b"archive"
    assert mode(archive) == 0o600 and mode(archive.parent) == 0o700
    assert list(archive.parent.iterdir()) == [archive]
    assert commands[-1][0] == ["/fake/userdel", "--remove", "anna"]
    assert json.loads(state_file.read_text())["accounts"]["anna"] == {
        "status": "archived", "locked_on": "2026-11-30", "archive": str(archive)}


def test_desktop_accounts_failed_command_keeps_what_was_done(tmp_path, capsys, fake_host):
    commands = []
    state_file = tmp_path / "lib" / "desktop-accounts.json"
    state_file.parent.mkdir(mode=0o700)
    state_file.write_text(json.dumps({"accounts": {"pau": ACTIVE}}))
    args = desktop_args(tmp_path, [], retention_days=0)
    result = run_module(
        "teletreball_desktop_accounts", args, capsys,
        prepare=fake_host(passwd={"pau": account(name="pau")},
                          shadow={"pau": {"hash": "h", "expire": ""}},
                          commands=commands, fail="userdel"))
    assert result["rc"] == 1
    assert result["msg"] == (
        "Desktop account pau: userdel --remove pau failed with rc 9: userdel: no")
    # Locked and archived, not deleted: the next run archives again and deletes.
    assert json.loads(state_file.read_text())["accounts"]["pau"]["status"] == "locked"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": [person("Anna")]}, "'Anna' is not a valid username."),
        ({"users": [person("anna"), person("anna")]}, "users lists 'anna' more than once."),
        ({"users": [person("anna", pw="two\nlines")]},
         "the password of 'anna' must be one non-empty line."),
        ({"users": [person("anna", comment="a:b")]},
         "the comment of 'anna' cannot hold ':' or line breaks."),
        ({"users": [person("tsusers")]},
         "'tsusers' cannot be both a username and the login group."),
        ({"group": "TS users"}, "'TS users' is not a valid group name."),
        ({"shell": "bash"}, "shell must be an absolute path, not bash."),
        ({"retention_days": -1}, "retention_days must be 0 or more, not -1."),
        ({"today": "2026-13-01"}, "today must look like 2026-01-31, not 2026-13-01."),
        ({"state_file": "state.json"}, "state_file must be an absolute path, not state.json."),
    ],
)
def test_desktop_accounts_error_paths(tmp_path, capsys, changes, message):
    result = run_module("teletreball_desktop_accounts", desktop_args(tmp_path, **changes), capsys)
    assert result["rc"] == 1
    assert result["msg"] == message
    assert "two\\nlines" not in result["raw"]
    assert not (tmp_path / "lib").exists()


def test_desktop_accounts_reject_a_broken_state_file(tmp_path, capsys):
    state_file = tmp_path / "lib" / "desktop-accounts.json"
    state_file.parent.mkdir()
    state_file.write_text(json.dumps({"accounts": {"pau": {"status": "gone"}}}))
    result = run_module("teletreball_desktop_accounts", desktop_args(tmp_path), capsys)
    assert result["msg"] == f"The state file {state_file} is not a record of desktop accounts."


def fake_crypt(password, setting):
    """libcrypt's crypt(3) for the fake hashes: every hash of a password is one string."""
    return f"hash-of-{password}"


def test_desktop_accounts_return_what_matches_and_skip_it_next_time(tmp_path, capsys, fake_host,
                                                                    monkeypatch):
    def slow_check(password, setting):
        raise AssertionError("libcrypt was called for a remembered hash")

    commands = []
    shadow = {"pau": {"hash": "hash-of-Old-secret-1", "expire": ""},
              "marta": {"hash": "hash-of-Marta-secret-3", "expire": ""}}
    views = {"passwd": {"pau": account(name="pau"), "marta": account(name="marta")},
             "members": {"pau", "marta"}}
    users = [person("anna", pw="Very-secret-9"), person("pau", pw="New-secret-2"),
             person("marta", pw="Marta-secret-3")]
    args = desktop_args(tmp_path, users)
    first = run_module("teletreball_desktop_accounts", args, capsys,
                       prepare=lambda module: (
                           fake_host(shadow=shadow, commands=commands, **views)(module),
                           monkeypatch.setattr(module, "crypt", fake_crypt)))
    assert first["rc"] == 0, first
    assert first["password_set"] == ["anna", "pau"]
    # marta checked and matching; anna and pau set by chpasswd, read back.
    assert first["verified"] == {
        "anna": digest("hash-of-Very-secret-9"), "marta": digest("hash-of-Marta-secret-3"),
        "pau": digest("hash-of-New-secret-2")}
    assert "Very-secret-9" not in first["raw"]

    # Next run: the host now stores those hashes, the role gives the digests back.
    shadow = {name: {"hash": f"hash-of-{u['password']}", "expire": ""}
              for u in users for name in [u["username"]]}
    views = {"passwd": {u["username"]: account(name=u["username"]) for u in users},
             "members": {u["username"] for u in users}}
    again = desktop_args(tmp_path, [
        {**u, "verified_credential": first["verified"][u["username"]]} for u in users])
    commands.clear()
    second = run_module("teletreball_desktop_accounts", again, capsys,
                        prepare=lambda module: (
                            fake_host(shadow=shadow, commands=commands, **views)(module),
                            monkeypatch.setattr(module, "crypt", slow_check)))
    assert second["rc"] == 0, second
    assert second["changed"] is False and commands == []
    # The digests come back whole: the option is not no_log, or Ansible would blank them.
    assert second["verified"] == first["verified"]


def test_desktop_accounts_check_mode_leaves_the_passwords_to_set_out(tmp_path, capsys,
                                                                     fake_host, monkeypatch):
    shadow = {"pau": {"hash": "hash-of-Old-secret-1", "expire": ""},
              "marta": {"hash": "hash-of-Marta-secret-3", "expire": ""}}
    views = {"passwd": {"pau": account(name="pau"), "marta": account(name="marta")},
             "members": {"pau", "marta"}}
    args = desktop_args(tmp_path, [person("pau", pw="New-secret-2"),
                                   person("marta", pw="Marta-secret-3")])
    result = run_module("teletreball_desktop_accounts", args, capsys, check_mode=True,
                        prepare=lambda module: (
                            fake_host(shadow=shadow, **views)(module),
                            monkeypatch.setattr(module, "crypt", fake_crypt)))
    assert result["rc"] == 0, result
    assert result["password_set"] == ["pau"]
    assert result["verified"] == {"marta": digest("hash-of-Marta-secret-3")}



def test_set_hashes_reads_the_new_hashes_back_from_the_shadow_file(tmp_path, monkeypatch):
    module = load("teletreball_desktop_accounts")
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:20000:0:99999:7:::\n"
                      "anna:$y$j9T$abc$def:20000:0:99999:7:::\n"
                      "pau:!$y$j9T$xyz$uvw:20000:0:99999:7::1:\n"
                      "marta:$y$j9T$mno$pqr:20000:0:99999:7:::\n")
    monkeypatch.setattr(module, "SHADOW", str(shadow))
    # A locked hash is not one chpasswd just made: left out.
    assert module.set_hashes(["anna", "pau"]) == {
        "anna": module.credential_digest("$y$j9T$abc$def")}
    monkeypatch.setattr(module, "SHADOW", str(tmp_path / "missing"))
    assert module.set_hashes(["anna"]) == {}
