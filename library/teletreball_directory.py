#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: check the staff directory, allocate VPN addresses, hold extensions."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_directory
short_description: Check the staff directory and give each VPN device a stable address
description:
  - Checks C(teletreball_staff), C(teletreball_networks), C(teletreball_groups),
    C(teletreball_access) and C(teletreball_services) and fails with every problem
    found, each naming the person, network or rule and the field.
  - Gives each VPN device of each present person an address from the VPN pool
    and keeps it in a JSON file, so addresses do not move when people are added
    or removed. A freed address is held back for O(quarantine_days) days.
  - Keeps in the same file the extension of every present person and, for
    O(extension_quarantine_days) days, the extensions freed by people who left (or
    whose extension changed). An extension in quarantine given to somebody else
    fails the run, naming the person, the field, the previous holder and the date
    the extension is free again. Its previous holder gets it back.
  - Keeps in the same file the identity of each username (a digest of the
    person's C(id), or of her e-mail when she has none), and returns in
    RV(reused) the usernames now given to a different person.
  - The file has a version; a version 1 file (VPN addresses only) is migrated.
  - Returns the derived directory that the service roles read.
  - Runs on the controller (the play targets C(localhost)); it never contacts
    a managed host.
options:
  staff:
    description: The people (C(teletreball_staff)).
    type: list
    elements: raw
    required: true
  networks:
    description: Named networks in CIDR notation (C(teletreball_networks)).
    type: dict
    required: true
  groups:
    description: Known groups and their descriptions (C(teletreball_groups)).
    type: dict
    required: true
  access:
    description: Service to the list of groups allowed to use it (C(teletreball_access)).
    type: dict
    required: true
  services:
    description: Service to its network and ports (C(teletreball_services)).
    type: dict
    required: true
  extension_range:
    description: First and last PBX extension (C(teletreball_extension_range)).
    type: dict
    required: true
  vpn_pool:
    description: Name of the network in O(networks) that VPN devices get addresses from.
    type: str
    required: true
  quarantine_days:
    description: Days a freed VPN address is held back before it is handed out again.
    type: int
    default: 30
  extension_quarantine_days:
    description: Days a freed extension is held back before somebody else may have it.
    type: int
    default: 30
  state_file:
    description:
      - JSON file keeping the VPN address of every device and the freed addresses,
        the extensions held and in quarantine, and the identity of each username.
      - Created with mode 0600 in a directory of mode 0700.
    type: path
    required: true
  desktop_hosts:
    description:
      - Inventory names of the remote-desktop session hosts (group C(vdi_hosts)).
      - Each person with a desktop gets C(desktop_host), their own if set and one of
        these, else one picked by rendezvous hashing of the username (stable, and
        adding a host moves only the people the new host takes).
    type: list
    elements: str
    default: []
  now:
    description: Current UTC time as C(YYYY-MM-DDTHH:MM:SSZ); for tests only.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written.
  diff_mode:
    support: partial
    details: The diff is the change of the address file. A correction of that file's mode
      alone is reported as a change with no difference shown.
notes:
  - Supports check mode (nothing is written) and diff mode (the change of the address file).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Check the staff directory and allocate VPN addresses
  teletreball_directory:
    staff: "{{ teletreball_staff }}"
    networks: "{{ teletreball_networks }}"
    groups: "{{ teletreball_groups }}"
    access: "{{ teletreball_access }}"
    services: "{{ teletreball_services }}"
    extension_range: "{{ teletreball_extension_range }}"
    vpn_pool: "{{ teletreball_vpn_pool }}"
    quarantine_days: 30
    extension_quarantine_days: 30
    state_file: "{{ teletreball_credentials_dir }}/vpn-addresses.json"
  register: directory
"""

RETURN = r"""
directory:
  description: The derived directory.
  returned: success
  type: dict
  contains:
    people:
      description: Each person with C(services) (granted by the access matrix),
        C(vpn_devices) (name and address; empty when absent), C(desktop_host)
        (their remote-desktop session host, or null) and C(identity) (a digest of
        the identity key, which the service roles keep per account to give a
        username reused by another person fresh accounts).
      type: list
      elements: dict
    present:
      description: Usernames of present people.
      type: list
      elements: str
    absent:
      description: Usernames of offboarded people.
      type: list
      elements: str
reused:
  description: Usernames whose recorded identity differs from the inventory's, i.e.
    given to another person since the last run.
  returned: success
  type: list
  elements: str
vpn_gateway_address:
  description: The gateway's own address in the pool (its first host address).
  returned: success
  type: str
errors:
  description: Every problem found (only when the module fails).
  returned: failure
  type: list
  elements: str
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_directory import (
    HAS_NETADDR,
    TIME_FORMAT,
    AllocationError,
    active_devices,
    allocate,
    build_directory,
    count_quarantined,
    extension_holders,
    extension_problems,
    gateway_address,
    hold_extensions,
    migrate_state,
    record_identities,
    validate,
)
from ansible.module_utils.teletreball_files import atomic_write


def read_state(module, path):
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"Cannot read the VPN address file {path}: {exc}")
    return None


def dump(state):
    return json.dumps(state, indent=2, sort_keys=False) + "\n" if state else ""


def main():
    module = AnsibleModule(
        argument_spec={
            "staff": {"type": "list", "elements": "raw", "required": True},
            "networks": {"type": "dict", "required": True},
            "groups": {"type": "dict", "required": True},
            "access": {"type": "dict", "required": True},
            "services": {"type": "dict", "required": True},
            "extension_range": {"type": "dict", "required": True},
            "vpn_pool": {"type": "str", "required": True},
            "quarantine_days": {"type": "int", "default": 30},
            "extension_quarantine_days": {"type": "int", "default": 30},
            "state_file": {"type": "path", "required": True},
            "desktop_hosts": {"type": "list", "elements": "str", "default": []},
            "now": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"))
    params = module.params
    if params["quarantine_days"] < 0:
        module.fail_json(msg="teletreball_vpn_address_quarantine_days must be 0 or more.")
    if params["extension_quarantine_days"] < 0:
        module.fail_json(msg="teletreball_extension_quarantine_days must be 0 or more.")
    if params["now"]:
        try:
            now = datetime.datetime.strptime(params["now"], TIME_FORMAT).replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            module.fail_json(msg=f"now must look like 2026-01-31T12:00:00Z, not {params['now']}.")
    else:
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    path = params["state_file"]
    try:
        old_state = migrate_state(read_state(module, path))
    except AllocationError as exc:
        module.fail_json(msg=f"{path}: {exc}", errors=[str(exc)])
    staff = params["staff"]
    devices = (
        active_devices(staff)
        if all(isinstance(p, dict) and isinstance(p.get("username"), str) for p in staff)
        else []
    )
    quarantined = count_quarantined(old_state, now, params["quarantine_days"], keep=devices)
    errors = validate(
        staff, params["networks"], params["groups"], params["access"], params["services"],
        params["extension_range"], params["vpn_pool"], quarantined,
        desktop_hosts=params["desktop_hosts"],
    )
    if errors:
        module.fail_json(
            msg=f"The staff directory has {len(errors)} problem(s):\n- " + "\n- ".join(errors),
            errors=errors,
        )

    extensions, conflicts = hold_extensions(
        old_state, extension_holders(staff), now, params["extension_quarantine_days"])
    if conflicts:
        errors = extension_problems(staff, conflicts, params["extension_quarantine_days"])
        module.fail_json(
            msg=f"The staff directory has {len(errors)} problem(s):\n- " + "\n- ".join(errors),
            errors=errors,
        )

    pool = params["networks"][params["vpn_pool"]]
    people, reused = record_identities(old_state, staff, now)
    try:
        state = allocate(old_state, pool, devices, now, params["quarantine_days"], reused)
    except AllocationError as exc:
        module.fail_json(msg=f"VPN addresses: {exc}", errors=[str(exc)])
    state = dict(state, extensions=extensions, people=people)

    # Timestamps only change with a real change: compare without them.
    if old_state and _without_times(old_state) == _without_times(state):
        state = old_state
    before, after = dump(old_state), dump(state)
    changed = before != after
    if changed and not module.check_mode:
        atomic_write(path, after)
    elif os.path.exists(path) and os.stat(path).st_mode & 0o077:
        changed = True
        if not module.check_mode:
            os.chmod(path, 0o600)

    result = {
        "changed": changed,
        "directory": build_directory(
            staff, params["access"], state, desktop_hosts=params["desktop_hosts"]
        ),
        "vpn_gateway_address": gateway_address(pool),
        "reused": reused,
    }
    if module._diff:
        result["diff"] = {
            "before": before, "after": after,
            "before_header": path, "after_header": path,
        }
    module.exit_json(**result)


def _without_times(state):
    return {
        "pool": state.get("pool"),
        "allocations": {k: v["address"] for k, v in state.get("allocations", {}).items()},
        "released": {k: v["device"] for k, v in state.get("released", {}).items()},
        "extensions": {
            part: {k: (v["username"], v["identity"]) for k, v in entries.items()}
            for part, entries in state.get("extensions", {}).items()
        },
        "people": {k: v["identity"] for k, v in state.get("people", {}).items()},
    }


if __name__ == "__main__":
    main()
