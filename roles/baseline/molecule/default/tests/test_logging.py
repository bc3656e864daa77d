"""Audit and journal: BL-LOG-01..04, through the controls' live checks
(playbooks/audit.yml runs them on the council's hosts) and by a real entry
written to the journal.

auditd's rules are checked as audit-rules.service loads them at boot (the files
of /etc/audit/rules.d) and, where the kernel audits, as loaded. A container has
no kernel audit and auditd does not start there (waived, see controls/waivers.yml).
"""

from __future__ import annotations

import json
import uuid

import pytest
from baseline_helpers import HOST
from teletreball_testinfra import run_converge

testinfra_hosts = [HOST]


@pytest.mark.control("BL-LOG-01")
def test_audit_rules_watch_identity_sudoers_sshd_and_privileged_programs(control_check):
    control_check("BL-LOG-01")


@pytest.mark.control("BL-LOG-01")
def test_audit_rules_are_merged_for_the_next_boot(host):
    # augenrules exits 0 with "No change" when audit.rules is what rules.d merges to.
    check = host.run("augenrules --check")
    assert check.rc == 0, check.stdout + check.stderr
    assert "No change" in check.stdout + check.stderr


@pytest.mark.control("BL-LOG-02")
def test_auditd_keeps_full_log_files(control_check):
    control_check("BL-LOG-02", {"audit_max_log_file": 16})


@pytest.mark.control("BL-LOG-04")
def test_auditd_warns_before_its_disk_fills_and_suspends_when_full(control_check):
    # The role's defaults (each key once, so no later line overrides it).
    control_check("BL-LOG-04")


@pytest.mark.control("BL-LOG-04")
def test_the_preflight_refuses_a_warning_that_would_come_after_the_suspend(host):
    before = host.file("/etc/audit/auditd.conf").content_string
    result, _ = run_converge(
        "--extra-vars", json.dumps({"baseline_auditd_admin_space_left": 20}), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # The YAML result format may fold a long message: compare words.
    assert ("baseline_auditd_admin_space_left (20%) must be lower than "
            "baseline_auditd_space_left (15%)") in " ".join(output.split()), output[-3000:]
    assert host.file("/etc/audit/auditd.conf").content_string == before


@pytest.mark.control("BL-LOG-03")
def test_journal_is_persistent_with_its_retention(control_check):
    # converge.yml: baseline_journald_retention_days 120.
    control_check("BL-LOG-03", {"journald_retention_days": 120,
                                "journald_system_max_use": "2G"})


@pytest.mark.control("BL-LOG-03")
def test_journal_writes_to_disk(host):
    marker = f"tt-test-{uuid.uuid4().hex}"
    host.check_output(f"logger --tag tt-test {marker} && journalctl --sync")
    found = host.run(
        f"journalctl --directory /var/log/journal --identifier tt-test --grep {marker}"
    )
    assert found.rc == 0, found.stderr
    assert marker in found.stdout
