"""Audit and journal: BL-LOG-01..04.

auditd's rules are checked as augenrules merges them (what audit-rules.service
loads at boot) and, where the kernel audits, as loaded. A container has no
kernel audit and auditd does not start there (waived, see controls/waivers.yml).
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from baseline_helpers import HOST
from teletreball_testinfra import run_converge

testinfra_hosts = [HOST]

WATCHED = {
    "/etc/passwd": "wa",
    "/etc/group": "wa",
    "/etc/shadow": "wa",
    "/etc/gshadow": "wa",
    "/etc/sudoers": "wa",
    "/etc/sudoers.d": "wa",
    "/etc/ssh/sshd_config": "wa",
    "/var/log/sudo.log": "wa",
}


def merged_rules(host) -> list[str]:
    # augenrules exits 0 with "No change" when audit.rules is what rules.d merges to.
    check = host.run("augenrules --check")
    assert check.rc == 0, check.stdout + check.stderr
    assert "No change" in check.stdout + check.stderr
    return host.check_output("cat /etc/audit/audit.rules").splitlines()


def watches(rules: list[str]) -> dict[str, str]:
    found = {}
    for rule in rules:
        match = re.match(r"^-w (\S+?)/? -p (\w+)", rule)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def privileged_paths(rules: list[str]) -> set[str]:
    paths = set()
    for rule in rules:
        match = re.match(r"^-a always,exit .*-F path=(\S+) .*-F perm=x", rule)
        if match and "auid>=1000" in rule:
            paths.add(match.group(1))
    return paths


def setuid_programs(host) -> set[str]:
    return set(host.check_output("find / -xdev -type f -perm /6000").split())


@pytest.mark.control("BL-LOG-01")
def test_audit_rules_watch_identity_sudoers_and_sshd(host):
    found = watches(merged_rules(host))
    for path, permissions in WATCHED.items():
        assert path in found, path
        assert set(permissions) <= set(found[path]), path


@pytest.mark.control("BL-LOG-01")
def test_every_setuid_program_is_audited(host):
    programs = setuid_programs(host)
    assert "/usr/bin/sudo" in programs
    missing = programs - privileged_paths(merged_rules(host))
    assert not missing


@pytest.mark.control("BL-LOG-01")
def test_audit_rules_are_loaded_in_the_kernel(host, waive):
    waive("BL-LOG-01")
    loaded = host.check_output("auditctl -l").splitlines()
    assert watches(loaded).keys() >= WATCHED.keys()
    assert privileged_paths(loaded) >= setuid_programs(host)


def auditd_settings(host) -> dict[str, list[str]]:
    """auditd.conf as auditd reads it: each key with all of its values."""
    settings: dict[str, list[str]] = {}
    for line in host.check_output("cat /etc/audit/auditd.conf").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.strip().startswith("#"):
            settings.setdefault(key.strip().lower(), []).append(value.strip().lower())
    return settings


@pytest.mark.control("BL-LOG-02")
def test_auditd_keeps_full_log_files(host):
    settings = {key: values[-1] for key, values in auditd_settings(host).items()}
    assert settings["max_log_file_action"] == "keep_logs"
    assert int(settings["max_log_file"]) > 0


@pytest.mark.control("BL-LOG-04")
def test_auditd_warns_before_its_disk_fills_and_suspends_when_full(host):
    # The role's defaults; each key once, so no later line overrides it.
    settings = auditd_settings(host)
    expected = {
        "space_left": "15%",
        "space_left_action": "syslog",
        "action_mail_acct": "root",
        "admin_space_left": "5%",
        "admin_space_left_action": "suspend",
        "disk_full_action": "suspend",
        "disk_error_action": "syslog",
    }
    assert {key: settings.get(key) for key in expected} == {
        key: [value] for key, value in expected.items()
    }
    # auditd reads the file as root only.
    conf = host.file("/etc/audit/auditd.conf")
    assert conf.user == "root" and not conf.mode & 0o022


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


@pytest.mark.control("BL-LOG-02")
def test_auditd_runs(host, waive):
    waive("BL-LOG-02")
    assert host.service("auditd").is_enabled
    assert host.service("auditd").is_running
    status = host.check_output("auditctl -s")
    assert re.search(r"^enabled [12]$", status, re.MULTILINE)


def journald_settings(host) -> dict[str, str]:
    settings: dict[str, str] = {}
    for raw in host.check_output("systemd-analyze cat-config systemd/journald.conf").splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def seconds(span: str) -> int:
    units = {"s": 1, "min": 60, "h": 3600, "day": 86400, "d": 86400, "week": 604800}
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]+)", span):
        total += int(number) * units[unit]
    return total


@pytest.mark.control("BL-LOG-03")
def test_journal_is_persistent_with_retention_of_at_least_90_days(host):
    settings = journald_settings(host)
    assert settings["Storage"] == "persistent"
    assert seconds(settings["MaxRetentionSec"]) >= 90 * 86400


@pytest.mark.control("BL-LOG-03")
def test_journal_writes_to_disk(host):
    header = host.check_output("journalctl --header --system")
    assert re.search(r"^File path: /var/log/journal/", header, re.MULTILINE)
    marker = f"tt-test-{uuid.uuid4().hex}"
    host.check_output(f"logger --tag tt-test {marker} && journalctl --sync")
    found = host.run(
        f"journalctl --directory /var/log/journal --identifier tt-test --grep {marker}"
    )
    assert found.rc == 0, found.stderr
    assert marker in found.stdout
