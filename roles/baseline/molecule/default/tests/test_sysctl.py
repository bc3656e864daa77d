"""Kernel and network parameters: BL-SYS-01..03.

What systemd-sysctl applies at boot is the last value of each key over the
files that ``systemd-analyze cat-config sysctl.d`` prints, in that order. The
running kernel's values are checked too, except in a container, where
/proc/sys is read-only (waived, see controls/waivers.yml).
"""

from __future__ import annotations

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]

KERNEL = {
    "kernel.randomize_va_space": "2",
    "kernel.kptr_restrict": "2",
    "kernel.dmesg_restrict": "1",
    "kernel.yama.ptrace_scope": "1",
    "fs.protected_hardlinks": "1",
    "fs.protected_symlinks": "1",
    "fs.suid_dumpable": "0",
}
NETWORK = {
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.secure_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.default.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.icmp_ignore_bogus_error_responses": "1",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.all.accept_source_route": "0",
    "net.ipv6.conf.all.accept_ra": "0",
}
# The scenario's host does not route (baseline_routes_traffic: false).
FORWARDING = {
    "net.ipv4.ip_forward": "0",
    "net.ipv6.conf.all.forwarding": "0",
}


def boot_values(host) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in host.check_output("systemd-analyze cat-config sysctl.d").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().lstrip("-").replace("/", ".")] = value.strip()
    return values


def live_values(host, keys) -> dict[str, str]:
    return {key: host.check_output(f"sysctl -n {key}").strip() for key in keys}


@pytest.mark.control("BL-SYS-01")
def test_kernel_hardening_applies_at_boot(host):
    values = boot_values(host)
    assert {key: values.get(key) for key in KERNEL} == KERNEL


@pytest.mark.control("BL-SYS-01")
def test_kernel_hardening_is_live(host, waive):
    waive("BL-SYS-01")
    assert live_values(host, KERNEL) == KERNEL


@pytest.mark.control("BL-SYS-02")
def test_network_hardening_applies_at_boot(host):
    values = boot_values(host)
    assert {key: values.get(key) for key in NETWORK} == NETWORK


@pytest.mark.control("BL-SYS-02")
def test_network_hardening_is_live(host, waive):
    waive("BL-SYS-02")
    assert live_values(host, NETWORK) == NETWORK


@pytest.mark.control("BL-SYS-03")
def test_forwarding_is_off_at_boot_on_a_host_that_does_not_route(host):
    values = boot_values(host)
    assert {key: values.get(key) for key in FORWARDING} == FORWARDING


@pytest.mark.control("BL-SYS-03")
def test_forwarding_is_off_live(host, waive):
    waive("BL-SYS-03")
    assert live_values(host, FORWARDING) == FORWARDING
