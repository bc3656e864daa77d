#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: local accounts of the people assigned to one remote-desktop host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_desktop_accounts
short_description: Keep the local accounts of the people of a remote-desktop host
description:
  - Each person in O(users) gets a local account with a home folder, the given
    password, comment and shell, and membership of O(group), the group that the
    remote-desktop server lets in. The group is created when missing.
  - The password is checked against the stored hash and set (with C(chpasswd), on
    its standard input) only when it does not match. An account locked by an earlier
    offboarding is unlocked for a returning person.
  - The check with libcrypt is slow by design (yescrypt). When a user's
    O(users[].verified_credential) is the digest of the hash stored now, the hash is
    known to match already and is not checked again; RV(verified) gives, after the
    run, the digest of every listed user whose stored hash matches the password, for
    the next run. The role keeps them on the controller (never on the host).
  - Every account this module ever managed is recorded in O(state_file). Such an
    account whose person is no longer listed (absent, deleted from the directory or
    moved to another host) is locked at once, expired, removed from O(group) and its
    processes are ended. After O(retention_days) its home folder is archived to
    O(archive_dir) (a private C(tar.gz)) and the account is deleted.
  - Each account records the identity of its person (O(users[].identity)). When a
    listed username's account belongs to another identity (the username was given
    to somebody else, even during the retention), the old home is archived, the
    old account deleted and a new one made, so the new person never gets her
    predecessor's home, files or settings. An account recorded without an
    identity (made before identities were kept) is taken as the listed person's.
  - Refuses to touch system accounts (UID below 1000, or 65534).
options:
  users:
    description: The people assigned to this host.
    type: list
    elements: dict
    required: true
    suboptions:
      username:
        description: The login name.
        type: str
        required: true
      comment:
        description: The comment (GECOS) field, usually the full name.
        type: str
        default: ''
      password:
        description: The password.
        type: str
        required: true
      identity:
        description:
          - Digest of the person's identity key (the directory's C(identity)). An
            existing account recorded with another identity is archived and made anew.
        type: str
      verified_credential:
        description:
          - SHA-256 (hex) of the stored hash that an earlier run found, or made, to
            match O(users[].password), as RV(verified) returned it. When the stored
            hash still has this digest the slow check is skipped; otherwise it runs.
          - Give it only for the current password (the role drops it when the
            password changed). A digest of the hash, not of the password.
        type: str
  group:
    description: The login group of the remote-desktop server.
    type: str
    required: true
  shell:
    description: Login shell of the accounts.
    type: str
    default: /bin/bash
  retention_days:
    description:
      - Days a locked account is kept before its home folder is archived and the
        account deleted. C(0) archives in the same run that locks.
    type: int
    default: 30
  archive_dir:
    description: Folder of the home archives (mode 0700; archives 0600).
    type: path
    default: /var/backups/teletreball/desktops
  state_file:
    description: JSON record of every account managed here (mode 0600, folder 0700).
    type: path
    default: /var/lib/teletreball/desktop-accounts.json
  today:
    description: The date, C(YYYY-MM-DD); defaults to today in UTC. For tests.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is run or written.
  diff_mode:
    support: partial
    details: The diff lists, per user, the actions planned (never a password). A correction
      of the mode of its state file alone is reported as a change without a line in the
      diff.
notes:
  - Supports check mode (nothing is run or written) and diff mode (the actions
    planned per user, never passwords).
  - Use C(no_log) on the task anyway, since the passwords are its arguments.
requirements:
  - libcrypt (C(libcrypt1)), shadow utilities (C(useradd), C(usermod), C(gpasswd),
    C(chpasswd), C(userdel)), C(pkill) and C(tar) on the host.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep the accounts of the people of this desktop host
  teletreball_desktop_accounts:
    users:
      - username: anna
        comment: Anna Puig
        password: "{{ lookup('ansible.builtin.file', credentials_dir + '/people/anna/desktop') }}"
    group: tsusers
    retention_days: 30
  no_log: true
"""

RETURN = r"""
created:
  description: Usernames whose account was created.
  returned: success
  type: list
  elements: str
password_set:
  description: Usernames whose password was set.
  returned: success
  type: list
  elements: str
unlocked:
  description: Usernames whose locked or expired account was opened again.
  returned: success
  type: list
  elements: str
locked:
  description: Usernames whose account was locked and expired.
  returned: success
  type: list
  elements: str
archived:
  description: Accounts deleted, with the archive of their home folder (null when
    there was no home folder to keep).
  returned: success
  type: list
  elements: dict
  contains:
    username:
      description: The login name.
      type: str
    archive:
      description: Path of the C(tar.gz) archive.
      type: str
group_added:
  description: Usernames added to O(group), new accounts included.
  returned: success
  type: list
  elements: str
group_removed:
  description: Usernames removed from O(group).
  returned: success
  type: list
  elements: str
verified:
  description:
    - Username to the SHA-256 (hex) of the stored hash, for every listed user whose
      stored hash is known to match the password after the run (checked, remembered
      or just set; in check mode the passwords to set are left out). Give it back as
      O(users[].verified_credential).
  returned: success
  type: dict
"""

import copy
import ctypes
import ctypes.util
import datetime
import functools
import grp
import hashlib
import hmac
import json
import os
import pwd
import re
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_directory import USERNAME_RE
from ansible.module_utils.teletreball_files import atomic_write, private_makedirs

GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHADOW = "/etc/shadow"
FIRST_UID = 1000
NOBODY_UID = 65534
STATUSES = ("active", "locked", "archived")
LOCK_EXPIRY = "1"  # usermod --expiredate 1: expired since 2 January 1970


class PlanError(Exception):
    """The accounts cannot be planned; the message says why."""


# --- passwords --------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _libcrypt():
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.crypt.restype = ctypes.c_char_p
    return lib


def crypt(password, setting):
    """libcrypt's crypt(3): the hash of ``password`` with ``setting``, or None."""
    lib = _libcrypt()
    if lib is None:
        raise PlanError("libcrypt is missing; cannot check the stored passwords.")
    value = lib.crypt(password.encode("utf-8"), setting.encode("utf-8"))
    return None if value is None else value.decode("utf-8", errors="replace")


def password_matches(password, stored):
    """True when ``stored`` (a shadow hash without a lock mark) is the hash of ``password``."""
    if not stored or stored[0] in "*!":
        return False
    return crypt(password, stored) == stored


def credential_digest(stored):
    """SHA-256 (hex) of a stored hash: what the controller remembers, never the hash."""
    return hashlib.sha256(stored.encode("utf-8")).hexdigest()


def known_to_match(user, stored):
    """True when ``stored`` is the hash an earlier run found to match the password:
    its digest is the user's ``verified_credential`` (a string compare, no libcrypt)."""
    known = user.get("verified_credential")
    if not known or not stored or stored[0] in "*!":
        return False
    return hmac.compare_digest(known.encode("utf-8"), credential_digest(stored).encode("utf-8"))


# --- checks -----------------------------------------------------------------------


def check_params(params):
    """Return the first problem of the parameters, or None. Never names a password."""
    for key in ("archive_dir", "state_file"):
        if not os.path.isabs(params[key]):
            return f"{key} must be an absolute path, not {params[key]}."
    if not GROUP_RE.fullmatch(params["group"]):
        return f"'{params['group']}' is not a valid group name."
    if not os.path.isabs(params["shell"]):
        return f"shell must be an absolute path, not {params['shell']}."
    if params["retention_days"] < 0:
        return f"retention_days must be 0 or more, not {params['retention_days']}."
    if params["today"] is not None and parse_date(params["today"]) is None:
        return f"today must look like 2026-01-31, not {params['today']}."
    seen = set()
    for user in params["users"]:
        name = user["username"]
        if not USERNAME_RE.fullmatch(name):
            return f"'{name}' is not a valid username."
        if name in seen:
            return f"users lists '{name}' more than once."
        seen.add(name)
        if name == params["group"]:
            return f"'{name}' cannot be both a username and the login group."
        if not user["password"] or any(c in user["password"] for c in "\n\r\0"):
            return f"the password of '{name}' must be one non-empty line."
        if any(c in user["comment"] for c in ":\n\r\0"):
            return f"the comment of '{name}' cannot hold ':' or line breaks."
    return None


def parse_date(text):
    if not isinstance(text, str) or not DATE_RE.fullmatch(text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def is_system(uid):
    return uid < FIRST_UID or uid == NOBODY_UID


def archivable(home, exists):
    """A home folder to archive and delete: a real folder at least two levels down."""
    parts = os.path.normpath(home).split("/")
    return exists and os.path.isabs(home) and len(parts) >= 3 and all(parts[1:])


# --- the plan ---------------------------------------------------------------------


def plan(users, passwd, shadow, members, state, *, group, shell, today, retention_days,
         archive_dir, archives=frozenset(), verify=password_matches, verified=None):
    """Return ``(actions, new_state)`` to bring the accounts where they must be.

    Pure: reads nothing and runs nothing.
    - ``users``: the listed people, dicts with username, comment and password.
    - ``passwd``: username to {uid, home, shell, comment, home_exists} of existing accounts.
    - ``shadow``: username to {hash, expire} (the password hash and expiry date fields).
    - ``members``: the usernames in ``group``, or None when the group is missing.
    - ``state``: the state file's content; ``today``: a date; ``archives``: file names
      already in ``archive_dir``; ``verify(password, hash)``: the password check, only
      called when the user's ``verified_credential`` is not the digest of the hash.
    - ``verified``: a dict that receives username to the digest of the stored hash of
      every existing account whose hash matches the password (None: not wanted).
    Every action is a dict with ``do`` and ``user``; a ``state`` action records the
    user's new entry in the state file once the actions before it are done.
    """
    accounts = state.get("accounts", {})
    new_state = copy.deepcopy(state)
    new_state["accounts"] = copy.deepcopy(accounts)
    actions = []

    def record(name, entry):
        if new_state["accounts"].get(name) != entry:
            new_state["accounts"][name] = entry
            actions.append({"do": "state", "user": name, "entry": entry})

    if users and members is None:
        actions.append({"do": "groupadd", "user": None, "group": group})
    members = members or set()

    listed = set()
    taken = set(archives)

    def archive_home(name, account, killed):
        """Kill (unless done), archive the home and delete the account; the archive."""
        archive = None
        if archivable(account["home"], account["home_exists"]):
            stem, number = f"{name}-{today:%Y%m%d}", 1
            while f"{stem}.tar.gz" in taken:
                number += 1
                stem = f"{name}-{today:%Y%m%d}-{number}"
            taken.add(f"{stem}.tar.gz")
            archive = os.path.join(archive_dir, f"{stem}.tar.gz")
            if not killed:
                actions.append({"do": "kill", "user": name})
            actions.append({"do": "archive", "user": name, "home": account["home"],
                            "archive": archive})
        actions.append({"do": "userdel", "user": name, "remove_home": archive is not None,
                        "archive": archive})
        return archive

    for user in sorted(users, key=lambda u: u["username"]):
        name = user["username"]
        listed.add(name)
        account = passwd.get(name)
        entry = accounts.get(name) if isinstance(accounts.get(name), dict) else {}
        previous, identity = entry.get("identity"), user.get("identity")
        if account is not None and previous and identity and previous != identity:
            # The username now belongs to somebody else: her predecessor's account and
            # home go to the archive, and she gets a new one.
            if is_system(account["uid"]):
                raise PlanError(
                    f"'{name}' is a system account (UID {account['uid']}); it cannot be "
                    "a desktop account."
                )
            actions.append({"do": "lock", "user": name})
            actions.append({"do": "kill", "user": name})
            archive_home(name, account, killed=True)
            account = None
        if account is None:
            actions.append({"do": "useradd", "user": name, "comment": user["comment"],
                            "shell": shell, "group": group})
            actions.append({"do": "password", "user": name})
        else:
            if is_system(account["uid"]):
                raise PlanError(
                    f"'{name}' is a system account (UID {account['uid']}); it cannot be "
                    "a desktop account."
                )
            stored = shadow.get(name, {"hash": "", "expire": ""})
            locked = stored["hash"].startswith("!")
            current = stored["hash"][1:] if locked else stored["hash"]
            set_password = not (known_to_match(user, current)
                                or verify(user["password"], current))
            if not set_password and verified is not None:
                verified[name] = credential_digest(current)
            if set_password:
                actions.append({"do": "password", "user": name})
            if locked or stored["expire"]:
                # chpasswd replaces a locked hash whole; usermod unlocks a kept one.
                actions.append({"do": "unlock", "user": name,
                                "hash": locked and not set_password,
                                "expiry": bool(stored["expire"])})
            if name not in members:
                actions.append({"do": "group_add", "user": name, "group": group})
            changes = {}
            if account["comment"] != user["comment"]:
                changes["comment"] = user["comment"]
            if account["shell"] != shell:
                changes["shell"] = shell
            if changes:
                actions.append({"do": "usermod", "user": name, **changes})
        record(name, {"status": "active", "locked_on": None, "archive": None,
                      **({"identity": identity} if identity else {})})

    for name in sorted(set(accounts) - listed):
        entry = accounts[name]
        if not isinstance(entry, dict) or entry.get("status") not in ("active", "locked"):
            continue
        account = passwd.get(name)
        if account is None:  # deleted by other means: nothing left to lock or archive
            record(name, {"status": "archived", "locked_on": entry.get("locked_on"),
                          "archive": None})
            continue
        if is_system(account["uid"]):
            raise PlanError(
                f"'{name}' in the state file is a system account (UID {account['uid']}); "
                "it will not be locked or deleted."
            )
        stored = shadow.get(name, {"hash": "", "expire": ""})
        killed = False
        if entry["status"] == "active" or not stored["hash"].startswith("!") or (
                stored["expire"] != LOCK_EXPIRY):
            actions.append({"do": "lock", "user": name})
            actions.append({"do": "kill", "user": name})
            killed = True
        if name in members:
            actions.append({"do": "group_remove", "user": name, "group": group})
        locked_on = parse_date(entry.get("locked_on")) if entry["status"] == "locked" else None
        locked_on = locked_on or today
        kept = {"identity": entry["identity"]} if entry.get("identity") else {}
        record(name, {"status": "locked", "locked_on": locked_on.isoformat(), "archive": None,
                      **kept})
        if locked_on + datetime.timedelta(days=retention_days) > today:
            continue
        archive = archive_home(name, account, killed)
        record(name, {"status": "archived", "locked_on": locked_on.isoformat(),
                      "archive": archive, **kept})
    return actions, new_state


def commands(action):
    """The commands of an action, as argument lists (``archive`` adds its own steps)."""
    name, do = action["user"], action["do"]
    if do == "groupadd":
        return [["groupadd", action["group"]]]
    if do == "useradd":
        return [["useradd", "--create-home", "--user-group", "--shell", action["shell"],
                 "--comment", action["comment"], "--groups", action["group"], name]]
    if do == "password":
        return [["chpasswd"]]
    if do == "unlock":
        return ([["usermod", "--unlock", name]] if action["hash"] else []) + (
            [["usermod", "--expiredate", "", name]] if action["expiry"] else [])
    if do == "group_add":
        return [["gpasswd", "--add", name, action["group"]]]
    if do == "usermod":
        options = []
        for key in ("comment", "shell"):
            if key in action:
                options += [f"--{key}", action[key]]
        return [["usermod", *options, name]]
    if do == "lock":
        return [["usermod", "--lock", "--expiredate", LOCK_EXPIRY, name]]
    if do == "group_remove":
        return [["gpasswd", "--delete", name, action["group"]]]
    if do == "kill":
        return [["pkill", "-KILL", "-u", name]]
    if do == "archive":
        home = os.path.normpath(action["home"])
        return [["tar", "--create", "--gzip", "--file", action["archive"],
                 "-C", os.path.dirname(home), os.path.basename(home)]]
    if do == "userdel":
        return [["userdel", *(["--remove"] if action["remove_home"] else []), name]]
    return []


def describe(action):
    do = action["do"]
    return {
        "groupadd": lambda: f"create group {action['group']}",
        "useradd": lambda: f"create account (home folder, group {action['group']})",
        "password": lambda: "set password",
        "unlock": lambda: "unlock and clear the expiry",
        "group_add": lambda: f"add to group {action['group']}",
        "usermod": lambda: "set " + " and ".join(
            f"{key} {action[key]!r}" for key in ("comment", "shell") if key in action),
        "lock": lambda: "lock and expire",
        "group_remove": lambda: f"remove from group {action['group']}",
        "kill": lambda: "end processes",
        "archive": lambda: f"archive {action['home']} to {action['archive']}",
        "userdel": lambda: "delete account" + (" and home folder" if action["remove_home"]
                                               else ""),
        "state": lambda: f"record status {action['entry']['status']}",
    }[do]()


def summary(actions):
    """The return values of the module from the actions."""
    def users(*kinds):
        return sorted({a["user"] for a in actions if a["do"] in kinds})
    return {
        "created": users("useradd"),
        "password_set": users("password"),
        "unlocked": users("unlock"),
        "locked": users("lock"),
        "archived": [
            {"username": a["user"], "archive": a.get("archive")} for a in actions
            if a["do"] == "userdel"
        ],
        "group_added": users("useradd", "group_add"),
        "group_removed": users("group_remove"),
    }


def diff(actions, passwd, state):
    accounts = state.get("accounts", {})
    before, after = [], []
    for name in dict.fromkeys(a["user"] for a in actions):
        steps = ", ".join(describe(a) for a in actions if a["user"] == name)
        if name is None:
            before.append("group: missing")
            after.append(f"group: {steps}")
            continue
        status = (accounts.get(name) or {}).get("status", "not managed")
        account = f"UID {passwd[name]['uid']}" if name in passwd else "no account"
        before.append(f"{name}: {account}, {status}")
        after.append(f"{name}: {steps}")
    return {"before": "".join(f"{line}\n" for line in before),
            "after": "".join(f"{line}\n" for line in after)}


# --- reading the host -------------------------------------------------------------


def read_state(path):
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return {"accounts": {}}
    except (OSError, ValueError) as exc:
        raise PlanError(f"Cannot read the state file {path}: {exc}") from exc
    accounts = state.get("accounts") if isinstance(state, dict) else None
    if not isinstance(accounts, dict) or not all(
        USERNAME_RE.fullmatch(name) and isinstance(entry, dict) and entry.get("status") in STATUSES
        for name, entry in accounts.items()
    ):
        raise PlanError(f"The state file {path} is not a record of desktop accounts.")
    return state


def read_shadow(names):
    """username to {hash, expire} from the shadow file, for ``names`` only."""
    shadow = {}
    try:
        with open(SHADOW, encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 8 and fields[0] in names:
                    shadow[fields[0]] = {"hash": fields[1], "expire": fields[7]}
    except OSError as exc:
        raise PlanError(f"Cannot read {SHADOW} (the module must run as root): {exc}") from exc
    return shadow


def set_hashes(names):
    """The digests of the hashes ``chpasswd`` just stored for ``names``."""
    try:
        shadow = read_shadow(set(names))
    except PlanError:
        return {}
    return {
        name: credential_digest(entry["hash"]) for name, entry in shadow.items()
        if entry["hash"] and entry["hash"][0] not in "*!"
    }


def read_views(names, group, archive_dir):
    """The passwd, shadow and group entries that matter, and the archives made already."""
    passwd = {}
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        home = entry.pw_dir
        passwd[name] = {
            "uid": entry.pw_uid, "home": home, "shell": entry.pw_shell,
            "comment": entry.pw_gecos,
            "home_exists": os.path.isdir(home) and not os.path.islink(home),
        }
    shadow = read_shadow(passwd)
    try:
        members = set(grp.getgrnam(group).gr_mem)
    except KeyError:
        members = None
    archives = set(os.listdir(archive_dir)) if os.path.isdir(archive_dir) else set()
    return passwd, shadow, members, archives


# --- running the plan -------------------------------------------------------------


def run(module, argv, data=None, ok=(0,)):
    """Run one command; return an error message or None. ``data`` never shows."""
    binary = module.get_bin_path(argv[0], required=True)
    rc, out, err = module.run_command(
        [binary, *argv[1:]], data=data, expand_user_and_vars=False)
    if rc in ok:
        return None
    return f"{shlex.join(argv)} failed with rc {rc}: {(err or out).strip()}"


def make_archive(module, action):
    """Archive the home folder to a private file: temporary name, then rename."""
    folder = os.path.dirname(action["archive"])
    private_makedirs(folder)
    if os.stat(folder).st_mode & 0o077:
        os.chmod(folder, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(action['archive'])}.", dir=folder)
    os.close(fd)  # mkstemp made it 0600; tar writes into it and keeps the mode
    try:
        argv = commands(dict(action, archive=tmp))[0]
        error = run(module, argv)
        if error:
            return error
        os.chmod(tmp, 0o600)
        os.replace(tmp, action["archive"])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return None


def perform(module, action, passwords):
    """Run one action; return an error message or None."""
    if action["do"] == "password":
        name = action["user"]
        return run(module, ["chpasswd"], data=f"{name}:{passwords[name]}")
    if action["do"] == "archive":
        return make_archive(module, action)
    for argv in commands(action):
        error = run(module, argv, ok=(0, 1) if action["do"] == "kill" else (0,))
        if error:
            return error
    return None


def save_state(path, state):
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def execute(module, actions, state, passwords):
    """Run the actions in order, saving the state reached even when one fails."""
    reached = copy.deepcopy(state)
    path = module.params["state_file"]
    for action in actions:
        if action["do"] == "state":
            reached["accounts"][action["user"]] = action["entry"]
            continue
        try:
            error = perform(module, action, passwords)
        except OSError as exc:
            error = f"{describe(action)}: {exc}"
        if error:
            if reached != state:
                save_state(path, reached)
            who = action["user"] or "the login group"
            module.fail_json(msg=f"Desktop account {who}: {error}")
    if reached != state or (os.path.exists(path) and os.stat(path).st_mode & 0o077):
        save_state(path, reached)


def main():
    module = AnsibleModule(
        argument_spec={
            "users": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "username": {"type": "str", "required": True},
                    "comment": {"type": "str", "default": ""},
                    "password": {"type": "str", "required": True, "no_log": True},
                    "identity": {"type": "str"},
                    # A digest of a slow hash, not a secret; no_log would also blank
                    # the same digests out of the result (verified).
                    "verified_credential": {"type": "str", "no_log": False},
                },
            },
            "group": {"type": "str", "required": True},
            "shell": {"type": "str", "default": "/bin/bash"},
            "retention_days": {"type": "int", "default": 30},
            "archive_dir": {"type": "path", "default": "/var/backups/teletreball/desktops"},
            "state_file": {
                "type": "path", "default": "/var/lib/teletreball/desktop-accounts.json",
            },
            "today": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    problem = check_params(params)
    if problem:
        module.fail_json(msg=problem)
    today = parse_date(params["today"]) if params["today"] else (
        datetime.datetime.now(datetime.UTC).date())
    try:
        state = read_state(params["state_file"])
        names = {u["username"] for u in params["users"]} | set(state["accounts"])
        passwd, shadow, members, archives = read_views(
            sorted(names), params["group"], params["archive_dir"])
        verified = {}
        actions, new_state = plan(
            params["users"], passwd, shadow, members, state,
            group=params["group"], shell=params["shell"], today=today,
            retention_days=params["retention_days"], archive_dir=params["archive_dir"],
            archives=archives, verified=verified,
        )
    except PlanError as exc:
        module.fail_json(msg=str(exc))

    state_path = params["state_file"]
    loose = os.path.exists(state_path) and bool(os.stat(state_path).st_mode & 0o077)
    result = {
        "changed": any(a["do"] != "state" for a in actions) or new_state != state or loose,
        **summary(actions),
    }
    if module._diff:
        result["diff"] = diff(actions, passwd, state)
    if not module.check_mode and result["changed"]:
        passwords = {u["username"]: u["password"] for u in params["users"]}
        execute(module, actions, state, passwords)
        # chpasswd has just made these hashes from the passwords: known to match.
        verified.update(set_hashes(result["password_set"]))
    result["verified"] = dict(sorted(verified.items()))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
