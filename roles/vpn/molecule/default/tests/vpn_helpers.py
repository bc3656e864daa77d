"""Helpers of the vpn scenario: the clients, their tunnels, the internal host."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import testinfra

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


def tunnel_up(name):
    username, device = CLIENTS[name]
    host = client(name)
    host.run("wg-quick down wg0")
    subprocess.run(
        ["podman", "cp", str(profile_path(username, device)),
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


def gateway_tunnel_address(host):
    return host.check_output("ip -4 -o addr show wg0 | awk '{print $4}' | cut -d/ -f1")
