"""Static routes: BL-NET-01. converge.yml routes 192.0.2.0/24 (TEST-NET-1)
through the probe, which holds 192.0.2.7 on its loopback for these tests, as a
router with a network behind it would (the VPN gateway and its pool). The unit
and the route are checked by the control's live check (playbooks/audit.yml)."""

from __future__ import annotations

import pytest
from baseline_helpers import HOST, tcp_connect

testinfra_hosts = [HOST]

NETWORK = "192.0.2.0/24"
BEHIND = "192.0.2.7"
UNIT = "teletreball-routes.service"


@pytest.fixture(scope="module")
def behind_the_probe(probe):
    """192.0.2.7 on the probe: nothing listens there, so a connection that
    reaches it is refused."""
    probe.run(f"ip address add {BEHIND}/32 dev lo")
    yield BEHIND
    probe.run(f"ip address del {BEHIND}/32 dev lo")


@pytest.mark.control("BL-NET-01")
def test_the_declared_route_is_set_by_its_unit(control_check, lab):
    control_check("BL-NET-01", {"routes": [{"to": NETWORK, "via": lab.probe_address}]})


@pytest.mark.control("BL-NET-01")
def test_the_declared_route_leads_through_the_router(host, lab, behind_the_probe):
    # A packet to the address behind the probe reaches it: the probe's kernel refuses.
    assert tcp_connect(host, lab.host_address, behind_the_probe, 9) == "refused"


@pytest.mark.control("BL-NET-01")
def test_stopping_the_unit_removes_its_routes_and_starting_it_restores_them(
        host, lab, behind_the_probe):
    try:
        host.check_output(f"systemctl stop {UNIT}")
        assert host.check_output("ip route show proto 241") == ""
        # The kernel now sends it to the default router, not to the probe.
        assert f"via {lab.probe_address} " not in host.check_output(f"ip route get {BEHIND}")
    finally:
        host.check_output(f"systemctl start {UNIT}")
    assert f"via {lab.probe_address}" in host.check_output(f"ip route show {NETWORK}")
    assert tcp_connect(host, lab.host_address, behind_the_probe, 9) == "refused"
