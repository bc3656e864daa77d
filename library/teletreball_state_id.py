#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the id of an inventory's credentials folder, and the guard it allows."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_state_id
short_description: Refuse a run whose credentials folder is not the one the inventory recorded
description:
  - The credentials folder holds the council's CA, its passwords, VPN keys and TOTP seeds.
    A run that finds it missing would make new ones (a new CA, new passwords for
    everybody). Under AWX or Semaphore, a job that started without its persistent volume
    would do exactly that.
  - The first real run writes a random id into C(<credentials_dir>/state-id) (0600), and
    the inventory records it (C(teletreball_state_id)). From then on, with O(expected)
    set, the module fails when the folder is missing, empty, or holds another id, naming
    the folder, both ids and what to do.
  - O(expected) empty (an inventory that has not recorded its id yet) or C(disposable)
    (the lab, the tests) guards nothing. With O(expected) empty and an id in the folder,
    O(state=present) warns, giving the line to add to the inventory.
  - With O(state=present) it writes the id when the folder holds none (creating the
    folder, 0700, when missing); with O(state=checked) it writes nothing, for the check
    before anything else is done.
options:
  credentials_dir:
    description: The credentials folder of the inventory (C(teletreball_credentials_dir)),
      an absolute path.
    type: path
    required: true
  expected:
    description: The id the inventory recorded (C(teletreball_state_id)); empty when it has
      recorded none, C(disposable) for a folder that may be made again.
    type: str
    default: ""
  state:
    description: C(checked) only compares; C(present) also writes the id when missing.
    type: str
    choices: [checked, present]
    default: checked
  inventory:
    description: The inventory's folder, named in the messages.
    type: str
    default: ""
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Compares and warns as in a real run; never writes the id.
  diff_mode:
    support: none
notes:
  - Runs on the controller (the preflight's play on localhost).
  - Restoring a backup (C(playbooks/restore.yml)) brings the folder back with its
    C(state-id), so a restored folder passes the check.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Refuse to start when the recorded credentials folder is missing
  teletreball_state_id:
    credentials_dir: "{{ teletreball_credentials_dir }}"
    expected: "{{ teletreball_state_id }}"

- name: Write the id of a new credentials folder
  teletreball_state_id:
    credentials_dir: "{{ teletreball_credentials_dir }}"
    expected: "{{ teletreball_state_id }}"
    state: present
"""

RETURN = r"""
path:
  description: The file of the id, C(<credentials_dir>/state-id).
  returned: always
  type: str
  sample: /srv/teletreball-state/credentials/ajuntament/state-id
state_id:
  description: The id found in the folder or written; empty when there is none (in check
    mode, before the first real run).
  returned: success
  type: str
  sample: 20260302-8f1c2a9b04d7e3f1
"""

import datetime
import os
import re
import secrets

from ansible.module_utils.basic import AnsibleModule

FILE = "state-id"
DISPOSABLE = "disposable"
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_id():
    """A random id, with the day it was made (UTC) so an admin can tell two apart."""
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    return f"{day}-{secrets.token_hex(8)}"


def read_id(path):
    """The id in ``path``; None when the file is missing."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def write_id(folder, path, value):
    """Write ``value`` into ``path`` (0600) atomically; the folder is made 0700 if missing."""
    os.makedirs(folder, 0o700, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def what_to_do(inventory):
    where = f" ({inventory})" if inventory else ""
    return (
        "The run stops before writing anything: it would make a new CA, new passwords and new "
        "keys for everybody. Mount the persistent volume that holds the state, or set "
        "TELETREBALL_STATE_DIR to it (docs/inventory.md), or restore the latest backup "
        "(playbooks/restore.yml, docs/operations.md). Only for a council that really starts "
        f"again from nothing: remove teletreball_state_id from the inventory{where}."
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "credentials_dir": {"type": "path", "required": True},
            "expected": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["checked", "present"], "default": "checked"},
            "inventory": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    folder = params["credentials_dir"]
    expected = (params["expected"] or "").strip()
    if not os.path.isabs(folder):
        module.fail_json(msg=f"credentials_dir must be an absolute path, not {folder!r}.")
    folder = os.path.normpath(folder)
    path = os.path.join(folder, FILE)
    if expected and expected != DISPOSABLE and not ID.match(expected):
        module.fail_json(
            path=path,
            msg=(f"teletreball_state_id {expected!r} is not an id: give the one the first run "
                 f"wrote in {path}, or {DISPOSABLE!r} for a lab or test inventory."))
    try:
        exists = os.path.isdir(folder)
        empty = exists and not os.listdir(folder)
        found = read_id(path) if exists else None
    except OSError as exc:
        module.fail_json(path=path, msg=f"Cannot read the credentials folder {folder}: {exc}")

    if expected and expected != DISPOSABLE:
        problem = None
        if not exists:
            problem = "is missing"
        elif empty:
            problem = "is empty"
        elif found is None:
            problem = f"holds no {FILE}"
        elif found != expected:
            problem = f"holds another state: its {FILE} is {found!r}"
        if problem:
            module.fail_json(
                path=path, expected=expected, found=found or "",
                msg=(f"The credentials folder {folder} {problem}, but the inventory records "
                     f"teletreball_state_id: {expected} (found: {found or 'none'}). "
                     + what_to_do(params["inventory"])))

    changed = False
    if found is None and params["state"] == "present":
        found = new_id()
        changed = True
        if not module.check_mode:
            try:
                write_id(folder, path, found)
            except OSError as exc:
                module.fail_json(path=path, msg=f"Cannot write {path}: {exc}")
        else:
            found = None
    if found and not expected and params["state"] == "present":
        where = f" of {params['inventory']}" if params["inventory"] else ""
        module.warn(
            f"The credentials folder {folder} is not recorded in the inventory: add the line "
            f"'teletreball_state_id: {found}' to the inventory{where} (group_vars/all), so that "
            "a run that does not find this folder refuses to start instead of making a new CA "
            "and new passwords (docs/inventory.md).")
    module.exit_json(changed=changed, path=path, state_id=found or "")


if __name__ == "__main__":
    main()
