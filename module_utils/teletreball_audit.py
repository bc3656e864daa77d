# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live checks of the controls in controls/catalogue.yml, defined once.

Each check is a function registered with ``@control("BL-SSH-02")``. It looks at
one host through a *probe* (run a command, read a file) and states each
requirement with ``ctx.expect(ok, requirement, evidence)``. Two callers run the
same definitions:

* the module ``teletreball_audit`` (``playbooks/audit.yml``) on the council's
  real hosts, where the probe runs commands with :mod:`subprocess`;
* the Testinfra suites (``tests/testinfra_support``), where the probe is
  Testinfra's ``host``: the Molecule scenarios assert the very checks the
  auditor's report shows.

A check only reads: it never writes a file, starts or stops anything.

A requirement that a waiver in controls/waivers.yml may cover (today: what a
container cannot do, such as live kernel parameters) is stated with
``waivable=True``; a waiver never covers any other requirement of the control.
"""

from __future__ import annotations

import re
import shlex

# Evidence kept per command or file (the report shows it collapsed).
EVIDENCE_LINES = 60
EVIDENCE_LINE_CHARS = 300

CHECKS = {}
"""Control ID -> check function, filled by the ``teletreball_checks_*`` modules."""

PASS = "PASS"  # noqa: S105 - a status, not a password
FAIL = "FAIL"
ERROR = "ERROR"


def control(control_id):
    """Register the decorated function as the live check of ``control_id``."""

    def register(function):
        if control_id in CHECKS:
            raise ValueError(f"two checks for {control_id}")
        CHECKS[control_id] = function
        return function

    return register


class Result:
    """What a command returned."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self):
        return self.rc == 0


class CheckError(Exception):
    """The check could not look at what it needs (reported as ERROR, a failure)."""


def _clip(text):
    lines = text.splitlines()
    kept = [line[:EVIDENCE_LINE_CHARS] for line in lines[:EVIDENCE_LINES]]
    if len(lines) > EVIDENCE_LINES:
        kept.append(f"... ({len(lines) - EVIDENCE_LINES} more lines)")
    return "\n".join(kept)


class Context:
    """What a check sees: the host (through ``probe``) and the audit's parameters.

    ``probe`` has ``run(argv) -> Result`` (argv a list, no shell) and
    ``read(path) -> str or None`` (None: no such file or not readable).
    """

    def __init__(self, probe, params=None):
        self.probe = probe
        self.params = dict(params or {})
        self.findings = []
        self.evidence = []
        self._cache = {}

    # --- looking -----------------------------------------------------------
    def run(self, *argv, evidence=True):
        """Run a command (a list of words, never a shell line) and return its Result."""
        key = ("run",) + tuple(argv)
        if key not in self._cache:
            self._cache[key] = self.probe.run(list(argv))
        result = self._cache[key]
        if evidence:
            text = result.stdout if result.stdout.strip() else result.stderr
            self.evidence.append(
                {"source": "$ " + shlex.join(argv), "rc": result.rc, "text": _clip(text)}
            )
        return result

    def output(self, *argv):
        """The standard output of a command that must succeed (else CheckError)."""
        result = self.run(*argv)
        if result.rc != 0:
            raise CheckError(
                f"{shlex.join(argv)} failed (exit {result.rc}): {result.stderr.strip()[:300]}"
            )
        return result.stdout

    def read(self, path, evidence=True):
        """The text of a file, or None when it does not exist or cannot be read."""
        key = ("read", path)
        if key not in self._cache:
            self._cache[key] = self.probe.read(path)
        text = self._cache[key]
        if evidence:
            self.evidence.append(
                {"source": path, "rc": 0 if text is not None else 1,
                 "text": _clip(text) if text is not None else "(missing)"}
            )
        return text

    def stat(self, path):
        """``{"mode": "0600", "user": "root", "group": "root", "type": "regular file"}``
        of a path, or None when it does not exist."""
        result = self.run("stat", "--format", "%a %U %G %F", "--", path)
        if result.rc != 0:
            return None
        mode, user, group, kind = result.stdout.strip().split(" ", 3)
        return {"mode": mode.zfill(4), "user": user, "group": group, "type": kind}

    def is_active(self, unit):
        return self.run("systemctl", "is-active", unit).stdout.strip() == "active"

    def is_enabled(self, unit):
        return self.run("systemctl", "is-enabled", unit).stdout.strip() in (
            "enabled", "enabled-runtime", "static", "indirect", "alias")

    def listening(self):
        """Listening sockets: a list of dicts (proto, address, port, process)."""
        out = self.output("ss", "--no-header", "--listening", "--tcp", "--udp",
                          "--numeric", "--processes")
        sockets = []
        for line in out.splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            address, _, port = fields[4].rpartition(":")
            match = re.search(r'\(\("([^"]+)"', line)
            sockets.append({
                "proto": fields[0], "address": address.strip("[]"),
                "port": int(port) if port.isdigit() else port,
                "process": match.group(1) if match else "",
            })
        return sockets

    def sshd_effective(self, user="root", host="audit", addr="192.0.2.1"):
        """sshd's effective settings for a connection of ``user`` (``sshd -T``)."""
        out = self.output("/usr/sbin/sshd", "-T", "-C", f"user={user},host={host},addr={addr}")
        settings = {}
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            settings.setdefault(key.lower(), value)
        return settings

    # --- stating -----------------------------------------------------------
    def expect(self, ok, requirement, evidence="", waivable=False):
        """State one requirement; ``evidence`` is the line that shows it (quoted
        in the report, and on failure in the test's message)."""
        self.findings.append({
            "ok": bool(ok), "requirement": requirement,
            "evidence": str(evidence)[:2000], "waivable": bool(waivable),
        })
        return bool(ok)


def evaluate(control_id, probe, params=None):
    """Run the check of one control; return its outcome as a plain dict.

    status is PASS (every requirement holds), FAIL (one does not) or ERROR
    (the check could not look, or the control has no check).
    """
    ctx = Context(probe, params)
    function = CHECKS.get(control_id)
    if function is None:
        return {"id": control_id, "status": ERROR, "error": "no live check is defined",
                "findings": [], "evidence": []}
    error = None
    try:
        function(ctx)
    except CheckError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken check is reported, never hidden
        error = f"{type(exc).__name__}: {exc}"
    if error is None and not ctx.findings:
        error = "the check stated no requirement"
    if error is not None:
        status = ERROR
    elif all(finding["ok"] for finding in ctx.findings):
        status = PASS
    else:
        status = FAIL
    outcome = {"id": control_id, "status": status, "findings": ctx.findings,
               "evidence": ctx.evidence}
    if error is not None:
        outcome["error"] = error
    return outcome


def failed_findings(outcome):
    return [finding for finding in outcome["findings"] if not finding["ok"]]


def only_waivable_failed(outcome):
    """True when the control failed on waivable requirements only."""
    failed = failed_findings(outcome)
    return outcome["status"] == FAIL and bool(failed) and all(f["waivable"] for f in failed)


def explain(outcome):
    """A short text of what failed (for assertion messages and logs)."""
    if outcome.get("error"):
        return f"{outcome['id']}: ERROR {outcome['error']}"
    lines = [f"{outcome['id']}: {outcome['status']}"]
    for finding in failed_findings(outcome):
        lines.append(f"  - {finding['requirement']}: {finding['evidence']}")
    return "\n".join(lines)
