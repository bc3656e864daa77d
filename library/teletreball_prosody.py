#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: bring Prosody's accounts and rooms to the staff directory, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_prosody
short_description: Make Prosody's accounts and chat rooms match the staff directory in one call
description:
  - The Prosody side is the shell command C(teletreball:sync) of the role's module
    C(mod_teletreball_sync) (roles/conference/files), which must be loaded.
  - Hands the whole desired state (accounts with their passwords, rooms with their
    affiliations) to the running Prosody through one C(prosodyctl shell) call, so the
    number of processes does not grow with the staff. Prosody does the work with its
    own API (hashing, disabling, the MUC API).
  - The state goes through a private file under O(state_dir) (a tmpfs such as
    C(/run)), created exclusively, mode 0600, owned by Prosody's user, removed after
    the call whatever happens. Passwords never appear on a command line.
  - An account of a managed host that is not listed is disabled, not deleted, and its open
    sessions end at once. Disabled accounts older than O(retention_days) are reported
    in RV(archive_due); with O(archive_dir) their files are archived there (tar.gz, 0600)
    and the account is then deleted.
  - Rooms listed with C(state=present) are created and configured (members-only,
    persistent) and get exactly the affiliations given; anybody else's C(member) or
    C(admin) affiliation is set to C(none). Rooms with C(state=absent) are destroyed.
  - Each listed account's person is recorded in O(identity_file) (O(accounts[].identity)).
    When a listed address belongs to another person now (a username given to
    somebody else, also during the retention), the old account's files (roster,
    vCard, private storage, message archive...) are archived in O(archive_dir) and
    the account deleted before the sync, which makes a new, empty one.
  - Checking a password against the stored keys is slow by design; RV(verified) and
    O(accounts[].verified_credential) let a run skip the accounts whose stored keys
    are those an earlier run found to match.
  - Always use C(no_log) on the task.
options:
  hosts:
    description: The Prosody hosts whose accounts this module manages.
    type: list
    elements: str
    required: true
  accounts:
    description: Every account that must exist and be enabled, with its password.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: The host of the account, one of O(hosts).
        type: str
        required: true
      username:
        description: The staff username.
        type: str
        required: true
      password:
        description: The password (printable ASCII without spaces).
        type: str
        required: true
      name:
        description:
          - The person's name as the directory writes it, the account's display name
            (the C(fn) of its vCard, XEP-0292, readable by every account of the server).
            Set again by every run where it differs. Without it the vCard is left alone.
          - Control and invisible characters are refused.
        type: str
      identity:
        description:
          - Digest of the person's identity key (the directory's C(identity)). An
            existing account recorded with another identity is archived and made anew.
        type: str
      verified_credential:
        description:
          - SHA-256 (hex) of the stored SCRAM keys (with the hash name and iteration
            count) that an earlier run found, or made, to match O(accounts[].password),
            as RV(verified) returned it. While the stored keys have this digest, Prosody
            does not derive the keys from the password again (PBKDF2, slow by design).
          - Give it only for the current password (the role drops it when the
            password changed). A digest of the stored keys, not of the password.
        type: str
  rooms:
    description: The rooms of O(muc_host) the module manages.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The room's local name (the room is C(name@muc_host)).
        type: str
        required: true
      title:
        description: The room's title; default the name.
        type: str
      description:
        description: The room's description.
        type: str
      state:
        description: C(present) or C(absent).
        type: str
        choices: [present, absent]
        default: present
      affiliations:
        description: Bare JID to C(member) or C(admin), for everybody who may enter.
        type: dict
        default: {}
  muc_host:
    description: The MUC component of the rooms; required when O(rooms) is not empty.
    type: str
  retention_days:
    description: Days a disabled account is kept before it is reported in RV(archive_due).
    type: int
    default: 30
  archive_dir:
    description:
      - Folder (created 0700) for the archives of accounts whose retention has passed.
        Without it such accounts are only reported.
    type: path
  data_dir:
    description: Prosody's data folder (file storage), where an account's files are.
    type: path
    default: /var/lib/prosody
  prosodyctl:
    description: The prosodyctl program.
    type: str
    default: prosodyctl
  state_dir:
    description: Folder of the state file (created 0700, owned by Prosody's user).
    type: path
    default: /run/teletreball-prosody
  prosody_user:
    description: The user Prosody runs as.
    type: str
    default: prosody
  timeout:
    description: Seconds the C(prosodyctl shell) call may take.
    type: int
    default: 120
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Prosody only plans. When Prosody is not installed yet, every account and
      present room is reported as to be created.
  diff_mode:
    support: partial
    details: The diff lists the actions that change the server. An update of the record of
      identities alone is reported as a change without a line in the diff.
notes:
  - Supports check mode and diff mode. In check mode Prosody only plans (it reads the
    accounts and rooms and changes nothing); when Prosody is not installed yet, every
    account and present room is reported as to be created.
  - Prosody must be running (the shell talks to its admin socket).
requirements:
  - Prosody 13 with the role's module mod_teletreball_sync loaded.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Bring the chat accounts and rooms to the staff directory
  teletreball_prosody:
    hosts: [prova.teletreball.test]
    accounts:
      - {host: prova.teletreball.test, username: anna, password: "{{ anna_chat_password }}"}
    muc_host: rooms.prova.teletreball.test
    rooms:
      - name: govern
        title: Equip de govern
        affiliations:
          anna@prova.teletreball.test: member
          jordi@prova.teletreball.test: admin
      - {name: antiga, state: absent}
  no_log: true
"""

RETURN = r"""
actions:
  description: What Prosody did (or would do in check mode), one entry per action,
    never a password.
  returned: success
  type: list
  elements: dict
  sample:
    - action: create
      jid: anna@prova.teletreball.test
    - action: affiliation
      room: govern@rooms.prova.teletreball.test
      jid: anna@prova.teletreball.test
      affiliation: member
archive_due:
  description: Disabled accounts older than O(retention_days), archived and deleted
    when O(archive_dir) is set.
  returned: success
  type: list
  elements: str
  sample: [pere@prova.teletreball.test]
verified:
  description:
    - Address to the SHA-256 (hex) of the stored SCRAM keys, for every listed account
      whose stored keys are known to match its password after the call (checked,
      remembered, or just set; in check mode the passwords to set are left out).
      Give it back as O(accounts[].verified_credential).
  returned: success
  type: dict
"""

import json
import os
import pwd
import secrets
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_files import atomic_write
from ansible.module_utils.teletreball_prosody import (
    ProsodyError,
    account_files,
    archive_name,
    changes,
    delete_command,
    desired_state,
    identity_record,
    parse_actions,
    remove_state_file,
    reused_accounts,
    split_verified,
    state_problems,
    sync_command,
    write_state_file,
)


def planned_without_prosody(state):
    """Check mode before Prosody is installed: everything would be created."""
    actions = [{"action": "create", "jid": f"{a['username']}@{a['host']}"}
               for a in state["accounts"]]
    actions += [{"action": "room_create", "room": f"{r['name']}@{state['muc_host']}"}
                for r in state["rooms"] if r["state"] == "present"]
    return actions


def prepare_state_dir(path, uid, gid):
    if not os.path.isdir(path):
        os.mkdir(path, 0o700)
    os.chown(path, uid, gid)
    os.chmod(path, 0o700)


def run_sync(module, state, mode):
    params = module.params
    prosodyctl = shutil.which(params["prosodyctl"]) or None
    try:
        user = pwd.getpwnam(params["prosody_user"])
    except KeyError:
        user = None
    if prosodyctl is None or user is None:
        if module.check_mode:
            return planned_without_prosody(state)
        raise ProsodyError(
            f"Prosody is not installed ({params['prosodyctl']} or the user "
            f"{params['prosody_user']} is missing).")
    prepare_state_dir(params["state_dir"], user.pw_uid, user.pw_gid)
    path = os.path.join(params["state_dir"], f"sync-{secrets.token_hex(8)}.json")
    try:
        write_state_file(path, state, user.pw_uid, user.pw_gid)
        argv = ["timeout", str(params["timeout"])] + sync_command(prosodyctl, path, mode)
        rc, out, err = module.run_command(argv)
    finally:
        remove_state_file(path)
    lines = out.splitlines()
    if rc == 124:
        raise ProsodyError(f"Prosody did not finish the sync within {params['timeout']} s.")
    if rc != 0:
        said = [line for line in lines + err.splitlines() if not line.lstrip().startswith("{")]
        raise ProsodyError(
            f"prosodyctl shell teletreball sync failed (rc {rc}): " + " ".join(said[-20:]))
    return parse_actions(lines)


def archive_and_delete(module, jid, archive_dir, data_dir, prosodyctl):
    """Archive one account's files (0600, never overwriting) and then delete it."""
    if not os.path.isdir(archive_dir):
        os.makedirs(archive_dir, 0o700)
    os.chmod(archive_dir, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = os.path.join(archive_dir, archive_name(jid, stamp))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name in account_files(data_dir, jid):
            tar.add(name, arcname=os.path.relpath(name, data_dir))
    rc, out, err = module.run_command(delete_command(prosodyctl, jid))
    if rc != 0:
        raise ProsodyError(f"could not delete {jid} after archiving it to {path}: "
                           f"{(out + err).strip()[-500:]}")
    return path


def read_identities(path):
    """The record of each account's person: address to identity digest."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ProsodyError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(record, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        raise ProsodyError(f"{path} is not a record of identities.")
    return record


def main():
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "str", "required": True},
            "accounts": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "host": {"type": "str", "required": True},
                    "username": {"type": "str", "required": True},
                    "password": {"type": "str", "required": True, "no_log": True},
                    "name": {"type": "str"},
                    "identity": {"type": "str"},
                    # A digest of the stored keys, not a secret; no_log would also
                    # blank the same digests out of the result (verified).
                    "verified_credential": {"type": "str", "no_log": False},
                },
            },
            "rooms": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "title": {"type": "str"},
                    "description": {"type": "str"},
                    "state": {"type": "str", "choices": ["present", "absent"],
                              "default": "present"},
                    "affiliations": {"type": "dict", "default": {}},
                },
            },
            "muc_host": {"type": "str"},
            "retention_days": {"type": "int", "default": 30},
            "archive_dir": {"type": "path"},
            "data_dir": {"type": "path", "default": "/var/lib/prosody"},
            "prosodyctl": {"type": "str", "default": "prosodyctl"},
            "state_dir": {"type": "path", "default": "/run/teletreball-prosody"},
            "prosody_user": {"type": "str", "default": "prosody"},
            "timeout": {"type": "int", "default": 120},
            "identity_file": {
                "type": "path", "default": "/var/lib/teletreball/chat-identities.json",
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    problems = state_problems(params["hosts"], params["accounts"], params["rooms"],
                              params["muc_host"])
    if params["retention_days"] < 0:
        problems.append("retention_days must be 0 or more.")
    if params["timeout"] < 1:
        problems.append("timeout must be at least 1 second.")
    if problems:
        module.fail_json(msg=" ".join(problems))
    state = desired_state(params["hosts"], params["accounts"], params["rooms"],
                          params["muc_host"], params["retention_days"])
    try:
        record = read_identities(params["identity_file"])
        reused = reused_accounts(
            params["accounts"], record,
            lambda jid: bool(account_files(params["data_dir"], jid)))
        if reused and not params["archive_dir"]:
            raise ProsodyError(
                f"{', '.join(reused)} now belong to another person; archive_dir is needed "
                "to archive the old accounts before they are made anew.")
        renewed = []
        for jid in reused:
            path = None
            if not module.check_mode:
                path = archive_and_delete(module, jid, params["archive_dir"],
                                          params["data_dir"], shutil.which(params["prosodyctl"]))
            renewed.append({"action": "archive", "jid": jid, "file": path,
                            "reason": "another person"})
        actions, verified = split_verified(
            run_sync(module, state, "plan" if module.check_mode else "apply"))
        actions = renewed + actions
        new_record = identity_record(record, params["accounts"])
        if new_record != record and not module.check_mode:
            atomic_write(params["identity_file"],
                         json.dumps(new_record, indent=2, sort_keys=True) + "\n")
        due = [a["jid"] for a in actions if a["action"] == "archive_due"]
        if params["archive_dir"]:
            for jid in due:
                path = None
                if not module.check_mode:
                    path = archive_and_delete(module, jid, params["archive_dir"],
                                              params["data_dir"],
                                              shutil.which(params["prosodyctl"]))
                actions.append({"action": "archive", "jid": jid, "file": path})
    except (ProsodyError, OSError) as exc:
        module.fail_json(msg=str(exc))
    changed_actions = changes(actions)
    result = {
        "changed": bool(changed_actions) or new_record != record,
        "actions": actions,
        "archive_due": [a["jid"] for a in actions if a["action"] == "archive_due"],
        "verified": verified,
    }
    if module._diff:
        result["diff"] = {
            "before": "",
            "after": "".join(
                " ".join(f"{k}={v}" for k, v in sorted(a.items())) + "\n"
                for a in changed_actions),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
