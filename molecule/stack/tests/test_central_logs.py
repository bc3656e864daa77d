"""Central logs in the lab (role logs): every host's logs reach the log host
(tt-repo) over TLS with the council's certificates, each in its own folder. A
failed desktop login on tt-vdi1 is there within seconds; a client with a
self-signed certificate is refused and nothing it sends is kept."""

from __future__ import annotations

import time
import uuid

import pytest
from stack_helpers import (
    WORKER,
    machine,
    rdp_connect,
    rdp_disconnect,
    rdp_results,
    tunnel_down,
    tunnel_up,
    wait_for,
)

testinfra_hosts = ["podman://tt-home"]

LOG_HOST = machine("tt-repo")
DESKTOP = "tt-vdi1"
REMOTE = "/var/log/remote"


def kept(name, text):
    """The lines of host ``name`` on the log host that hold ``text``."""
    return LOG_HOST.run(f"grep -rhF -- {text!r} {REMOTE}/{name}/").stdout


@pytest.mark.control("LOG-FWD-01")
@pytest.mark.control("LOG-COL-01")
def test_a_failed_desktop_login_on_tt_vdi1_reaches_the_log_host_within_seconds(host):
    # A login to a desktop host that is not hers, with a wrong password: refused.
    before = rdp_results(DESKTOP, WORKER)
    tunnel_up()
    try:
        rdp_connect(DESKTOP, WORKER, "not-her-password-" + uuid.uuid4().hex[:8])
        assert wait_for(lambda: rdp_results(DESKTOP, WORKER)[0] > before[0], timeout=45), (
            "xrdp did not log the refused login on tt-vdi1")
        refused_at = time.time()
    finally:
        rdp_disconnect()
        tunnel_down()
    local = machine(DESKTOP).check_output(
        "journalctl --no-pager -o cat -t xrdp-sesman -t xrdp-sesexec "
        f"| grep -E 'AUTHFAIL: user={WORKER} |User {WORKER} is not in' | tail -n 1")
    assert local
    needle = local.strip()[-60:]
    assert wait_for(lambda: needle in kept(DESKTOP, needle), timeout=15), (
        f"the refused login is not on the log host 15 s later: {local!r}")
    seconds = time.time() - refused_at
    print(f"refused login on the log host {seconds:.1f} s after xrdp logged it")
    # In tt-vdi1's folder, not in another host's.
    assert not kept("tt-vdi2", needle)


@pytest.mark.control("LOG-COL-01")
def test_a_client_with_a_self_signed_certificate_is_refused_by_the_log_host(host):
    sender = machine(DESKTOP)
    sender.check_output(
        "d=$(mktemp -d) && cd $d && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256"
        " -nodes -days 1 -subj /CN=tt-vdi1 -addext extendedKeyUsage=clientAuth"
        " -keyout self.key -out self.crt 2>/dev/null && echo $d > /run/tt-self-cert")
    folder = sender.check_output("cat /run/tt-self-cert").strip()

    def send(text, certificate, key):
        line = f"<13>1 - tt-vdi1 tt-test - - - {text}"
        return sender.run(
            f"printf '%s %s' {len(line)} {line!r} | timeout 10 openssl s_client -quiet"
            f" -CAfile /etc/teletreball/pki/ca.crt -cert {certificate} -key {key}"
            " -connect tt-repo:6514")

    forged, genuine = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        result = send(f"forged {forged}", f"{folder}/self.crt", f"{folder}/self.key")
    finally:
        sender.run(f"rm -rf {folder} /run/tt-self-cert")
    # The same line with the host's council certificate is kept (the way of sending works).
    send(f"genuine {genuine}", "/etc/teletreball/pki/logs-upload.crt",
         "/etc/teletreball/pki/logs-upload.key")
    assert wait_for(lambda: genuine in kept(DESKTOP, genuine), timeout=15)
    assert forged not in LOG_HOST.run(f"grep -rhF -- {forged} {REMOTE}/").stdout, result.stdout
    # The log host says why.
    journal = LOG_HOST.check_output(
        "journalctl --no-pager -o cat -u rsyslog.service --since '-2 min'")
    assert "not permitted to talk to us" in journal or "certificate" in journal.lower(), journal
