"""The audit (playbooks/audit.yml) on the converged lab, as IT runs it on the
council's hosts: every control PASS or WAIVED with its reason, nothing changed
on any host; a control broken by hand is a FAIL on that host, with the line
that shows it, and the run fails; the report's page opens in Chromium with no
console error (its picture is docs/images/audit-report.png)."""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import re
import subprocess
import time

import pytest
import yaml
from stack_helpers import (
    CREDENTIALS,
    HOME,
    LAB,
    REPO,
    copy_to_home,
    credential_secrets,
    machine,
    run_site,
)
from teletreball_testinfra import run_converge

REPORTS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "reports"
CATALOGUE = yaml.safe_load((REPO / "controls" / "catalogue.yml").read_text(encoding="utf-8"))
# Where a file changed by the audit would be: configuration, programs, the
# services' own data and the admins' homes (not the logs, which the audit's own
# SSH or podman session and the services keep writing).
WATCHED = "/etc /usr /opt /srv /root /home /var/lib/teletreball /var/spool"
MARKER = "/run/tt-audit-marker"


def lab_hosts():
    inventory = yaml.safe_load((LAB / "hosts.yml").read_text(encoding="utf-8"))
    return sorted({name for group in inventory["all"]["children"].values()
                   for name in group["hosts"]})


def run_audit():
    """playbooks/audit.yml on the lab; the finished process, the report's folder and its
    report.json."""
    before = set(REPORTS.glob("lab/*"))
    result, _stats = run_converge(
        "--extra-vars", f"teletreball_credentials_dir={CREDENTIALS}",
        "--extra-vars", f"teletreball_audit_reports_dir={REPORTS}",
        timeout=900, inventory=LAB / "hosts.yml", playbook=REPO / "playbooks" / "audit.yml",
        check=False)
    made = sorted(set(REPORTS.glob("lab/*")) - before)
    assert len(made) == 1, (made, result.stdout[-3000:] + result.stderr[-3000:])
    return result, made[0], json.loads((made[0] / "report.json").read_text(encoding="utf-8"))


def statuses(report):
    return {(host, control["id"]): control
            for host, seen in report["hosts"].items() for control in seen["controls"]}


@pytest.fixture(scope="module")
def clean_audit():
    """One audit of the converged lab, with a marker file on each host written just before."""
    for name in lab_hosts():
        machine(name).check_output(f"touch {MARKER}")
    time.sleep(1.1)  # a file written after the marker has a later time stamp
    start = time.time()
    result, folder, report = run_audit()
    return result, folder, report, time.time() - start


def test_every_control_of_the_lab_passes_or_is_waived_with_its_reason(clean_audit):
    result, folder, report, seconds = clean_audit
    print(f"audit of the lab: {seconds:.0f} s")
    outcomes = statuses(report)
    failed = {key: control.get("findings") for key, control in outcomes.items()
              if control["status"] not in ("PASS", "WAIVED")}
    assert not failed, failed
    assert result.returncode == 0, result.stdout[-3000:]
    # Every host of the inventory and the controller, every catalogued control somewhere.
    assert set(report["hosts"]) == set(lab_hosts()) | {"controller"}
    assert {control["id"] for control in CATALOGUE["controls"]} == {
        control_id for _host, control_id in outcomes}
    for (host, control_id), control in outcomes.items():
        if control["status"] == "WAIVED":
            waiver = control["waiver"]
            assert waiver["reason"].strip() and waiver["approved_by"].strip(), (host, control_id)
            assert str(waiver["expires"]) > time.strftime("%Y-%m-%d"), (host, control_id)
    assert (folder / "index.html").is_file() and (folder / "print.html").is_file()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_the_report_holds_no_secret_of_the_credentials_folder(clean_audit):
    _result, folder, _report, _seconds = clean_audit
    text = "\n".join(path.read_text(encoding="utf-8") for path in folder.iterdir())
    leaked = {source for value, source in credential_secrets().items() if value in text}
    assert not leaked


def test_the_audit_changes_nothing_on_any_host(clean_audit):
    for name in lab_hosts():
        found = machine(name).run(f"find {WATCHED} -xdev -newer {MARKER} -not -type d -print")
        # A folder the host does not have is the only error find may meet.
        assert found.rc == 0 or all("No such file or directory" in line
                                    for line in found.stderr.splitlines()), found.stderr
        assert found.stdout == "", (name, found.stdout)
    stats, _seconds = run_site()
    assert {host: counts["changed"] for host, counts in stats.items() if counts["changed"]} == {}


@pytest.fixture
def broken_controls():
    """Root may log in over SSH on tt-vdi1 (a drop-in; the baseline sets its values before
    sshd_config's Include, so only a Match block there can override them), and fail2ban
    is stopped on tt-pbx; both are put back afterwards."""
    desktop, pbx = machine("tt-vdi1"), machine("tt-pbx")
    desktop.check_output(
        "printf 'Match User root\\n    PermitRootLogin yes\\n'"
        " > /etc/ssh/sshd_config.d/00-tt-break.conf")
    pbx.check_output("systemctl stop fail2ban")
    try:
        yield
    finally:
        desktop.run("rm -f /etc/ssh/sshd_config.d/00-tt-break.conf")
        pbx.run("systemctl start fail2ban")


def test_a_control_broken_by_hand_fails_on_that_host_with_its_evidence(broken_controls):
    result, folder, report = run_audit()
    outcomes = statuses(report)
    assert result.returncode != 0
    root = outcomes[("tt-vdi1", "BL-SSH-02")]
    assert root["status"] == "FAIL"
    assert any("permitrootlogin yes" in finding["evidence"]
               for finding in root["findings"] if not finding["ok"]), root["findings"]
    assert outcomes[("tt-vdi2", "BL-SSH-02")]["status"] == "PASS"
    assert outcomes[("tt-pbx", "PBX-BAN-01")]["status"] == "FAIL"
    failed = {key for key, control in outcomes.items() if control["status"] == "FAIL"}
    assert failed == {("tt-vdi1", "BL-SSH-02"), ("tt-pbx", "PBX-BAN-01")}
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "permitrootlogin yes" in page
    # The run's failure names both.
    assert "tt-vdi1 BL-SSH-02" in result.stdout and "tt-pbx PBX-BAN-01" in result.stdout


def test_the_report_page_opens_in_chromium_without_a_console_error(clean_audit):
    _result, folder, _report, _seconds = clean_audit
    for name in ("index.html", "print.html"):
        page_path = copy_to_home(folder / name)
        shot = "/root/other/report.png"
        outcome = HOME.run(f"report_page.py {page_path} --expect PASS --expect BL-SSH-02 "
                           f"--screenshot {shot}")
        assert outcome.stdout.strip(), (outcome.rc, outcome.stderr[-3000:])
        page = json.loads(outcome.stdout.splitlines()[-1])
        assert outcome.rc == 0 and page["ok"], (page, outcome.stderr[-3000:])
        assert page["details"] > 0
        keep = os.environ.get("TT_AUDIT_SCREENSHOT")
        if keep and name == "index.html":
            subprocess.run(["podman", "cp", f"tt-home:{shot}", keep], check=True)


def openssl_end(host, path):
    """The end of the certificate at ``path`` on ``host``, as openssl reads it there."""
    line = host.check_output(f"openssl x509 -noout -enddate -in {path}")
    return datetime.datetime.strptime(line.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z"
                                      ).replace(tzinfo=datetime.UTC)


def test_the_report_lists_every_certificate_and_key_with_its_end(clean_audit):
    """Each host's certificates in /etc/teletreball/pki (their end as openssl reads it on
    the host, the days left), its keys (which do not expire), and on the controller the
    CA and the repository's signing key; in report.json and on the page."""
    _result, folder, report, _seconds = clean_audit
    page = (folder / "index.html").read_text(encoding="utf-8")
    generated = datetime.datetime.fromisoformat(report["generated"].replace("Z", "+00:00"))
    controller = report["hosts"]["controller"]["credentials"]
    (ca,) = [item for item in controller["certificates"]
             if item["path"] == str(CREDENTIALS / "pki" / "ca.crt")]
    assert ca["kind"] == "CA certificate" and ca["days_left"] > 45
    seen = {}
    for name in lab_hosts():
        host = machine(name)
        listed = report["hosts"][name]["credentials"]
        by_path = {item["path"]: item for item in listed["certificates"]}
        files = host.check_output(
            "find /etc/teletreball/pki -maxdepth 1 -name '*.crt' -not -name '*.chain.crt'"
            " -not -name '*.fullchain.crt' | sort").split()
        seen[name] = files
        for path in files:
            assert path in by_path, (name, path, sorted(by_path))
            item = by_path[path]
            end = openssl_end(host, path)
            assert datetime.datetime.fromisoformat(item["not_after"]) == end, (name, path)
            assert item["days_left"] == math.floor((end - generated).total_seconds() / 86400)
            assert item["subject"] and item["issuer"] and item["serial"], item
            assert item["internal"] == (item["issuer"] == ca["subject"]), item
            assert path in page
        keys = {item["path"]: item for item in listed["keys"]}
        for path in host.check_output("ls /etc/ssh/ssh_host_*_key").split():
            assert keys[path]["kind"] == "SSH host key" and keys[path]["public"].startswith(
                "SHA256:"), keys[path]
        for path in files:
            if path.endswith("/ca.crt"):
                continue
            key = path[: -len(".crt")] + ".key"
            assert keys[key]["kind"] == "TLS private key" and keys[key]["expires"] is None
        assert listed["errors"] == [], (name, listed["errors"])
    # The chat server's certificates (web chat, XMPP, TURN) at least.
    assert len([path for path in seen["tt-conf"] if not path.endswith("/ca.crt")]) >= 1, seen
    gateway_keys = [item for item in report["hosts"]["tt-vpn"]["credentials"]["keys"]
                    if item["kind"] == "WireGuard private key"]
    public = machine("tt-vpn").check_output(f"wg pubkey < {gateway_keys[0]['path']}")
    assert gateway_keys[0]["public"] == public.strip()
    (signing,) = controller["openpgp_keys"]
    assert signing["path"] == str(CREDENTIALS / "package-repo" / "signing-key.pub.asc")
    fingerprint = (CREDENTIALS / "package-repo" / "signing-key.fingerprint").read_text().strip()
    assert signing["fingerprint"] == fingerprint and signing["days_left"] > 45
    assert fingerprint in page and "does not expire" in page
    # No private key's content in the report: no PEM block of one (PKI-CA-01's evidence
    # names the CA key's format, "BEGIN ENCRYPTED PRIVATE KEY", without its armour).
    text = "\n".join(path.read_text(encoding="utf-8") for path in folder.iterdir())
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
