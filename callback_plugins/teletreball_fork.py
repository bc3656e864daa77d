# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin: freeze the controller's heap before Ansible forks its workers."""

from __future__ import annotations

import gc

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: teletreball_fork
type: aggregate
short_description: Freeze the controller's heap before Ansible forks its workers
description:
  - Ansible forks one worker process per host and task. A worker starts as a copy of the
    controller's process, sharing its memory pages until it writes to them; a garbage
    collection in the worker visits every object it inherited and so makes its own copy of
    most of the controller's heap (copy-on-write) for a task that may only evaluate a
    condition.
  - This plugin calls C(gc.freeze()) before each task, so the objects alive then are left
    out of every later collection, in the controller and in its workers, as Python's
    documentation of the C(gc) module advises for a process that forks without exec.
  - At the start of each play it unfreezes them and collects once, so the garbage of a
    long run is still freed.
  - Loaded automatically from the repository's C(callback_plugins) folder (C(ansible.cfg));
    it prints nothing. docs/performance.md has the measurement.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "teletreball_fork"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_play_start(self, play):
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def v2_playbook_on_task_start(self, task, is_conditional):
        gc.freeze()

    def v2_playbook_on_handler_task_start(self, task):
        gc.freeze()
