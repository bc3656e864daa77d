# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin: give back the run lock of the credentials folder when the run ends."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: teletreball_run_lock
type: aggregate
short_description: Give back the lock of the credentials folder when the run ends
description:
  - The module C(teletreball_run_lock) (role teletreball, in the preflight) takes the lock
    C(<credentials_dir>.lock) for the C(ansible-playbook) process; a module cannot remove it
    at the end of the run, since its own process ends with its task.
  - This plugin lives in the C(ansible-playbook) process. It notes the lock of each
    successful C(teletreball_run_lock) task and removes it at the end of the playbook
    (after the recap, also when hosts failed), only while it still names this process.
  - A run killed before its end leaves the lock behind; the next run sees that its process
    no longer exists and takes it over.
  - Loaded automatically from the repository's C(callback_plugins) folder (C(ansible.cfg));
    it prints nothing.
"""


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "teletreball_run_lock"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locks = set()

    def v2_runner_on_ok(self, result):
        if not result._task.action.endswith("teletreball_run_lock"):
            return
        outcome = result._result
        if outcome.get("acquired") and outcome.get("lock"):
            self.locks.add(outcome["lock"])

    def v2_playbook_on_stats(self, stats):
        for path in sorted(self.locks):
            release(path, os.getpid(), _boot_id())
        self.locks.clear()


def release(path, pid, boot_id):
    """Remove the lock at ``path`` when it names process ``pid`` of this boot."""
    try:
        with open(path, encoding="utf-8") as handle:
            holder = json.load(handle)
    except (OSError, ValueError):
        return False
    if not isinstance(holder, dict) or (holder.get("pid"), holder.get("boot_id")) != (pid, boot_id):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
