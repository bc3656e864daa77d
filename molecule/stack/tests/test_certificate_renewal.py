"""A renewal reaches every TLS port of the council (issue 22, point 1).

`site.yml --tags pki -e pki_renew_days_before=400` alone (what IT runs to renew
everything now): the PKI reissues every certificate and runs the services'
certificate hooks (/etc/teletreball/pki/renew.d). Then, from the remote
worker's laptop through her tunnel, each port serves the certificate that is now
on disk: 443 (nginx), 5222 (Prosody, STARTTLS), 5349 (coturn, TURN over TLS) and
5061 (Asterisk, SIP over TLS) through `openssl s_client`, 3389 (xrdp) through
FreeRDP. Her chat session, logged in during the run, is still connected after
it, and nginx, Prosody, coturn and xrdp were reloaded, not restarted (same main
process). A plain `--tags pki` run afterwards changes nothing."""

from __future__ import annotations

import re
import shlex
import time

from stack_helpers import (
    CONFERENCE_PUBLIC,
    DOMAIN,
    HOME,
    PACK,
    WORKER,
    lab_addresses,
    machine,
    run_site,
    tunnel_down,
    tunnel_up,
    wait_for,
)

testinfra_hosts = ["podman://tt-home"]

PKI = "/etc/teletreball/pki"
HOOKS = "pki : Run the services' certificate hooks"
# Each TLS port: (label, host, certificate of inventories/lab's pki_certificates,
# address the laptop connects to, s_client options).
PORTS = [
    ("443 nginx", "tt-conf", "conference", "public", f"-servername {DOMAIN}"),
    ("5222 Prosody", "tt-conf", "conference", "inside", f"-starttls xmpp -xmpphost {DOMAIN}"),
    ("5349 coturn", "tt-conf", "conference", "public", f"-servername turn.{DOMAIN}"),
    ("5061 Asterisk", "tt-pbx", "sip", "inside", "-servername tt-pbx"),
]
DESKTOPS = ["tt-vdi1", "tt-vdi2"]
# The daemons that must load the new certificate without a restart.
RELOADED = {"tt-conf": ["nginx", "prosody", "coturn"], "tt-vdi1": ["xrdp"], "tt-vdi2": ["xrdp"]}
HOLD_UNIT = "tt-xmpp-hold"
HOLD_LOG = "/run/tt-xmpp-hold.log"


def on_disk(name, certificate):
    """(serial, SHA-256 fingerprint) of a host's certificate in the PKI folder."""
    out = machine(name).check_output(
        f"openssl x509 -in {PKI}/{certificate}.crt -noout -serial -fingerprint -sha256")
    serial = re.search(r"serial=(\S+)", out).group(1)
    return serial, fingerprint(out)


def fingerprint(text):
    """The SHA-256 fingerprint in openssl's output, as lower-case hex without colons."""
    match = re.search(r"(?i)sha256 Fingerprint=([0-9A-F:]+)", text)
    return match.group(1).replace(":", "").lower() if match else None


def served(address, port, options):
    """SHA-256 fingerprint of the certificate a TLS port serves (its first one)."""
    result = HOME.run(
        f"timeout 20 openssl s_client -connect {address}:{port} {options} </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256")
    return fingerprint(result.stdout)


def served_rdp(desktop):
    """SHA-256 fingerprint of the certificate xrdp serves, as FreeRDP received it.

    FreeRDP with /cert:tofu records a certificate it cannot verify in its store
    (<home>/.config/freerdp/server/<host>_<port>.pem); with no trusted CA at all
    (SSL_CERT_FILE=/dev/null) it records whatever xrdp served. A fresh home each
    time. +auth-only ends the connection after the TLS handshake: no login is tried."""
    home = f"/run/tt-rdp-tofu-{desktop}"
    HOME.check_output(f"rm -rf {home} && install -d -m 0700 {home}")
    HOME.run(
        f"env HOME={home} SSL_CERT_FILE=/dev/null SSL_CERT_DIR=/nonexistent DISPLAY=:1 "
        f"timeout 30 xfreerdp3 /v:{desktop} /cert:tofu /sec:tls +auth-only /u:nobody /p: "
        ">/dev/null 2>&1")
    stored = HOME.run(f"openssl x509 -in {home}/.config/freerdp/server/{desktop}_3389.pem "
                      "-noout -fingerprint -sha256")
    return fingerprint(stored.stdout)


def address(where, name):
    return CONFERENCE_PUBLIC if where == "public" else lab_addresses()[name]


def everything_served():
    """{label: fingerprint served} for every TLS port of the council."""
    seen = {label: served(address(where, name), label.split()[0], options)
            for label, name, _certificate, where, options in PORTS}
    seen.update({f"3389 xrdp {desktop}": served_rdp(desktop) for desktop in DESKTOPS})
    return seen


def everything_on_disk():
    """{label: (serial, fingerprint)} of the certificate each port should serve."""
    disk = {label: on_disk(name, certificate) for label, name, certificate, _w, _o in PORTS}
    disk.update({f"3389 xrdp {desktop}": on_disk(desktop, "rdp") for desktop in DESKTOPS})
    return disk


def main_processes():
    return {(name, unit): machine(name).check_output(
        f"systemctl show -P MainPID {unit}.service").strip()
        for name, units in RELOADED.items() for unit in units}


def hold_chat_session():
    """Her chat client (xmpp_check.py hold) logged in on the laptop, in a unit of its own."""
    HOME.run(f"systemctl stop {HOLD_UNIT}; systemctl reset-failed {HOLD_UNIT}; rm -f {HOLD_LOG}")
    command = (f"XMPP_PASSWORD=\"$(cat {PACK}/chat-password)\" exec python3 "
               f"/usr/local/bin/xmpp_check.py hold {WORKER}@{DOMAIN} 1800")
    HOME.check_output(
        f"systemd-run --unit {HOLD_UNIT} -p StandardOutput=file:{HOLD_LOG} "
        f"sh -c {shlex.quote(command)}")
    assert wait_for(lambda: "logged_in" in HOME.run(f"cat {HOLD_LOG}").stdout, timeout=45), \
        HOME.run(f"cat {HOLD_LOG}; journalctl -u {HOLD_UNIT} --no-pager -o cat").stdout


def test_a_renewal_by_the_pki_alone_reaches_every_tls_port_and_drops_no_chat_session(
        host, measurement):
    start = time.time()
    assert not machine("tt-conf").run("ss -Hltn 'sport = :5269'").stdout.strip(), (
        "Prosody listens on 5269: federation is off, the test would have to cover it")
    tunnel_up()
    try:
        before = everything_on_disk()
        # Before the renewal every port serves its certificate (the check can see one).
        seen = everything_served()
        assert None not in seen.values(), seen
        assert seen == {label: print_ for label, (_s, print_) in before.items()}, (seen, before)
        hold_chat_session()
        processes = main_processes()

        hosts, seconds = run_site("--tags", "pki", "--extra-vars", "pki_renew_days_before=400")
        assert all(s["failures"] == 0 and s["unreachable"] == 0 for s in hosts.values()), hosts
        measurement(f"stack: site.yml --tags pki -e pki_renew_days_before=400 {seconds:.0f} s")
        for name in ["tt-conf", "tt-pbx", *DESKTOPS]:
            assert HOOKS in hosts[name]["changed_tasks"], (name, hosts[name]["changed_tasks"])

        after = everything_on_disk()
        for label, (serial, _print) in after.items():
            assert serial != before[label][0], f"{label}: the certificate was not renewed"
        wanted = {label: print_ for label, (_s, print_) in after.items()}
        # Reloads are asynchronous: new workers (nginx), a signal (coturn).
        wait_for(lambda: everything_served() == wanted, timeout=30)
        seen = everything_served()
        stale = {label: f"serves {seen[label]}, on disk {wanted[label]}"
                 for label in wanted if seen[label] != wanted[label]}
        assert stale == {}, stale

        # Her chat client is still connected (it would have printed how it ended).
        log = HOME.run(f"cat {HOLD_LOG}").stdout
        assert HOME.run(f"systemctl is-active {HOLD_UNIT}").stdout.strip() == "active", log
        assert '"ended"' not in log, log
        # Reloaded, not restarted.
        assert main_processes() == processes
    finally:
        HOME.run(f"systemctl stop {HOLD_UNIT}; systemctl reset-failed {HOLD_UNIT}")
        tunnel_down()

    # The renewal is done: a plain run of the PKI changes nothing anywhere.
    hosts, seconds = run_site("--tags", "pki")
    changed = {name: s["changed_tasks"] for name, s in hosts.items() if s["changed"]}
    assert changed == {}, changed
    measurement(f"stack: site.yml --tags pki again, no change {seconds:.0f} s")
    measurement(f"stack: the certificate renewal test {time.time() - start:.0f} s")
