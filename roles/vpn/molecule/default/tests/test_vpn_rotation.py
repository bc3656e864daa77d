"""Rotation of the gateway's key with real WireGuard clients; runs last (file order).

One run with -e vpn_rotate_gateway_key=true: the running interface takes the new
key (the handler, `wg syncconf`, no restart), every profile and QR code names it;
the old profiles stop working, the new ones work. Then an interrupted rotation
(a new key file the interface never got) is repaired by a plain run, which is
also the verbose run searched for every key.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from teletreball_testinfra import run_converge
from vpn_helpers import (
    CREDENTIALS,
    audit_params,
    can_connect,
    gateway_public_key,
    gateway_tunnel_address,
    key_file_public_key,
    profile_gateway_key,
    profile_path,
    service_address,
    tunnel_up,
)

testinfra_hosts = ["podman://vpn-gateway"]

DEVICES = (("agent", "laptop"), ("clerk", "laptop"), ("clerk", "phone"))
HANDLER = "vpn : Reload WireGuard peers"
REPAIR = "vpn : Apply the configuration and the key when the running interface differs from them"


def assert_every_profile_names(key):
    """Every device's profile has the gateway key ``key``, and its QR code is the profile."""
    for username, device in DEVICES:
        path = profile_path(username, device)
        assert profile_gateway_key(path) == key, path
        decoded = subprocess.run(
            ["zbarimg", "--quiet", "--raw", str(path.with_suffix(".png"))],
            capture_output=True, text=True, check=True,
        ).stdout
        assert decoded.strip() == path.read_text(encoding="utf-8").strip(), path


def handshake(peer):
    """Seconds since the epoch of the tunnel's last handshake (0: never)."""
    return int(peer.check_output("wg show wg0 latest-handshakes").split()[1])


@pytest.mark.control("VPN-KEY-01")
def test_rotating_the_gateway_key_ends_the_old_profiles_and_the_new_ones_work(
        host, tunnels, measurement, control_check, tmp_path):
    started = time.monotonic()
    gateway = gateway_tunnel_address(host)
    service = service_address()
    old_key = gateway_public_key(host)
    old_profile = tmp_path / "agent-laptop.conf"
    shutil.copy(profile_path("agent", "laptop"), old_profile)
    # Before: both old profiles handshake and pass traffic to the internal host.
    agent, clerk = tunnel_up("a"), tunnel_up("b")
    for peer in (agent, clerk):
        assert peer.run(f"ping -c 2 -W 2 {gateway}").rc == 0
        assert handshake(peer) > 0
        assert can_connect(peer, service, 5222)

    rotation = time.monotonic()
    result, stats = run_converge("--extra-vars", "vpn_rotate_gateway_key=true")
    seconds = time.monotonic() - rotation
    changed = stats["vpn-gateway"]["changed_tasks"]
    # The handler set the key (no restart); the every-run comparison found nothing left.
    assert HANDLER in changed and REPAIR not in changed, changed
    assert "restart" not in " ".join(changed).lower(), changed
    new_key = gateway_public_key(host)
    assert new_key != old_key
    assert new_key == key_file_public_key(host)
    control_check("VPN-KEY-01", audit_params())
    assert_every_profile_names(new_key)

    # The clerk's tunnel, still up with the old profile, gets no answer any more.
    assert clerk.run(f"ping -c 3 -W 2 {gateway}").rc != 0, "an old profile still works"
    # The agent's device brought up again with the old profile: no handshake at all.
    agent = tunnel_up("a", profile=old_profile)
    assert agent.run(f"ping -c 3 -W 2 {gateway}").rc != 0, "an old profile still works"
    assert handshake(agent) == 0
    # The regenerated profiles work.
    for name in ("a", "b"):
        peer = tunnel_up(name)
        assert peer.run(f"ping -c 2 -W 2 {gateway}").rc == 0, f"client {name}'s new profile"
        assert handshake(peer) > 0
        assert can_connect(peer, service, 5222)
    measurement(f"vpn gateway key rotation: the run {seconds:.1f} s, the whole test "
                f"{time.monotonic() - started:.1f} s")


@pytest.mark.control("VPN-KEY-01")
def test_an_interrupted_rotation_is_repaired_and_no_key_is_ever_printed(host, measurement):
    """A run stopped after it made the new key (before the handler and the
    profiles): the key file is new, the interface and the profiles have the old
    one. The next plain run (verbose) sets it and rewrites the profiles."""
    host.check_output("umask 077 && wg genkey > /etc/wireguard/wg0.key.new"
                      " && mv /etc/wireguard/wg0.key.new /etc/wireguard/wg0.key")
    new_key = key_file_public_key(host)
    assert gateway_public_key(host) != new_key

    started = time.monotonic()
    result, stats = run_converge("-v")
    measurement(f"vpn interrupted rotation repaired by a plain run (-v): "
                f"{time.monotonic() - started:.1f} s")
    changed = stats["vpn-gateway"]["changed_tasks"]
    assert REPAIR in changed and HANDLER not in changed, changed
    assert gateway_public_key(host) == new_key
    assert_every_profile_names(new_key)
    assert tunnel_up("a").run(f"ping -c 2 -W 2 {gateway_tunnel_address(host)}").rc == 0

    output = result.stdout + result.stderr
    keys = [p.read_text().strip() for p in CREDENTIALS.glob("people/*/vpn/*.key")]
    keys += [p.read_text().strip() for p in CREDENTIALS.glob("people/*/vpn/*.psk")]
    keys.append(host.check_output("cat /etc/wireguard/wg0.key").strip())
    assert len(keys) == 7
    for key in keys:
        assert key not in output
