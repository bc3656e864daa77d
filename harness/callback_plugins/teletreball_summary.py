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
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: teletreball_summary
type: aggregate
short_description: Writes per-host stats and changed task names as JSON
description:
  - At the end of a run, writes a JSON file with the stats of every host, the
    names of the tasks that reported a change on each host, the number of task
    results of each host (ok, changed, failed, skipped or unreachable; one per
    task, whatever its loop), the run's wall time and the wall time spent in
    each role (tasks outside a role count under the play's name).
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
        self._task_results: dict[str, int] = {}
        self._started = time.monotonic()
        self._section: str | None = None
        self._section_started = self._started
        self._section_seconds: dict[str, float] = {}
        self._play_name = ""

    def _enter(self, section: str | None) -> None:
        """Charge the time since the last task start to the section that ran."""
        now = time.monotonic()
        if self._section is not None:
            self._section_seconds[self._section] = (
                self._section_seconds.get(self._section, 0.0) + now - self._section_started
            )
        self._section, self._section_started = section, now

    def v2_playbook_on_play_start(self, play):
        self._play_name = play.get_name().strip()

    def v2_playbook_on_task_start(self, task, is_conditional):
        role = task._role.get_name() if task._role else None
        self._enter(role or f"play: {self._play_name}")

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _count(self, result):
        host = result._host.get_name()
        self._task_results[host] = self._task_results.get(host, 0) + 1

    def v2_runner_on_ok(self, result):
        self._count(result)
        if result.is_changed():
            host = result._host.get_name()
            self._changed_tasks.setdefault(host, []).append(result._task.get_name())

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._count(result)

    def v2_runner_on_unreachable(self, result):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        path = self.get_option("path")
        if not path:
            return
        self._enter(None)
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            summary["changed_tasks"] = self._changed_tasks.get(host, [])
            summary["tasks"] = self._task_results.get(host, 0)
            hosts[host] = summary
        directory = os.path.dirname(os.path.abspath(path))
        with tempfile.NamedTemporaryFile(
            "w", dir=directory, delete=False, encoding="utf-8"
        ) as handle:
            json.dump(
                {
                    "hosts": hosts,
                    "seconds": round(time.monotonic() - self._started, 1),
                    "role_seconds": {k: round(v, 1) for k, v in self._section_seconds.items()},
                },
                handle,
                indent=2,
                sort_keys=True,
            )
        os.replace(handle.name, path)
