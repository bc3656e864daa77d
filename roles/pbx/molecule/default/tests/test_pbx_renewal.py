"""A renewed certificate reaches port 5061 and ends no call (issue 22).

With a call from the carrier up in the OAC's queue, media flowing:

* a run of the role pki alone (playbooks/pki.yml, pki_renew_days_before=400)
  renews the PBX's certificate; the PKI's handler runs the PBX's hook
  (renew.d/pbx), which copies it for Asterisk, reloads res_pjsip.so and records
  the copies as applied: a run of the role pbx in check mode then changes nothing;
* the hook is then made not executable (run-parts skips it) and the role pki
  renews again: port 5061 keeps the previous certificate, so it was the hook
  that delivered the first one; a converge of the PBX then copies the new
  certificate itself and reloads res_pjsip.so (the role's own path), and
  makes the hook executable again.

After each run port 5061 serves the certificate on disk (SHA-256 compared),
Asterisk kept its PID and its uptime grew (reloaded, never restarted), the call is
still up, and at the end it had media both ways for its whole length. A softphone
then registers over a new TLS connection, checking the new certificate.

Runs before test_pbx_schedule.py (file order), which closes the office.
"""

from __future__ import annotations

import json
import time

from pbx_helpers import AGENTS, CARRIER, PBX, ctl, now, register
from teletreball_testinfra import REPO_ROOT, run_converge, wait_for

testinfra_hosts = ["podman://pbx"]

HOOK = "/etc/teletreball/pki/renew.d/pbx"
CERTIFICATE = "/etc/teletreball/pki/sip.crt"
FINGERPRINT = "openssl x509 -noout -fingerprint -sha256"


def served():
    """SHA-256 fingerprint of the certificate port 5061 serves, seen from the agents."""
    return AGENTS.check_output(
        "openssl s_client -connect pbx:5061 -servername pbx -verify_return_error "
        f"</dev/null 2>/dev/null | {FINGERPRINT}")


def on_disk():
    return PBX.check_output(f"{FINGERPRINT} -in {CERTIFICATE}")


def asterisk_pid():
    return PBX.check_output("systemctl show --property MainPID --value asterisk.service")


def uptime_seconds():
    out = PBX.check_output("asterisk -rx 'core show uptime seconds'")
    return int(out.split("System uptime:")[1].split()[0])


def renew():
    """A run of the role pki alone that renews the PBX's certificate; its seconds."""
    started = time.time()
    result, stats = run_converge("--limit", "pbx", "--extra-vars", "pki_renew_days_before=400",
                                 playbook=REPO_ROOT / "playbooks" / "pki.yml")
    assert stats["pbx"]["changed"] > 0, result.stdout[-3000:]
    return time.time() - started


def assert_reloaded_not_restarted(pid, uptime, since):
    assert asterisk_pid() == pid, "Asterisk was restarted"
    assert uptime_seconds() >= uptime + int(time.time() - since) - 2, "Asterisk was restarted"
    assert ctl("oac", "calls")["count"] == 1, "the call ended"


def test_a_renewal_reaches_port_5061_without_ending_the_call_in_progress(host, measurement):
    since = now()
    unit = f"tt-renewal-call-{int(since)}"
    CARRIER.check_output(
        f"systemd-run --unit {unit} --property StandardOutput=file:/root/{unit}.json "
        "carrier_calls.py call --number 938000001 --duration 600")
    try:
        assert ctl("oac", f"wait --type CALL_ESTABLISHED --since {since} --timeout 30").get("ok")
        started = time.time()
        pid, uptime = asterisk_pid(), uptime_seconds()
        first = served()
        assert first == on_disk()

        # The role pki alone: its handler runs the PBX's hook.
        took_pki = renew()
        second = on_disk()
        assert second != first, "the certificate was not renewed"
        assert served() == second
        assert PBX.check_output("cmp /etc/teletreball/pki/sip.key /etc/asterisk/keys/sip.key "
                                "&& echo same") == "same"
        assert_reloaded_not_restarted(pid, uptime, started)
        # The hook recorded what Asterisk loaded: the role pbx has nothing left to do.
        result, stats = run_converge("--limit", "localhost,pbx", "--check")
        assert stats["pbx"]["changed"] == 0, result.stdout[-3000:]

        # Without the hook the role pki alone does not reach Asterisk...
        PBX.check_output(f"chmod 0644 {HOOK}")
        renew()
        third = on_disk()
        assert third != second, "the certificate was not renewed"
        assert served() == second
        # ...a run of the role pbx does, with a reload.
        converged = time.time()
        result, stats = run_converge("--limit", "localhost,pbx")
        took_converge = time.time() - converged
        assert stats["pbx"]["changed"] > 0, result.stdout[-3000:]
        assert served() == third
        assert PBX.file(HOOK).mode == 0o755
        assert_reloaded_not_restarted(pid, uptime, started)
        took = time.time() - started
        # The agent's packet count comes from Asterisk's RTCP reports, sent
        # every 5 s: wait for one sent after the runs, so that it covers them.
        assert ctl("oac", f"wait --type CALL_RTCP --since {now()} --timeout 20").get("ok")
    finally:
        ctl("oac", "hangupall")
    assert wait_for(lambda: CARRIER.run(f"systemctl is-active {unit}").stdout.strip()
                    != "active", 60, 2)
    call = json.loads(CARRIER.check_output(f"cat /root/{unit}.json"))["calls"][0]
    assert call["answered"] and call["media_both_ways"], call
    assert call["duration_ms"] >= took * 1000, (call["duration_ms"], took)
    agent = [c for c in ctl("oac", f"stats --since {since}")["calls"] if c.get("established_at")]
    assert agent and agent[0]["rx_packets"] > 50 * took * 0.9, agent
    # A softphone's new TLS connection checks the new certificate against the CA.
    assert register(AGENTS, "tls", "mayor").startswith("SIP/2.0 200")
    measurement(f"pbx renewal: pki.yml run {took_pki:.0f} s, converge {took_converge:.0f} s, "
                f"call up {took:.0f} s through three certificates")
