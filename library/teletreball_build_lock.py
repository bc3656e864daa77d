#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: one build at a time into the controller's package cache."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_build_lock
short_description: Take or give back the lock of one build in the controller's package cache
description:
  - Two runs of the suite on one controller (C(make lab) and C(make test), or two
    test scenarios at once) may both find a package missing from the cache. Without
    a lock both build it, each for about twenty minutes, and both write the same
    cache folder.
  - O(state=acquired) creates the lock file O(path) and writes who holds it. When
    another run holds it, the module waits until that run gives it back, or dies,
    or O(done) appears (the other run finished the build, nothing left to do), or
    O(timeout) seconds pass (then it fails and names the holder).
  - The holder is the C(ansible-playbook) process the module runs under, with the
    machine's boot ID and the process's start time, so a lock left by a run that
    was killed is recognised and taken over at once.
  - O(state=released) removes the lock when this run holds it, and leaves another
    run's lock alone.
  - Runs on the controller (delegated to C(localhost)). Nothing lasting changes, so
    it never reports C(changed). In check mode nothing is written and it returns at once.
options:
  path:
    description: The lock file. Its folder is created (0700) when missing.
    type: path
    required: true
  state:
    description: Take the lock (waiting for it) or give it back.
    type: str
    choices: [acquired, released]
    default: acquired
  done:
    description:
      - A file whose presence means that the work the lock protects is done; while
        waiting, its appearance ends the wait with RV(done=true) and no lock taken.
    type: path
  timeout:
    description: Seconds to wait for another run's lock before failing.
    type: int
    default: 7200
  poll:
    description: Seconds between two looks at the lock while waiting.
    type: int
    default: 5
  holder:
    description: Words written in the lock that tell people who holds it (the host and the build).
    type: str
    default: ""
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It never reports a change. In check mode it writes nothing and does not wait;
      it returns at once with no lock taken.
  diff_mode:
    support: none
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Wait for any other build of asterisk into the cache
  teletreball_build_lock:
    path: "{{ package_repo_cache_dir }}/asterisk_22.lock"
    done: "{{ package_repo_cache_dir }}/asterisk_22/.complete"
    holder: "{{ inventory_hostname }} builds asterisk 22"
  delegate_to: localhost
  register: build_lock

- name: Give the lock back
  teletreball_build_lock:
    path: "{{ package_repo_cache_dir }}/asterisk_22.lock"
    state: released
  delegate_to: localhost
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock now (state=acquired).
  returned: success
  type: bool
done:
  description: Whether O(done) appeared while waiting, so the lock was not needed.
  returned: success
  type: bool
waited:
  description: Seconds spent waiting for another run.
  returned: success
  type: float
took_over:
  description: The holder of a lock left by a run that no longer exists, which this run replaced.
  returned: when it happened
  type: dict
released:
  description: Whether this run's lock was removed (state=released).
  returned: success
  type: bool
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_lock import (
    LockTimeout,
    acquire,
    identity,
    owner_process,
    release,
)

# Seconds a lock may stay unreadable (its holder is writing it) before it counts as damaged.
UNREADABLE_GRACE = 10


def take(module, params, me):
    path = params["path"]
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    try:
        return acquire(path, me, {"holder": params["holder"], "since": time.time()},
                       params["timeout"], params["poll"], done=params["done"],
                       grace=UNREADABLE_GRACE)
    except LockTimeout as exc:
        holder = exc.holder
        who = holder.get("holder") or "unknown holder"
        module.fail_json(
            msg=(f"{path} is held by another run for more than {params['timeout']} s: "
                 f"{who} (process {holder.get('pid', '?')}). "
                 "Wait for it, or stop it; a lock of a run that no longer exists is "
                 "taken over by itself."),
            holder=holder)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
            "done": {"type": "path"},
            "timeout": {"type": "int", "default": 7200},
            "poll": {"type": "int", "default": 5},
            "holder": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0 or params["poll"] < 1:
        module.fail_json(msg="timeout must be 0 or more and poll 1 or more (seconds).")
    if module.check_mode:
        module.exit_json(changed=False, acquired=False, done=False, waited=0.0, released=False)
    me = identity(owner_process())
    try:
        if params["state"] == "acquired":
            result = take(module, params, me)
        else:
            result = release(params["path"], me)
    except OSError as exc:
        module.fail_json(msg=f"Cannot use the lock {params['path']}: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
