"""The teletreball_summary callback: per-host stats, changed tasks, time per role."""

from __future__ import annotations

import json
import pathlib
import time

REPO = pathlib.Path(__file__).resolve().parents[2]


def new_callback(path):
    """The plugin as Ansible loads it (its options come from its DOCUMENTATION)."""
    from ansible.plugins.loader import callback_loader

    callback_loader.add_directory(str(REPO / "harness" / "callback_plugins"))
    callback = callback_loader.get("teletreball_summary")
    callback.set_options(direct={"path": str(path)})
    return callback


class Named:
    def __init__(self, name, role=None):
        self._name, self._role = name, role

    def get_name(self):
        return self._name


class Result:
    def __init__(self, host, task, changed):
        self._host, self._task, self._changed = Named(host), task, changed

    def is_changed(self):
        return self._changed


class Stats:
    processed = {"web": 1, "db": 1}

    def summarize(self, host):
        return {"ok": 2, "changed": 1 if host == "web" else 0, "failures": 0,
                "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}


def test_the_summary_has_changed_tasks_the_wall_time_and_the_time_per_role(tmp_path):
    target = tmp_path / "summary.json"
    callback = new_callback(target)

    callback.v2_playbook_on_play_start(Named("Web servers "))
    configure = Named("Configure", role=Named("web"))
    callback.v2_playbook_on_task_start(configure, False)
    time.sleep(0.2)
    callback.v2_runner_on_ok(Result("web", configure, changed=True))
    check = Named("Check")
    callback.v2_playbook_on_task_start(check, False)
    time.sleep(0.1)
    callback.v2_runner_on_ok(Result("db", check, changed=False))
    callback.v2_runner_on_skipped(Result("web", check, changed=False))
    callback.v2_playbook_on_stats(Stats())

    summary = json.loads(target.read_text(encoding="utf-8"))
    assert summary["hosts"]["web"]["changed_tasks"] == ["Configure"]
    assert summary["hosts"]["db"]["changed_tasks"] == []
    assert summary["hosts"]["web"]["tasks"] == 2 and summary["hosts"]["db"]["tasks"] == 1
    roles = summary["role_seconds"]
    assert set(roles) == {"web", "play: Web servers"}
    assert 0.15 <= roles["web"] < 1.0 and 0.05 <= roles["play: Web servers"] < 1.0
    assert summary["seconds"] >= roles["web"] + roles["play: Web servers"] - 0.01


def test_nothing_is_written_without_a_path(tmp_path):
    callback = new_callback("")
    callback.v2_playbook_on_stats(Stats())
    assert list(tmp_path.iterdir()) == []
