"""The TURN relay (coturn): REST secret, TLS, no CLI, private peers refused.

What the scenario's prepare must give each platform:
  client   coturn (for turnutils_uclient), openssl; the PKI CA at
           /etc/teletreball/pki/ca.crt (role pki); /etc/hosts mapping
           turn.prova.teletreball.test to 10.89.60.10.
  media    coturn (for turnutils_peer), its service stopped and disabled; in
           conference_turn_allowed_peers (10.89.60.40/32); group media_hosts.
  lanhost  coturn (for turnutils_peer), its service stopped and disabled; a
           private address that is NOT allowed.
turnutils_uclient always gets -e: its default peer is the loopback, which the
relay refuses anyway.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import time
import uuid

import pytest
import testinfra
from conference_helpers import audit_params

testinfra_hosts = ["podman://conf"]

EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
SECRET_FILE = EPHEMERAL / "credentials" / "conference" / "turn-secret"
TURN_NAME = "turn.prova.teletreball.test"
SERVER_ADDRESS = "10.89.60.10"
MEDIA_ADDRESS = "10.89.60.40"
JANUS_ADDRESS = "10.89.60.10"  # the chat server, where Janus runs
LAN_ADDRESS = "10.89.60.50"
PEER_PORT = 3480
CA = "/etc/teletreball/pki/ca.crt"


def machine(name):
    return testinfra.get_host(f"podman://{name}")


def secret():
    return SECRET_FILE.read_text().strip()


@pytest.fixture(scope="module", autouse=True)
def _peers():
    """turnutils_peer (an echo server) on the allowed media host and on the LAN host."""
    for name, address in (("media", MEDIA_ADDRESS), ("lanhost", LAN_ADDRESS)):
        peer = machine(name)
        peer.run("systemctl stop tt-peer; systemctl reset-failed tt-peer")
        started = peer.run(f"systemd-run --unit tt-peer turnutils_peer -L {address} -p {PEER_PORT}")
        assert started.rc == 0, started.stderr
    time.sleep(1)
    yield
    for name in ("media", "lanhost"):
        machine(name).run("systemctl stop tt-peer; systemctl reset-failed tt-peer")


def uclient(peer, key, user, extra=""):
    """Allocate with REST credentials made from ``key``, then send 3 messages to the peer."""
    return machine("client").run(
        f"timeout 90 turnutils_uclient -t -c -n 3 -u {user} -W {shlex.quote(key)} "
        f"-e {peer} -r {PEER_PORT} {extra} {SERVER_ADDRESS}")


def echoed(result):
    """True when every message sent through the relay came back from the peer."""
    return "tot_send_msgs=3, tot_recv_msgs=3" in result.stdout + result.stderr


def current_log(host):
    """coturn's messages since its last start."""
    invocation = host.check_output("systemctl show -p InvocationID --value coturn.service")
    return host.check_output(f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation}")


@pytest.mark.control("CONF-TURN-01")
def test_coturn_runs_with_the_rest_secret_and_no_cli(host, control_check):
    # use-auth-secret with Prosody's secret, TLS 1.0/1.1 and the console off, every
    # range of conference_turn_denied_peers denied, only the media hosts allowed.
    control_check("CONF-TURN-01", audit_params())
    assert host.service("coturn").is_enabled
    lines = set(host.file("/etc/turnserver.conf").content_string.splitlines())
    for option in ("no-tcp-relay", "no-multicast-peers", f"static-auth-secret={secret()}"):
        assert option in lines, option
    key = host.file("/etc/coturn/conference.key")
    assert (key.user, key.group, key.mode) == ("root", "turnserver", 0o640)
    assert host.run("turnutils_stunclient 127.0.0.1").rc == 0


@pytest.mark.control("CONF-TURN-01")
def test_coturn_read_every_peer_range_without_error(host):
    """coturn has no configuration checker: its own log must list every range."""
    log = current_log(host)
    for words in ("Wrong address format", "CONFIG ERROR", "Bad configuration"):
        assert words not in log
    config = host.file("/etc/turnserver.conf").content_string.splitlines()
    denied = [line.split("=", 1)[1] for line in config if line.startswith("denied-peer-ip=")]
    allowed = [line.split("=", 1)[1] for line in config if line.startswith("allowed-peer-ip=")]
    assert "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" in denied
    assert "10.0.0.0-10.255.255.255" in denied
    # The media host of conference_turn_allowed_peers, and the chat server's own
    # address, where Janus offers its media (conference_video_addresses: the host's).
    assert allowed == [MEDIA_ADDRESS, JANUS_ADDRESS]
    for item in denied:
        assert f"Black listing: {item}\n" in log + "\n", item
    for item in allowed:
        assert f"White listing: {item}" in log, item


@pytest.mark.control("CONF-TURN-01")
def test_relay_to_the_allowed_media_host(host):
    result = uclient(MEDIA_ADDRESS, secret(), f"tt-{uuid.uuid4().hex[:8]}")
    assert result.rc == 0, result.stdout[-2000:]
    assert echoed(result), result.stdout[-2000:]


@pytest.mark.control("CONF-TURN-01")
def test_relay_over_tls_to_the_allowed_media_host():
    result = uclient(MEDIA_ADDRESS, secret(), f"tt-{uuid.uuid4().hex[:8]}",
                     extra=f"-S -E {CA} -p 5349")
    assert result.rc == 0, result.stdout[-2000:]
    assert "method=TLSv1.2" in result.stdout or "method=TLSv1.3" in result.stdout
    assert echoed(result), result.stdout[-2000:]


@pytest.mark.control("CONF-TURN-01")
def test_tls_1_1_is_refused_on_the_turns_port():
    # coturn answers a TLS 1.1 hello with nothing and drops it after a minute:
    # no session within 15 s is the refusal (an accepted one takes milliseconds).
    old = machine("client").run(
        f"timeout 15 openssl s_client -connect {TURN_NAME}:5349 -servername {TURN_NAME} -tls1_1 "
        "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null")
    output = old.stdout + old.stderr
    assert not re.search(r"Cipher is (?!\(NONE\))", output), output
    assert old.rc == 124 or "Cipher is (NONE)" in output, output
    good = machine("client").run(
        f"openssl s_client -connect {TURN_NAME}:5349 -servername {TURN_NAME} -tls1_2 "
        f"-verify_return_error -CAfile {CA} </dev/null")
    assert good.rc == 0 and "Verify return code: 0 (ok)" in good.stdout, good.stdout[-2000:]


@pytest.mark.control("CONF-TURN-01")
def test_a_wrong_secret_gets_no_allocation(host):
    """The REST credentials made with another secret are refused with 401.

    turnutils_uclient treats each 401 as a new challenge and gives up after a
    few, printing "Cannot complete Allocation" and exiting 255 (the code itself
    is not printed): coturn's log names the refused user.
    """
    user = f"tt-wrong-{uuid.uuid4().hex[:8]}"
    result = uclient(MEDIA_ADDRESS, "not-the-secret", user)
    assert result.rc != 0
    assert "Cannot complete Allocation" in result.stdout + result.stderr
    assert not echoed(result)
    log = current_log(host)
    assert "check_stun_auth: Cannot find credentials of user <" in log
    assert f":{user}>" in log


@pytest.mark.control("CONF-TURN-01")
def test_a_private_peer_that_is_not_allowed_is_refused():
    result = uclient(LAN_ADDRESS, secret(), f"tt-{uuid.uuid4().hex[:8]}")
    assert result.rc != 0
    assert "error 403" in result.stdout + result.stderr, result.stdout[-2000:]
    assert not echoed(result)
