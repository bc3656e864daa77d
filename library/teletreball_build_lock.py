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
    or O(done) appears (the other run finished the build: nothing left to do), or
    O(timeout) seconds pass (then it fails and names the holder).
  - The holder is the C(ansible-playbook) process the module runs under, with the
    machine's boot ID and the process's start time, so a lock left by a run that
    was killed is recognised and taken over at once.
  - O(state=released) removes the lock when this run holds it, and leaves another
    run's lock alone.
  - Runs on the controller (C(delegate_to: localhost)). Nothing lasting changes, so
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

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

BOOT_ID = "/proc/sys/kernel/random/boot_id"
# Seconds a lock may stay unreadable (its holder is writing it) before it counts as damaged.
UNREADABLE_GRACE = 10


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _boot_id():
    try:
        return _read(BOOT_ID).strip()
    except OSError:
        return ""


def _stat(pid):
    """(parent pid, start time in clock ticks) of ``pid``, or None when it is gone."""
    try:
        text = _read(f"/proc/{pid}/stat")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[19]


def _cmdline(pid):
    try:
        return _read(f"/proc/{pid}/cmdline").split("\0")
    except OSError:
        return []


def _is_playbook(pid):
    return any(os.path.basename(arg).startswith("ansible-playbook") for arg in _cmdline(pid)[:3])


def owner_process(start_pid=None):
    """The ansible-playbook process this module runs under: the first one above
    ``start_pid`` (default: this process), then up through the processes it forked
    (its task workers carry the same command line), so a lock outlives the task.
    Without one (a module run outside a playbook) the parent."""
    pid = start_pid or os.getpid()
    while pid > 1 and not _is_playbook(pid):
        info = _stat(pid)
        if info is None:
            pid = 0
            break
        pid = info[0]
    if pid <= 1:
        return os.getppid() if start_pid is None else start_pid
    while True:
        info = _stat(pid)
        if info is None or info[0] <= 1 or not _is_playbook(info[0]):
            return pid
        pid = info[0]


def identity(pid):
    info = _stat(pid)
    return {"pid": pid, "start": info[1] if info else "", "boot_id": _boot_id()}


def is_alive(holder):
    """Whether the process recorded in a lock still exists (same boot, same start)."""
    if holder.get("boot_id") != _boot_id():
        return False
    info = _stat(int(holder.get("pid", 0)))
    return info is not None and info[1] == holder.get("start")


def read_holder(path):
    """The lock's content; None when there is no lock; {} when it cannot be read."""
    try:
        text = _read(path)
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def try_create(path, content):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def acquire(module, params, me):
    path = params["path"]
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    content = json.dumps(dict(me, holder=params["holder"], since=time.time())) + "\n"
    started = time.monotonic()
    result = {"acquired": False, "done": False}
    unreadable_since = None
    while True:
        if params["done"] and os.path.exists(params["done"]):
            result["done"] = True
            break
        if try_create(path, content):
            result["acquired"] = True
            break
        holder = read_holder(path)
        if holder is None:
            continue  # given back between our two looks
        if holder.get("pid") == me["pid"] and holder.get("start") == me["start"] \
                and holder.get("boot_id") == me["boot_id"]:
            result["acquired"] = True  # already ours: taking it twice is harmless
            break
        if holder:
            unreadable_since = None
            if not is_alive(holder):
                os.unlink(path)
                result["took_over"] = holder
                continue
        else:
            # Being written by its holder, or damaged: damaged when it stays so.
            unreadable_since = unreadable_since or time.monotonic()
            if time.monotonic() - unreadable_since >= UNREADABLE_GRACE:
                os.unlink(path)
                result["took_over"] = {}
                continue
        if time.monotonic() - started >= params["timeout"]:
            who = holder.get("holder") or "unknown holder"
            module.fail_json(
                msg=(f"{path} is held by another run for more than {params['timeout']} s: "
                     f"{who} (process {holder.get('pid', '?')}). "
                     "Wait for it, or stop it; a lock of a run that no longer exists is "
                     "taken over by itself."),
                holder=holder)
        time.sleep(params["poll"])
    result["waited"] = round(time.monotonic() - started, 1)
    return result


def release(params, me):
    holder = read_holder(params["path"])
    if holder is None:
        return {"released": False}
    if holder and (holder.get("pid"), holder.get("start"), holder.get("boot_id")) != (
            me["pid"], me["start"], me["boot_id"]):
        return {"released": False, "held_by": holder}
    os.unlink(params["path"])
    return {"released": True}


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
            result = acquire(module, params, me)
        else:
            result = release(params, me)
    except OSError as exc:
        module.fail_json(msg=f"Cannot use the lock {params['path']}: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
