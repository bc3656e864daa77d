"""The VPN gateway with real WireGuard clients (wireguard-go in containers).

Each client brings its tunnel up with the profile from its owner's welcome pack,
exactly as a remote worker would. The revocation tests (they change the
inventory) are in test_vpn_revocation.py, which runs after this file.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
import uuid

import pytest
import testinfra
from vpn_helpers import (
    CREDENTIALS,
    audit_params,
    can_connect,
    client,
    device_address,
    gateway_tunnel_address,
    profile_path,
    service_address,
)

testinfra_hosts = ["podman://vpn-gateway"]


def test_interface_runs_with_the_userspace_fallback(host):
    service = host.service("wg-quick@wg0")
    assert service.is_running and service.is_enabled
    # The kernel of the test machines has no WireGuard module: wireguard-go runs.
    assert host.run("test -d /sys/module/wireguard").rc != 0
    assert host.process.filter(comm="wireguard-go"), "wireguard-go is not running"
    assert ":51820 " in host.check_output("ss -Huln")


@pytest.mark.control("VPN-KEY-01")
def test_configuration_and_keys_are_private(host, control_check):
    # Modes and owners, no PrivateKey in wg0.conf, the interface runs with wg0.key.
    control_check("VPN-KEY-01", audit_params())
    assert "SaveConfig" not in host.file("/etc/wireguard/wg0.conf").content_string


@pytest.mark.control("VPN-KEY-01")
def test_welcome_pack_files_are_private_and_the_qr_code_holds_the_profile():
    for username, device in (("agent", "laptop"), ("clerk", "laptop"), ("clerk", "phone")):
        folder = CREDENTIALS / "people" / username / "vpn"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for suffix in (".conf", ".png", ".key", ".pub", ".psk"):
            path = folder / f"{device}{suffix}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        decoded = subprocess.run(
            ["zbarimg", "--quiet", "--raw", str(folder / f"{device}.png")],
            capture_output=True, text=True, check=True,
        ).stdout
        assert decoded.strip() == (folder / f"{device}.conf").read_text().strip()


def test_profile_is_a_split_tunnel_with_keepalive():
    text = profile_path("agent", "laptop").read_text()
    assert re.search(r"^AllowedIPs = 10\.89\.31\.0/24, 10\.89\.64\.1/32$", text, re.M)
    assert re.search(r"^PersistentKeepalive = 25$", text, re.M)
    assert re.search(r"^Endpoint = vpn-gateway:51820$", text, re.M)


@pytest.mark.control("VPN-REV-01")
def test_every_device_is_a_peer_with_its_stable_address(host, control_check):
    # The running peers are those of wg0.conf: one per present device, with its address.
    control_check("VPN-REV-01", audit_params())
    # Each peer's key is the one in its owner's welcome pack (on the controller).
    addresses = json.loads((CREDENTIALS / "vpn-addresses.json").read_text())["allocations"]
    dump = host.check_output("wg show wg0 allowed-ips")
    peers = dict(line.split("\t") for line in dump.splitlines())
    for key, entry in addresses.items():
        username, device = key.split("/")
        public = (CREDENTIALS / "people" / username / "vpn" / f"{device}.pub").read_text().strip()
        assert peers[public] == f"{entry['address']}/32"


def test_handshake_with_real_clients(host, tunnels):
    gateway = gateway_tunnel_address(host)
    for name, peer in tunnels.items():
        ping = peer.run(f"ping -c 3 -W 2 {gateway}")
        assert ping.rc == 0, f"client {name} cannot reach the gateway through the tunnel"
        assert peer.check_output("wg show wg0 latest-handshakes").split()[1] != "0"


@pytest.mark.control("VPN-ACC-01")
def test_the_firewall_holds_the_access_matrix(control_check):
    control_check("VPN-ACC-01", audit_params())


@pytest.mark.control("VPN-ACC-01")
def test_access_matrix_is_enforced(tunnels):
    service = service_address()
    agent, clerk = tunnels["a"], tunnels["b"]
    assert can_connect(agent, service, 3389), "OAC agent must reach the desktops"
    assert can_connect(agent, service, 5222), "OAC agent must reach the chat"
    assert not can_connect(agent, service, 8080), "port 8080 is granted to nobody"
    assert can_connect(clerk, service, 5222), "staff must reach the chat"
    assert not can_connect(clerk, service, 3389), "staff has no desktop access"


@pytest.mark.control("VPN-ADDR-01")
def test_the_gateway_does_not_masquerade_the_devices(control_check):
    control_check("VPN-ADDR-01", audit_params())


@pytest.mark.control("VPN-ADDR-01")
def test_the_service_sees_each_devices_own_address(tunnels):
    """No masquerade (vpn_nat: false): the internal host's log names the device."""
    service = testinfra.get_host("podman://vpn-service")
    for name in ("a", "b"):
        marker = f"/device-{name}-{uuid.uuid4().hex[:8]}"
        status = tunnels[name].check_output(
            "python3 -c 'import http.client, sys; c = http.client.HTTPConnection(sys.argv[1], "
            "5222, timeout=4); c.request(\"GET\", sys.argv[2]); print(c.getresponse().status)' "
            f"{service_address()} {marker}")
        assert status == "404", status

        def logged(marker=marker):
            log = service.check_output("journalctl --no-pager -o cat -u tt-listen-5222")
            return [line for line in log.splitlines() if marker in line]

        deadline = time.monotonic() + 10
        while not logged() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert logged(), service.check_output("journalctl --no-pager -o cat -u tt-listen-5222")
        assert logged()[-1].split()[0] == device_address(name), logged()


def test_internal_network_is_not_reachable_outside_the_tunnel():
    # The clients have no route to the inside network but the tunnel.
    host = client("b")
    route = host.check_output(f"ip route get {service_address()}")
    assert "dev wg0" in route
