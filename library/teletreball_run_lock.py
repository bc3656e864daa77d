#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: one run at a time against a credentials folder."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_run_lock
short_description: Hold the credentials folder of an inventory for the whole run
description:
  - Two runs at once against the same credentials folder could give two devices the same
    VPN address, or write one password into a welcome pack and another onto a host. The
    preflight (role teletreball) therefore takes this lock before it writes anything in
    the folder.
  - The lock is the file C(<credentials_dir>.lock) beside the folder (so a run stopped by
    a broken inventory leaves no credentials folder behind), created with C(O_EXCL). It
    records the C(ansible-playbook) process the module runs under (process number, start
    time in clock ticks, boot ID), its user, the controller's name, the time the run
    started and its playbooks (only the playbook arguments; the other arguments may hold
    secrets).
  - The lock is held as long as that C(ansible-playbook) process lives, beyond this task.
    The callback plugin C(teletreball_run_lock) removes it when the run ends; a lock whose
    process no longer exists (a killed run, a reused process number, a reboot) is free and
    taken over at once (RV(took_over)).
  - While another live run holds it, the module waits, at most O(timeout) seconds; then
    it fails with a message naming that run (process, user, host, start, playbooks).
  - Runs on the controller. It never reports C(changed). In check mode it writes nothing
    (no lock is taken, a check run does not stop a real one) but still waits for a live
    run, so it reads a credentials folder that no run is writing.
options:
  credentials_dir:
    description: The credentials folder of the inventory (C(teletreball_credentials_dir)).
      The folder that holds it is created (0700) when missing.
    type: path
    required: true
  timeout:
    description: Seconds to wait for another run before failing; 0 fails at once.
    type: int
    default: 900
  poll:
    description: Seconds between two looks at the lock while waiting.
    type: int
    default: 2
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It never reports a change. In check mode no lock is taken, but it still waits
      for a live run.
  diff_mode:
    support: none
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Wait for any other run on this credentials folder, then hold it until this run ends
  teletreball_run_lock:
    credentials_dir: "{{ teletreball_credentials_dir }}"
    timeout: "{{ teletreball_run_lock_timeout }}"
  register: _teletreball_run_lock
"""

RETURN = r"""
lock:
  description: The lock file.
  returned: success
  type: str
  sample: /srv/teletreball/inventories/council/credentials/council.lock
acquired:
  description: Whether this run holds the lock now (false in check mode).
  returned: success
  type: bool
waited:
  description: Seconds spent waiting for another run.
  returned: success
  type: float
holder:
  description: What the lock records about this run (in check mode, what it would record).
  returned: success
  type: dict
took_over:
  description: The record of a run that no longer exists whose lock this run replaced (in
    check mode, would replace); empty when the lock could not be read.
  returned: when it happened
  type: dict
"""

import datetime
import os
import pwd
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_lock import (
    LockTimeout,
    acquire,
    cmdline,
    identity,
    owner_process,
)

# Options of ansible-playbook followed by a value: the value is not a playbook.
VALUE_OPTIONS = frozenset((
    "-i", "--inventory", "--inventory-file", "-e", "--extra-vars", "-l", "--limit", "-t",
    "--tags", "--skip-tags", "--vault-id", "--vault-password-file", "--private-key", "-u",
    "--user", "-c", "--connection", "-f", "--forks", "-M", "--module-path", "--start-at-task",
))


def lock_path(credentials_dir):
    return os.path.normpath(credentials_dir) + ".lock"


def playbooks(args):
    """The playbook arguments of an ansible-playbook command line, and nothing else."""
    found = []
    for before, arg in zip([""] + args, args, strict=False):
        if before in VALUE_OPTIONS or arg.startswith("-"):
            continue
        if arg.endswith((".yml", ".yaml")):
            found.append(arg)
    return found


def started_at(start_ticks):
    """The time a process started, from its start in clock ticks after boot (UTC text)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            btime = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        seconds = btime + int(start_ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return ""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(me):
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "started": started_at(me["start"]),
            "playbooks": playbooks(cmdline(me["pid"])[1:])}


def naming(holder):
    """One sentence naming the run that holds a lock."""
    return (f"process {holder.get('pid', '?')} of user {holder.get('user', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started') or '?'}, running "
            f"{' '.join(holder.get('playbooks') or []) or 'an unknown playbook'}")


def main():
    module = AnsibleModule(
        argument_spec={
            "credentials_dir": {"type": "path", "required": True},
            "timeout": {"type": "int", "default": 900},
            "poll": {"type": "int", "default": 2},
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0 or params["poll"] < 1:
        module.fail_json(msg="timeout must be 0 or more and poll 1 or more (seconds).")
    if not os.path.isabs(params["credentials_dir"]):
        module.fail_json(
            msg=f"credentials_dir must be an absolute path, not {params['credentials_dir']!r}.")
    path = lock_path(params["credentials_dir"])
    me = identity(owner_process())
    record = describe(me)
    try:
        folder = os.path.dirname(path)
        if not module.check_mode and not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
        result = acquire(path, me, record, params["timeout"], params["poll"],
                         take=not module.check_mode)
    except LockTimeout as exc:
        module.fail_json(
            msg=(f"Another run is using the credentials folder {params['credentials_dir']}: "
                 f"{naming(exc.holder)}. This run waited {params['timeout']} s "
                 "(teletreball_run_lock_timeout) and stops before writing anything. Wait "
                 f"for that run to end, or stop it; the lock {path} of a run that no longer "
                 "exists is taken over by itself."),
            lock=path, holder=exc.holder)
    except OSError as exc:
        module.fail_json(msg=f"Cannot use the lock {path}: {exc}")
    result.pop("done", None)
    module.exit_json(changed=False, lock=path, holder=dict(record, **me), **result)


if __name__ == "__main__":
    main()
