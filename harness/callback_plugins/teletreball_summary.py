"""Write a machine-readable summary of a playbook run (per-host stats, changed tasks).

Enabled with ``ANSIBLE_CALLBACKS_ENABLED=teletreball_summary`` and
``TT_RUN_SUMMARY=<file>``. The harness reads that file to prove that a run changed
nothing (second ``make lab``, check mode after converge) instead of grepping the
play recap.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: teletreball_summary
type: aggregate
short_description: Writes per-host stats and changed task names as JSON
description:
  - At the end of a run, writes a JSON file with the stats of every host and the
    names of the tasks that reported a change on each host.
options:
  path:
    description: File to write. Nothing is written when it is empty.
    env:
      - name: TT_RUN_SUMMARY
    default: ""
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "teletreball_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._changed_tasks: dict[str, list[str]] = {}

    def v2_runner_on_ok(self, result):
        if result.is_changed():
            host = result._host.get_name()
            self._changed_tasks.setdefault(host, []).append(result._task.get_name())

    def v2_playbook_on_stats(self, stats):
        path = self.get_option("path")
        if not path:
            return
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            summary["changed_tasks"] = self._changed_tasks.get(host, [])
            hosts[host] = summary
        directory = os.path.dirname(os.path.abspath(path))
        with tempfile.NamedTemporaryFile(
            "w", dir=directory, delete=False, encoding="utf-8"
        ) as handle:
            json.dump({"hosts": hosts}, handle, indent=2, sort_keys=True)
        os.replace(handle.name, path)
