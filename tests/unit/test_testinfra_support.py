"""The shared Testinfra helpers: wait_for, and run_converge on another playbook."""

from __future__ import annotations

import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "testinfra_support"))
import teletreball_testinfra as support  # noqa: E402


def test_wait_for_returns_the_first_true_value_or_the_last_one():
    values = iter([0, "", "ready", "later"])
    assert support.wait_for(lambda: next(values), timeout=5, step=0.01) == "ready"
    assert support.wait_for(lambda: [], timeout=0.05, step=0.01) == []


def test_run_converge_runs_the_given_playbook_on_the_given_inventory(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLECULE_EPHEMERAL_DIRECTORY", str(tmp_path))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    probe: {ansible_connection: local, "
                         f"ansible_python_interpreter: {sys.executable}}}\n")
    playbook = tmp_path / "touch.yml"
    playbook.write_text(
        "- hosts: probe\n  gather_facts: false\n  tasks:\n"
        "    - name: Touch\n      ansible.builtin.command: 'true'\n      changed_when: true\n")
    _, stats = support.run_converge(inventory=inventory, playbook=playbook)
    assert stats["probe"]["changed"] == 1 and stats["probe"]["changed_tasks"] == ["Touch"]

    playbook.write_text("- hosts: probe\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.command: 'false'\n")
    with pytest.raises(AssertionError, match="touch.yml  failed"):
        support.run_converge(inventory=inventory, playbook=playbook)
