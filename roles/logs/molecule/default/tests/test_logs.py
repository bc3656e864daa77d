"""The role logs with real daemons: rsyslog forwarding over TLS on the client
and on the log host, rsyslog's TLS collector on the log host, the council's CA."""

from __future__ import annotations

import datetime
import uuid

import pytest
import testinfra
from teletreball_testinfra import wait_for

testinfra_hosts = ["podman://logs-collector"]

REMOTE = "/var/log/remote"
PORT = 6514
# What roles/logs/tasks/audit.yml passes the live checks, for this scenario.
PARAMS = {
    "collector": "logs-collector",
    "port": PORT,
    "forward_file": "/etc/rsyslog.d/60-teletreball-forward.conf",
    "collector_file": "/etc/rsyslog.d/50-teletreball-collector.conf",
    "certificate": "/etc/teletreball/pki/logs-upload.crt",
    "ca_file": "/etc/teletreball/pki/ca.crt",
    "remote_dir": REMOTE,
    "hosts": ["logs-collector", "logs-client"],
    "retention_days": 90,
    "vacuum_script": "/usr/local/sbin/teletreball-logs-vacuum",
}


def client():
    return testinfra.get_host("podman://logs-client")


def outsider():
    return testinfra.get_host("podman://logs-outsider")


def collected(host, name, text):
    """The lines holding ``text`` in the folder of host ``name`` on the collector."""
    return host.run(f"grep -rh -- {text} {REMOTE}/{name}/").stdout


@pytest.mark.control("LOG-FWD-01")
def test_a_client_line_reaches_its_own_file_on_the_collector_within_seconds(host):
    marker = uuid.uuid4().hex
    client().check_output(f"logger -t tt-logs-test 'client line {marker}'")
    assert wait_for(lambda: marker in collected(host, "logs-client", marker), 15), (
        "the client's line is not in its folder on the collector after 15 s"
    )
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert host.file(f"{REMOTE}/logs-client/{today}.log").exists or host.run(
        f"ls {REMOTE}/logs-client/"
    ).stdout.strip().endswith(".log")
    # In the client's folder only.
    assert marker not in collected(host, "logs-collector", marker)
    # The collector forwards its own logs the same way, to its own folder.
    own = uuid.uuid4().hex
    host.check_output(f"logger -t tt-logs-test 'collector line {own}'")
    assert wait_for(lambda: own in collected(host, "logs-collector", own), 15)


@pytest.mark.control("LOG-FWD-01")
def test_the_forwarding_uses_tls_and_the_council_certificate(control_check):
    # The audit's live check (module_utils/teletreball_checks_logs.py): rsyslog runs
    # a valid configuration that sends to the log host over TLS, accepting only its
    # certificate, with the client's own council certificate and a session up.
    for sender in (client(), testinfra.get_host("podman://logs-collector")):
        assert wait_for(lambda sender=sender: sender.run(
            f"ss -Htn state established '( dport = :{PORT} )'").stdout.strip(), 10)
        control_check("LOG-FWD-01", PARAMS, on=sender)
    subject = client().check_output(
        "openssl x509 -noout -subject -in /etc/teletreball/pki/logs-upload.crt"
    )
    assert "CN=logs-client" in subject.replace(" ", "")


@pytest.mark.control("LOG-COL-01")
def test_the_collector_keeps_each_host_in_its_folder_for_the_retention(control_check):
    # The audit's live check: TLS clients of the council's CA only, the port open to
    # the listed sources, a recent file per host, the retention's days and timer.
    control_check("LOG-COL-01", PARAMS)


def tls_send(prober, options, line):
    """Send one syslog line over TLS with openssl s_client; its output and status."""
    return prober.run(
        f"printf '{len(line)} {line}' | timeout 10 openssl s_client -quiet -verify_return_error"
        f" -CAfile /etc/teletreball/pki/ca.crt -connect logs-collector:{PORT} {options} 2>&1"
    )


@pytest.mark.control("LOG-COL-01")
def test_a_client_with_a_self_signed_certificate_is_refused(host):
    prober = client()
    prober.check_output(
        "cd /tmp && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=logs-client"
        " -addext extendedKeyUsage=clientAuth -keyout self.key -out self.crt 2>/dev/null"
    )
    forged = uuid.uuid4().hex
    tls_send(prober, "-cert /tmp/self.crt -key /tmp/self.key",
             f"<13>1 - logs-client forged - - - forged {forged}")
    tls_send(prober, "", f"<13>1 - logs-client anonymous - - - anonymous {forged}")
    # The council's certificate, for comparison: accepted.
    accepted = uuid.uuid4().hex
    tls_send(prober, "-cert /etc/teletreball/pki/logs-upload.crt"
             " -key /etc/teletreball/pki/logs-upload.key",
             f"<13>1 - logs-client accepted - - - accepted {accepted}")
    assert wait_for(lambda: accepted in collected(host, "logs-client", accepted), 15)
    assert forged not in host.run(f"grep -rh -- {forged} {REMOTE}/").stdout
    # rsyslog says why it refused them.
    journal = host.check_output("journalctl --no-pager -o cat -u rsyslog.service")
    assert "not permitted to talk to us" in journal or "certificate" in journal.lower()


@pytest.mark.control("LOG-COL-01")
def test_only_the_council_reaches_the_collector(host):
    probe = "python3 -c 'import socket; socket.create_connection((\"logs-collector\", {}), 5)'"
    assert client().run(probe.format(PORT)).rc == 0
    assert outsider().run(probe.format(PORT)).rc != 0


@pytest.mark.control("LOG-COL-01")
def test_the_retention_removes_only_what_is_older_than_its_days(host):
    host.check_output(
        f"mkdir -p {REMOTE}/tt-old && touch -d '-100 days' {REMOTE}/tt-old/old.log"
        f" && touch -d '-80 days' {REMOTE}/tt-old/recent.log"
    )
    host.check_output("systemctl start teletreball-logs-vacuum.service")
    assert host.check_output(
        "systemctl show -P Result teletreball-logs-vacuum.service"
    ).strip() == "success"
    left = host.check_output(f"ls {REMOTE}/tt-old")
    assert "old.log" not in left.split() and "recent.log" in left.split(), left
    # The clients' folders are kept.
    assert host.file(f"{REMOTE}/logs-client").is_directory
    host.run(f"rm -rf {REMOTE}/tt-old")
