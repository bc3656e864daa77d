# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prosody for the teletreball modules: the desired state of the accounts and rooms,
the private file that hands it to Prosody, and the parser of what Prosody answered.

The Prosody side is the shell command ``teletreball:sync(path, mode)`` of the role's
module ``mod_teletreball_sync`` (roles/conference/files). The protocol:

- the state file is JSON ``{"version": 1, "hosts": [...], "accounts": [...],
  "rooms": [...], "retention_days": N}``, written 0600 and owned by Prosody's user on
  a tmpfs folder; Prosody deletes it after reading it and this side deletes it again
  in any case; an account may carry ``verified_credential``, the digest of the stored
  SCRAM keys that an earlier run found to match its password (the slow check is then
  skipped while the stored keys keep that digest);
- Prosody prints one JSON object per line for every action, each with ``action``
  (create, enable, password, name (the display name of the account's vCard),
  disable, archive_due, room_create, room_config,
  affiliation, room_destroy, room_unmanaged) and the names it concerns, never a
  password; ``mode`` ``plan`` only reads, ``apply`` acts; a line with ``action``
  ``verified`` is not an action: it gives the digest (``credential``) of the stored
  keys of an account known to match its password (split_verified takes them out);
- ``prosodyctl shell`` exits with the number of errors.
"""

from __future__ import annotations

import json
import os
import re

from ansible.module_utils.teletreball_directory import USERNAME_RE, text_problem

STATE_VERSION = 1
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
ROOM = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# Actions that change nothing on the server: reported, never counted as a change.
REPORT_ONLY = frozenset({"archive_due", "room_unmanaged"})
ACTIONS = frozenset({
    "archive", "create", "enable", "password", "name", "disable", "archive_due",
    "room_create", "room_config", "affiliation", "room_destroy", "room_unmanaged",
})
# Actions this side adds after the sync (not printed by Prosody).
LOCAL_ACTIONS = frozenset({"archive"})
# Not an action: an account whose stored keys are known to match its password.
VERIFIED = "verified"
DIGEST = re.compile(r"^[0-9a-f]{64}$")
IDENTITY = re.compile(r"^[0-9a-f]{16,64}$")
AFFILIATIONS = ("member", "admin")


class ProsodyError(Exception):
    """Anything that stops the sync: bad input, Prosody down, an answer not understood."""


def printable_ascii(text):
    """True when every character is printable ASCII (SASLprep leaves it unchanged)."""
    return all(32 < ord(char) < 127 for char in text)


def state_problems(hosts, accounts, rooms, muc_host):
    """Every problem of the desired state at once, as sentences; never a password."""
    problems = []
    for host in hosts:
        if not HOST.match(host):
            problems.append(f"managed host '{host}' is not a DNS name.")
    if muc_host is not None and not HOST.match(muc_host):
        problems.append(f"muc_host '{muc_host}' is not a DNS name.")
    seen = {}
    for index, account in enumerate(accounts):
        label = f"accounts[{index}] ({account['username']}@{account['host']})"
        jid = f"{account['username']}@{account['host']}"
        if not USERNAME_RE.fullmatch(account["username"]):
            problems.append(f"{label}: the username is not a valid staff username.")
        if account["host"] not in hosts:
            problems.append(f"{label}: the host is not one of the managed hosts.")
        if jid in seen:
            problems.append(f"{label}: the account is already listed as accounts[{seen[jid]}].")
        seen.setdefault(jid, index)
        if not account["password"] or not printable_ascii(account["password"]):
            problems.append(f"{label}: the password must be printable ASCII without spaces.")
        name = account.get("name")
        if name is not None and (problem := text_problem(name)) is not None:
            problems.append(f"{label}: the name {problem}.")
        identity = account.get("identity")
        if identity is not None and not IDENTITY.match(identity):
            problems.append(f"{label}: identity must be a hex digest.")
        known = account.get("verified_credential")
        if known is not None and not DIGEST.match(known):
            problems.append(f"{label}: verified_credential must be 64 lower-case hex digits.")
    names = {}
    for index, room in enumerate(rooms):
        label = f"rooms[{index}] ({room['name']})"
        if not ROOM.match(room["name"]):
            problems.append(f"{label}: the room name is invalid.")
        if room["name"] in names:
            problems.append(f"{label}: the room is already listed as rooms[{names[room['name']]}].")
        names.setdefault(room["name"], index)
        for jid, affiliation in (room.get("affiliations") or {}).items():
            if affiliation not in AFFILIATIONS:
                problems.append(f"{label}: {jid} has the affiliation '{affiliation}' "
                                f"(use {' or '.join(AFFILIATIONS)}).")
    if rooms and muc_host is None:
        problems.append("rooms need muc_host.")
    return problems


def reused_accounts(accounts, record, exists):
    """The addresses of listed accounts that belong to another person now: the
    identity recorded for the address (``record``: address to identity) differs
    from the listed one, and the account still has files (``exists(jid)``). Their
    files are archived and the account deleted before the sync makes it anew."""
    reused = []
    for account in accounts:
        jid = f"{account['username']}@{account['host']}"
        identity, previous = account.get("identity"), record.get(jid)
        if identity and previous and previous != identity and exists(jid):
            reused.append(jid)
    return reused


def identity_record(record, accounts):
    """The record after a sync: the listed accounts' identities; the others (disabled,
    waiting for their archive) keep theirs, so that a username given to somebody
    else during the retention is recognised."""
    new = dict(record)
    for account in accounts:
        if account.get("identity"):
            new[f"{account['username']}@{account['host']}"] = account["identity"]
    return dict(sorted(new.items()))


def desired_state(hosts, accounts, rooms, muc_host, retention_days):
    """The JSON document handed to Prosody."""
    return {
        "version": STATE_VERSION,
        "hosts": list(hosts),
        "muc_host": muc_host,
        "retention_days": retention_days,
        "accounts": [
            {"host": a["host"], "username": a["username"], "password": a["password"],
             **({"name": a["name"]} if a.get("name") else {}),
             **({"verified_credential": a["verified_credential"]}
                if a.get("verified_credential") else {})}
            for a in accounts
        ],
        "rooms": [
            {
                "name": r["name"],
                "state": r.get("state") or "present",
                "title": r.get("title") or r["name"],
                "description": r.get("description") or "",
                "affiliations": dict(r.get("affiliations") or {}),
            }
            for r in rooms
        ],
    }


def write_state_file(path, state, uid=None, gid=None):
    """Write the state privately: created, never reused (O_EXCL), 0600, then handed to
    Prosody's user. The caller removes it (remove_state_file) in every case."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        data = json.dumps(state, sort_keys=True).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def remove_state_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def parse_actions(lines):
    """The actions Prosody reported: one JSON object per line. Lines that are not JSON
    objects (banners, blank lines) are skipped; an object without a known ``action``
    or carrying a password is an error, so nothing secret is ever returned."""
    actions = []
    for line in lines:
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            item = json.loads(text)
        except ValueError as exc:
            raise ProsodyError(f"Prosody printed a line that is not JSON: {text[:200]!r}") from exc
        if not isinstance(item, dict) or item.get("action") not in (
                ACTIONS - LOCAL_ACTIONS) | {VERIFIED}:
            raise ProsodyError(f"Prosody reported an unknown action: {text[:200]!r}")
        if "password" in item:
            raise ProsodyError("Prosody reported an action with a password in it; refusing it.")
        if item["action"] == VERIFIED and not (
                isinstance(item.get("jid"), str)
                and isinstance(item.get("credential"), str)
                and DIGEST.match(item["credential"])):
            raise ProsodyError(f"Prosody reported a verified account oddly: {text[:200]!r}")
        actions.append(item)
    return actions


def split_verified(items):
    """``(actions, verified)``: the actions, and jid to the digest of the stored keys
    of every account known to match its password (the ``verified`` lines)."""
    actions = [a for a in items if a["action"] != VERIFIED]
    verified = {a["jid"]: a["credential"] for a in items if a["action"] == VERIFIED}
    return actions, dict(sorted(verified.items()))


def changes(actions):
    """The actions that change the server (reports left out)."""
    return [a for a in actions if a["action"] not in REPORT_ONLY]


def sync_command(prosodyctl, path, mode):
    """argv of the one ``prosodyctl shell`` call; it carries no secret."""
    if mode not in ("plan", "apply"):
        raise ProsodyError(f"mode must be plan or apply, not {mode!r}")
    return [prosodyctl, "shell", "teletreball", "sync", path, mode]


def store_encode(text):
    """A name as Prosody's file storage writes it: every byte that is not a letter or
    a digit becomes %xx (util/datamanager.lua)."""
    return "".join(
        chr(byte) if chr(byte).isascii() and chr(byte).isalnum() else f"%{byte:02x}"
        for byte in text.encode("utf-8"))


def account_files(data_dir, jid):
    """The files Prosody's file storage keeps for one account, in every store."""
    username, host = jid.split("@", 1)
    host_dir = os.path.join(data_dir, store_encode(host))
    prefix = store_encode(username) + "."
    found = []
    if not os.path.isdir(host_dir):
        return found
    for store in sorted(os.listdir(host_dir)):
        store_dir = os.path.join(host_dir, store)
        if not os.path.isdir(store_dir):
            continue
        for name in sorted(os.listdir(store_dir)):
            if name.startswith(prefix) and "." not in name[len(prefix):]:
                found.append(os.path.join(store_dir, name))
    return found


def archive_name(jid, stamp):
    """File name of an account's archive: the address and the UTC time, no path."""
    return f"{store_encode(jid)}-{stamp}.tar.gz"


def delete_command(prosodyctl, jid):
    """argv that deletes one account (after its archive is written); no secret."""
    return [prosodyctl, "shell", "user", "delete", jid]
