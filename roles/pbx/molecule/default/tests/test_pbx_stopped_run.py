"""A run killed between the write of a configuration and its reload is repaired by the
next run (module_utils/teletreball_applied.py), and its lock is taken over.

One real converge offboards load50 and raises fail2ban's maxretry, and is killed
(SIGKILL to the whole ansible-playbook run) once the PBX's files are written, before any
handler: pjsip.conf no longer has load50 but Asterisk still serves its endpoint, and
fail2ban still runs the old jail. A --check run reports the pending reload and changes
nothing; the next run, although every file is as wanted, reloads both services: load50's
endpoint and its address of record are gone and the jail has the new
maxretry. Runs last (file order): it leaves load50 offboarded.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import urllib.parse

import pytest
import teletreball_testinfra as support
from pbx_helpers import PBX, asterisk, audit_params, load_agents, scenario_people
from teletreball_testinfra import kill_converge_at, run_converge

testinfra_hosts = ["podman://pbx"]

EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
PJSIP = "/etc/asterisk/pjsip.conf"
STAMPS = "/var/lib/teletreball/applied"
# The task that follows the write of the PBX's files: the run is killed when it starts.
AFTER_THE_WRITE = "TASK [pbx : Apply the Asterisk configuration that changed]"


def variables():
    """load50 offboarded, fail2ban's maxretry 3 -> 4."""
    agents = [{"username": f"load{i:02d}", "name": f"Load Agent {i:02d}",
               "email": f"load{i:02d}@prova.teletreball.test", "department": "OAC",
               "groups": ["oac_agents"], "extension": 1100 + i} for i in range(1, 51)]
    agents[-1]["state"] = "absent"
    extra = EPHEMERAL / "test-stopped-run-vars.json"
    extra.write_text(json.dumps({"_pbx_test_load_agents": agents,
                                 "pbx_fail2ban_max_retry": 4}), encoding="utf-8")
    return ("--extra-vars", f"@{extra}", "--limit", "localhost,pbx")


def people_after():
    """The directory of variables(): load50 absent."""
    return scenario_people() + [dict(a, state="absent") if a["username"] == "load50" else a
                                for a in load_agents()]


def endpoints():
    return asterisk("pjsip show endpoints")


def serves_load50():
    return re.search(r"Endpoint:\s+load50/", endpoints()) is not None


def maxretry():
    return PBX.check_output("fail2ban-client get asterisk maxretry").strip()


@pytest.mark.control("PBX-REV-01")
def test_a_run_killed_before_its_reloads_is_repaired_by_the_next_run(host, control_check):
    assert serves_load50() and maxretry() == "3"
    contacts = asterisk("pjsip show contacts")
    assert "load50/" in contacts, "load50's softphone is not registered: " + contacts

    output = kill_converge_at(AFTER_THE_WRITE, *variables())
    assert "changed: [pbx]" in output.split("TASK [pbx : Write the files of the managed")[-1]
    # Interrupted: the files are written, the services still run the old ones.
    assert "load50" not in PBX.file(PJSIP).content_string
    jail = PBX.file("/etc/fail2ban/jail.d/teletreball-asterisk.conf").content_string
    assert "maxretry = 4" in jail
    assert serves_load50() and maxretry() == "3"
    # The live check sees it too: load50's endpoint is still served, and the files
    # differ from what Asterisk and fail2ban were loaded with.
    audit = support.audit_checks()
    outcome = audit.evaluate("PBX-REV-01", support.TestinfraProbe(host),
                             audit_params(people_after(), fail2ban_max_retry=4))
    failed = [f["requirement"] for f in audit.failed_findings(outcome)]
    assert outcome["status"] == audit.FAIL and failed == [
        "no endpoint of a person who is not present with a phone",
        "no address of record (registration) of anybody else",
        "every written file was applied (no reload pending from a stopped run)",
    ], audit.explain(outcome)

    # Check mode reports the pending reloads and changes nothing.
    checked, stats = run_converge("--check", *variables())
    assert stats["pbx"]["changed"] > 0, checked.stdout[-3000:]
    text = " ".join(checked.stdout.split())
    assert "written by an interrupted run and not yet applied:" in text, text[-3000:]
    assert "pjsip.conf" in text.split("not yet applied:", 1)[1][:400], text[-3000:]
    assert serves_load50() and maxretry() == "3"

    repaired, stats = run_converge(*variables())
    text = " ".join(repaired.stdout.split())
    # The killed run's lock of the credentials folder was taken over, naming it.
    assert "Took over the lock" in text and "of a run that no longer exists" in text, text[-3000:]
    assert stats["pbx"]["changed"] > 0
    # load50's endpoint and address of record are gone (a REGISTER for load50 has
    # nothing to bind to; Asterisk keeps the contact it stored until it expires, but
    # without its endpoint and address of record it can neither call nor be called),
    # and every file is what Asterisk and fail2ban were loaded with (the stamps).
    control_check("PBX-REV-01", audit_params(people_after(), fail2ban_max_retry=4))
    control_check("PBX-BAN-01", audit_params(people_after(), fail2ban_max_retry=4))
    assert maxretry() == "4"
    # The stamp now holds what Asterisk was loaded with, and the files it is notified by.
    stamp = json.loads(PBX.check_output(
        f"cat {STAMPS}/{urllib.parse.quote(PJSIP, safe='')}"))
    assert stamp["notify"] == ["asterisk/pjsip.conf"]
