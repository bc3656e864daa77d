"""A fake host for the unit tests of the live checks (module_utils/teletreball_checks_*.py):
the probe the checks look through, answering from a dict of commands and a dict of files,
and the small helpers the tests of every checks module use on an outcome."""

from __future__ import annotations

import json

from module_runner import register_module_utils

register_module_utils()

from ansible.module_utils import teletreball_audit as audit  # noqa: E402

STAT = ("stat", "--format", "%a %U %G %F")


class FakeProbe:
    """Commands (argv tuples) and files (paths) of a host that is not there.

    A command's answer is a Result, a tuple ``(rc, stdout, stderr)`` or a text (its
    output, exit 0); ``("stat", path)`` answers ``stat --format ... -- path``. A command
    not listed is "not found" (127), a file not listed is missing. ``ran`` lists the
    commands asked, in order. A subclass may answer more through ``answer(argv)``.
    """

    def __init__(self, commands=None, files=None):
        self.commands = dict(commands or {})
        self.files = dict(files or {})
        self.ran = []

    def run(self, argv):
        self.ran.append(tuple(argv))
        found = self.commands.get(tuple(argv))
        if found is None and tuple(argv[:3]) == STAT:
            found = self.commands.get(("stat", argv[-1]))
        if found is None:
            found = self.answer(argv)
        if found is None:
            return audit.Result(127, "", f"{argv[0]}: not in the fake host")
        if isinstance(found, audit.Result):
            return found
        if isinstance(found, tuple):
            return audit.Result(*found)
        return audit.Result(0, found, "")

    def answer(self, argv):
        """The answer to a command not in ``commands`` (None: not found)."""
        return None

    def read(self, path):
        return self.files.get(path)

    def stat(self, path, mode, user="root", group="root", kind="regular file"):
        """``path`` exists with this mode ("0640"), owner and kind."""
        self.commands[(*STAT, "--", path)] = stat_answer(mode, user, group, kind)

    def active(self, unit, state="active", enabled="enabled"):
        """``unit`` is in this state (systemctl is-active) and enabled so (is-enabled)."""
        self.commands[("systemctl", "is-active", unit)] = audit.Result(
            0 if state == "active" else 3, state + "\n", "")
        self.commands[("systemctl", "is-enabled", unit)] = audit.Result(
            0 if enabled == "enabled" else 1, enabled + "\n", "")


def stat_answer(mode, user="root", group="root", kind="regular file"):
    """What ``stat --format '%a %U %G %F'`` prints for a path of this mode ("0640")."""
    return audit.Result(0, f"{mode.lstrip('0') or '0'} {user} {group} {kind}\n", "")


def ok(text):
    """The answer of a command that succeeds and prints ``text``."""
    return (0, text, "")


def evaluate_without(control_id, probe, params, secrets):
    """The outcome of a control's check, asserting that no secret is in it."""
    outcome = audit.evaluate(control_id, probe, params)
    text = json.dumps(outcome)
    for secret in secrets:
        assert secret not in text, f"{control_id} put a secret in its outcome"
    return outcome


def failed(outcome):
    """The requirements that failed, the check having FAILed (not PASSed, no ERROR)."""
    assert outcome["status"] == audit.FAIL, audit.explain(outcome)
    return [finding["requirement"] for finding in audit.failed_findings(outcome)]


def failed_if_any(outcome):
    """The requirements that failed (none on a PASS); the check must not end in ERROR."""
    assert outcome["status"] in (audit.PASS, audit.FAIL), outcome.get("error")
    return [finding["requirement"] for finding in audit.failed_findings(outcome)]


def passed(outcome):
    assert outcome["status"] == audit.PASS, audit.explain(outcome)


# --- nft -j: the pieces of a rule's expression -----------------------------------------

ACCEPT = {"accept": None}
DROP = {"drop": None}


def match(left, right, op="=="):
    return {"match": {"op": op, "left": left, "right": right}}


def payload(protocol, field):
    return {"payload": {"protocol": protocol, "field": field}}


def meta(key):
    return {"meta": {"key": key}}
