"""Host firewall: BL-FW-01..03, proven by the loaded ruleset (through the
controls' live checks that playbooks/audit.yml runs on the council's hosts) and
by real connections from the probe's allowed address and from its outside
address."""

from __future__ import annotations

import pytest
from baseline_helpers import HOST, allowed_network, tcp_connect

testinfra_hosts = [HOST]

NFT_CHECK = "/usr/local/sbin/teletreball-nft-check"


def firewall_params(lab) -> dict:
    """What converge.yml declares: SSH and the opening molecule-web from the
    lower /25 (its drop-in 50-molecule.nft is read from the host)."""
    network = allowed_network(lab)
    return {
        "ssh_allowed_networks": [network],
        "firewall_openings": [
            {"name": "molecule-web", "proto": "tcp", "ports": [8080], "sources": [network]},
        ],
    }


@pytest.mark.control("BL-FW-01")
def test_inbound_policy_is_drop_and_loaded_at_boot(control_check, lab):
    control_check("BL-FW-01", firewall_params(lab))


@pytest.mark.control("BL-FW-01")
def test_an_undeclared_port_is_unreachable(host, probe, lab, listeners):
    # The listener answers locally, so only the firewall can stop the probe.
    assert tcp_connect(host, "127.0.0.1", "127.0.0.1", 8081) == "open"
    assert tcp_connect(probe, lab.probe_address, lab.host_address, 8081) == "timeout"


@pytest.mark.control("BL-FW-01")
def test_icmp_echo_is_answered_even_from_outside(probe, lab):
    for source in (lab.probe_address, lab.outside_address):
        result = probe.run(f"ping -c 1 -W 2 -I {source} {lab.host_address}")
        assert result.rc == 0, result.stdout + result.stderr


@pytest.mark.control("BL-FW-02")
def test_ssh_is_open_to_the_declared_networks_only(control_check, lab):
    control_check("BL-FW-02", firewall_params(lab))


@pytest.mark.control("BL-FW-02")
def test_ssh_is_reachable_from_the_allowed_network_only(probe, lab):
    assert tcp_connect(probe, lab.probe_address, lab.host_address, 22) == "open"
    assert tcp_connect(probe, lab.outside_address, lab.host_address, 22) == "timeout"


@pytest.mark.control("BL-FW-03")
def test_openings_and_drop_ins_are_the_declared_ones(control_check, lab):
    control_check("BL-FW-03", firewall_params(lab))


@pytest.mark.control("BL-FW-03")
def test_a_declared_opening_admits_its_sources_only(probe, lab, listeners):
    assert tcp_connect(probe, lab.probe_address, lab.host_address, 8080) == "open"
    assert tcp_connect(probe, lab.outside_address, lab.host_address, 8080) == "timeout"


@pytest.mark.control("BL-FW-03")
def test_a_drop_in_of_another_role_opens_its_port(probe, lab, listeners):
    assert tcp_connect(probe, lab.probe_address, lab.host_address, 8082) == "open"
    assert tcp_connect(probe, lab.outside_address, lab.host_address, 8082) == "timeout"


@pytest.mark.control("BL-FW-03")
def test_the_drop_in_checker_accepts_a_good_drop_in_and_rejects_a_bad_one(host):
    good = (
        "table inet teletreball {\n"
        "  chain services {\n"
        '    tcp dport 9443 ip saddr 192.0.2.0/24 accept comment "tt-test"\n'
        "  }\n"
        "}\n"
    )
    bad = "table inet teletreball {\n  chain services {\n    tcp dport accept\n  }\n}\n"
    missing_chain = "table inet teletreball {\n  chain nowhere {\n    jump missing\n  }\n}\n"
    work = host.check_output("mktemp -d")
    try:
        for name, text in (("good", good), ("bad", bad), ("missing", missing_chain)):
            host.check_output(f"cat > {work}/{name}.nft <<'EOF'\n{text}EOF")
        assert host.run(f"{NFT_CHECK}").rc == 0
        assert host.run(f"{NFT_CHECK} {work}/good.nft").rc == 0
        assert host.run(f"{NFT_CHECK} {work}/good.nft /etc/nftables.d/60-test.nft").rc == 0
        assert host.run(f"{NFT_CHECK} {work}/bad.nft").rc != 0
        assert host.run(f"{NFT_CHECK} {work}/missing.nft").rc != 0
        # A drop-in is only loaded from /etc/nftables.d/*.nft.
        assert host.run(f"{NFT_CHECK} {work}/good.nft /etc/nftables.d/60-test.conf").rc != 0
        # Nothing was loaded or installed by the checks.
        assert "tt-test" not in host.check_output("nft list ruleset")
        assert not host.file("/etc/nftables.d/60-test.nft").exists
    finally:
        host.run(f"rm -rf {work}")
