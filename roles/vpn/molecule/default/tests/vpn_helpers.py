"""Helpers of the vpn scenario: the clients, their tunnels, the internal host."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import testinfra
from teletreball_testinfra import REPO_ROOT, load_repo_module, scenario_group_vars

CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
CLIENTS = {"a": ("agent", "laptop"), "b": ("clerk", "laptop")}
USERSPACE = (
    "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go "
    "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"
)


def client(name):
    return testinfra.get_host(f"podman://vpn-client-{name}")


def profile_path(username, device):
    return CREDENTIALS / "people" / username / "vpn" / f"{device}.conf"


def device_address(name):
    """The tunnel address of a client's device, from its profile (Address = ...)."""
    username, device = CLIENTS[name]
    text = profile_path(username, device).read_text(encoding="utf-8")
    return re.search(r"^Address\s*=\s*([0-9.]+)", text, re.MULTILINE).group(1)


def tunnel_up(name, profile=None):
    """Bring client ``name``'s tunnel up with its owner's profile from the welcome
    pack, or with ``profile`` (a saved copy, e.g. an old profile)."""
    username, device = CLIENTS[name]
    host = client(name)
    host.run("wg-quick down wg0")
    subprocess.run(
        ["podman", "cp", str(profile or profile_path(username, device)),
         f"vpn-client-{name}:/etc/wireguard/wg0.conf"],
        check=True,
    )
    result = host.run(f"env {USERSPACE} wg-quick up wg0")
    assert result.rc == 0, result.stderr
    return host


def service_address():
    return testinfra.get_host("podman://vpn-service").check_output(
        "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1"
    )


def can_connect(host, address, port):
    return host.run(f"timeout 4 bash -c '</dev/tcp/{address}/{port}'").rc == 0


def gateway_public_key(host):
    """The public key the gateway's running interface holds."""
    return host.check_output("wg show wg0 public-key").strip()


def key_file_public_key(host):
    """The public key of the gateway's key file (the private key stays on the gateway)."""
    return host.check_output("wg pubkey < /etc/wireguard/wg0.key").strip()


def profile_gateway_key(path):
    """The gateway's public key in a device profile (PublicKey of its [Peer])."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    return re.search(r"^\[Peer\][^\[]*?^PublicKey\s*=\s*(\S+)", text, re.MULTILINE).group(1)


def gateway_tunnel_address(host):
    return host.check_output("ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1")


def audit_params(staff=None):
    """The params roles/vpn/tasks/audit.yml passes the live checks, for this scenario:
    the directory derived as the preflight does (module_utils/teletreball_directory.py,
    with the addresses of the credentials folder) and the role's own filters
    (teletreball_vpn_devices, teletreball_vpn_access_rules)."""
    inventory = scenario_group_vars()
    staff = inventory["teletreball_staff"] if staff is None else staff
    builder = load_repo_module("ansible.module_utils.teletreball_directory",
                           REPO_ROOT / "module_utils" / "teletreball_directory.py")
    filters = load_repo_module("tt_vpn_test_filters",
                           REPO_ROOT / "filter_plugins" / "teletreball_filters.py")
    state = json.loads((CREDENTIALS / "vpn-addresses.json").read_text(encoding="utf-8"))
    directory = builder.build_directory(staff, inventory["teletreball_access"], state)
    networks = inventory["teletreball_networks"]
    return {
        "vpn_interface": "wg0",
        "vpn_pool": networks["vpn_pool"],
        "vpn_client_dns": [],
        "vpn_access_rules": filters.vpn_access_rules(directory, inventory["teletreball_services"],
                                                     networks),
        "vpn_devices": filters.vpn_devices(directory),
        "vpn_absent_people": directory["absent"],
    }
