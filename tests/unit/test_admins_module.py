"""Unit tests of the module teletreball_admins: the admins of a host in one run.

The account database is a fake (the tests must not make accounts on this machine):
pwd, grp and /etc/shadow are read from tables, and useradd, usermod, userdel and
groupadd change those tables. Homes and authorized_keys files are real, under
pytest's temporary folder, owned by the user running the tests."""

from __future__ import annotations

import os
import pwd
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import fake_bin_paths, load_library_module, refuse_commands, run_main

UID, GID = os.getuid(), os.getgid()
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK3y0 jordi@portatil"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther anna@casa"
HASH = "$y$j9T$abcdefghijklmnop$0123456789012345678901234567890123456789012"


class Accounts:
    """The fake account database and the commands that change it."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.users = {}   # name -> {"shell", "hash", "home"}
        self.groups = {}  # name -> members
        self.calls = []

    def add_user(self, name, login_shell="/bin/bash", crypt_field="!", home=True):
        folder = self.tmp_path / "home" / name
        if home:
            folder.mkdir(parents=True, exist_ok=True)
        self.users[name] = {"shell": login_shell, "hash": crypt_field, "home": str(folder)}

    def entry(self, name):
        user = self.users.get(name)
        if user is None:
            return None
        return pwd.struct_passwd((name, "x", UID, GID, "", user["home"], user["shell"]))

    def run(self, argv):
        command, args = os.path.basename(argv[0]), argv[1:]
        self.calls.append([command, *args])
        name = args[-1]
        if command == "groupadd":
            self.groups[name] = []
        elif command == "useradd":
            assert args[0] == "--create-home"
            pairs = args[1:-1]
            options = {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}
            self.add_user(name, options["--shell"], options.get("--password", "!"))
            self.groups[options["--groups"]].append(name)
        elif command == "usermod":
            if args[0] == "--append":
                self.groups[args[2]].append(name)
            elif args[0] == "--shell":
                self.users[name]["shell"] = args[1]
            elif args[0] == "--password":
                self.users[name]["hash"] = args[1]
        elif command == "userdel":
            del self.users[name]
        return 0, "", ""


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    refuse_commands(monkeypatch)
    fake_bin_paths(monkeypatch, "/usr/sbin")
    return Accounts(tmp_path)


def run(accounts, args, capsys, monkeypatch, check_mode=False):
    module = load_library_module("teletreball_admins")
    monkeypatch.setattr(module, "user_entry", accounts.entry)
    monkeypatch.setattr(module, "group_members", lambda name: accounts.groups.get(name))
    monkeypatch.setattr(module, "shadow_hash",
                        lambda name: accounts.users.get(name, {}).get("hash", ""))
    monkeypatch.setattr(AnsibleModule, "run_command",
                        lambda self, argv, **kwargs: accounts.run(argv))
    return run_main(module, args, capsys, check_mode)


def keys_file(accounts, name):
    return accounts.tmp_path / "home" / name / ".ssh" / "authorized_keys"


def test_a_new_admin_gets_group_account_and_keys_then_nothing_changes(accounts, capsys,
                                                                      monkeypatch):
    args = {"group": "itadmins",
            "users": [{"name": "jordi", "ssh_authorized_keys": [KEY, OTHER_KEY],
                       "password_hash": HASH}]}
    first = run(accounts, args, capsys, monkeypatch)
    assert first["rc"] == 0 and first["changed"] is True
    assert first["group_created"] is True and first["created"] == ["jordi"]
    assert first["keys_changed"] == ["jordi"]
    assert accounts.groups["itadmins"] == ["jordi"] and accounts.users["jordi"]["hash"] == HASH
    path = keys_file(accounts, "jordi")
    assert path.read_text() == f"{KEY}\n{OTHER_KEY}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert HASH not in first["raw"]
    accounts.calls.clear()
    again = run(accounts, args, capsys, monkeypatch)
    assert again["changed"] is False and accounts.calls == []


def test_an_existing_account_is_brought_to_the_declaration(accounts, capsys, monkeypatch):
    accounts.groups["itadmins"] = []
    accounts.add_user("jordi", login_shell="/bin/sh", crypt_field="$y$old")
    path = keys_file(accounts, "jordi")
    path.parent.mkdir(mode=0o700)
    path.write_text(f"{OTHER_KEY}\nssh-rsa AAAAB3Nza stray@key\n")
    result = run(accounts, {"group": "itadmins", "users": [
        {"name": "jordi", "ssh_authorized_keys": [KEY], "password_hash": HASH}]},
        capsys, monkeypatch)
    assert result["modified"] == ["jordi"] and result["created"] == []
    assert [call[:2] for call in accounts.calls] == [
        ["usermod", "--append"], ["usermod", "--shell"], ["usermod", "--password"]]
    assert path.read_text() == f"{KEY}\n"  # only the declared keys stay
    assert "password changed" in result["diff"]["after"] and HASH not in result["raw"]


def test_without_keys_the_file_goes_and_without_a_hash_the_password_stays(accounts, capsys,
                                                                          monkeypatch):
    accounts.groups["itadmins"] = ["jordi"]
    accounts.add_user("jordi", crypt_field="$y$kept")
    path = keys_file(accounts, "jordi")
    path.parent.mkdir(mode=0o700)
    path.write_text(f"{KEY}\n")
    result = run(accounts, {"group": "itadmins", "users": [{"name": "jordi"}]},
                 capsys, monkeypatch)
    assert result["keys_changed"] == ["jordi"] and not path.exists()
    assert accounts.users["jordi"]["hash"] == "$y$kept" and accounts.calls == []


def test_an_absent_admin_is_removed_and_check_mode_changes_nothing(accounts, capsys,
                                                                   monkeypatch):
    accounts.groups["itadmins"] = ["anna"]
    accounts.add_user("anna")
    args = {"group": "itadmins", "users": [{"name": "anna", "state": "absent"},
                                           {"name": "pau", "ssh_authorized_keys": [KEY]}]}
    checked = run(accounts, args, capsys, monkeypatch, check_mode=True)
    assert checked["changed"] is True and checked["removed"] == ["anna"]
    assert checked["created"] == ["pau"] and checked["keys_changed"] == ["pau"]
    assert accounts.calls == [] and "anna" in accounts.users
    result = run(accounts, args, capsys, monkeypatch)
    assert result["removed"] == ["anna"] and "anna" not in accounts.users
    assert ["userdel", "--remove", "anna"] in accounts.calls


def test_a_linked_ssh_folder_is_refused(accounts, capsys, monkeypatch, tmp_path):
    accounts.groups["itadmins"] = ["jordi"]
    accounts.add_user("jordi")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "home" / "jordi" / ".ssh")
    result = run(accounts, {"group": "itadmins",
                            "users": [{"name": "jordi", "ssh_authorized_keys": [KEY]}]},
                 capsys, monkeypatch)
    assert result["failed"] is True and "is not a folder (a link?)" in result["msg"]
    assert not (tmp_path / "elsewhere" / "authorized_keys").exists()


def test_bad_names_root_and_repeats_are_refused_before_anything(accounts, capsys, monkeypatch):
    result = run(accounts, {"group": "IT admins", "users": [
        {"name": "root"}, {"name": "Jordi"}, {"name": "pau"}, {"name": "pau"}]},
        capsys, monkeypatch)
    assert result["failed"] is True and accounts.calls == []
    assert result["msg"] == ("'Jordi' is not a valid login name. root is not managed. "
                             "'pau' is listed twice. group 'IT admins' is not a valid group name.")


def test_a_failing_command_is_named_without_its_arguments(accounts, capsys, monkeypatch):
    accounts.run = lambda argv: (1, "", "useradd: cannot lock /etc/passwd\n")
    accounts.groups["itadmins"] = []
    result = run(accounts, {"group": "itadmins",
                            "users": [{"name": "pau", "password_hash": HASH}]},
                 capsys, monkeypatch)
    assert result["failed"] is True
    assert result["msg"] == "useradd failed (exit 1) for pau: useradd: cannot lock /etc/passwd"
    assert HASH not in result["raw"]
