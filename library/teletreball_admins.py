#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the administrators' group, accounts and SSH keys of a host in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_admins
short_description: Keep the admin group, the admin accounts and their SSH keys in one call
description:
  - Keeps the IT administrators of a host as the inventory declares them, in one module
    run for all of them, instead of a group task, one user task and one
    C(authorized_key) task per administrator. It compares first and changes only what
    differs.
  - The group O(group) exists (C(groupadd)).
  - Each administrator of O(users) with O(users[].state=present) has an account
    (C(useradd --create-home), its own group as Debian makes it), is a member of
    O(group) (other groups are left alone), has the shell O(shell) and, when
    O(users[].password_hash) is given, that crypt hash in C(/etc/shadow)
    (C(usermod)). Without a hash the password is left as it is.
  - Its C(~/.ssh/authorized_keys) holds exactly the keys of O(users[].ssh_authorized_keys),
    one per line, in that order (C(~/.ssh) 0700 and the file 0600, both the
    administrator's). An administrator without keys has no C(authorized_keys) file
    (it is removed).
  - Each administrator with O(users[].state=absent) has no account any more
    (C(userdel --remove), with the home folder).
options:
  group:
    description: The administrators' group.
    type: str
    required: true
  users:
    description: The administrators.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Login name.
        type: str
        required: true
      ssh_authorized_keys:
        description: Public SSH keys, one line each.
        type: list
        elements: str
        default: []
      password_hash:
        description: Crypt hash of a local password (for sudo). Omitted, the password is
          not managed.
        type: str
      state:
        description: C(absent) removes the account and its home folder.
        type: str
        choices: [present, absent]
        default: present
  shell:
    description: Login shell of the administrators.
    type: path
    default: /bin/bash
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Names what changes (account, group, shell, password, authorized_keys), never a
      hash or a key.
notes:
  - Supports check mode and diff mode. The diff names what changes, never a hash.
  - Root is never managed, and a name may appear once.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep the admin group, the admin accounts and their SSH keys
  teletreball_admins:
    group: itadmins
    users:
      - name: jordi
        ssh_authorized_keys: ["ssh-ed25519 AAAAC3Nza... jordi@portatil"]
      - name: anna
        state: absent
  no_log: true
"""

RETURN = r"""
created:
  description: Accounts made.
  returned: always
  type: list
  elements: str
modified:
  description: Accounts whose group membership, shell or password changed.
  returned: always
  type: list
  elements: str
removed:
  description: Accounts removed.
  returned: always
  type: list
  elements: str
keys_changed:
  description: Administrators whose authorized_keys file was written or removed.
  returned: always
  type: list
  elements: str
group_created:
  description: Whether the group was made.
  returned: always
  type: bool
"""

import grp
import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_hostfiles import (
    NotRegularFile,
    install,
    read_regular,
    sync_folder,
)

NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SHADOW = "/etc/shadow"


def user_entry(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def group_members(name):
    """The members of the group, or None when there is no such group."""
    try:
        return list(grp.getgrnam(name).gr_mem)
    except KeyError:
        return None


def shadow_hash(name, path=SHADOW):
    """The password field of ``name`` in the shadow file ('' when not listed)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name and len(fields) > 1:
                return fields[1]
    return ""


def keys_text(keys):
    lines = [key.strip() for key in keys if key.strip()]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else None


class Admins:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.result = {"changed": False, "created": [], "modified": [], "removed": [],
                       "keys_changed": [], "group_created": False}
        self.before, self.after = [], []

    def note(self, before, after):
        self.before.append(before + "\n")
        self.after.append(after + "\n")
        self.result["changed"] = True

    def run(self, *argv):
        if self.check:
            return
        command = [self.module.get_bin_path(argv[0], required=True), *argv[1:]]
        rc, out, err = self.module.run_command(command, expand_user_and_vars=False)
        if rc != 0:
            # The arguments are not shown: one may be a password hash.
            self.module.fail_json(msg=f"{argv[0]} failed (exit {rc}) for {argv[-1]}: "
                                      f"{(err or out).strip()}", **self.result)

    def group(self, name):
        if group_members(name) is None:
            self.run("groupadd", name)
            self.result["group_created"] = True
            self.note(f"group {name}: absent", f"group {name}: present")

    def present(self, user, group, shell):
        name = user["name"]
        entry = user_entry(name)
        wanted_hash = user["password_hash"]
        if entry is None:
            argv = ["useradd", "--create-home", "--shell", shell, "--groups", group]
            if wanted_hash is not None:
                argv += ["--password", wanted_hash]
            self.run(*argv, name)
            self.result["created"].append(name)
            self.note(f"user {name}: absent", f"user {name}: present, in {group}, {shell}")
        else:
            changes = []
            if name not in (group_members(group) or []):
                self.run("usermod", "--append", "--groups", group, name)
                changes.append(f"added to {group}")
            if entry.pw_shell != shell:
                self.run("usermod", "--shell", shell, name)
                changes.append(f"shell {entry.pw_shell} -> {shell}")
            if wanted_hash is not None and shadow_hash(name) != wanted_hash:
                self.run("usermod", "--password", wanted_hash, name)
                changes.append("password changed")
            if changes:
                self.result["modified"].append(name)
                self.note(f"user {name}: as it was", f"user {name}: {', '.join(changes)}")
        self.keys(user, user_entry(name))

    def keys(self, user, entry):
        name = user["name"]
        wanted = keys_text(user["ssh_authorized_keys"])
        if entry is None:  # check mode, the account is not made yet
            if wanted is not None:
                self.result["keys_changed"].append(name)
                self.note(f"{name} authorized_keys: absent", f"{name} authorized_keys: written")
            return
        folder = os.path.join(entry.pw_dir, ".ssh")
        path = os.path.join(folder, "authorized_keys")
        if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
            self.module.fail_json(msg=f"{folder} is not a folder (a link?); it is left alone.",
                                  **self.result)
        try:
            info, current = read_regular(path)
        except NotRegularFile:
            self.module.fail_json(msg=f"{path} is not a regular file (a link?); it is left "
                                      "alone.", **self.result)
        except OSError as exc:
            self.module.fail_json(msg=f"Cannot read {path}: {exc}.", **self.result)
        if wanted is None:
            if info is not None:
                if not self.check:
                    os.unlink(path)
                    sync_folder(folder)
                self.result["keys_changed"].append(name)
                self.note(f"{name} authorized_keys: present", f"{name} authorized_keys: removed")
            return
        uid, gid = entry.pw_uid, entry.pw_gid
        folder_ok = (os.path.isdir(folder)
                     and (os.stat(folder).st_mode & 0o777, os.stat(folder).st_uid)
                     == (0o700, uid))
        file_ok = (info is not None and current == wanted and info.st_mode & 0o777 == 0o600
                   and (info.st_uid, info.st_gid) == (uid, gid))
        if folder_ok and file_ok:
            return
        if not self.check:
            if not os.path.isdir(folder):
                os.mkdir(folder, 0o700)
            os.chown(folder, uid, gid)
            os.chmod(folder, 0o700)
            install(path, wanted, uid, gid, 0o600)
        self.result["keys_changed"].append(name)
        self.note(f"{name} authorized_keys: {'absent' if info is None else 'other'}",
                  f"{name} authorized_keys: {len(user['ssh_authorized_keys'])} key(s)")

    def absent(self, user):
        name = user["name"]
        if user_entry(name) is not None:
            self.run("userdel", "--remove", name)
            self.result["removed"].append(name)
            self.note(f"user {name}: present", f"user {name}: removed with its home")


def main():
    module = AnsibleModule(
        argument_spec={
            "group": {"type": "str", "required": True},
            "users": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "ssh_authorized_keys": {"type": "list", "elements": "str", "default": [],
                                        "no_log": False},
                "password_hash": {"type": "str", "no_log": True},
                "state": {"type": "str", "choices": ["present", "absent"],
                          "default": "present"},
            }},
            "shell": {"type": "path", "default": "/bin/bash"},
        },
        supports_check_mode=True,
    )
    group, users = module.params["group"], module.params["users"]
    names = [user["name"] for user in users]
    problems = [f"'{name}' is not a valid login name." for name in names
                if not NAME_RE.fullmatch(name)]
    problems += ["root is not managed." for name in names if name == "root"]
    problems += [f"'{name}' is listed twice." for name in sorted(set(names))
                 if names.count(name) > 1]
    if not NAME_RE.fullmatch(group):
        problems.append(f"group '{group}' is not a valid group name.")
    if problems:
        module.fail_json(msg=" ".join(problems))
    admins = Admins(module)
    admins.group(group)
    for user in users:
        if user["state"] == "present":
            admins.present(user, group, module.params["shell"])
        else:
            admins.absent(user)
    if module._diff:
        admins.result["diff"] = {"before": "".join(admins.before),
                                 "after": "".join(admins.after)}
    module.exit_json(**admins.result)


if __name__ == "__main__":
    main()
