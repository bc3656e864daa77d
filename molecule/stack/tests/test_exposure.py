"""What answers from the Internet, and what a person reaches inside the tunnel.

From the lab's "Internet" network (the remote worker's laptop, no tunnel): only
the VPN gateway's WireGuard port and the chat server's HTTPS and TURN ports
answer; SSH, RDP, SIP and XMPP do not, on the public addresses or on the
internal ones. Inside the tunnel each device reaches exactly the ports that
teletreball_access grants its person's groups (teletreball_services), on hosts
where something really listens on them."""

from __future__ import annotations

import pytest
from stack_helpers import (
    CONFERENCE_PUBLIC,
    CREDENTIALS,
    GATEWAY_PUBLIC,
    PACK,
    WORKER,
    copy_to_home,
    granted_services,
    handshake_seconds,
    lab_addresses,
    lab_vars,
    machine,
    reach,
    tunnel_down,
    tunnel_up,
)

testinfra_hosts = ["podman://tt-home"]

# Ports of the council's services and of administration that must stay inside.
INSIDE_TCP = [22, 80, 3389, 5061, 5222, 5269, 5280, 5038]
# Ports the Internet may reach: the chat server's web client and TURN.
PUBLIC_ANSWERS = [f"tcp:{CONFERENCE_PUBLIC}:443", f"tcp:{CONFERENCE_PUBLIC}:5349",
                  f"stun:{CONFERENCE_PUBLIC}:3478"]


def listeners():
    """(host, port) pairs of the council where a service really listens on TCP."""
    groups = {
        "tt-vdi1": [3389], "tt-vdi2": [3389], "tt-pbx": [5061], "tt-conf": [443, 5222],
        "tt-repo": [80],
    }
    pairs = {(name, 22) for name in lab_addresses()}
    pairs |= {(name, port) for name, ports in groups.items() for port in ports}
    for name, port in sorted(pairs):
        listening = machine(name).check_output(f"ss -Hltn 'sport = :{port}'")
        assert listening.strip(), f"nothing listens on {name}:{port}: the check would be empty"
    return pairs


def test_from_the_internet_only_the_vpn_and_the_chat_servers_web_and_turn_answer(host):
    tunnel_down()
    probes = []
    for address in [GATEWAY_PUBLIC, CONFERENCE_PUBLIC, *lab_addresses().values()]:
        probes += [f"tcp:{address}:{port}" for port in INSIDE_TCP]
        probes.append(f"sip:{address}:5060")
    result = reach(*probes, *PUBLIC_ANSWERS)
    answering = sorted(probe for probe, seen in result.items() if seen == "answers")
    assert answering == sorted(PUBLIC_ANSWERS), result
    # HTTPS with the council's certificate, checked against the CA of the pack.
    page = host.run(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {PACK}/council-ca.crt "
        f"--resolve lab.teletreball.test:443:{CONFERENCE_PUBLIC} https://lab.teletreball.test/")
    assert page.rc == 0 and page.stdout == "200", page.stdout + page.stderr
    # And the VPN port answers: a handshake with the pack's profile.
    tunnel_up()
    assert handshake_seconds() is not None


def expected_reach(username, pairs):
    ports = set()
    services = lab_vars("teletreball_services")
    for service in granted_services(username):
        ports |= {int(p) for p in services[service].get("tcp", [])}
    return {pair for pair in pairs if pair[1] in ports}


def reach_inside(pairs):
    addresses = lab_addresses()
    probes = {f"tcp:{addresses[name]}:{port}": (name, port) for name, port in pairs}
    result = reach(*probes)
    return {probes[probe] for probe, seen in result.items() if seen == "answers"}


@pytest.mark.parametrize("username", [WORKER, "oriol"])
def test_inside_the_tunnel_a_device_reaches_exactly_what_its_groups_are_granted(host, username):
    pairs = listeners()
    if username == WORKER:
        tunnel_up()
    else:
        # Another person's device (an IT administrator's laptop profile) on the same machine.
        tunnel_up(copy_to_home(CREDENTIALS / "people" / username / "vpn" / "laptop.conf"))
    assert handshake_seconds() is not None
    try:
        assert reach_inside(pairs) == expected_reach(username, pairs), granted_services(username)
    finally:
        tunnel_down()
        host.run("rm -rf /root/other")
