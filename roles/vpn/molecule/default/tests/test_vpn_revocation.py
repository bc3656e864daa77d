"""Revocation with real WireGuard clients; runs after test_vpn.py (file order).

The re-runs of converge here change the inventory, so they come last.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from teletreball_testinfra import run_converge
from vpn_helpers import (
    CREDENTIALS,
    audit_params,
    client,
    gateway_tunnel_address,
    profile_path,
    tunnel_up,
)

testinfra_hosts = ["podman://vpn-gateway"]


@pytest.mark.control("VPN-REV-01")
def test_revoked_device_loses_access_other_tunnels_keep_working(host, tunnels, measurement,
                                                                control_check):
    """Remove agent's laptop, re-run the role, ping from clerk all along."""
    gateway = gateway_tunnel_address(host)
    clerk = tunnels["b"]
    clerk.run("rm -f /run/tt-ping.log")
    clerk.run(
        f"systemd-run --unit tt-ping -p StandardOutput=file:/run/tt-ping.log ping -i 0.2 {gateway}"
    )
    agent_public = profile_path("agent", "laptop").with_suffix(".pub").read_text().strip()
    # The credentials folder outlives `molecule destroy`: earlier runs' revocations stay.
    revoked_before = set((CREDENTIALS / "revoked" / "vpn").glob("agent-laptop-*"))

    staff = [
        {"username": "agent", "name": "OAC Agent", "email": "agent@lab.test",
         "department": "OAC", "groups": ["oac_agents"], "vpn_devices": [], "desktop": True},
        {"username": "clerk", "name": "Staff Clerk", "email": "clerk@lab.test",
         "department": "Secretaria", "groups": ["staff"], "vpn_devices": ["laptop", "phone"]},
    ]
    run_converge("--extra-vars", json.dumps({"teletreball_staff": staff}))
    time.sleep(2)
    # ping prints its statistics when interrupted.
    clerk.run("systemctl kill --signal=SIGINT tt-ping && sleep 1")
    log = clerk.file("/run/tt-ping.log").content_string
    sent = re.search(r"(\d+) packets transmitted, (\d+) received", log)
    assert sent, log[-2000:]
    transmitted, received = int(sent.group(1)), int(sent.group(2))
    loss = 100.0 * (transmitted - received) / transmitted
    measurement(f"vpn revocation re-run: the other tunnel answered {received} of "
                f"{transmitted} pings (every 0.2 s), {loss:.1f} % lost")
    assert transmitted > 20
    assert loss <= 5.0, f"the other tunnel lost {loss:.1f} % of its pings during the re-run"

    # The running peers are the directory's present devices: the laptop's is gone.
    outcome = control_check("VPN-REV-01", audit_params(staff))
    assert agent_public not in str(outcome["evidence"])
    agent = client("a")
    assert agent.run(f"ping -c 3 -W 2 {gateway}").rc != 0, "the revoked device still gets through"
    revoked = list(set((CREDENTIALS / "revoked" / "vpn").glob("agent-laptop-*")) - revoked_before)
    assert len(revoked) == 1 and (revoked[0] / "laptop.conf").exists()
    assert not profile_path("agent", "laptop").exists()
    # Back to the scenario's inventory: a new key for the laptop, the tunnel works again.
    run_converge()
    assert tunnel_up("a").run(f"ping -c 3 -W 2 {gateway}").rc == 0
    control_check("VPN-REV-01", audit_params())

